#include "acme/challenge.h"

#include <openssl/err.h>
#include <openssl/objects.h>

#include "acme/jws.h"
#include "acme/local_ca.h"
#include "acme/x509_util.h"

namespace usher::acme {

namespace {

using Asn1ObjectPtr = core::OpenSslPtr<ASN1_OBJECT, ASN1_OBJECT_free>;
using Asn1OctetStringPtr = core::OpenSslPtr<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>;

// RFC 8737 §3: the extension value is the DER encoding of an OCTET STRING
// holding the 32-byte digest: tag 0x04, length 0x20, digest.
std::string acme_identifier_value(const std::string& key_authorization) {
  return std::string("\x04\x20", 2) + sha256(key_authorization);
}

Asn1ObjectPtr acme_identifier_oid() {
  Asn1ObjectPtr oid(OBJ_txt2obj(kAcmeIdentifierOid, 1));
  if (!oid) throw_openssl("parsing the acmeIdentifier oid");
  return oid;
}

void add_acme_identifier(X509* cert, const std::string& key_authorization) {
  std::string value = acme_identifier_value(key_authorization);
  Asn1OctetStringPtr data(ASN1_OCTET_STRING_new());
  if (!data ||
      ASN1_OCTET_STRING_set(data.get(), reinterpret_cast<const unsigned char*>(value.data()),
                            static_cast<int>(value.size())) != 1) {
    throw_openssl("encoding the acmeIdentifier extension");
  }
  auto oid = acme_identifier_oid();
  core::X509ExtensionPtr extension(
      X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), /*crit=*/1, data.get()));
  if (!extension || X509_add_ext(cert, extension.get(), -1) != 1) {
    throw_openssl("adding the acmeIdentifier extension");
  }
}

}  // namespace

std::string key_authorization(const std::string& token, const std::string& thumbprint) {
  return token + "." + thumbprint;
}

std::shared_ptr<core::TlsCertificate> make_tls_alpn01_certificate(
    const std::string& name, const std::string& key_authorization,
    std::chrono::system_clock::time_point now) {
  auto key = generate_p256_key();
  core::X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), 2) != 1) throw_openssl("creating a certificate");
  set_random_serial(cert.get());
  auto not_after = now + kTlsAlpnCertificateLifetime;
  if (!ASN1_TIME_set(X509_getm_notBefore(cert.get()), std::chrono::system_clock::to_time_t(now)) ||
      !ASN1_TIME_set(X509_getm_notAfter(cert.get()),
                     std::chrono::system_clock::to_time_t(not_after))) {
    throw_openssl("setting the validity period");
  }
  X509_NAME* subject = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("acme-tls-alpn-01"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), subject);
  X509_set_pubkey(cert.get(), key.get());
  add_x509_extension(cert.get(), NID_subject_alt_name, "DNS:" + name);
  add_acme_identifier(cert.get(), key_authorization);
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) throw_openssl("signing the certificate");
  auto tls = std::make_shared<core::TlsCertificate>();
  tls->leaf = std::move(cert);
  tls->key = std::move(key);
  tls->names = {name};
  tls->not_before = now;
  tls->not_after = not_after;
  tls->issuer = "acme-tls-alpn-01";
  return tls;
}

bool tls_alpn01_certificate_matches(X509* cert, const std::string& name,
                                    const std::string& key_authorization) {
  auto oid = acme_identifier_oid();
  int index = X509_get_ext_by_OBJ(cert, oid.get(), -1);
  if (index < 0) return false;
  X509_EXTENSION* extension = X509_get_ext(cert, index);
  if (X509_EXTENSION_get_critical(extension) != 1) return false;  // RFC 8737 §3: MUST be critical
  const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(extension);
  std::string value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                    static_cast<size_t>(ASN1_STRING_length(data)));
  auto names = subject_alt_names(cert);
  ERR_clear_error();
  return value == acme_identifier_value(key_authorization) && names.size() == 1 &&
         names.front() == name;
}

}  // namespace usher::acme
