#pragma once

// Authorizations and their challenges (RFC 8555 §7.5, §8): proof that this
// client controls a name.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "acme/connection.h"
#include "acme/problem.h"

namespace usher::acme {

/// Challenge type names (RFC 8555 §8.3, RFC 8737 §3).
inline constexpr const char* kHttp01 = "http-01";
inline constexpr const char* kTlsAlpn01 = "tls-alpn-01";
inline constexpr const char* kDns01 = "dns-01";

/// One way to prove control of the identifier.
struct Challenge {
  std::string type;
  std::string url;
  std::string token;
  std::string status;  // pending, processing, valid, invalid
  std::optional<Problem> error;

  static Challenge from_json(const Json& json);
};

/// An authorization for one identifier.
struct Authorization {
  std::string url;
  std::string status;  // pending, valid, invalid, deactivated, expired, revoked
  std::string identifier;
  bool wildcard = false;
  std::vector<Challenge> challenges;
  std::optional<std::chrono::seconds> retry_after;

  static Authorization from_json(const Json& json, std::string url);
  /// The challenge of `type`; null when the CA does not offer it.
  const Challenge* find(std::string_view type) const;
  /// The first challenge that failed (its problem explains why).
  const Challenge* failed() const;
};

/// The current state of an authorization (POST-as-GET).
Authorization fetch_authorization(Connection& connection, const std::string& url);

/// Tells the CA the challenge is ready to be validated: POST `{}` to its URL
/// (RFC 8555 §7.5.1).
Challenge respond_to_challenge(Connection& connection, const std::string& url);

}  // namespace usher::acme
