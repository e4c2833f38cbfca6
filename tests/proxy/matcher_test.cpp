#include "proxy/matcher.h"

#include <gtest/gtest.h>

#include "core/diagnostic.h"
#include "tests/proxy/fake_exchange.h"

namespace usher::proxy {
namespace {

using testing::FakeExchange;

struct PathCase {
  const char* pattern;
  const char* path;
  bool matches;
};

class PathMatcher : public ::testing::TestWithParam<PathCase> {};

TEST_P(PathMatcher, MatchesLikeCaddy) {
  const PathCase& c = GetParam();
  core::MatcherSet set;
  set.paths = {c.pattern};
  const CompiledMatcher matcher(set);
  FakeExchange ex;
  ex.target(c.path);
  EXPECT_EQ(matcher.matches(ex.head, ex.conn, "192.0.2.10"), c.matches)
      << "pattern " << c.pattern << " path " << c.path;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PathMatcher,
    ::testing::Values(PathCase{"/api/*", "/api/users", true}, PathCase{"/api/*", "/api/", true},
                      PathCase{"/api/*", "/api", false}, PathCase{"/api*", "/api", true},
                      PathCase{"/api*", "/apiary", true}, PathCase{"*.php", "/index.php", true},
                      PathCase{"*.php", "/INDEX.PHP", true},
                      PathCase{"*.php", "/index.html", false}, PathCase{"/Foo", "/foo", true},
                      PathCase{"/foo", "/foo/", false}, PathCase{"/foo", "/foo/bar", false},
                      PathCase{"*/admin/*", "/x/admin/y", true},
                      PathCase{"*/admin/*", "/x/adminy", false}, PathCase{"/a/*/c", "/a/b/c", true},
                      PathCase{"/a/*/c", "/a/b/x/c", false}, PathCase{"/a/?", "/a/b", true},
                      PathCase{"/a/?", "/a/bc", false}, PathCase{"/api/*", "/api/../secret", false},
                      PathCase{"/secret*", "/api/../secret", true},
                      PathCase{"/api/*", "//api//x", true}, PathCase{"/api/*", "/%61pi/x", true},
                      PathCase{"/api/*", "/./api/x", true}, PathCase{"*", "/anything", true}));

struct CleanCase {
  const char* raw;
  const char* clean;
};

class CleanPath : public ::testing::TestWithParam<CleanCase> {};

TEST_P(CleanPath, DecodesResolvesDotsAndMergesSlashes) {
  std::string scratch;
  EXPECT_EQ(clean_request_path(GetParam().raw, scratch), GetParam().clean);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CleanPath,
    ::testing::Values(CleanCase{"/", "/"}, CleanCase{"/a/b", "/a/b"}, CleanCase{"/a/b/", "/a/b/"},
                      CleanCase{"//a///b", "/a/b"}, CleanCase{"/a/./b", "/a/b"},
                      CleanCase{"/a/../b", "/b"}, CleanCase{"/../../x", "/x"},
                      CleanCase{"/a/b/..", "/a"}, CleanCase{"/a/b/../", "/a/"},
                      CleanCase{"/a%20b", "/a b"}, CleanCase{"/%2e%2e/x", "/x"},
                      CleanCase{"/bad%zz", "/bad%zz"}));

TEST(CleanPath, ReturnsTheInputItselfWhenAlreadyClean) {
  std::string scratch;
  const std::string raw = "/already/clean";
  EXPECT_EQ(clean_request_path(raw, scratch).data(), raw.data());
}

TEST(HostPattern, MatchesExactNamesIgnoringCase) {
  EXPECT_TRUE(HostPattern("Example.com").matches("example.COM"));
  EXPECT_FALSE(HostPattern("example.com").matches("www.example.com"));
}

TEST(HostPattern, MatchesOneLabelPerWildcard) {
  const HostPattern wildcard("*.example.com");
  EXPECT_TRUE(wildcard.matches("a.example.com"));
  EXPECT_FALSE(wildcard.matches("a.b.example.com"));
  EXPECT_FALSE(wildcard.matches("example.com"));
  EXPECT_FALSE(wildcard.matches("a.example.org"));
}

// --------------------------------------------------------- whole sets

bool matches(const core::MatcherSet& set, const FakeExchange& ex,
             std::string_view client_ip = "192.0.2.10") {
  return CompiledMatcher(set).matches(ex.head, ex.conn, client_ip);
}

TEST(CompiledMatcher, EmptySetMatchesEverything) {
  FakeExchange ex;
  EXPECT_TRUE(matches(core::MatcherSet{}, ex));
}

TEST(CompiledMatcher, MatchesMethodsExactly) {
  core::MatcherSet set;
  set.methods = {"POST", "PUT"};
  FakeExchange ex;
  EXPECT_FALSE(matches(set, ex));
  ex.head.method = "PUT";
  EXPECT_TRUE(matches(set, ex));
}

TEST(CompiledMatcher, RequiresEveryConditionToHold) {
  core::MatcherSet set;
  set.methods = {"GET"};
  set.paths = {"/api/*"};
  FakeExchange ex;
  ex.target("/api/x");
  EXPECT_TRUE(matches(set, ex));
  ex.head.method = "POST";
  EXPECT_FALSE(matches(set, ex));
}

struct HeaderCase {
  const char* name;
  std::vector<std::string> values;
  const char* request_value;  // nullptr = header absent
  bool matches;
};

class HeaderMatcher : public ::testing::TestWithParam<HeaderCase> {};

TEST_P(HeaderMatcher, MatchesLikeCaddy) {
  const HeaderCase& c = GetParam();
  core::MatcherSet set;
  set.headers = {{c.name, c.values}};
  FakeExchange ex;
  if (c.request_value != nullptr) ex.head.headers.add("X-Test", c.request_value);
  EXPECT_EQ(matches(set, ex), c.matches);
}

INSTANTIATE_TEST_SUITE_P(Cases, HeaderMatcher,
                         ::testing::Values(HeaderCase{"X-Test", {}, "v", true},
                                           HeaderCase{"X-Test", {}, nullptr, false},
                                           HeaderCase{"x-test", {"v"}, "v", true},
                                           HeaderCase{"X-Test", {"v"}, "V", false},
                                           HeaderCase{"X-Test", {"abc*"}, "abcdef", true},
                                           HeaderCase{"X-Test", {"*def"}, "abcdef", true},
                                           HeaderCase{"X-Test", {"*cd*"}, "abcdef", true},
                                           HeaderCase{"X-Test", {"*xy*"}, "abcdef", false},
                                           HeaderCase{"X-Test", {"*"}, "anything", true},
                                           HeaderCase{"X-Test", {"*"}, "", false},
                                           HeaderCase{"X-Test", {"a", "b"}, "b", true},
                                           HeaderCase{"!X-Test", {}, nullptr, true},
                                           HeaderCase{"!X-Test", {}, "v", false}));

TEST(CompiledMatcher, MatchesHostHeaderFromTheAuthority) {
  core::MatcherSet set;
  set.headers = {{"Host", {"*.example.com"}}};
  FakeExchange ex;
  ex.target("/", "www.example.com");
  EXPECT_TRUE(matches(set, ex));
}

struct QueryCase {
  std::vector<core::QueryMatch> conditions;
  const char* query;
  bool matches;
};

class QueryMatcher : public ::testing::TestWithParam<QueryCase> {};

TEST_P(QueryMatcher, MatchesDecodedPairs) {
  core::MatcherSet set;
  set.query = GetParam().conditions;
  FakeExchange ex;
  ex.target(std::string("/?") + GetParam().query);
  EXPECT_EQ(matches(set, ex), GetParam().matches) << GetParam().query;
}

INSTANTIATE_TEST_SUITE_P(Cases, QueryMatcher,
                         ::testing::Values(QueryCase{{{"a", "1"}}, "a=1", true},
                                           QueryCase{{{"a", "1"}}, "a=2", false},
                                           QueryCase{{{"a", "1"}}, "b=1&a=1", true},
                                           QueryCase{{{"a", "*"}}, "a=anything", true},
                                           QueryCase{{{"a", "*"}}, "b=1", false},
                                           QueryCase{{{"q", "x y"}}, "q=x+y", true},
                                           QueryCase{{{"q", "x/y"}}, "q=x%2Fy", true},
                                           QueryCase{{{"a", "1"}, {"a", "2"}}, "a=2", true},
                                           QueryCase{{{"a", "1"}, {"b", "2"}}, "a=1", false},
                                           QueryCase{{{"a", "1"}, {"b", "2"}}, "b=2&a=1", true},
                                           QueryCase{{{"a", "1"}}, "a=1;b=2", false}));

TEST(CompiledMatcher, MatchesRemoteAddressRanges) {
  core::MatcherSet set;
  set.remote_ip = {"192.0.2.0/24"};
  FakeExchange ex;
  EXPECT_TRUE(matches(set, ex));
  ex.conn.remote_address = asio::ip::make_address("198.51.100.1");
  EXPECT_FALSE(matches(set, ex));
}

TEST(CompiledMatcher, ExpandsPrivateRanges) {
  core::MatcherSet set;
  set.remote_ip = {"private_ranges"};
  FakeExchange ex;
  ex.conn.remote_address = asio::ip::make_address("10.1.2.3");
  EXPECT_TRUE(matches(set, ex));
  ex.conn.remote_address = asio::ip::make_address("::ffff:192.168.1.1");
  EXPECT_TRUE(matches(set, ex));
  ex.conn.remote_address = asio::ip::make_address("8.8.8.8");
  EXPECT_FALSE(matches(set, ex));
}

TEST(CompiledMatcher, MatchesTheClientAddressAfterTrustedProxies) {
  core::MatcherSet set;
  set.client_ip = {"203.0.113.0/24"};
  FakeExchange ex;
  EXPECT_TRUE(matches(set, ex, "203.0.113.9"));
  EXPECT_FALSE(matches(set, ex, "192.0.2.10"));
  EXPECT_FALSE(matches(set, ex, "not an address"));
}

TEST(CompiledMatcher, RejectsAnInvalidRange) {
  core::MatcherSet set;
  set.remote_ip = {"300.0.0.1/8"};
  EXPECT_THROW(CompiledMatcher{set}, core::ConfigError);
}

struct ProtocolCase {
  const char* protocol;
  bool tls;
  int major;
  int minor;
  bool matches;
};

class ProtocolMatcher : public ::testing::TestWithParam<ProtocolCase> {};

TEST_P(ProtocolMatcher, MatchesSchemeAndVersion) {
  const ProtocolCase& c = GetParam();
  core::MatcherSet set;
  set.protocol = c.protocol;
  FakeExchange ex;
  ex.conn.tls = c.tls;
  ex.head.version_major = c.major;
  ex.head.version_minor = c.minor;
  EXPECT_EQ(matches(set, ex), c.matches) << c.protocol;
}

INSTANTIATE_TEST_SUITE_P(Cases, ProtocolMatcher,
                         ::testing::Values(ProtocolCase{"http", false, 1, 1, true},
                                           ProtocolCase{"http", true, 1, 1, false},
                                           ProtocolCase{"https", true, 1, 1, true},
                                           ProtocolCase{"https", false, 1, 1, false},
                                           ProtocolCase{"http/1.1", false, 1, 1, true},
                                           ProtocolCase{"http/1.1", false, 1, 0, false},
                                           ProtocolCase{"http/2", true, 2, 0, true},
                                           ProtocolCase{"http/2", true, 1, 1, false},
                                           ProtocolCase{"http/1.1+", true, 2, 0, true},
                                           ProtocolCase{"http/2+", true, 1, 1, false}));

TEST(CompiledMatcher, MatchesGrpcByContentType) {
  core::MatcherSet set;
  set.protocol = "grpc";
  FakeExchange ex;
  EXPECT_FALSE(matches(set, ex));
  ex.head.headers.add("Content-Type", "application/grpc+proto");
  EXPECT_TRUE(matches(set, ex));
}

TEST(CompiledMatcher, RejectsAnUnknownProtocol) {
  core::MatcherSet set;
  set.protocol = "gopher";
  EXPECT_THROW(CompiledMatcher{set}, core::ConfigError);
}

TEST(CompiledMatcher, NegatesEachNotSetAsAWhole) {
  core::MatcherSet inner;
  inner.paths = {"/private/*"};
  inner.methods = {"POST"};
  core::MatcherSet set;
  set.nots = {inner};
  FakeExchange ex;
  ex.target("/private/x");
  EXPECT_TRUE(matches(set, ex));  // GET: the not-set as a whole does not match
  ex.head.method = "POST";
  EXPECT_FALSE(matches(set, ex));
}

}  // namespace
}  // namespace usher::proxy
