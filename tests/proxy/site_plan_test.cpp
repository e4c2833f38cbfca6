#include "proxy/site_plan.h"

#include <gtest/gtest.h>

#include "core/diagnostic.h"
#include "proxy/site_address.h"

namespace usher::proxy {
namespace {

core::Site site_at(std::string host, std::string scheme = {}, uint16_t port = 0) {
  core::SiteAddress a;
  a.host = std::move(host);
  a.scheme = std::move(scheme);
  a.port = port;
  core::Site s;
  s.addresses = {a};
  return s;
}

core::Config config_of(std::vector<core::Site> sites) {
  core::Config c;
  c.sites = std::move(sites);
  return c;
}

std::vector<ListenerPlan> listeners(std::initializer_list<ListenerPlan> l) {
  return l;
}

TEST(PlanSites, OpensHttpsAndTheRedirectPortForAPublicName) {
  const SitePlan plan = plan_sites(config_of({site_at("example.com")}));
  EXPECT_EQ(plan.listeners, listeners({{80, false, {}}, {443, true, {}}}));
  ASSERT_EQ(plan.certificates.size(), 1u);
  EXPECT_EQ(plan.certificates[0].name, "example.com");
  EXPECT_EQ(plan.certificates[0].origin, CertificateOrigin::kAcme);
}

TEST(PlanSites, ServesHttpSitesWithoutCertificates) {
  const SitePlan plan =
      plan_sites(config_of({site_at("example.com", "http"), site_at("", "", 8080)}));
  EXPECT_EQ(plan.listeners, listeners({{80, false, {}}, {8080, false, {}}}));
  EXPECT_TRUE(plan.certificates.empty());
}

TEST(PlanSites, KeepsAnExplicitHttpsPort) {
  const SitePlan plan = plan_sites(config_of({site_at("example.com", "", 8443)}));
  EXPECT_EQ(plan.listeners, listeners({{80, false, {}}, {8443, true, {}}}));
}

TEST(PlanSites, TreatsTheHttpPortAsPlainHttp) {
  const SitePlan plan = plan_sites(config_of({site_at("example.com", "", 80)}));
  EXPECT_EQ(plan.listeners, listeners({{80, false, {}}}));
  EXPECT_TRUE(plan.certificates.empty());
}

TEST(PlanSites, GivesLocalNamesLocalCertificates) {
  const SitePlan plan = plan_sites(config_of({site_at("localhost"), site_at("192.168.1.2"),
                                              site_at("nas.home.arpa"), site_at("*.local")}));
  ASSERT_EQ(plan.certificates.size(), 4u);
  for (const CertificateNeed& need : plan.certificates)
    EXPECT_EQ(need.origin, CertificateOrigin::kLocal) << need.name;
}

TEST(PlanSites, FollowsTheSitesTlsMode) {
  core::Site internal = site_at("a.example.com");
  internal.tls = core::SiteTls{};
  internal.tls->mode = core::SiteTls::Mode::kInternal;
  core::Site files = site_at("b.example.com");
  files.tls = core::SiteTls{};
  files.tls->mode = core::SiteTls::Mode::kFiles;
  const core::Config config = config_of({internal, files});
  const SitePlan plan = plan_sites(config);
  ASSERT_EQ(plan.certificates.size(), 2u);
  EXPECT_EQ(plan.certificates[0].origin, CertificateOrigin::kLocal);
  EXPECT_EQ(plan.certificates[1].origin, CertificateOrigin::kFiles);
  EXPECT_EQ(plan.certificates[1].site, &config.sites[1]);
}

TEST(PlanSites, UsesTheLocalCaForEverythingWithLocalCerts) {
  core::Config config = config_of({site_at("example.com")});
  config.global.local_certs = true;
  EXPECT_EQ(plan_sites(config).certificates.at(0).origin, CertificateOrigin::kLocal);
}

TEST(PlanSites, ListsEachNameOnceCaseInsensitively) {
  const SitePlan plan =
      plan_sites(config_of({site_at("Example.com"), site_at("example.com", "", 8443)}));
  ASSERT_EQ(plan.certificates.size(), 1u);
  EXPECT_EQ(plan.certificates[0].name, "example.com");
}

TEST(PlanSites, OpensNoRedirectPortWithAutoHttpsOff) {
  core::Config config = config_of({site_at("example.com", "https")});
  config.global.auto_https = core::GlobalOptions::AutoHttps::kOff;
  EXPECT_EQ(plan_sites(config).listeners, listeners({{443, true, {}}}));
}

TEST(PlanSites, ServesPlainHttpForUnmarkedSitesWithAutoHttpsOff) {
  core::Config config = config_of({site_at("example.com")});
  config.global.auto_https = core::GlobalOptions::AutoHttps::kOff;
  const SitePlan plan = plan_sites(config);
  EXPECT_EQ(plan.listeners, listeners({{80, false, {}}}));
  EXPECT_TRUE(plan.certificates.empty());
}

TEST(PlanSites, RejectsHttpAndHttpsOnOnePort) {
  EXPECT_THROW(plan_sites(config_of({site_at("a.example.com", "http", 8080),
                                     site_at("b.example.com", "https", 8080)})),
               core::ConfigError);
}

TEST(ServeAddress, AgreesWithThePlanForTheRouter) {
  core::GlobalOptions global;
  global.https_port = 8443;
  const core::Site s = site_at("example.com");
  const ServedAddress served = serve_address(s.addresses[0], s, global);
  EXPECT_EQ(served.port, 8443);
  EXPECT_TRUE(served.tls);
}

struct LocalNameCase {
  const char* name;
  bool local;
};

class LocalNames : public ::testing::TestWithParam<LocalNameCase> {};

TEST_P(LocalNames, AreThoseNoPublicCaCertifies) {
  EXPECT_EQ(is_local_name(GetParam().name), GetParam().local) << GetParam().name;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, LocalNames,
    ::testing::Values(LocalNameCase{"localhost", true}, LocalNameCase{"LocalHost", true},
                      LocalNameCase{"app.localhost", true}, LocalNameCase{"127.0.0.1", true},
                      LocalNameCase{"::1", true}, LocalNameCase{"printer.local", true},
                      LocalNameCase{"db.internal", true}, LocalNameCase{"nas.home.arpa", true},
                      LocalNameCase{"example.com", false},
                      LocalNameCase{"local.example.com", false}, LocalNameCase{"mylocal", false}));

}  // namespace
}  // namespace usher::proxy

namespace usher::proxy {
namespace {

TEST(PlanSitesBind, ListensOnlyWhereTheSiteBindsAndSoDoesItsRedirectPort) {
  core::Site a = site_at("a.example.com");
  a.binds = {"127.0.0.1"};
  core::Site b = site_at("b.example.com");
  b.binds = {"::1"};
  const SitePlan plan = plan_sites(config_of({a, b}));
  EXPECT_EQ(plan.listeners,
            listeners({{80, false, {"127.0.0.1", "::1"}}, {443, true, {"127.0.0.1", "::1"}}}));
}

TEST(PlanSitesBind, ASiteWithoutBindOpensThePortOnEveryAddress) {
  core::Site a = site_at("a.example.com");
  a.binds = {"127.0.0.1"};
  const SitePlan plan = plan_sites(config_of({a, site_at("b.example.com")}));
  EXPECT_EQ(plan.listeners, listeners({{80, false, {}}, {443, true, {}}}));
}

}  // namespace
}  // namespace usher::proxy
