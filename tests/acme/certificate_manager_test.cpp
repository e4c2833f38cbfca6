#include "acme/certificate_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "acme/certificate_state.h"
#include "acme/timestamp.h"
#include "core/atomic_file.h"
#include "fake_ca.h"

namespace usher::acme {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;
using TimePoint = std::chrono::system_clock::time_point;

// Hands the shared fake CA to the manager without giving it away.
class Borrowed final : public HttpTransport {
 public:
  explicit Borrowed(HttpTransport& target) : target_(target) {}
  HttpResponse send(const HttpRequest& request) override { return target_.send(request); }

 private:
  HttpTransport& target_;
};

// A CA nobody can reach.
class Unreachable final : public HttpTransport {
 public:
  HttpResponse send(const HttpRequest& request) override {
    throw std::runtime_error(request.url + ": connection refused");
  }
};

constexpr const char* kDownDirectory = "https://down.test/directory";

class Manager : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "usher-acme-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<CertificateManager> make(size_t parallel = 1) {
    CertificateManagerOptions options;
    options.data_dir = dir_;
    options.clock = &clock_;
    options.transport_factory = [this](const std::string&) -> std::unique_ptr<HttpTransport> {
      ++transports_;
      return std::make_unique<Borrowed>(ca_);
    };
    options.sleep = [this](std::chrono::milliseconds d) { clock_.advance(d); };
    options.random = [] { return 0.5; };
    options.max_parallel = parallel;
    auto manager = std::make_unique<CertificateManager>(std::move(options));
    ca_.set_responder(&manager->responder());
    return manager;
  }

  static ManagedName name(const std::string& host) {
    core::IssuerConfig issuer;
    issuer.directory = testing::FakeCa::kDirectoryUrl;
    issuer.email = "admin@example.com";
    return {host, {issuer}};
  }

  static std::string serial(const std::shared_ptr<const core::TlsCertificate>& cert) {
    if (!cert) return "(none)";
    core::BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert->leaf.get()), nullptr));
    char* hex = BN_bn2hex(bn.get());
    std::string text(hex);
    OPENSSL_free(hex);
    return text;
  }

  CertificateStatus status_of(CertificateManager& manager, const std::string& host) {
    for (auto& s : manager.status()) {
      if (s.name == host) return s;
    }
    ADD_FAILURE() << "no status for " << host;
    return {};
  }

  std::string stored(const std::string& host, const std::string& ext) {
    return dir_ + "/certificates/ca.test-directory/" + host + "/" + host + "." + ext;
  }

  std::string dir_;
  core::ManualClock clock_{std::chrono::system_clock::now()};
  testing::FakeCa ca_{clock_, nullptr};
  int transports_ = 0;
};

TEST_F(Manager, RestartWithACaWithoutAriSendsNoRequestAtAll) {
  {
    auto manager = make();
    manager->set_names({name("a.example.com")});
    manager->maintain();
  }
  int transports = transports_;
  auto manager = make();
  manager->set_names({name("a.example.com")});
  EXPECT_EQ(manager->maintain(), 0u);
  EXPECT_EQ(transports_, transports);
}

