#include "acme/local_ca.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>

#include "acme/trust.h"

namespace usher::acme {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

class LocalCaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "usher-ca-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static mode_t mode_of(const std::string& path) {
    struct stat info {};
    EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
    return info.st_mode & 07777;
  }

  // Verifies `leaf` against `root` alone, for TLS server use, at the real time.
  static int verify(X509* leaf, X509* root) {
    core::X509StorePtr store(X509_STORE_new());
    X509_STORE_add_cert(store.get(), root);
    X509_STORE_CTX* context = X509_STORE_CTX_new();
    X509_STORE_CTX_init(context, store.get(), leaf, nullptr);
    X509_STORE_CTX_set_purpose(context, X509_PURPOSE_SSL_SERVER);
    int result = X509_verify_cert(context);
    if (result != 1) {
      ADD_FAILURE() << X509_verify_cert_error_string(X509_STORE_CTX_get_error(context));
    }
    X509_STORE_CTX_free(context);
    return result;
  }

  std::string dir_;
  core::ManualClock clock_{std::chrono::system_clock::now()};
};

TEST_F(LocalCaTest, CreatesTheRootOnceAndReusesIt) {
  LocalCa first(dir_, clock_);
  LocalCa second(dir_, clock_);
  EXPECT_EQ(certificate_fingerprint_sha256(first.root()),
            certificate_fingerprint_sha256(second.root()));
  EXPECT_EQ(first.root_path(), dir_ + "/pki/authorities/local/root.crt");
  EXPECT_EQ(local_root_certificate_path(dir_), first.root_path());
}

TEST_F(LocalCaTest, RootIsAnEcCaNamedAfterUsherAndTheYear) {
  LocalCa ca(dir_, clock_);
  X509* root = ca.root();
  EXPECT_EQ(X509_check_ca(root), 1);
  EXPECT_EQ(EVP_PKEY_get_base_id(X509_get0_pubkey(root)), EVP_PKEY_EC);
  EXPECT_EQ(X509_get_key_usage(root), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  int critical = 0;
  auto* constraints = static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(root, NID_basic_constraints, &critical, nullptr));
  ASSERT_NE(constraints, nullptr);
  EXPECT_EQ(critical, 1);
  BASIC_CONSTRAINTS_free(constraints);
  EXPECT_NE(X509_get0_subject_key_id(root), nullptr);
  char name[256];
  X509_NAME_get_text_by_NID(X509_get_subject_name(root), NID_commonName, name, sizeof name);
  std::time_t now = std::chrono::system_clock::to_time_t(clock_.now());
  std::tm parts{};
  gmtime_r(&now, &parts);
  EXPECT_EQ(std::string(name),
            "usher Local Authority - " + std::to_string(parts.tm_year + 1900) + " ECC Root");
  EXPECT_EQ(X509_verify(root, X509_get0_pubkey(root)), 1);  // self-signed
}

TEST_F(LocalCaTest, RootIsValidForTenYears) {
  LocalCa ca(dir_, clock_);
  int days = 0;
  int seconds = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(ca.root()),
                           X509_get0_notAfter(ca.root())),
            1);
  EXPECT_GE(days, 3652);
  EXPECT_LE(days, 3653);
}

TEST_F(LocalCaTest, LeafVerifiesAgainstTheRootForTlsServers) {
  LocalCa ca(dir_, clock_);
  auto leaf = ca.issue({"localhost"});
  EXPECT_EQ(verify(leaf->leaf.get(), ca.root()), 1);
  EXPECT_TRUE(leaf->chain.empty());
  EXPECT_EQ(leaf->issuer, "local");
  EXPECT_EQ(X509_check_private_key(leaf->leaf.get(), leaf->key.get()), 1);
  EXPECT_EQ(EVP_PKEY_get_base_id(leaf->key.get()), EVP_PKEY_EC);
  EXPECT_EQ(X509_check_ca(leaf->leaf.get()), 0);
  EXPECT_NE(X509_get0_authority_key_id(leaf->leaf.get()), nullptr);
}

