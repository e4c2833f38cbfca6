#include "core/certificates.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace usher::core {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string pem_of(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

std::string pem_of(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

struct Pem {
  std::string cert;
  std::string key;
};

// A self-signed certificate with subjectAltName `san` (OpenSSL syntax),
// valid for a day from now.
Pem self_signed(const std::string& cn, const std::string& san) {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 7);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
  X509_NAME_add_entry_by_NID(X509_get_subject_name(cert.get()), NID_commonName, MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  X509_set_pubkey(cert.get(), key.get());
  if (!san.empty()) {
    X509V3_CTX context;
    X509V3_set_ctx(&context, cert.get(), cert.get(), nullptr, nullptr, 0);
    X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &context, NID_subject_alt_name, san.c_str()));
    X509_add_ext(cert.get(), ext.get(), -1);
  }
  X509_sign(cert.get(), key.get(), EVP_sha256());
  return {pem_of(cert.get()), pem_of(key.get())};
}

std::shared_ptr<const TlsCertificate> named(std::vector<std::string> names) {
  auto cert = std::make_shared<TlsCertificate>();
  cert->names = std::move(names);
  return cert;
}

TEST(CertificateSet, FindsExactNamesCaseInsensitively) {
  CertificateSet set;
  auto cert = named({"Example.COM"});
  set.add(cert);
  EXPECT_EQ(set.find("example.com"), cert);
  EXPECT_EQ(set.find("EXAMPLE.com"), cert);
  EXPECT_EQ(set.find("example.com."), cert);
  EXPECT_EQ(set.find("example.org"), nullptr);
}

struct WildcardCase {
  const char* server_name;
  bool found;
};

class WildcardLookup : public ::testing::TestWithParam<WildcardCase> {};

TEST_P(WildcardLookup, CoversExactlyOneLabel) {
  CertificateSet set;
  set.add(named({"*.example.com"}));
  EXPECT_EQ(set.find(GetParam().server_name) != nullptr, GetParam().found)
      << GetParam().server_name;
}

INSTANTIATE_TEST_SUITE_P(
    CertificateSet, WildcardLookup,
    ::testing::Values(WildcardCase{"a.example.com", true}, WildcardCase{"A.Example.Com", true},
                      WildcardCase{"example.com", false}, WildcardCase{"a.b.example.com", false},
                      WildcardCase{".example.com", false}, WildcardCase{"aexample.com", false}));

TEST(CertificateSet, PrefersAnExactNameOverAWildcard) {
  CertificateSet set;
  auto wildcard = named({"*.example.com"});
  auto exact = named({"a.example.com"});
  set.add(wildcard);
  set.add(exact);
  EXPECT_EQ(set.find("a.example.com"), exact);
  EXPECT_EQ(set.find("b.example.com"), wildcard);
}

TEST(CertificateSet, AddsACertificateUnderEveryNameItCovers) {
  CertificateSet set;
  auto cert = named({"a.example.com", "b.example.com"});
  set.add(cert);
  set.add("c.example.com", cert);
  EXPECT_EQ(set.size(), 3u);
  EXPECT_EQ(set.find("b.example.com"), cert);
  EXPECT_EQ(set.find("c.example.com"), cert);
}

TEST(CertificateSet, HasNoFallbackUntilOneIsSet) {
  CertificateSet set;
  EXPECT_EQ(set.fallback(), nullptr);
  auto cert = named({"127.0.0.1"});
  set.set_fallback(cert);
  EXPECT_EQ(set.fallback(), cert);
}

TEST(LoadTlsCertificate, ReadsLeafChainKeyNamesAndValidity) {
  Pem leaf = self_signed("leaf", "DNS:a.example.com,IP:127.0.0.1,IP:::1");
  Pem other = self_signed("intermediate", "");
  auto cert = load_tls_certificate(leaf.cert + other.cert, leaf.key);
  ASSERT_NE(cert->leaf, nullptr);
  EXPECT_EQ(cert->chain.size(), 1u);
  EXPECT_NE(cert->key, nullptr);
  EXPECT_THAT(cert->names, ElementsAre("a.example.com", "127.0.0.1", "::1"));
  EXPECT_EQ(cert->not_after - cert->not_before, std::chrono::hours(24));
  auto now = std::chrono::system_clock::now();
  EXPECT_LE(cert->not_before, now);
  EXPECT_GT(cert->not_after, now);
}