TEST_F(Manager, ObtainsEveryNameAndStoresItPrivately) {
  auto manager = make();
  int published = 0;
  manager->on_publish([&] { ++published; });
  manager->set_names({name("a.example.com"), name("b.example.com")});
  EXPECT_EQ(manager->certificates()->size(), 0u);
  EXPECT_EQ(manager->maintain(), 2u);
  auto certs = manager->certificates();
  ASSERT_NE(certs->find("a.example.com"), nullptr);
  ASSERT_NE(certs->find("b.example.com"), nullptr);
  EXPECT_EQ(certs->find("a.example.com")->issuer,
            std::string("acme:") + testing::FakeCa::kDirectoryUrl);
  EXPECT_GE(published, 3);
  struct stat info {};
  ASSERT_EQ(::stat(stored("a.example.com", "key").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_TRUE(std::filesystem::exists(stored("a.example.com", "json")));
  EXPECT_TRUE(std::filesystem::exists(
      dir_ + "/acme/ca.test-directory/accounts/admin_example.com/account.key"));
  EXPECT_EQ(ca_.accounts_created(), 1);
}

TEST_F(Manager, RestartReusesStoredCertificatesWithoutANewOrder) {
  std::string first_serial;
  {
    auto manager = make();
    manager->set_names({name("a.example.com")});
    manager->maintain();
    first_serial = serial(manager->certificates()->find("a.example.com"));
  }
  auto manager = make();
  manager->set_names({name("a.example.com")});
  // Published before any maintenance: a restart serves at once.
  EXPECT_EQ(serial(manager->certificates()->find("a.example.com")), first_serial);
  EXPECT_EQ(manager->maintain(), 0u);
  EXPECT_EQ(ca_.orders_created(), 1);
  EXPECT_EQ(ca_.accounts_created(), 1);
}

struct RenewalCase {
  std::chrono::hours lifetime;
  std::chrono::hours not_yet;  // no renewal this far after issuance
  std::chrono::hours due;      // renewal by then
};

class Renewal : public Manager, public ::testing::WithParamInterface<RenewalCase> {};

TEST_P(Renewal, HappensWhenTheShareOfTheLifetimeRemains) {
  ca_.script().lifetime = GetParam().lifetime;
  auto manager = make();
  manager->set_names({name("a.example.com")});
  ASSERT_EQ(manager->maintain(), 1u);
  auto start = clock_.now();
  clock_.set(start + GetParam().not_yet);
  EXPECT_EQ(manager->maintain(), 0u);
  clock_.set(start + GetParam().due);
  EXPECT_EQ(manager->maintain(), 1u);
  EXPECT_EQ(ca_.orders_created(), 2);
}

INSTANTIATE_TEST_SUITE_P(
    Lifetimes, Renewal,
    ::testing::Values(RenewalCase{24h * 90, 24h * 59, 24h * 61},  // a third of 90 days left
                      RenewalCase{24h * 47, 24h * 31, 24h * 32},  // a third of 47 days
                      RenewalCase{24h * 6, 24h * 3 - 2h, 24h * 3 + 1h}));  // half of 6 days

TEST(RetryDelay, FollowsTheTableAndCapsAtSixHours) {
  std::vector<std::chrono::seconds> expected{1min, 2min, 5min, 10min, 30min, 1h,
                                             2h,   4h,   6h,   6h,    6h};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(retry_delay(static_cast<int>(i + 1)), expected[i]) << "attempt " << i + 1;
  }
}

TEST_F(Manager, BacksOffAlongThePersistedRetryTable) {
  ca_.script().down = true;
  auto manager = make();
  manager->set_names({name("a.example.com")});
  std::vector<std::chrono::seconds> expected{1min, 2min, 5min, 10min, 30min, 1h, 2h, 4h, 6h, 6h};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(manager->maintain(), 0u);
    auto status = status_of(*manager, "a.example.com");
    EXPECT_EQ(status.attempts, static_cast<int>(i + 1));
    ASSERT_TRUE(status.next_try);
    EXPECT_EQ(*status.next_try - clock_.now(), expected[i]) << "attempt " << i + 1;
    EXPECT_THAT(status.last_error, HasSubstr("couldn't connect"));
    EXPECT_EQ(manager->maintain(), 0u);  // not before next_try
    EXPECT_EQ(status_of(*manager, "a.example.com").attempts, static_cast<int>(i + 1));
    clock_.set(*status.next_try);
  }
  // The state survives a restart.
  auto again = make();
  again->set_names({name("a.example.com")});
  EXPECT_EQ(status_of(*again, "a.example.com").attempts, static_cast<int>(expected.size()));
  ca_.script().down = false;
  EXPECT_EQ(again->maintain(), 1u);
  EXPECT_EQ(status_of(*again, "a.example.com").attempts, 0);
}

TEST_F(Manager, HonoursRetryAfterOnRateLimited) {
  ca_.script().rate_limited_orders = 1;
  ca_.script().rate_limit_retry_after = 3h;
  auto manager = make();
  manager->set_names({name("a.example.com")});
  EXPECT_EQ(manager->maintain(), 0u);
  auto status = status_of(*manager, "a.example.com");
  EXPECT_EQ(*status.next_try - clock_.now(), 3h);
  EXPECT_THAT(status.last_error, HasSubstr("rateLimited"));
  clock_.advance(3h);
  EXPECT_EQ(manager->maintain(), 1u);
}

