#include "acme/trust.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>

#include "acme/local_ca.h"
#include "core/atomic_file.h"

namespace usher::acme {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

class Trust : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "usher-trust-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    std::filesystem::create_directory(dir_ + "/store");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  TrustStore store(const std::string& command) const {
    return TrustStore{dir_ + "/store", "usher-local-root.crt", command};
  }

  std::string dir_;
  core::SystemClock clock_;
};

TEST_F(Trust, CopiesTheRootAndPrintsItsPathAndFingerprint) {
  LocalCa ca(dir_, clock_);
  std::string message = install_root_in_system_store(ca.root_path(), store("true"));
  std::string installed = dir_ + "/store/usher-local-root.crt";
  EXPECT_EQ(core::read_file(installed), core::read_file(ca.root_path()));
  struct stat info {};
  ASSERT_EQ(::stat(installed.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0644u);
  EXPECT_THAT(message, HasSubstr(installed));
  EXPECT_THAT(message, HasSubstr(certificate_fingerprint_sha256(ca.root())));
}

TEST_F(Trust, ReportsAFailingUpdateCommand) {
  LocalCa ca(dir_, clock_);
  EXPECT_THROW(install_root_in_system_store(ca.root_path(), store("false")), std::runtime_error);
  EXPECT_THROW(install_root_in_system_store(ca.root_path(), store("usher-no-such-command")),
               std::runtime_error);
}

TEST_F(Trust, RefusesAFileThatIsNoCertificate) {
  core::write_file_atomically(dir_ + "/bogus.crt", "hello", 0600);
  try {
    install_root_in_system_store(dir_ + "/bogus.crt", store("true"));
    FAIL() << "installed a bogus root";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("bogus.crt"));
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/store/usher-local-root.crt"));
}

TEST_F(Trust, FormatsFingerprintsAsColonSeparatedUpperCaseHex) {
  LocalCa ca(dir_, clock_);
  std::string fingerprint = certificate_fingerprint_sha256(ca.root());
  EXPECT_THAT(fingerprint, MatchesRegex("([0-9A-F][0-9A-F]:){31}[0-9A-F][0-9A-F]"));
  auto leaf = ca.issue({"localhost"});
  EXPECT_NE(certificate_fingerprint_sha256(leaf->leaf.get()), fingerprint);
}

}  // namespace
}  // namespace usher::acme
