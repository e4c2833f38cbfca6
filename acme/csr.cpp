#include "acme/csr.h"

#include "acme/x509_util.h"

namespace usher::acme {

namespace {

using ExtensionStackPtr =
    std::unique_ptr<STACK_OF(X509_EXTENSION), decltype([](STACK_OF(X509_EXTENSION) * stack) {
                      sk_X509_EXTENSION_pop_free(stack, X509_EXTENSION_free);
                    })>;

// RFC 5280 ub-common-name: longer names go in the SAN only.
constexpr size_t kMaxCommonName = 64;

}  // namespace

std::string make_csr_der(const std::vector<std::string>& names, EVP_PKEY* key) {
  if (names.empty()) throw std::runtime_error("a csr needs at least one name");
  core::X509ReqPtr request(X509_REQ_new());
  if (!request || X509_REQ_set_version(request.get(), 0) != 1 ||
      X509_REQ_set_pubkey(request.get(), key) != 1) {
    throw_openssl("creating the csr");
  }
  if (names.front().size() <= kMaxCommonName) {
    X509_NAME* subject = X509_REQ_get_subject_name(request.get());
    X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(names.front().c_str()), -1,
                               -1, 0);
  }
  std::string san;
  for (const std::string& name : names)
    san += (san.empty() ? "DNS:" : ",DNS:") + name;
  ExtensionStackPtr extensions(sk_X509_EXTENSION_new_null());
  X509_EXTENSION* extension =
      X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
  if (!extension || !extensions || sk_X509_EXTENSION_push(extensions.get(), extension) <= 0 ||
      X509_REQ_add_extensions(request.get(), extensions.get()) != 1) {
    throw_openssl("adding names to the csr");
  }
  if (X509_REQ_sign(request.get(), key, EVP_sha256()) <= 0) throw_openssl("signing the csr");
  unsigned char* der = nullptr;
  int length = i2d_X509_REQ(request.get(), &der);
  if (length <= 0) throw_openssl("encoding the csr");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(length));
  OPENSSL_free(der);
  return out;
}

}  // namespace usher::acme