TEST_F(Manager, FallsBackToTheNextIssuerAfterRepeatedFailures) {
  CertificateManagerOptions options;
  options.data_dir = dir_;
  options.clock = &clock_;
  options.transport_factory = [this](const std::string& root) -> std::unique_ptr<HttpTransport> {
    if (root == "down") return std::make_unique<Unreachable>();
    return std::make_unique<Borrowed>(ca_);
  };
  options.sleep = [this](std::chrono::milliseconds d) { clock_.advance(d); };
  CertificateManager manager(std::move(options));
  ca_.set_responder(&manager.responder());
  core::IssuerConfig down;
  down.directory = kDownDirectory;
  down.trusted_root = "down";  // picks the unreachable transport
  core::IssuerConfig fake;
  fake.directory = testing::FakeCa::kDirectoryUrl;
  manager.set_names({{"a.example.com", {down, fake}}});
  for (int i = 0; i < kFailuresBeforeFallback; ++i) {
    EXPECT_EQ(manager.maintain(), 0u);
    clock_.set(*status_of(manager, "a.example.com").next_try);
  }
  EXPECT_EQ(manager.maintain(), 1u);
  EXPECT_EQ(status_of(manager, "a.example.com").issuer, testing::FakeCa::kDirectoryUrl);
  // The state lives with the first issuer, the certificate with the one that issued it.
  EXPECT_TRUE(std::filesystem::exists(
      dir_ + "/certificates/down.test-directory/a.example.com/a.example.com.json"));
  EXPECT_TRUE(std::filesystem::exists(stored("a.example.com", "crt")));
}

TEST_F(Manager, RenewsInsideTheAriWindowAndSaysWhatItReplaces) {
  ca_.script().ari = true;
  ca_.script().ari_window = std::make_pair(24h * 30, 24h * 31);
  auto manager = make();
  manager->set_names({name("a.example.com")});
  ASSERT_EQ(manager->maintain(), 1u);
  auto issued_at = manager->certificates()->find("a.example.com")->not_before;
  auto status = status_of(*manager, "a.example.com");
  ASSERT_TRUE(status.renew_at);
  EXPECT_EQ(*status.renew_at, issued_at + 24h * 30 + 12h);  // random 0.5 of the window
  clock_.set(issued_at + 24h * 30);
  EXPECT_EQ(manager->maintain(), 0u);
  clock_.set(issued_at + 24h * 30 + 13h);
  EXPECT_EQ(manager->maintain(), 1u);
  ASSERT_EQ(ca_.replaces_seen().size(), 1u);
}

TEST_F(Manager, FollowsAnAriWindowMovedEarlierAfterRetryAfter) {
  ca_.script().ari = true;
  ca_.script().ari_retry_after = 6h;
  auto manager = make();
  manager->set_names({name("a.example.com")});
  ASSERT_EQ(manager->maintain(), 1u);
  auto issued_at = manager->certificates()->find("a.example.com")->not_before;
  // The CA moves the window to tomorrow (e.g. an incident); the next check
  // after Retry-After sees it.
  ca_.script().ari_window = std::make_pair(24h, 25h);
  clock_.advance(5h);
  EXPECT_EQ(manager->maintain(), 0u);
  clock_.set(issued_at + 6h + 1min);
  EXPECT_EQ(manager->maintain(), 0u);
  EXPECT_EQ(*status_of(*manager, "a.example.com").renew_at, issued_at + 24h + 30min);
  clock_.set(issued_at + 24h + 31min);
  EXPECT_EQ(manager->maintain(), 1u);
}

TEST_F(Manager, DamagedStateFileIsReportedAndTheCertificateKept) {
  {
    auto manager = make();
    manager->set_names({name("a.example.com")});
    manager->maintain();
  }
  std::string crt = core::read_file(stored("a.example.com", "crt"));
  core::write_file_atomically(stored("a.example.com", "json"), "{ not json", 0600);
  auto manager = make();
  manager->set_names({name("a.example.com")});
  EXPECT_NE(manager->certificates()->find("a.example.com"), nullptr);
  EXPECT_EQ(manager->maintain(), 0u);  // a fresh state, the valid certificate reused
  EXPECT_EQ(core::read_file(stored("a.example.com", "crt")), crt);
  EXPECT_EQ(ca_.orders_created(), 1);
}

