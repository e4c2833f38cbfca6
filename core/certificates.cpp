#include "core/certificates.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>
#include <stdexcept>

#include "core/atomic_file.h"

namespace usher::core {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// SNI never carries the root dot, but a name typed into a config may.
std::string normalize_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return lower(name);
}

BioPtr memory_bio(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) throw std::runtime_error("out of memory reading PEM data");
  return bio;
}

std::string with_reason(std::string message) {
  std::string reason = openssl_error_text();
  if (!reason.empty()) message += " (" + reason + ")";
  return message;
}

// Every certificate in `pem`, leaf first.
std::vector<X509Ptr> parse_chain(std::string_view pem, const std::string& what) {
  auto bio = memory_bio(pem);
  std::vector<X509Ptr> certs;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certs.emplace_back(cert);
  }
  // Running out of PEM blocks is how the loop ends; anything else is damage.
  unsigned long last = ERR_peek_last_error();
  if (!certs.empty() && ERR_GET_REASON(last) == PEM_R_NO_START_LINE) ERR_clear_error();
  if (certs.empty()) throw std::runtime_error(with_reason(what + ": no certificate found"));
  if (last != 0 && ERR_GET_REASON(last) != PEM_R_NO_START_LINE) {
    throw std::runtime_error(with_reason(what + ": damaged certificate"));
  }
  return certs;
}

EvpPkeyPtr parse_key(std::string_view pem, const std::string& what) {
  auto bio = memory_bio(pem);
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) throw std::runtime_error(with_reason(what + ": no private key found"));
  return key;
}

std::chrono::system_clock::time_point to_time_point(const ASN1_TIME* time) {
  std::tm parts{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &parts) != 1) {
    throw std::runtime_error(with_reason("certificate has an invalid validity time"));
  }
  return std::chrono::system_clock::from_time_t(timegm(&parts));
}

std::string ip_text(const ASN1_OCTET_STRING* ip) {
  const unsigned char* bytes = ASN1_STRING_get0_data(ip);
  int length = ASN1_STRING_length(ip);
  std::array<char, INET6_ADDRSTRLEN> text{};
  int family = length == 4 ? AF_INET : length == 16 ? AF_INET6 : AF_UNSPEC;
  if (family == AF_UNSPEC ||
      inet_ntop(family, bytes, text.data(), static_cast<socklen_t>(text.size())) == nullptr)
    return {};
  return text.data();
}

std::string common_name(X509* cert) {
  X509_NAME* subject = X509_get_subject_name(cert);
  int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return {};
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                     static_cast<size_t>(ASN1_STRING_length(data)));
}

// DNS names and IP addresses from the subjectAltName extension; the common
// name only when there is none (pre-2000 style certificates).
std::vector<std::string> covered_names(X509* cert) {
  std::vector<std::string> names;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
    if (name->type == GEN_DNS) {
      const ASN1_IA5STRING* dns = name->d.dNSName;
      names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                         static_cast<size_t>(ASN1_STRING_length(dns)));
    } else if (name->type == GEN_IPADD) {
      if (auto ip = ip_text(name->d.iPAddress); !ip.empty()) names.push_back(ip);
    }
  }
  GENERAL_NAMES_free(sans);
  if (names.empty()) {
    if (auto cn = common_name(cert); !cn.empty()) names.push_back(cn);
  }
  return names;
}

std::shared_ptr<TlsCertificate> assemble(std::vector<X509Ptr> chain, EvpPkeyPtr key,
                                         const std::string& cert_what,
                                         const std::string& key_what) {
  if (X509_check_private_key(chain.front().get(), key.get()) != 1) {
    ERR_clear_error();
    throw std::runtime_error(key_what + " does not match " + cert_what);
  }
  auto cert = std::make_shared<TlsCertificate>();
  cert->leaf = std::move(chain.front());
  chain.erase(chain.begin());
  cert->chain = std::move(chain);
  cert->key = std::move(key);
  cert->names = covered_names(cert->leaf.get());
  cert->not_before = to_time_point(X509_get0_notBefore(cert->leaf.get()));
  cert->not_after = to_time_point(X509_get0_notAfter(cert->leaf.get()));
  return cert;
}

}  // namespace

void CertificateSet::add(std::shared_ptr<const TlsCertificate> cert) {
  for (const auto& name : cert->names)
    add(name, cert);
}

void CertificateSet::add(const std::string& name, std::shared_ptr<const TlsCertificate> cert) {
  by_name_[normalize_name(name)] = std::move(cert);
}

std::shared_ptr<const TlsCertificate> CertificateSet::find(std::string_view server_name) const {
  std::string name = normalize_name(server_name);
  if (auto exact = by_name_.find(name); exact != by_name_.end()) return exact->second;
  // A wildcard covers exactly one label (RFC 6125 §6.4.3): *.example.com
  // serves a.example.com but neither example.com nor a.b.example.com.
  auto dot = name.find('.');
  if (dot == std::string::npos || dot == 0) return nullptr;
  if (auto wildcard = by_name_.find("*" + name.substr(dot)); wildcard != by_name_.end()) {
    return wildcard->second;
  }
  return nullptr;
}

std::shared_ptr<TlsCertificate> load_tls_certificate(std::string_view chain_pem,
                                                     std::string_view key_pem) {
  ERR_clear_error();
  return assemble(parse_chain(chain_pem, "certificate"), parse_key(key_pem, "private key"),
                  "the certificate", "the private key");
}

std::shared_ptr<TlsCertificate> load_tls_certificate_files(const std::string& cert_file,
                                                           const std::string& key_file) {
  ERR_clear_error();
  auto chain = parse_chain(read_file(cert_file), cert_file);
  auto key = parse_key(read_file(key_file), key_file);
  auto cert = assemble(std::move(chain), std::move(key), cert_file, "private key " + key_file);
  cert->issuer = "file";
  return cert;
}

}  // namespace usher::core
