#pragma once

// Certificate signing requests for finalize (RFC 8555 §7.4, RFC 2986).

#include <string>
#include <vector>

#include "core/openssl.h"

namespace usher::acme {

/// A DER CSR for `names` (all as dNSName subjectAltNames, the first also as
/// the common name when it fits its 64-character limit), signed with `key` —
/// a fresh certificate key, never the account key.
std::string make_csr_der(const std::vector<std::string>& names, EVP_PKEY* key);

}  // namespace usher::acme