TEST_F(Manager, DamagedCertificateIsKeptUntilItsReplacementIsStored) {
  {
    auto manager = make();
    manager->set_names({name("a.example.com")});
    manager->maintain();
  }
  core::write_file_atomically(stored("a.example.com", "crt"), "garbage", 0600);
  ca_.script().down = true;
  auto manager = make();
  manager->set_names({name("a.example.com")});
  EXPECT_EQ(manager->certificates()->find("a.example.com"), nullptr);
  EXPECT_EQ(manager->maintain(), 0u);
  EXPECT_EQ(core::read_file(stored("a.example.com", "crt")), "garbage");  // not deleted
  ca_.script().down = false;
  clock_.advance(1min);
  EXPECT_EQ(manager->maintain(), 1u);
  EXPECT_NE(core::read_file(stored("a.example.com", "crt")), "garbage");
}

TEST_F(Manager, KeepsServingWhenRenewalFails) {
  auto manager = make();
  manager->set_names({name("a.example.com")});
  manager->maintain();
  auto before = serial(manager->certificates()->find("a.example.com"));
  clock_.advance(24h * 61);
  ca_.script().down = true;
  EXPECT_EQ(manager->maintain(), 0u);
  EXPECT_EQ(serial(manager->certificates()->find("a.example.com")), before);
  EXPECT_EQ(status_of(*manager, "a.example.com").attempts, 1);
}

TEST_F(Manager, LeavesANameToTheProcessHoldingItsLock) {
  FileStorage other(dir_, clock_);
  ASSERT_TRUE(other.try_lock("issue-a.example.com", kIssuanceLockTtl));
  auto manager = make();
  manager->set_names({name("a.example.com")});
  EXPECT_EQ(manager->maintain(), 0u);
  EXPECT_EQ(ca_.orders_created(), 0);
  clock_.advance(kIssuanceLockTtl + 1min);  // the other process died
  EXPECT_EQ(manager->maintain(), 1u);
}

TEST_F(Manager, PicksUpACertificateAnotherProcessStored) {
  auto first = make();
  first->set_names({name("a.example.com")});
  auto second = make();
  second->set_names({name("a.example.com")});
  ca_.set_responder(&first->responder());
  EXPECT_EQ(first->maintain(), 1u);
  EXPECT_EQ(second->maintain(), 0u);  // reloads under the lock and finds it
  EXPECT_NE(second->certificates()->find("a.example.com"), nullptr);
  EXPECT_EQ(ca_.orders_created(), 1);
}

TEST_F(Manager, RemembersTheChallengeThatWorked) {
  ca_.script().failing_types = {"http-01"};
  auto manager = make();
  manager->set_names({name("a.example.com")});
  ASSERT_EQ(manager->maintain(), 1u);
  EXPECT_EQ(ca_.orders_created(), 2);  // http-01 failed, tls-alpn-01 on a new order
  clock_.advance(24h * 61);
  ASSERT_EQ(manager->maintain(), 1u);
  EXPECT_EQ(ca_.orders_created(), 3);  // tls-alpn-01 first this time
}

TEST_F(Manager, OrdersInParallelWithinItsBound) {
  auto manager = make(4);
  std::vector<ManagedName> names;
  for (int i = 0; i < 6; ++i)
    names.push_back(name("n" + std::to_string(i) + ".example.com"));
  manager->set_names(names);
  EXPECT_EQ(manager->maintain(), 6u);
  EXPECT_EQ(manager->certificates()->size(), 6u);
  EXPECT_EQ(ca_.bad_signatures(), 0);
}

TEST_F(Manager, DropsNamesNoLongerConfiguredFromTheSnapshot) {
  auto manager = make();
  manager->set_names({name("a.example.com"), name("b.example.com")});
  manager->maintain();
  manager->set_names({name("b.example.com")});
  EXPECT_EQ(manager->certificates()->find("a.example.com"), nullptr);
  EXPECT_NE(manager->certificates()->find("b.example.com"), nullptr);
  EXPECT_TRUE(std::filesystem::exists(stored("a.example.com", "crt")));
}

TEST_F(Manager, BackgroundThreadIssuesAndStopsPromptly) {
  auto manager = make();
  std::mutex mutex;
  std::condition_variable published;
  manager->on_publish([&] { published.notify_all(); });
  manager->set_names({name("a.example.com")});
  manager->start(std::chrono::milliseconds(50));
  std::unique_lock lock(mutex);
  EXPECT_TRUE(published.wait_for(
      lock, 20s, [&] { return manager->certificates()->find("a.example.com") != nullptr; }));
  lock.unlock();
  manager->stop();
}