TEST_F(LocalCaTest, LeafCarriesDnsAndIpSubjectAltNames) {
  LocalCa ca(dir_, clock_);
  auto leaf = ca.issue({"localhost", "nas.home.arpa", "127.0.0.1", "::1"});
  X509* cert = leaf->leaf.get();
  EXPECT_EQ(X509_check_host(cert, "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(cert, "nas.home.arpa", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert, "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert, "::1", 0), 1);
  EXPECT_NE(X509_check_host(cert, "other.example", 0, 0, nullptr), 1);
  EXPECT_THAT(leaf->names,
              ::testing::ElementsAre("localhost", "nas.home.arpa", "127.0.0.1", "::1"));
}

TEST_F(LocalCaTest, LeafIsValidForSevenDaysFromAMinuteAgo) {
  LocalCa ca(dir_, clock_);
  auto leaf = ca.issue({"localhost"});
  auto now = clock_.now();
  EXPECT_LE(leaf->not_before, now - 1min + 1s);
  EXPECT_GE(leaf->not_before, now - 1min - 1s);
  // Seven days from now; the backdated minute comes on top.
  EXPECT_LE(leaf->not_after, now + 24h * 7);
  EXPECT_GT(leaf->not_after, now + 24h * 7 - 1s);
  auto later = core::load_tls_certificate(to_pem(leaf->leaf.get()), to_pem(leaf->key.get()));
  EXPECT_EQ(later->not_before, leaf->not_before);
  EXPECT_EQ(later->not_after, leaf->not_after);
}

TEST_F(LocalCaTest, GivesEveryLeafA128BitRandomSerial) {
  LocalCa ca(dir_, clock_);
  auto a = ca.issue({"localhost"});
  auto b = ca.issue({"localhost"});
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(a->leaf.get()),
                             X509_get0_serialNumber(b->leaf.get())),
            0);
  core::BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(a->leaf.get()), nullptr));
  EXPECT_GT(BN_num_bits(serial.get()), 100);
  EXPECT_LE(BN_num_bits(serial.get()), 128);
}

TEST_F(LocalCaTest, KeepsTheKeyPrivate) {
  LocalCa ca(dir_, clock_);
  EXPECT_EQ(mode_of(dir_ + "/pki/authorities/local/root.key"), 0600u);
  EXPECT_EQ(mode_of(dir_ + "/pki/authorities/local/root.crt"), 0600u);
  EXPECT_EQ(mode_of(dir_ + "/pki"), 0700u);
  EXPECT_EQ(mode_of(dir_ + "/pki/authorities"), 0700u);
  EXPECT_EQ(mode_of(dir_ + "/pki/authorities/local"), 0700u);
}

TEST_F(LocalCaTest, ReplacesARootAboutToExpire) {
  std::string before = certificate_fingerprint_sha256(LocalCa(dir_, clock_).root());
  clock_.advance(24h * 3650);
  LocalCa renewed(dir_, clock_);
  EXPECT_NE(certificate_fingerprint_sha256(renewed.root()), before);
  EXPECT_EQ(certificate_fingerprint_sha256(LocalCa(dir_, clock_).root()),
            certificate_fingerprint_sha256(renewed.root()));
}

TEST_F(LocalCaTest, RefusesToIssueForNoNames) {
  LocalCa ca(dir_, clock_);
  EXPECT_THROW(ca.issue({}), std::runtime_error);
}

TEST_F(LocalCaTest, ReportsADamagedRootFile) {
  { LocalCa ca(dir_, clock_); }
  std::filesystem::resize_file(dir_ + "/pki/authorities/local/root.crt", 40);
  try {
    LocalCa ca(dir_, clock_);
    FAIL() << "loaded a damaged root";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("root.crt"));
  }
}

}  // namespace
}  // namespace usher::acme
