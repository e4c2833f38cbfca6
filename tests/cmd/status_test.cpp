#include "cmd/usher/status.h"

#include <gtest/gtest.h>

#include "acme/timestamp.h"

namespace usher::cmd {
namespace {

InstanceStatus sample_status() {
  InstanceStatus s;
  s.version = "9.9.9";
  s.uptime = std::chrono::seconds(3725);
  s.config_path = "/etc/usher/Caddyfile";
  s.workers = 4;
  s.sites = {{"cloud.example.com"}, {"localhost", "127.0.0.1"}};
  s.listeners = {{443, true, {}}, {80, false, {"192.0.2.1"}}};
  proxy::UpstreamGroup group;
  group.site = "cloud.example.com";
  group.active_checks = true;
  group.upstreams = {{"127.0.0.1:8080", true, true, 2}, {"127.0.0.1:8081", false, true, 0}};
  s.upstreams = {group};
  acme::CertificateStatus cert;
  cert.name = "cloud.example.com";
  cert.issuer = "https://acme-v02.api.letsencrypt.org/directory";
  cert.not_after = acme::parse_rfc3339("2026-03-01T00:00:00Z");
  cert.renew_at = acme::parse_rfc3339("2026-01-30T00:00:00Z");
  cert.attempts = 0;
  s.certificates = {cert};
  return s;
}

/// The line of `text` that contains `needle`, or "" when none does.
std::string line_containing(const std::string& text, std::string_view needle) {
  auto at = text.find(needle);
  if (at == std::string::npos) return {};
  auto start = text.rfind('\n', at);
  start = start == std::string::npos ? 0 : start + 1;
  return text.substr(start, text.find('\n', at) - start);
}

TEST(StatusJson, CarriesEverySection) {
  acme::Json json = status_to_json(sample_status());
  EXPECT_EQ(json.string_or("version"), "9.9.9");
  EXPECT_EQ(json.find("uptime_seconds")->as_int(), 3725);
  EXPECT_EQ(json.string_or("config_path"), "/etc/usher/Caddyfile");
  EXPECT_EQ(json.find("workers")->as_int(), 4);
  ASSERT_EQ(json.find("sites")->as_array().size(), 2u);
  EXPECT_EQ(json.find("sites")->as_array()[1].find("addresses")->as_array()[1].as_string(),
            "127.0.0.1");
  const auto& listener = json.find("listeners")->as_array()[1];
  EXPECT_EQ(listener.find("port")->as_int(), 80);
  EXPECT_FALSE(listener.find("tls")->as_bool());
  const auto& group = json.find("upstreams")->as_array()[0];
  EXPECT_EQ(group.string_or("site"), "cloud.example.com");
  EXPECT_TRUE(group.find("active_checks")->as_bool());
  const auto& down = group.find("upstreams")->as_array()[1];
  EXPECT_EQ(down.string_or("address"), "127.0.0.1:8081");
  EXPECT_FALSE(down.find("healthy")->as_bool());
  EXPECT_FALSE(down.find("active_healthy")->as_bool());
  EXPECT_TRUE(down.find("passive_healthy")->as_bool());
  const auto& cert = json.find("certificates")->as_array()[0];
  EXPECT_EQ(cert.string_or("not_after"), "2026-03-01T00:00:00Z");
  EXPECT_EQ(cert.string_or("next_renewal"), "2026-01-30T00:00:00Z");
  EXPECT_TRUE(cert.find("next_try")->is_null());
}

TEST(StatusJson, CertificatesRoundTripThroughTheWireFormat) {
  auto original = sample_status().certificates;
  original[0].attempts = 3;
  original[0].last_error = "urn:ietf:params:acme:error:rateLimited";
  original[0].next_try = acme::parse_rfc3339("2026-01-02T03:04:05Z");
  InstanceStatus s;
  s.certificates = original;
  auto parsed = acme::Json::parse(status_to_json(s).dump());
  auto back = certificates_from_json(parsed);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].name, original[0].name);
  EXPECT_EQ(back[0].issuer, original[0].issuer);
  EXPECT_EQ(back[0].not_after, original[0].not_after);
  EXPECT_EQ(back[0].renew_at, original[0].renew_at);
  EXPECT_EQ(back[0].next_try, original[0].next_try);
  EXPECT_EQ(back[0].attempts, 3);
  EXPECT_EQ(back[0].last_error, original[0].last_error);
}

TEST(StatusTable, ShowsUpstreamsUpAndDownWithTheReason) {
  std::string text = format_status(acme::Json::parse(status_to_json(sample_status()).dump()));
  EXPECT_NE(text.find("usher 9.9.9, up 1h2m, 4 workers, config /etc/usher/Caddyfile"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("localhost, 127.0.0.1"), std::string::npos) << text;
  EXPECT_NE(text.find(":443  https  all addresses"), std::string::npos) << text;
  EXPECT_NE(text.find(":80   http   192.0.2.1"), std::string::npos) << text;
  // One line per upstream, columns aligned under the header.
  std::string header = line_containing(text, "UPSTREAM");
  std::string up = line_containing(text, "127.0.0.1:8080");
  std::string down = line_containing(text, "127.0.0.1:8081");
  EXPECT_EQ(up.find("127.0.0.1:8080"), header.find("UPSTREAM")) << text;
  EXPECT_EQ(down.find("127.0.0.1:8081"), header.find("UPSTREAM")) << text;
  EXPECT_EQ(up.find(" up "), header.find("STATE") - 1) << text;
  EXPECT_NE(up.find("active"), std::string::npos) << up;
  EXPECT_NE(down.find("down (active check failing)"), std::string::npos) << down;
  // The certificate table is `usher certs`' own.
  EXPECT_NE(text.find("NOT AFTER"), std::string::npos);
  EXPECT_NE(text.find("cloud.example.com  acme-v02.api.letsencrypt.org"), std::string::npos)
      << text;
}

TEST(StatusTable, SaysWhenThereIsNothingToShow) {
  InstanceStatus empty;
  empty.version = "1";
  std::string text = format_status(status_to_json(empty));
  EXPECT_NE(text.find("(none: built from flags)"), std::string::npos) << text;
  EXPECT_NE(text.find("(no reverse_proxy)"), std::string::npos) << text;
  EXPECT_NE(text.find("(no acme certificates yet)"), std::string::npos) << text;
}

TEST(StatusTable, RejectsADocumentThatIsNotAStatus) {
  EXPECT_THROW(format_status(acme::Json::parse(R"({"hello":1})")), std::runtime_error);
  EXPECT_THROW(certificates_from_json(acme::Json::parse(R"({"certificates":[{"issuer":"x"}]})")),
               std::runtime_error);
}

}  // namespace
}  // namespace usher::cmd
