#include "core/units.h"

#include <gtest/gtest.h>

namespace usher::core {
namespace {

struct DurationCase {
  const char* text;
  int64_t millis;
};

class ParsesDuration : public ::testing::TestWithParam<DurationCase> {};

TEST_P(ParsesDuration, ToMilliseconds) {
  auto d = parse_duration(GetParam().text);
  ASSERT_TRUE(d.has_value()) << GetParam().text;
  EXPECT_EQ(d->count(), GetParam().millis) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(Units, ParsesDuration,
                         ::testing::Values(DurationCase{"30s", 30'000}, DurationCase{"250ms", 250},
                                           DurationCase{"1m30s", 90'000},
                                           DurationCase{"1.5h", 5'400'000},
                                           DurationCase{"2d", 172'800'000},
                                           DurationCase{"10", 10'000}, DurationCase{"-1", -1'000},
                                           DurationCase{"-1ms", -1}, DurationCase{"0s", 0},
                                           DurationCase{"1h2m3s4ms", 3'723'004}));

TEST(Units, RejectsMalformedDurations) {
  for (const char* bad : {"", "s", "5x", "1.2.3s", "ms", "5 s", "-", "1m-5s", "99999999999999"})
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
}

TEST(Units, FormatsDurationsInTheirShortestForm) {
  EXPECT_EQ(format_duration(Duration(30'000)), "30s");
  EXPECT_EQ(format_duration(Duration(90'000)), "1m30s");
  EXPECT_EQ(format_duration(Duration(250)), "250ms");
  EXPECT_EQ(format_duration(Duration(7'200'000)), "2h");
  EXPECT_EQ(format_duration(Duration(-1)), "-1ms");
  EXPECT_EQ(format_duration(Duration(0)), "0s");
}

TEST(Units, FormattedDurationsParseBack) {
  for (int64_t ms : {1, 999, 1'000, 61'001, 3'600'000, 86'400'000, -1, -60'000}) {
    auto back = parse_duration(format_duration(Duration(ms)));
    ASSERT_TRUE(back.has_value()) << ms;
    EXPECT_EQ(back->count(), ms);
  }
}

TEST(Units, ParsesSizesWithDecimalAndBinaryUnits) {
  EXPECT_EQ(parse_size("1048576"), 1048576u);
  EXPECT_EQ(parse_size("10KB"), 10'000u);
  EXPECT_EQ(parse_size("10kb"), 10'000u);
  EXPECT_EQ(parse_size("10KiB"), 10'240u);
  EXPECT_EQ(parse_size("5MB"), 5'000'000u);
  EXPECT_EQ(parse_size("1GiB"), 1'073'741'824u);
  EXPECT_EQ(parse_size("1.5MiB"), 1'572'864u);
}

TEST(Units, RejectsMalformedSizes) {
  for (const char* bad : {"", "MB", "10XB", "-5MB", "1.2.3KB", "10 MB", "99999999999TB"})
    EXPECT_FALSE(parse_size(bad).has_value()) << bad;
}

}  // namespace
}  // namespace usher::core
