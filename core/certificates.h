#pragma once

// Where the proxy and the certificate managers meet (design.md §1): the TLS
// layer reads certificates from a CertificateSource and asks a
// ChallengeResponder about ACME challenges; acme/ implements both, proxy/
// never includes acme/, and cmd/usher/app wires them together.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/openssl.h"

namespace usher::core {

/// A certificate ready for TLS: leaf, intermediates and private key, parsed
/// once when it is loaded or issued, never per handshake.
struct TlsCertificate {
  X509Ptr leaf;
  std::vector<X509Ptr> chain;  // intermediates, leaf excluded, in order
  EvpPkeyPtr key;
  std::vector<std::string> names;  // DNS names and IP addresses it covers
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
  std::string issuer;  // "local", "acme:<directory>", "file"
};

/// An immutable set of certificates indexed by server name. Built off the
/// data path and published whole; TLS handshakes only read it.
class CertificateSet {
 public:
  /// Adds `cert` under every name it covers (later additions win).
  void add(std::shared_ptr<const TlsCertificate> cert);
  /// Adds `cert` under `name` only (e.g. a site configured with files).
  void add(const std::string& name, std::shared_ptr<const TlsCertificate> cert);

  /// The certificate for an SNI name: exact match first, then a wildcard one
  /// label up (`*.example.com` for `a.example.com`); null when none. Names
  /// compare case-insensitively.
  std::shared_ptr<const TlsCertificate> find(std::string_view server_name) const;

  /// The certificate used when the client sent no SNI (IP literal access):
  /// set explicitly, null by default.
  std::shared_ptr<const TlsCertificate> fallback() const { return fallback_; }
  void set_fallback(std::shared_ptr<const TlsCertificate> cert) { fallback_ = std::move(cert); }

  size_t size() const { return by_name_.size(); }
  const std::map<std::string, std::shared_ptr<const TlsCertificate>>& entries() const {
    return by_name_;
  }

 private:
  std::map<std::string, std::shared_ptr<const TlsCertificate>> by_name_;  // lower-case names
  std::shared_ptr<const TlsCertificate> fallback_;
};

/// Supplies the current certificates. Implementations publish a new snapshot
/// whenever a certificate is issued or renewed; readers keep the snapshot
/// they took for as long as they use it.
class CertificateSource {
 public:
  virtual ~CertificateSource() = default;
  virtual std::shared_ptr<const CertificateSet> certificates() const = 0;
};

/// Answers ACME challenges on the proxy's own ports (RFC 8555 §8.3, RFC 8737).
class ChallengeResponder {
 public:
  virtual ~ChallengeResponder() = default;
  /// HTTP-01: the key authorization to serve at
  /// /.well-known/acme-challenge/<token> for `host`; nullopt when no such
  /// challenge is pending.
  virtual std::optional<std::string> http01_key_authorization(std::string_view host,
                                                              std::string_view token) const = 0;
  /// TLS-ALPN-01: the self-signed challenge certificate for `server_name`
  /// when a handshake offers ALPN `acme-tls/1`; null when none is pending.
  virtual std::shared_ptr<const TlsCertificate> tls_alpn01_certificate(
      std::string_view server_name) const = 0;
};

/// Reads a PEM certificate chain and a PEM private key from memory. The
/// first certificate is the leaf. Throws std::runtime_error naming what is
/// wrong (no certificate, key does not match the certificate, …).
std::shared_ptr<TlsCertificate> load_tls_certificate(std::string_view chain_pem,
                                                     std::string_view key_pem);

/// Reads them from files; errors name the file.
std::shared_ptr<TlsCertificate> load_tls_certificate_files(const std::string& cert_file,
                                                           const std::string& key_file);

}  // namespace usher::core
