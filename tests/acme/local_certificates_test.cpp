#include "acme/local_certificates.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <condition_variable>
#include <filesystem>

#include "core/atomic_file.h"

namespace usher::acme {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;
using TimePoint = std::chrono::system_clock::time_point;

class LocalCertificates : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "usher-local-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<LocalCertificateManager> manager(std::vector<std::string> names,
                                                   std::vector<FileCertificate> files = {}) {
    return std::make_unique<LocalCertificateManager>(dir_, std::move(names), files, clock_);
  }

  static std::string serial_of(const std::shared_ptr<const core::CertificateSet>& set,
                               const std::string& name) {
    auto cert = set->find(name);
    if (!cert) return "(none)";
    core::BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert->leaf.get()), nullptr));
    char* hex = BN_bn2hex(serial.get());
    std::string text(hex);
    OPENSSL_free(hex);
    return text;
  }

  std::string dir_;
  core::ManualClock clock_{std::chrono::system_clock::now()};
};

TEST_F(LocalCertificates, IssuesAndStoresALeafPerName) {
  auto certs = manager({"localhost", "nas.home.arpa"})->certificates();
  ASSERT_NE(certs->find("localhost"), nullptr);
  ASSERT_NE(certs->find("NAS.home.arpa"), nullptr);
  EXPECT_EQ(certs->find("localhost")->issuer, "local");
  std::string stored = dir_ + "/certificates/local/localhost/localhost";
  EXPECT_TRUE(std::filesystem::exists(stored + ".crt"));
  struct stat info {};
  ASSERT_EQ(::stat((stored + ".key").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir_ + "/certificates/local/localhost").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
}

TEST_F(LocalCertificates, ReusesTheStoredLeafAfterARestart) {
  std::string first = serial_of(manager({"localhost"})->certificates(), "localhost");
  clock_.advance(2h);
  std::string second = serial_of(manager({"localhost"})->certificates(), "localhost");
  EXPECT_EQ(first, second);
}

TEST_F(LocalCertificates, IssuesAgainAtRestartWhenTheStoredLeafIsDue) {
  std::string first = serial_of(manager({"localhost"})->certificates(), "localhost");
  clock_.advance(24h * 5);
  EXPECT_NE(serial_of(manager({"localhost"})->certificates(), "localhost"), first);
}

TEST_F(LocalCertificates, ReplacesADamagedStoredLeaf) {
  std::string first = serial_of(manager({"localhost"})->certificates(), "localhost");
  core::write_file_atomically(dir_ + "/certificates/local/localhost/localhost.crt", "junk", 0600);
  std::string second = serial_of(manager({"localhost"})->certificates(), "localhost");
  EXPECT_NE(second, first);
  EXPECT_NE(second, "(none)");
}

TEST_F(LocalCertificates, MaintainRenewsDueLeavesAndPublishesANewSnapshot) {
  auto local = manager({"localhost"});
  int published = 0;
  local->on_publish([&] { ++published; });
  auto before = local->certificates();
  std::string old_serial = serial_of(before, "localhost");
  EXPECT_EQ(local->maintain(), 0u);
  EXPECT_EQ(local->certificates(), before);
  EXPECT_EQ(published, 0);

  clock_.advance(24h * 5);
  EXPECT_EQ(local->maintain(), 1u);
  auto after = local->certificates();
  EXPECT_NE(after, before);
  EXPECT_EQ(published, 1);
  EXPECT_NE(serial_of(after, "localhost"), serial_of(before, "localhost"));
  EXPECT_GT(after->find("localhost")->not_after, before->find("localhost")->not_after);
  // The old snapshot is untouched: handshakes in flight keep their certificate.
  EXPECT_EQ(serial_of(before, "localhost"), old_serial);
  // And the renewal was stored: a restart now reuses it.
  EXPECT_EQ(serial_of(manager({"localhost"})->certificates(), "localhost"),
            serial_of(after, "localhost"));
}

TEST_F(LocalCertificates, MakesTheFirstIpCertificateTheFallback) {
  auto certs = manager({"localhost", "192.168.1.2"})->certificates();
  ASSERT_NE(certs->fallback(), nullptr);
  EXPECT_EQ(certs->fallback(), certs->find("192.168.1.2"));
  EXPECT_EQ(manager({"localhost"})->certificates()->fallback(), nullptr);
}

TEST_F(LocalCertificates, ServesCertificateFilesUnderTheirSiteName) {
  LocalCa ca(dir_ + "/elsewhere", clock_);
  auto issued = ca.issue({"files.example.com"});
  core::write_file_atomically(dir_ + "/site.crt", to_pem(issued->leaf.get()), 0600);
  core::write_file_atomically(dir_ + "/site.key", to_pem(issued->key.get()), 0600);
  auto certs =
      manager({}, {{"files.example.com", dir_ + "/site.crt", dir_ + "/site.key"}})->certificates();
  ASSERT_NE(certs->find("files.example.com"), nullptr);
  EXPECT_EQ(certs->find("files.example.com")->issuer, "file");
}

TEST_F(LocalCertificates, FailsNamingACertificateFileThatDoesNotLoad) {
  core::write_file_atomically(dir_ + "/bad.crt", "not pem", 0600);
  core::write_file_atomically(dir_ + "/bad.key", "not pem", 0600);
  try {
    manager({"localhost"}, {{"bad.example.com", dir_ + "/bad.crt", dir_ + "/bad.key"}});
    FAIL() << "loaded a bad file";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr(dir_ + "/bad.crt"));
    EXPECT_THAT(e.what(), HasSubstr("no start line"));
  }
}

