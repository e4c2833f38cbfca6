#include "core/ip_range.h"

#include <gtest/gtest.h>

#include <string>

namespace usher::core {
namespace {

struct RangeCase {
  std::string spec;
  bool valid;
};

class IpRangeParse : public testing::TestWithParam<RangeCase> {};

TEST_P(IpRangeParse, AcceptsAddressesAndCidrsOnly) {
  EXPECT_EQ(is_valid_ip_range(GetParam().spec), GetParam().valid) << GetParam().spec;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, IpRangeParse,
    testing::Values(RangeCase{"10.0.0.0/8", true}, RangeCase{"192.168.1.7", true},
                    RangeCase{"127.0.0.1/8", true},  // host bits set, as Caddy's own list has
                    RangeCase{"0.0.0.0/0", true}, RangeCase{"2001:db8::/32", true},
                    RangeCase{"::1", true}, RangeCase{"::/0", true},
                    RangeCase{"fe80::1%eth0", true}, RangeCase{"private_ranges", true},
                    RangeCase{"10.0.0.0/33", false}, RangeCase{"2001:db8::/129", false},
                    RangeCase{"10.0.0.0/", false}, RangeCase{"10.0.0.0/08", false},
                    RangeCase{"10.0.0.0/-1", false}, RangeCase{"10.0.0/8", false},
                    RangeCase{"256.0.0.1", false}, RangeCase{"01.2.3.4", false},
                    RangeCase{"fe80::1%eth0/64", false}, RangeCase{"fe80::1%", false},
                    RangeCase{"example.com", false}, RangeCase{"", false},
                    RangeCase{"private", false}, RangeCase{"10.0.0.0/8 ", false}));

TEST(IpRange, ContainsAddressesInsideThePrefix) {
  auto range = IpRange::parse("172.16.0.0/12");
  ASSERT_TRUE(range);
  EXPECT_TRUE(range->contains(*IpAddress::parse("172.31.255.255")));
  EXPECT_FALSE(range->contains(*IpAddress::parse("172.32.0.0")));
  EXPECT_FALSE(range->contains(*IpAddress::parse("::1")));
}

TEST(IpRange, MatchesIpv4MappedAddressesAgainstIpv4Ranges) {
  auto range = IpRange::parse("10.0.0.0/8");
  ASSERT_TRUE(range);
  EXPECT_TRUE(range->contains(*IpAddress::parse("::ffff:10.1.2.3")));
  EXPECT_FALSE(range->contains(*IpAddress::parse("::ffff:11.1.2.3")));
}

TEST(IpRange, SingleAddressIsAFullLengthPrefix) {
  auto range = IpRange::parse("2001:db8::1");
  ASSERT_TRUE(range);
  EXPECT_EQ(range->prefix_len, 128);
  EXPECT_TRUE(range->contains(*IpAddress::parse("2001:db8::1")));
  EXPECT_FALSE(range->contains(*IpAddress::parse("2001:db8::2")));
}

TEST(IpRange, ZeroPrefixContainsEveryAddressOfItsFamily) {
  auto range = IpRange::parse("0.0.0.0/0");
  ASSERT_TRUE(range);
  EXPECT_TRUE(range->contains(*IpAddress::parse("203.0.113.9")));
  EXPECT_FALSE(range->contains(*IpAddress::parse("2001:db8::9")));
}

TEST(PrivateRanges, ExpandsTheKeywordToCaddysList) {
  auto expanded = expand_private_ranges({"203.0.113.0/24", "private_ranges"});
  EXPECT_EQ(expanded, (std::vector<std::string>{"203.0.113.0/24", "192.168.0.0/16", "172.16.0.0/12",
                                                "10.0.0.0/8", "127.0.0.1/8", "fd00::/8", "::1"}));
}

TEST(PrivateRanges, EveryExpandedRangeParses) {
  for (auto range : private_ranges())
    EXPECT_TRUE(IpRange::parse(range)) << range;
}

}  // namespace
}  // namespace usher::core
