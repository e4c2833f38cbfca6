#pragma once

// Small X.509 helpers shared by the ACME files.

#include <chrono>
#include <string>
#include <vector>

#include "core/openssl.h"

namespace usher::acme {

/// Adds an extension by NID with OpenSSL's config syntax ("DNS:a,DNS:b"),
/// self-issued context. Throws std::runtime_error.
void add_x509_extension(X509* cert, int nid, const std::string& value);
/// The dNSName and iPAddress entries of a certificate's subjectAltName.
std::vector<std::string> subject_alt_names(X509* cert);
/// A certificate's validity bounds.
std::chrono::system_clock::time_point x509_not_before(X509* cert);
std::chrono::system_clock::time_point x509_not_after(X509* cert);
/// Sets a random positive 128-bit serial.
void set_random_serial(X509* cert);
/// Throws std::runtime_error with `what` and OpenSSL's error queue.
[[noreturn]] void throw_openssl(const std::string& what);

}  // namespace usher::acme
