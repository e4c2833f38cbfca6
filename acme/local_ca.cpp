#include "acme/local_ca.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <array>
#include <ctime>
#include <stdexcept>

#include "core/atomic_file.h"

namespace usher::acme {

namespace {

using Clock = std::chrono::system_clock;

constexpr mode_t kKeyFileMode = 0600;
constexpr mode_t kCertificateFileMode = 0600;
// 128 random bits make serials unguessable (CA/B Forum asks for 64 or more).
constexpr size_t kSerialBytes = 16;

[[noreturn]] void fail(const std::string& what) {
  std::string reason = core::openssl_error_text();
  throw std::runtime_error(reason.empty() ? what : what + ": " + reason);
}

void check(int ok, const char* what) {
  if (ok != 1) fail(what);
}

core::X509Ptr read_certificate_pem(const std::string& pem) {
  core::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return core::X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

core::EvpPkeyPtr read_key_pem(const std::string& pem) {
  core::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return core::EvpPkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(length));
}

Clock::time_point not_after(X509* cert) {
  std::tm parts{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &parts) != 1) return Clock::time_point{};
  return Clock::from_time_t(timegm(&parts));
}

void set_random_serial(X509* cert) {
  std::array<unsigned char, kSerialBytes> bytes{};
  check(RAND_bytes(bytes.data(), static_cast<int>(bytes.size())), "generating a serial number");
  // Positive and never zero: DER integers are signed.
  bytes[0] = static_cast<unsigned char>((bytes[0] & 0x7f) | 0x01);
  core::BignumPtr number(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
  if (!number || !BN_to_ASN1_INTEGER(number.get(), X509_get_serialNumber(cert))) {
    fail("setting the serial number");
  }
}

void set_validity(X509* cert, Clock::time_point from, Clock::time_point until) {
  if (!ASN1_TIME_set(X509_getm_notBefore(cert), Clock::to_time_t(from)) ||
      !ASN1_TIME_set(X509_getm_notAfter(cert), Clock::to_time_t(until))) {
    fail("setting the validity period");
  }
}

void set_common_name(X509_NAME* name, const std::string& cn) {
  check(X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0),
        "setting the common name");
}

// Adds an extension written in OpenSSL's config syntax; `issuer` supplies the
// key identifier for authorityKeyIdentifier.
void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  core::X509ExtensionPtr extension(X509V3_EXT_conf_nid(nullptr, &context, nid, value));
  if (!extension || !X509_add_ext(cert, extension.get(), -1))
    fail("adding a certificate extension");
}

GENERAL_NAME* general_name(const std::string& name) {
  GENERAL_NAME* general = GENERAL_NAME_new();
  if (ASN1_OCTET_STRING* ip = a2i_IPADDRESS(name.c_str())) {
    GENERAL_NAME_set0_value(general, GEN_IPADD, ip);
    return general;
  }
  ERR_clear_error();  // not an IP address: a DNS name
  ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
  ASN1_STRING_set(dns, name.data(), static_cast<int>(name.size()));
  GENERAL_NAME_set0_value(general, GEN_DNS, dns);
  return general;
}

// Builds the SAN list directly rather than through a config string, so that
// no name can smuggle in a comma-separated extra entry.
void add_subject_alt_names(X509* cert, const std::vector<std::string>& names, bool critical) {
  GENERAL_NAMES* list = sk_GENERAL_NAME_new_null();
  for (const auto& name : names)
    sk_GENERAL_NAME_push(list, general_name(name));
  int ok =
      X509_add1_ext_i2d(cert, NID_subject_alt_name, list, critical ? 1 : 0, X509V3_ADD_DEFAULT);
  GENERAL_NAMES_free(list);
  check(ok, "adding subject alternative names");
}

int current_year(Clock::time_point now) {
  std::time_t t = Clock::to_time_t(now);
  std::tm parts{};
  gmtime_r(&t, &parts);
  return parts.tm_year + 1900;
}

// RFC 5280 §4.1.2.6: a subject's common name holds at most 64 characters.
constexpr size_t kMaxCommonName = 64;

}  // namespace

std::string local_root_certificate_path(const std::string& data_dir) {
  return data_dir + "/pki/authorities/local/root.crt";
}

core::EvpPkeyPtr generate_p256_key() {
  core::EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) fail("generating a P-256 key");
  return key;
}

std::string to_pem(X509* cert) {
  core::BioPtr bio(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_X509(bio.get(), cert), "encoding a certificate");
  return bio_text(bio.get());
}

