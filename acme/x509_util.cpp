#include "acme/x509_util.h"

#include <openssl/rand.h>

#include <array>
#include <ctime>
#include <stdexcept>

namespace usher::acme {

namespace {

// 128 random bits make serials unguessable (CA/B Forum asks for 64 or more).
constexpr size_t kSerialBytes = 16;

using GeneralNamesPtr =
    std::unique_ptr<GENERAL_NAMES,
                    decltype([](GENERAL_NAMES* names) { GENERAL_NAMES_free(names); })>;

std::chrono::system_clock::time_point to_time_point(const ASN1_TIME* time) {
  std::tm parts{};
  if (!time || ASN1_TIME_to_tm(time, &parts) != 1) return {};
  return std::chrono::system_clock::from_time_t(timegm(&parts));
}

}  // namespace

void throw_openssl(const std::string& what) {
  std::string reason = core::openssl_error_text();
  throw std::runtime_error(reason.empty() ? what : what + ": " + reason);
}

void add_x509_extension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  core::X509ExtensionPtr extension(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!extension || X509_add_ext(cert, extension.get(), -1) != 1) {
    throw_openssl("adding extension " + value);
  }
}

std::vector<std::string> subject_alt_names(X509* cert) {
  std::vector<std::string> out;
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_DNS) {
      const ASN1_IA5STRING* dns = name->d.dNSName;
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                       static_cast<size_t>(ASN1_STRING_length(dns)));
    }
  }
  return out;
}

std::chrono::system_clock::time_point x509_not_before(X509* cert) {
  return to_time_point(X509_get0_notBefore(cert));
}

std::chrono::system_clock::time_point x509_not_after(X509* cert) {
  return to_time_point(X509_get0_notAfter(cert));
}

void set_random_serial(X509* cert) {
  std::array<unsigned char, kSerialBytes> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    throw_openssl("generating a serial number");
  }
  bytes[0] = static_cast<unsigned char>((bytes[0] & 0x7f) | 0x01);  // positive, never zero
  core::BignumPtr number(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
  if (!number || !BN_to_ASN1_INTEGER(number.get(), X509_get_serialNumber(cert))) {
    throw_openssl("setting the serial number");
  }
}

}  // namespace usher::acme
