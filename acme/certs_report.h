#pragma once

// What `usher certs` prints: every managed ACME certificate, read from the
// data directory alone, so it works whether or not usher is running.

#include <chrono>
#include <string>
#include <vector>

#include "acme/certificate_manager.h"

namespace usher::acme {

/// The state of every ACME certificate stored under `data_dir`, by name.
/// A damaged state file becomes a row whose last error says so.
std::vector<CertificateStatus> read_certificate_statuses(const std::string& data_dir);

/// A fixed-width table: NAME, ISSUER, NOT AFTER, NEXT RENEWAL, LAST ERROR
/// ("next renewal" is the next retry while failures are pending).
std::string format_certs_report(const std::vector<CertificateStatus>& statuses);

/// Both in one: the text `usher certs` prints.
std::string certs_report(const std::string& data_dir);

}  // namespace usher::acme
