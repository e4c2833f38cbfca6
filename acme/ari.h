#pragma once

// ACME Renewal Information (RFC 9773): the CA says when to renew each
// certificate, and may move that window earlier (e.g. before a mass
// revocation).

#include <chrono>
#include <string>

#include "acme/connection.h"
#include "core/openssl.h"

namespace usher::acme {

/// When the CA sends no Retry-After, ask again after this long.
inline constexpr std::chrono::hours kDefaultAriRecheck{6};
/// Retry-After is clamped into this range: more often wastes the CA's
/// capacity, less often misses a window moved for an incident.
inline constexpr std::chrono::minutes kMinAriRecheck{1};
inline constexpr std::chrono::hours kMaxAriRecheck{24};

/// The suggested renewal window (RFC 9773 §4.2).
struct RenewalWindow {
  std::chrono::system_clock::time_point start;
  std::chrono::system_clock::time_point end;
};

/// What the CA answered for one certificate.
struct RenewalInfo {
  RenewalWindow window;
  std::string explanation_url;
  std::chrono::seconds recheck_after{kDefaultAriRecheck};  // Retry-After, clamped
};

/// The RFC 9773 §4.1 certificate identifier:
/// base64url(authorityKeyIdentifier) "." base64url(serial DER contents).
/// Throws std::runtime_error when the certificate has no AKI key identifier.
std::string ari_certificate_id(X509* cert);

/// GETs renewalInfo/<id> (unauthenticated, RFC 9773 §4.3). Throws AcmeError;
/// std::runtime_error when the directory has no renewalInfo or the window
/// is unreadable (end not after start).
RenewalInfo fetch_renewal_info(Connection& connection, const std::string& cert_id);

/// A point in the window: start + fraction × (end − start), `fraction` in
/// [0, 1) from a random source (RFC 9773 §4.3.1 asks for a uniform pick so
/// that clients do not renew all at once).
std::chrono::system_clock::time_point pick_renewal_time(const RenewalWindow& window,
                                                        double fraction);

}  // namespace usher::acme
