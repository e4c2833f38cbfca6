#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/core/caddyfile/adapt_helpers.h"

namespace usher::core::caddyfile {
namespace {

using test::adapt_text;
using test::first_error;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

GlobalOptions global(std::string_view body) {
  const auto a = adapt_text("{\n" + std::string(body) + "\n}\n");
  EXPECT_EQ(a.diagnostics.str(), "");
  return a.config.global;
}

std::string global_error(std::string_view body) {
  return first_error("{\n" + std::string(body) + "\n}\n");
}

TEST(GlobalOptions, ReadsTheSimpleOptions) {
  const GlobalOptions g = global(
      "debug\n"
      "email admin@example.com\n"
      "acme_ca https://acme-staging-v02.api.letsencrypt.org/directory\n"
      "acme_ca_root /etc/pebble.pem\n"
      "local_certs\n"
      "admin off\n"
      "http_port 8080\n"
      "https_port 8443\n"
      "auto_https disable_redirects\n"
      "grace_period 30s\n"
      "workers 2\n");
  EXPECT_TRUE(g.debug);
  EXPECT_EQ(g.email, "admin@example.com");
  EXPECT_EQ(g.acme_ca, "https://acme-staging-v02.api.letsencrypt.org/directory");
  EXPECT_EQ(g.acme_ca_root, "/etc/pebble.pem");
  EXPECT_TRUE(g.local_certs);
  EXPECT_FALSE(g.admin.enabled);
  EXPECT_EQ(g.http_port, 8080);
  EXPECT_EQ(g.https_port, 8443);
  EXPECT_EQ(g.auto_https, GlobalOptions::AutoHttps::kDisableRedirects);
  EXPECT_EQ(g.grace_period, Duration{30'000});
  EXPECT_EQ(g.workers, 2);
}

TEST(GlobalOptions, KeepsDefaultsWhenEmpty) {
  EXPECT_EQ(global(""), GlobalOptions{});
}

TEST(GlobalOptions, ReadsAdminAddressAndAutoHttpsOff) {
  const GlobalOptions g = global("admin 127.0.0.1:2020\nauto_https off");
  EXPECT_TRUE(g.admin.enabled);
  EXPECT_EQ(g.admin.address, "127.0.0.1:2020");
  EXPECT_EQ(g.auto_https, GlobalOptions::AutoHttps::kOff);
}

TEST(GlobalOptions, ReadsAcmeEab) {
  const GlobalOptions g = global("acme_eab {\n key_id kid\n mac_key bWFj\n}");
  ASSERT_TRUE(g.acme_eab.has_value());
  EXPECT_EQ(*g.acme_eab, (EabCredentials{"kid", "bWFj"}));
  EXPECT_THAT(global_error("acme_eab {\n key_id kid\n}"),
              HasSubstr("`acme_eab` expects a block with both"));
}

TEST(GlobalOptions, ReadsCertIssuersInOrder) {
  const GlobalOptions g = global(
      "cert_issuer acme https://ca.example/dir {\n"
      "  email ops@example.com\n"
      "  eab kid mac\n"
      "  trusted_roots /ca.pem\n"
      "  disable_http_challenge\n"
      "  preferred_chains {\n   root_common_name \"ISRG Root X1\"\n  }\n"
      "}\n"
      "cert_issuer internal\n");
  ASSERT_EQ(g.cert_issuers.size(), 2u);
  const IssuerConfig& acme = g.cert_issuers[0];
  EXPECT_EQ(acme.kind, IssuerConfig::Kind::kAcme);
  EXPECT_EQ(acme.directory, "https://ca.example/dir");
  EXPECT_EQ(acme.email, "ops@example.com");
  EXPECT_EQ(acme.eab, (EabCredentials{"kid", "mac"}));
  EXPECT_EQ(acme.trusted_root, "/ca.pem");
  EXPECT_THAT(acme.disabled_challenges, ElementsAre("http"));
  EXPECT_EQ(acme.preferred_chain, "ISRG Root X1");
  EXPECT_EQ(g.cert_issuers[1].kind, IssuerConfig::Kind::kInternal);
}

TEST(GlobalOptions, ReadsStorageInBothForms) {
  EXPECT_EQ(global("storage file_system /var/lib/x").storage_path, "/var/lib/x");
  EXPECT_EQ(global("storage file_system {\n root /data\n}").storage_path, "/data");
  EXPECT_EQ(global_error("storage redis"),
            "Caddyfile:2: storage `redis` is not supported yet; only `file_system` is available");
}

TEST(GlobalOptions, ReadsServers) {
  const GlobalOptions g = global(
      "servers :443 {\n"
      "  timeouts {\n   read_header 10s\n   read_body 1m\n   write 2m\n   idle 5m\n  }\n"
      "  trusted_proxies static private_ranges 203.0.113.0/24\n"
      "  protocols h1 h2\n"
      "  max_header_size 32KiB\n"
      "}");
  ASSERT_EQ(g.servers.size(), 1u);
  const ServerOptions& s = g.servers[0];
  EXPECT_EQ(s.listener, ":443");
  EXPECT_EQ(s.timeouts.read_header, Duration{10'000});
  EXPECT_EQ(s.timeouts.idle, Duration{300'000});
  EXPECT_THAT(s.trusted_proxies, ElementsAre("private_ranges", "203.0.113.0/24"));
  EXPECT_THAT(s.protocols, ElementsAre("h1", "h2"));
  EXPECT_EQ(s.max_header_size, 32u * 1024u);
}

TEST(GlobalOptions, ReadsLogs) {
  const GlobalOptions g = global(
      "log {\n level debug\n}\n"
      "log access {\n output file /var/log/usher.log {\n  roll_size 50MiB\n  roll_keep 5\n }\n "
      "format json\n}");
  ASSERT_EQ(g.logs.size(), 2u);
  EXPECT_EQ(g.logs[0].level, "DEBUG");
  EXPECT_EQ(g.logs[1].name, "access");
  EXPECT_EQ(g.logs[1].output.kind, LogOutput::Kind::kFile);
  EXPECT_EQ(g.logs[1].output.path, "/var/log/usher.log");
  EXPECT_EQ(g.logs[1].output.roll_size, 50u * 1024u * 1024u);
  EXPECT_EQ(g.logs[1].output.roll_keep, 5);
  EXPECT_EQ(g.logs[1].format, "json");
}

struct GlobalErrorCase {
  std::string body;
  std::string expected;
};

class GlobalOptionErrors : public ::testing::TestWithParam<GlobalErrorCase> {};

TEST_P(GlobalOptionErrors, ReportsTheExactMessage) {
  EXPECT_EQ(global_error(GetParam().body), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Messages, GlobalOptionErrors,
    ::testing::Values(
        GlobalErrorCase{
            "http_port 0",
            "Caddyfile:2: invalid port `0` for `http_port`; expected a number from 1 to 65535"},
        GlobalErrorCase{"auto_https maybe",
                        "Caddyfile:2: invalid value `maybe` for `auto_https`; expected `off` or "
                        "`disable_redirects`"},
        GlobalErrorCase{
            "workers 0",
            "Caddyfile:2: invalid number `0` for `workers`; expected an integer from 1 to 1024"},
        GlobalErrorCase{"grace_period soon",
                        "Caddyfile:2: invalid duration `soon` for `grace_period`; expected a "
                        "duration like `30s`, "
                        "`1m30s` or `250ms`"},
        GlobalErrorCase{"email", "Caddyfile:2: `email` expects an email address"},
        GlobalErrorCase{"debug yes", "Caddyfile:2: `debug` takes no arguments, got 1 (`yes`)"},
        GlobalErrorCase{
            "servers {\n  protocols h1 h4\n}",
            "Caddyfile:3: invalid value `h4` for `protocols`; expected `h1`, `h2`, `h2c` or `h3`"},
        GlobalErrorCase{
            "servers {\n  trusted_proxies cloudflare\n}",
            "Caddyfile:3: trusted_proxies source `cloudflare` is not supported yet; write "
            "`trusted_proxies static RANGES…`"},
        GlobalErrorCase{"log {\n  level LOUD\n}",
                        "Caddyfile:3: invalid value `LOUD` for `level`; expected `DEBUG`, `INFO`, "
                        "`WARN` or `ERROR`"},
        GlobalErrorCase{"log {\n  output syslog\n}",
                        "Caddyfile:3: invalid value `syslog` for `output`; expected `stderr`, "
                        "`stdout`, `discard` or "
                        "`file`"},
        GlobalErrorCase{
            "cert_issuer zerossl",
            "Caddyfile:2: issuer `zerossl` is not supported yet; use `acme` with `dir`"},
        GlobalErrorCase{"servers {\n  timeouts {\n   reed_header 1s\n  }\n}",
                        "Caddyfile:4: unknown subdirective `reed_header` in `timeouts`; did you "
                        "mean `read_header`?"}));

TEST(GlobalOptions, ReportsEveryBadOptionAndKeepsTheGoodOnes) {
  const auto a = adapt_text("{\n http_port x\n email a@b.c\n workers -3\n bogus_option\n}\n");
  EXPECT_EQ(a.diagnostics.error_count(), 3u) << a.diagnostics.str();
  EXPECT_EQ(a.config.global.email, "a@b.c");
}

}  // namespace
}  // namespace usher::core::caddyfile