TEST(LoadTlsCertificate, UsesTheCommonNameWhenThereIsNoSubjectAltName) {
  Pem pem = self_signed("old.example.com", "");
  EXPECT_THAT(load_tls_certificate(pem.cert, pem.key)->names, ElementsAre("old.example.com"));
}

struct LoadErrorCase {
  const char* what;
  bool garbage_cert;
  bool garbage_key;
  bool other_key;
  const char* message;
};

class LoadErrors : public ::testing::TestWithParam<LoadErrorCase> {};

TEST_P(LoadErrors, SayWhatIsWrong) {
  Pem pem = self_signed("a", "DNS:a.example.com");
  Pem other = self_signed("b", "DNS:b.example.com");
  std::string cert = GetParam().garbage_cert ? "not a certificate" : pem.cert;
  std::string key = GetParam().garbage_key ? "not a key"
                    : GetParam().other_key ? other.key
                                           : pem.key;
  try {
    load_tls_certificate(cert, key);
    FAIL() << GetParam().what << ": loaded";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr(GetParam().message)) << GetParam().what;
  }
}

INSTANTIATE_TEST_SUITE_P(LoadTlsCertificate, LoadErrors,
                         ::testing::Values(LoadErrorCase{"garbage certificate", true, false, false,
                                                         "certificate: no certificate found"},
                                           LoadErrorCase{"garbage key", false, true, false,
                                                         "private key: no private key found"},
                                           LoadErrorCase{
                                               "mismatched key", false, false, true,
                                               "the private key does not match the certificate"}));

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "usher-certs-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& content) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << content;
    return path;
  }
  std::string dir_;
};

using LoadTlsCertificateFiles = TempDir;

TEST_F(LoadTlsCertificateFiles, LoadsAPairAndMarksItAsFromFiles) {
  Pem pem = self_signed("a", "DNS:a.example.com");
  auto cert = load_tls_certificate_files(write("a.crt", pem.cert), write("a.key", pem.key));
  EXPECT_EQ(cert->issuer, "file");
  EXPECT_THAT(cert->names, ElementsAre("a.example.com"));
}

TEST_F(LoadTlsCertificateFiles, NamesAMissingFile) {
  Pem pem = self_signed("a", "DNS:a.example.com");
  std::string missing = dir_ + "/missing.crt";
  try {
    load_tls_certificate_files(missing, write("a.key", pem.key));
    FAIL() << "loaded a missing file";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr(missing));
    EXPECT_THAT(e.what(), HasSubstr("No such file"));
  }
}

TEST_F(LoadTlsCertificateFiles, NamesBothFilesWhenTheKeyDoesNotMatch) {
  Pem pem = self_signed("a", "DNS:a.example.com");
  Pem other = self_signed("b", "DNS:b.example.com");
  std::string cert = write("a.crt", pem.cert);
  std::string key = write("b.key", other.key);
  try {
    load_tls_certificate_files(cert, key);
    FAIL() << "loaded a mismatched pair";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("private key " + key + " does not match " + cert));
  }
}

TEST_F(LoadTlsCertificateFiles, NamesTheFileWithGarbageAndOpenSslsReason) {
  Pem pem = self_signed("a", "DNS:a.example.com");
  std::string cert = write("garbage.crt", "hello");
  try {
    load_tls_certificate_files(cert, write("a.key", pem.key));
    FAIL() << "loaded garbage";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr(cert + ": no certificate found"));
    EXPECT_THAT(e.what(), HasSubstr("no start line"));
  }
}

}  // namespace
}  // namespace usher::core
