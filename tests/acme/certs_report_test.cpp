#include "acme/certs_report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "acme/certificate_state.h"
#include "acme/storage.h"

namespace usher::acme {
namespace {

using ::testing::HasSubstr;

class CertsReport : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "usher-certs-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
  core::SystemClock clock_;
};

TEST_F(CertsReport, ListsEveryManagedCertificateFromTheDataDirectory) {
  FileStorage storage(dir_, clock_);
  CertificateState ok;
  ok.name = "a.example.com";
  ok.issuer = "https://acme-v02.api.letsencrypt.org/directory";
  ok.not_after = std::chrono::system_clock::from_time_t(1767225600);  // 2026-01-01
  ok.renew_at = std::chrono::system_clock::from_time_t(1765238400);   // 2025-12-09
  storage.put("certificates/ca/a.example.com/a.example.com.json", ok.to_json());
  CertificateState failing;
  failing.name = "b.example.com";
  failing.attempts = 2;
  failing.next_try = std::chrono::system_clock::from_time_t(1767225600);
  failing.last_error = "connection: connection refused";
  storage.put("certificates/ca/b.example.com/b.example.com.json", failing.to_json());
  storage.put("certificates/ca/c.example.com/c.example.com.json", "garbage");
  storage.put("certificates/local/localhost/localhost.crt", "not listed");

  std::string report = certs_report(dir_);
  EXPECT_THAT(report, HasSubstr("NAME"));
  EXPECT_THAT(report,
              ::testing::ContainsRegex("a\\.example\\.com +acme-v02\\.api\\.letsencrypt\\.org "
                                       "+2026-01-01T00:00:00Z +2025-12-09T00:00:00Z"));
  EXPECT_THAT(report, HasSubstr("2026-01-01T00:00:00Z (retry 2)"));
  EXPECT_THAT(report, HasSubstr("connection: connection refused"));
  EXPECT_THAT(report, HasSubstr("damaged state file"));
  EXPECT_THAT(report, ::testing::Not(HasSubstr("localhost")));
}

TEST_F(CertsReport, SaysSoWhenThereIsNothing) {
  EXPECT_THAT(certs_report(dir_), HasSubstr("no acme certificates yet"));
}

}  // namespace
}  // namespace usher::acme
