#include "cmd/usher/flags.h"

#include <gtest/gtest.h>

namespace usher::cmd {
namespace {

const std::vector<FlagSpec> kSpecs = {{"config", true, ""}, {"pretty", false, ""}};

TEST(Flags, ReadsValuesInBothForms) {
  std::string error;
  auto a = parse_flags({"--config", "x", "--pretty"}, kSpecs, &error);
  ASSERT_TRUE(a) << error;
  EXPECT_EQ(a->get("config"), "x");
  EXPECT_TRUE(a->has("pretty"));
  auto b = parse_flags({"--config=y", "-pretty"}, kSpecs, &error);
  ASSERT_TRUE(b) << error;
  EXPECT_EQ(b->get("config"), "y");
}

TEST(Flags, KeepsPositionalArgumentsAndStdinDash) {
  std::string error;
  auto a = parse_flags({"file", "-", "--", "--pretty"}, kSpecs, &error);
  ASSERT_TRUE(a) << error;
  EXPECT_EQ(a->positional, (std::vector<std::string>{"file", "-", "--pretty"}));
  EXPECT_FALSE(a->has("pretty"));
}

TEST(Flags, RejectsUnknownFlagsMissingValuesAndValuesOnSwitches) {
  std::string error;
  EXPECT_FALSE(parse_flags({"--nope"}, kSpecs, &error));
  EXPECT_EQ(error, "unknown flag `--nope`");
  EXPECT_FALSE(parse_flags({"--config"}, kSpecs, &error));
  EXPECT_EQ(error, "flag `--config` needs a value");
  EXPECT_FALSE(parse_flags({"--pretty=yes"}, kSpecs, &error));
  EXPECT_EQ(error, "flag `--pretty` takes no value");
}

}  // namespace
}  // namespace usher::cmd
