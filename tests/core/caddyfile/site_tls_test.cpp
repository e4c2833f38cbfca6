#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/core/caddyfile/adapt_helpers.h"

namespace usher::core::caddyfile {
namespace {

using test::adapt_text;
using test::first_error;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

Site site(std::string_view body) {
  const auto a = adapt_text("a.com {\n" + std::string(body) + "\n}\n");
  EXPECT_EQ(a.diagnostics.str(), "");
  return a.config.sites.empty() ? Site{} : a.config.sites.front();
}

std::string site_error(std::string_view body) {
  return first_error("a.com {\n" + std::string(body) + "\n}\n");
}

TEST(TlsDirective, ReadsTheOneLineForms) {
  EXPECT_EQ(site("tls internal").tls->mode, SiteTls::Mode::kInternal);
  const SiteTls email = *site("tls ops@a.com").tls;
  EXPECT_EQ(email.mode, SiteTls::Mode::kAuto);
  EXPECT_EQ(email.email, "ops@a.com");
  const SiteTls files = *site("tls /etc/a.crt /etc/a.key").tls;
  EXPECT_EQ(files.mode, SiteTls::Mode::kFiles);
  EXPECT_EQ(files.cert_file, "/etc/a.crt");
  EXPECT_EQ(files.key_file, "/etc/a.key");
}

TEST(TlsDirective, ReadsTheBlock) {
  const SiteTls t = *site(
                         "tls {\n"
                         " issuer acme {\n  dir https://ca/dir\n  disable_tlsalpn_challenge\n }\n"
                         " issuer internal\n"
                         " ca https://ca/other\n"
                         " ca_root /root.pem\n"
                         " dns cloudflare {env.CF_TOKEN}\n"
                         " on_demand\n"
                         " protocols tls1.2 tls1.3\n"
                         "}")
                         .tls;
  ASSERT_EQ(t.issuers.size(), 2u);
  EXPECT_EQ(t.issuers[0].directory, "https://ca/dir");
  EXPECT_THAT(t.issuers[0].disabled_challenges, ElementsAre("tls-alpn"));
  EXPECT_EQ(t.issuers[1].kind, IssuerConfig::Kind::kInternal);
  EXPECT_EQ(t.ca, "https://ca/other");
  EXPECT_EQ(t.ca_root, "/root.pem");
  EXPECT_EQ(t.dns_provider, "cloudflare");
  EXPECT_THAT(t.dns_args, ElementsAre("{env.CF_TOKEN}"));
  EXPECT_TRUE(t.on_demand);
  EXPECT_EQ(t.protocol_min, "tls1.2");
  EXPECT_EQ(t.protocol_max, "tls1.3");
}

TEST(TlsDirective, RejectsMistakes) {
  EXPECT_EQ(site_error("tls"),
            "Caddyfile:2: `tls` expects an email address, `internal`, a certificate and a key "
            "file, or a block");
  EXPECT_EQ(site_error("tls interal"),
            "Caddyfile:2: invalid argument `interal` for `tls`; expected an email address, "
            "`internal`, or a "
            "certificate and a key file");
  EXPECT_EQ(site_error("tls /etc/a.crt"),
            "Caddyfile:2: `tls` expects a key file after the certificate `/etc/a.crt`");
  EXPECT_EQ(site_error("tls {\n protocols tls1.0\n}"),
            "Caddyfile:3: invalid value `tls1.0` for `protocols`; expected `tls1.2` or `tls1.3`");
  EXPECT_EQ(site_error("tls internal\ntls a@b.c"),
            "Caddyfile:3: `tls` is given twice in one site; merge them into one");
  EXPECT_EQ(site_error("tls {\n issuer internal {\n  lifetime 1d\n }\n}"),
            "Caddyfile:3: `internal` does not take a block");
}

TEST(LogDirective, ReadsTheSiteAccessLog) {
  const Site s = site("log {\n output stdout\n format console\n level warn\n}");
  ASSERT_TRUE(s.log.has_value());
  EXPECT_EQ(s.log->output.kind, LogOutput::Kind::kStdout);
  EXPECT_EQ(s.log->format, "console");
  EXPECT_EQ(s.log->level, "WARN");
  EXPECT_EQ(site("log").log, LogConfig{});
}

TEST(LogDirective, RejectsMistakes) {
  EXPECT_EQ(site_error("log {\n output file\n}"), "Caddyfile:3: `output file` expects a file path");
  EXPECT_EQ(site_error("log {\n output stderr {\n  roll_size 1MB\n }\n}"),
            "Caddyfile:3: `output` does not take a block");
  EXPECT_THAT(site_error("log access"),
              HasSubstr("a logger name on a site's `log` is not supported yet"));
}

}  // namespace
}  // namespace usher::core::caddyfile
