#include "cmd/usher/admin_address.h"

#include <gtest/gtest.h>

namespace usher::cmd {
namespace {

AdminAddress parse_ok(std::string_view text) {
  std::string error;
  auto address = parse_admin_address(text, &error);
  EXPECT_TRUE(address) << text << ": " << error;
  return address.value_or(AdminAddress{});
}

std::string parse_error(std::string_view text) {
  std::string error;
  EXPECT_FALSE(parse_admin_address(text, &error)) << text;
  return error;
}

TEST(AdminAddress, LocalhostAndBarePortBindLoopbackOnly) {
  EXPECT_EQ(parse_ok("localhost:2019").str(), "127.0.0.1:2019");
  EXPECT_EQ(parse_ok(":2020").str(), "127.0.0.1:2020");
  EXPECT_EQ(parse_ok("127.0.0.2:9").str(), "127.0.0.2:9");
  EXPECT_EQ(parse_ok("[::1]:2019").str(), "[::1]:2019");
}

TEST(AdminAddress, UnixSocketsNeedAnAbsolutePath) {
  auto address = parse_ok("unix//run/usher/admin.sock");
  EXPECT_TRUE(address.is_unix());
  EXPECT_EQ(address.unix_path, "/run/usher/admin.sock");
  EXPECT_EQ(address.str(), "unix//run/usher/admin.sock");
  EXPECT_EQ(address.host_header(), "localhost");
  EXPECT_NE(parse_error("unix/relative.sock").find("absolute path"), std::string::npos);
}

TEST(AdminAddress, RejectsOtherHostsAndBadPorts) {
  EXPECT_NE(parse_error("0.0.0.0:2019").find("not a loopback address"), std::string::npos);
  EXPECT_NE(parse_error("192.168.1.2:2019").find("unix//run/usher/admin.sock"), std::string::npos);
  EXPECT_NE(parse_error("example.com:2019").find("not a loopback"), std::string::npos);
  EXPECT_NE(parse_error("localhost").find("no port"), std::string::npos);
  EXPECT_NE(parse_error("localhost:0").find("invalid port"), std::string::npos);
  EXPECT_NE(parse_error("localhost:70000").find("invalid port"), std::string::npos);
  EXPECT_NE(parse_error("localhost:20x9").find("invalid port"), std::string::npos);
}

struct OriginCase {
  const char* host;
  const char* origin;  // null = no Origin header
  bool allowed;
};

class AdminRequestCheck : public testing::TestWithParam<OriginCase> {};

TEST_P(AdminRequestCheck, AllowsOnlyLocalHostAndOrigin) {
  const OriginCase& c = GetParam();
  auto address = parse_ok("localhost:2019");
  std::string reason;
  std::optional<std::string_view> origin;
  if (c.origin != nullptr) origin = c.origin;
  EXPECT_EQ(is_local_request(c.host, origin, address, &reason), c.allowed)
      << "Host: " << c.host << " Origin: " << (c.origin ? c.origin : "-") << " " << reason;
  if (!c.allowed) {
    EXPECT_FALSE(reason.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, AdminRequestCheck,
    testing::Values(OriginCase{"localhost:2019", nullptr, true},
                    OriginCase{"LOCALHOST:2019", nullptr, true},
                    OriginCase{"127.0.0.1:2019", nullptr, true},
                    OriginCase{"[::1]:2019", nullptr, true}, OriginCase{"localhost", nullptr, true},
                    OriginCase{"localhost:2019", "http://localhost:2019", true},
                    OriginCase{"localhost:2019", "https://127.0.0.1", true},
                    // DNS rebinding: the attacker's name resolves to 127.0.0.1.
                    OriginCase{"evil.example:2019", nullptr, false},
                    OriginCase{"localhost.evil.example", nullptr, false},
                    OriginCase{"", nullptr, false},
                    // A page elsewhere posting to the API from the browser.
                    OriginCase{"localhost:2019", "http://evil.example", false},
                    OriginCase{"localhost:2019", "null", false},
                    OriginCase{"localhost:2019", "http://localhost.evil.example:2019", false}));

TEST(AdminRequestCheck, AllowsTheConfiguredLoopbackHost) {
  auto address = parse_ok("127.0.0.5:2019");
  std::string reason;
  EXPECT_TRUE(is_local_request("127.0.0.5:2019", std::nullopt, address, &reason)) << reason;
}

TEST(AdminAddress, EnvironmentReplacesOnlyTheDefault) {
  core::AdminConfig absent;
  EXPECT_EQ(effective_admin_address(absent, nullptr), "localhost:2019");
  EXPECT_EQ(effective_admin_address(absent, ""), "localhost:2019");
  EXPECT_EQ(effective_admin_address(absent, "unix//run/usher/admin.sock"),
            "unix//run/usher/admin.sock");
  core::AdminConfig moved{true, "localhost:2020"};
  EXPECT_EQ(effective_admin_address(moved, "unix//run/usher/admin.sock"), "localhost:2020");
  core::AdminConfig off{false, "localhost:2019"};
  EXPECT_EQ(effective_admin_address(off, "unix//run/usher/admin.sock"), "");
}

}  // namespace
}  // namespace usher::cmd
