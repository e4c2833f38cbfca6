#include "proxy/placeholder_expand.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "tests/proxy/fake_exchange.h"

namespace usher::proxy {
namespace {

using testing::FakeExchange;
using testing::test_worker;

struct ExpandCase {
  const char* tmpl;
  const char* expected;
};

// One request with something in every field a placeholder reads.
class Expand : public ::testing::TestWithParam<ExpandCase> {
 protected:
  Expand() {
    ex.target("/docs/a%20b/file.txt?q=x+y&empty=&enc=%2F", "www.Example.com:8443");
    ex.head.host = "www.example.com";
    ex.over_tls(8443);
    ex.conn.tls_server_name = "www.example.com";
    ex.head.method = "POST";
    ex.head.headers.add("X-Multi", "a");
    ex.head.headers.add("x-multi", "b");
    ex.head.headers.add("Cookie", "session=abc; theme=dark");
    ctx.client_ip = "203.0.113.7";
    ctx.upstream_hostport = "127.0.0.1:8080";
    ctx.error_status = 404;
    ctx.error_message = "gone";
  }

  FakeExchange ex;
  RequestContext ctx{ex, test_worker()};
};

TEST_P(Expand, ExpandsEveryPlaceholderKind) {
  const core::Template tmpl = core::Template::parse(GetParam().tmpl);
  EXPECT_EQ(expand(tmpl, ctx), GetParam().expected) << GetParam().tmpl;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, Expand,
    ::testing::Values(
        ExpandCase{"{host}", "www.example.com"}, ExpandCase{"{hostport}", "www.Example.com:8443"},
        ExpandCase{"{port}", "8443"},
        ExpandCase{"{uri}", "/docs/a%20b/file.txt?q=x+y&empty=&enc=%2F"},
        ExpandCase{"{path}", "/docs/a b/file.txt"}, ExpandCase{"{dir}", "/docs/a b/"},
        ExpandCase{"{file}", "file.txt"}, ExpandCase{"{query}", "q=x+y&empty=&enc=%2F"},
        ExpandCase{"{query.q}", "x y"}, ExpandCase{"{query.enc}", "/"},
        ExpandCase{"[{query.empty}]", "[]"}, ExpandCase{"[{query.none}]", "[]"},
        ExpandCase{"{scheme}", "https"}, ExpandCase{"{method}", "POST"},
        ExpandCase{"{remote}", "192.0.2.10:40000"}, ExpandCase{"{remote_host}", "192.0.2.10"},
        ExpandCase{"{remote_port}", "40000"}, ExpandCase{"{client_ip}", "203.0.113.7"},
        ExpandCase{"{header.X-Multi}", "a,b"}, ExpandCase{"[{header.Missing}]", "[]"},
        ExpandCase{"{cookie.theme}", "dark"}, ExpandCase{"{cookie.session}", "abc"},
        ExpandCase{"[{cookie.none}]", "[]"}, ExpandCase{"{labels.0}", "com"},
        ExpandCase{"{labels.1}", "example"}, ExpandCase{"{labels.2}", "www"},
        ExpandCase{"[{labels.3}]", "[]"}, ExpandCase{"{tls_server_name}", "www.example.com"},
        ExpandCase{"{upstream_hostport}", "127.0.0.1:8080"},
        ExpandCase{"{err.status_code} {err.status_text}: {err.message}", "404 Not Found: gone"},
        ExpandCase{"{http.request.host}{http.request.uri.path}",
                   "www.example.com/docs/a b/file.txt"},
        ExpandCase{"\\{host\\}", "{host}"}, ExpandCase{"{ \"a\": 1 }", "{ \"a\": 1 }"}));

TEST(ExpandPort, DefaultsToThePortOfTheScheme) {
  FakeExchange ex;
  RequestContext ctx(ex, test_worker());
  EXPECT_EQ(expand(core::Template::parse("{port}"), ctx), "80");
  ex.over_tls(443);
  EXPECT_EQ(expand(core::Template::parse("{port}"), ctx), "443");
}

TEST(ExpandRemote, BracketsIpv6Addresses) {
  FakeExchange ex;
  ex.conn.remote_address = asio::ip::make_address("2001:db8::1");
  RequestContext ctx(ex, test_worker());
  EXPECT_EQ(expand(core::Template::parse("{remote}"), ctx), "[2001:db8::1]:40000");
  EXPECT_EQ(expand(core::Template::parse("{remote_host}"), ctx), "2001:db8::1");
  EXPECT_EQ(expand(core::Template::parse("{client_ip}"), ctx), "2001:db8::1");
}

TEST(ExpandInto, AppendsToTheBuffer) {
  FakeExchange ex;
  RequestContext ctx(ex, test_worker());
  std::string out = "host=";
  expand_into(core::Template::parse("{host}"), ctx, out);
  EXPECT_EQ(out, "host=example.com");
}

TEST(ExpandErrors, AreEmptyOutsideErrorHandling) {
  FakeExchange ex;
  RequestContext ctx(ex, test_worker());
  EXPECT_EQ(expand(core::Template::parse("[{err.status_code}{err.status_text}]"), ctx), "[]");
}

TEST(ResolveEnv, ReadsTheEnvironmentOnceAtBuildTime) {
  ::setenv("USHER_ROUTER_TEST_VAR", "first", 1);
  const core::Template resolved =
      resolve_env(core::Template::parse("v={env.USHER_ROUTER_TEST_VAR}"));
  ::setenv("USHER_ROUTER_TEST_VAR", "second", 1);
  FakeExchange ex;
  RequestContext ctx(ex, test_worker());
  EXPECT_EQ(expand(resolved, ctx), "v=first");
  EXPECT_TRUE(resolved.is_literal());
  ::unsetenv("USHER_ROUTER_TEST_VAR");
  EXPECT_EQ(expand(resolve_env(core::Template::parse("[{env.USHER_ROUTER_TEST_VAR}]")), ctx), "[]");
}

}  // namespace
}  // namespace usher::proxy
