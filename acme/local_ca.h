#pragma once

// usher's own certificate authority for names no public CA will certify
// (localhost, IP addresses, *.local, *.internal, *.home.arpa) and for sites
// with `tls internal` (design.md §4). Its root is trusted only where someone
// installs it (`usher trust`).

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/certificates.h"
#include "core/clock.h"
#include "core/openssl.h"

namespace usher::acme {

/// How long the root is valid: long enough that nobody re-installs it.
inline constexpr std::chrono::hours kLocalRootLifetime{24 * 3652};
/// How long a leaf is valid: short, since nothing can revoke it.
inline constexpr std::chrono::hours kLocalLeafLifetime{24 * 7};
/// Leaves start this far in the past so that a client whose clock runs a
/// little behind still accepts a certificate issued a moment ago.
inline constexpr std::chrono::minutes kLocalLeafBackdate{1};

/// Where the root certificate lives under the data directory.
std::string local_root_certificate_path(const std::string& data_dir);

/// The local CA: its root is loaded from `<data>/pki/authorities/local/` or,
/// on first use, created there (and created anew once it is about to expire).
/// issue() is thread-safe: the root is read-only after construction.
class LocalCa {
 public:
  /// Loads or creates the root. Throws std::runtime_error naming the file on
  /// unreadable or damaged storage.
  LocalCa(std::string data_dir, const core::Clock& clock);

  /// A new leaf for `names` (DNS names or IP addresses): fresh P-256 key,
  /// valid kLocalLeafLifetime from now (backdated kLocalLeafBackdate), signed
  /// by the root. Its chain is empty: clients hold the root themselves.
  std::shared_ptr<core::TlsCertificate> issue(const std::vector<std::string>& names) const;

  X509* root() const { return root_.get(); }
  const std::string& root_path() const { return root_path_; }

 private:
  void load_or_create();
  void create();

  std::string directory_;
  std::string root_path_;
  std::string key_path_;
  const core::Clock& clock_;
  core::X509Ptr root_;
  core::EvpPkeyPtr root_key_;
};

/// A fresh EC P-256 key (the default for every certificate usher makes).
core::EvpPkeyPtr generate_p256_key();

/// PEM text of a certificate / of a private key (PKCS #8, unencrypted).
std::string to_pem(X509* cert);
std::string to_pem(EVP_PKEY* key);

}  // namespace usher::acme
