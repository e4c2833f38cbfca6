#pragma once

// JSON Web Signatures as ACME uses them (RFC 8555 §6.2, RFC 7515, RFC 7518,
// RFC 7638): flattened JSON serialization, ES256 account keys by default,
// RS256 for accounts imported from other clients, raw r‖s ECDSA signatures.

#include <string>
#include <string_view>

#include "acme/json.h"
#include "core/config.h"
#include "core/openssl.h"

namespace usher::acme {

/// Base64url without padding (RFC 7515 §2).
std::string base64url_encode(std::string_view bytes);
/// Its inverse; throws std::runtime_error on characters outside the
/// alphabet. Padding is tolerated.
std::string base64url_decode(std::string_view text);
/// SHA-256 of `bytes`, raw.
std::string sha256(std::string_view bytes);

/// An ACME account key: EC P-256 (ES256) or RSA of at least 2048 bits
/// (RS256). Move-only; the private half never leaves it except as PEM for
/// storage.
class AccountKey {
 public:
  /// A fresh P-256 key: the default for new accounts.
  static AccountKey generate();
  /// Reads a PEM private key; throws std::runtime_error for anything but
  /// P-256 or RSA ≥ 2048 bits.
  static AccountKey from_pem(std::string_view pem);
  /// Reads a private JWK (EC P-256 with d, or RSA with n, e, d, p, q, dp,
  /// dq, qi) as other ACME clients store their accounts.
  static AccountKey from_jwk(const Json& jwk);

  std::string to_pem() const;
  /// "ES256" or "RS256".
  const std::string& algorithm() const { return algorithm_; }
  /// The public JWK with only the members RFC 7638 §3.2 requires.
  Json jwk() const;
  /// The RFC 7638 thumbprint: base64url(SHA-256(canonical JWK)).
  std::string thumbprint() const;
  /// Signs `input` (the JWS signing input); ECDSA signatures come out as
  /// raw r‖s, 64 bytes, as RFC 7518 §3.4 requires (not DER).
  std::string sign(std::string_view input) const;
  EVP_PKEY* get() const { return key_.get(); }

 private:
  explicit AccountKey(core::EvpPkeyPtr key);
  core::EvpPkeyPtr key_;
  std::string algorithm_;
};

/// What the protected header names besides the algorithm (RFC 8555 §6.2).
struct JwsTarget {
  std::string url;    // the request URL, repeated in the header
  std::string nonce;  // a fresh Replay-Nonce; empty only for EAB's inner JWS
  std::string kid;    // account URL; empty = embed the public `jwk` (newAccount, revocation)
};

/// A flattened JWS (RFC 7515 §7.2.2) over `payload`. An empty payload makes
/// a POST-as-GET (RFC 8555 §6.3): the payload field is the empty string.
std::string sign_jws(const AccountKey& key, const JwsTarget& target, std::string_view payload);

/// The externalAccountBinding object (RFC 8555 §7.3.4): an HS256 JWS over
/// the account's public JWK, keyed by the CA-issued MAC key.
Json sign_external_account_binding(const core::EabCredentials& eab, const Json& account_jwk,
                                   const std::string& new_account_url);

/// A public key from a JWK (EC P-256 or RSA). Throws std::runtime_error.
core::EvpPkeyPtr public_key_from_jwk(const Json& jwk);

/// Checks a JWS signature made with `alg` ("ES256", "RS256"); ECDSA
/// signatures are expected in raw r‖s form.
bool verify_signature(EVP_PKEY* key, std::string_view alg, std::string_view input,
                      std::string_view signature);

/// HMAC-SHA256 of `data` under `key` (EAB, and the fake CA that checks it).
std::string hmac_sha256(std::string_view key, std::string_view data);

}  // namespace usher::acme