TEST(AcmeIssuers, DefaultToLetsEncryptWithTheGlobalEmail) {
  core::GlobalOptions global;
  global.email = "me@example.com";
  auto issuers = acme_issuers(global, nullptr);
  ASSERT_EQ(issuers.size(), 1u);
  EXPECT_EQ(issuers[0].directory, "https://acme-v02.api.letsencrypt.org/directory");
  EXPECT_EQ(issuers[0].email, "me@example.com");
}

TEST(AcmeIssuers, TakeTheSiteTlsOverTheGlobalOptions) {
  core::GlobalOptions global;
  global.email = "me@example.com";
  global.acme_ca = "https://pebble:14000/dir";
  global.acme_ca_root = "/etc/pebble.pem";
  global.acme_eab = core::EabCredentials{"k", "m"};
  core::SiteTls tls;
  tls.email = "site@example.com";
  auto issuers = acme_issuers(global, &tls);
  ASSERT_EQ(issuers.size(), 1u);
  EXPECT_EQ(issuers[0].directory, "https://pebble:14000/dir");
  EXPECT_EQ(issuers[0].email, "site@example.com");
  EXPECT_EQ(issuers[0].trusted_root, "/etc/pebble.pem");
  EXPECT_TRUE(issuers[0].eab);
  core::IssuerConfig zerossl;
  zerossl.directory = "https://acme.zerossl.com/v2/DV90";
  core::IssuerConfig internal;
  internal.kind = core::IssuerConfig::Kind::kInternal;
  tls.issuers = {zerossl, internal};
  issuers = acme_issuers(global, &tls);
  ASSERT_EQ(issuers.size(), 1u);
  EXPECT_EQ(issuers[0].directory, "https://acme.zerossl.com/v2/DV90");
  EXPECT_FALSE(issuers[0].eab);  // the global credentials belong to the global CA
}

TEST(AcmeIssuers, GiveASiteIssuerWithoutADirectoryTheGlobalCa) {
  core::GlobalOptions global;
  global.acme_ca = "https://pebble:14000/dir";
  global.acme_ca_root = "/etc/pebble.pem";
  global.acme_eab = core::EabCredentials{"k", "m"};
  core::SiteTls tls;
  core::IssuerConfig http_only;
  http_only.disabled_challenges = {"tls-alpn"};
  tls.issuers = {http_only};
  auto issuers = acme_issuers(global, &tls);
  ASSERT_EQ(issuers.size(), 1u);
  EXPECT_EQ(issuers[0].directory, "https://pebble:14000/dir");
  EXPECT_EQ(issuers[0].trusted_root, "/etc/pebble.pem");
  EXPECT_TRUE(issuers[0].eab);
  EXPECT_EQ(issuers[0].disabled_challenges, std::vector<std::string>{"tls-alpn"});
}

TEST(CaStorageName, IsTheDirectoryUrlWithoutSchemeOrSlashes) {
  EXPECT_EQ(ca_storage_name("https://acme-v02.api.letsencrypt.org/directory"),
            "acme-v02.api.letsencrypt.org-directory");
  EXPECT_EQ(ca_storage_name("https://127.0.0.1:14000/dir"), "127.0.0.1_14000-dir");
}

TEST(CertificateState, RoundTripsAndRejectsGarbageWithAClearError) {
  CertificateState state;
  state.name = "a.example.com";
  state.attempts = 3;
  state.next_try = std::chrono::system_clock::from_time_t(1700000000);
  state.last_error = "rateLimited: slow down";
  CertificateState again = CertificateState::from_json(state.to_json());
  EXPECT_EQ(again.attempts, 3);
  EXPECT_EQ(again.next_try, state.next_try);
  EXPECT_EQ(again.last_error, state.last_error);
  for (const char* bad : {"", "[]", "{\"name\":1}", "{\"name\":\"a\",\"attempts\":-1}",
                          "{\"name\":\"a\",\"next_try\":\"yesterday\"}"}) {
    try {
      CertificateState::from_json(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const std::runtime_error& e) {
      EXPECT_THAT(e.what(), HasSubstr("invalid state")) << bad;
    }
  }
}

}  // namespace
}  // namespace usher::acme
