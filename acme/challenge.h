#pragma once

// What a challenge asks the server to show (RFC 8555 §8.1, §8.3; RFC 8737):
// the key authorization, served over HTTP or inside a TLS-ALPN-01 certificate.

#include <chrono>
#include <memory>
#include <string>

#include "core/certificates.h"

namespace usher::acme {

/// The ALPN protocol of TLS-ALPN-01 handshakes (RFC 8737 §6.2).
inline constexpr const char* kAcmeTlsAlpnProtocol = "acme-tls/1";
/// The OID of the id-pe-acmeIdentifier extension (RFC 8737 §6.1).
inline constexpr const char* kAcmeIdentifierOid = "1.3.6.1.5.5.7.1.31";
/// How long a challenge certificate is valid: only a validation attempt sees it.
inline constexpr std::chrono::hours kTlsAlpnCertificateLifetime{24 * 7};

/// token "." thumbprint (RFC 8555 §8.1).
std::string key_authorization(const std::string& token, const std::string& thumbprint);

/// The self-signed TLS-ALPN-01 certificate for `name` (RFC 8737 §3): a fresh
/// P-256 key, `name` as its only dNSName, and a critical acmeIdentifier
/// extension holding SHA-256(key authorization) as a DER OCTET STRING.
std::shared_ptr<core::TlsCertificate> make_tls_alpn01_certificate(
    const std::string& name, const std::string& key_authorization,
    std::chrono::system_clock::time_point now);

/// True when `cert` proves `key_authorization` for `name` as RFC 8737 §3
/// requires (what a CA checks; the fake CA of the tests uses it).
bool tls_alpn01_certificate_matches(X509* cert, const std::string& name,
                                    const std::string& key_authorization);

}  // namespace usher::acme
