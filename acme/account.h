#pragma once

// ACME accounts (RFC 8555 §7.3): created once per CA with the terms agreed,
// found again by their key.

#include <optional>
#include <string>
#include <vector>

#include "acme/connection.h"
#include "core/config.h"

namespace usher::acme {

/// An account as the CA describes it.
struct Account {
  std::string url;     // the kid of every later request
  std::string status;  // "valid", "deactivated", "revoked"
  std::vector<std::string> contact;
};

/// What to register.
struct AccountRequest {
  std::string email;  // optional contact
  std::optional<core::EabCredentials> eab;
  bool only_return_existing = false;  // RFC 8555 §7.3.1: look up by key, create nothing
};

/// Creates (or finds) the account of the connection's key and makes the
/// connection sign with its URL from then on. The terms of service are
/// agreed on the user's behalf: running usher with ACME is that agreement,
/// as with every automatic client. Throws AcmeError; a directory that
/// requires EAB without credentials is a bad configuration.
Account register_account(Connection& connection, const AccountKey& key,
                         const AccountRequest& request);

}  // namespace usher::acme
