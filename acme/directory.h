#pragma once

// The ACME directory (RFC 8555 §7.1.1): the only URL a client is configured
// with; every other endpoint is read from it, never hard-coded.

#include <string>
#include <vector>

#include "acme/json.h"

namespace usher::acme {

/// Let's Encrypt's production directory: the issuer when nothing is configured.
inline constexpr const char* kLetsEncryptDirectory =
    "https://acme-v02.api.letsencrypt.org/directory";

/// The endpoints and metadata a CA publishes.
struct Directory {
  std::string new_nonce;
  std::string new_account;
  std::string new_order;
  std::string revoke_cert;
  std::string key_change;
  std::string renewal_info;  // RFC 9773 §4: empty when the CA has no ARI
  // meta (RFC 8555 §7.1.1)
  std::string terms_of_service;
  std::string website;
  std::vector<std::string> caa_identities;
  bool external_account_required = false;

  /// Reads a directory document; throws std::runtime_error when a required
  /// endpoint (newNonce, newAccount, newOrder) is missing.
  static Directory from_json(const Json& json);
};

}  // namespace usher::acme