std::string to_pem(EVP_PKEY* key) {
  core::BioPtr bio(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr),
        "encoding a private key");
  return bio_text(bio.get());
}

LocalCa::LocalCa(std::string data_dir, const core::Clock& clock)
    : directory_(data_dir + "/pki/authorities/local"),
      root_path_(local_root_certificate_path(data_dir)),
      key_path_(directory_ + "/root.key"),
      clock_(clock) {
  load_or_create();
}

void LocalCa::load_or_create() {
  struct stat info {};
  if (::stat(root_path_.c_str(), &info) != 0 || ::stat(key_path_.c_str(), &info) != 0) {
    create();
    return;
  }
  root_ = read_certificate_pem(core::read_file(root_path_));
  if (!root_) fail("reading the local CA root " + root_path_);
  root_key_ = read_key_pem(core::read_file(key_path_));
  if (!root_key_) fail("reading the local CA key " + key_path_);
  // The key is written before the certificate, so a crash between the two
  // writes leaves a certificate without its key: useless, hence replaced. So
  // is a root too close to its end to sign a full-length leaf.
  bool matches = X509_check_private_key(root_.get(), root_key_.get()) == 1;
  ERR_clear_error();
  if (!matches || not_after(root_.get()) - clock_.now() < kLocalLeafLifetime) create();
}

void LocalCa::create() {
  auto now = clock_.now();
  root_key_ = generate_p256_key();
  root_.reset(X509_new());
  X509* cert = root_.get();
  check(X509_set_version(cert, X509_VERSION_3), "setting the certificate version");
  set_random_serial(cert);
  set_validity(cert, now - kLocalLeafBackdate, now + kLocalRootLifetime);
  set_common_name(X509_get_subject_name(cert),
                  "usher Local Authority - " + std::to_string(current_year(now)) + " ECC Root");
  check(X509_set_issuer_name(cert, X509_get_subject_name(cert)), "setting the issuer");
  check(X509_set_pubkey(cert, root_key_.get()), "setting the public key");
  // pathlen:0 because the root signs leaves directly; an intermediate would
  // add a file and a rotation schedule for no gain on one machine.
  add_extension(cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
  add_extension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(cert, cert, NID_subject_key_identifier, "hash");
  if (X509_sign(cert, root_key_.get(), EVP_sha256()) <= 0) fail("signing the local CA root");

  core::ensure_private_directory(directory_);
  core::write_file_atomically(key_path_, to_pem(root_key_.get()), kKeyFileMode);
  core::write_file_atomically(root_path_, to_pem(cert), kCertificateFileMode);
}

std::shared_ptr<core::TlsCertificate> LocalCa::issue(const std::vector<std::string>& names) const {
  if (names.empty()) throw std::runtime_error("issuing a local certificate: no names");
  auto now = clock_.now();
  auto from = now - kLocalLeafBackdate;
  // A leaf never outlives the root that vouches for it.
  auto until = std::min(now + kLocalLeafLifetime, not_after(root_.get()));

  auto result = std::make_shared<core::TlsCertificate>();
  result->key = generate_p256_key();
  result->leaf.reset(X509_new());
  X509* cert = result->leaf.get();
  check(X509_set_version(cert, X509_VERSION_3), "setting the certificate version");
  set_random_serial(cert);
  set_validity(cert, from, until);
  // An empty subject obliges a critical SAN (RFC 5280 §4.2.1.6); otherwise
  // the first name doubles as the common name for tools that still show it.
  bool short_name = names.front().size() <= kMaxCommonName;
  if (short_name) set_common_name(X509_get_subject_name(cert), names.front());
  check(X509_set_issuer_name(cert, X509_get_subject_name(root_.get())), "setting the issuer");
  check(X509_set_pubkey(cert, result->key.get()), "setting the public key");
  add_extension(cert, root_.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert, root_.get(), NID_key_usage, "critical,digitalSignature");
  add_extension(cert, root_.get(), NID_ext_key_usage, "serverAuth");
  add_extension(cert, root_.get(), NID_subject_key_identifier, "hash");
  add_extension(cert, root_.get(), NID_authority_key_identifier, "keyid:always");
  add_subject_alt_names(cert, names, !short_name);
  if (X509_sign(cert, root_key_.get(), EVP_sha256()) <= 0) fail("signing a local certificate");

  result->names = names;
  result->not_before = Clock::from_time_t(Clock::to_time_t(from));
  result->not_after = Clock::from_time_t(Clock::to_time_t(until));
  result->issuer = "local";
  return result;
}

}  // namespace usher::acme