TEST_F(LocalCertificates, BackgroundThreadRenewsAndStopsPromptly) {
  auto local = manager({"localhost"});
  std::mutex mutex;
  std::condition_variable renewed;
  bool published = false;
  local->on_publish([&] {
    std::lock_guard lock(mutex);
    published = true;
    renewed.notify_all();
  });
  clock_.advance(24h * 5);
  local->start(1ms);
  {
    std::unique_lock lock(mutex);
    EXPECT_TRUE(renewed.wait_for(lock, 30s, [&] { return published; }));
  }
  auto begin = std::chrono::steady_clock::now();
  local->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 5s);
}

TEST_F(LocalCertificates, StopDoesNotWaitOutTheInterval) {
  auto local = manager({"localhost"});
  local->start(kLocalMaintenanceInterval);
  auto begin = std::chrono::steady_clock::now();
  local->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 5s);
}

struct RenewalCase {
  const char* what;
  std::chrono::hours lifetime;
  std::chrono::hours elapsed;
  bool due;
};

class RenewalDue : public ::testing::TestWithParam<RenewalCase> {};

TEST_P(RenewalDue, FollowsTheLifetimeRule) {
  TimePoint start{std::chrono::hours(1'000'000)};
  const auto& c = GetParam();
  EXPECT_EQ(renewal_due(start, start + c.lifetime, start + c.elapsed), c.due) << c.what;
}

INSTANTIATE_TEST_SUITE_P(
    LocalCertificates, RenewalDue,
    ::testing::Values(RenewalCase{"90 days, 59 days in", 24h * 90, 24h * 59, false},
                      RenewalCase{"90 days, 61 days in", 24h * 90, 24h * 61, true},
                      RenewalCase{"7 days, 3 days in", 24h * 7, 24h * 3, false},
                      RenewalCase{"7 days, 4 days in", 24h * 7, 24h * 4, true},
                      RenewalCase{"expired", 24h * 7, 24h * 8, true}));

TEST(StorageName, KeepsNamesInsideTheirDirectory) {
  EXPECT_EQ(storage_name("Example.COM"), "example.com");
  EXPECT_EQ(storage_name("*.example.com"), "wildcard_.example.com");
  EXPECT_EQ(storage_name("::1"), "__1");
  EXPECT_EQ(storage_name("../etc/passwd"), "_._etc_passwd");
  EXPECT_EQ(storage_name(".."), "_.");
  EXPECT_EQ(storage_name(""), "_");
}

}  // namespace
}  // namespace usher::acme
