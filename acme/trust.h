#pragma once

// `usher trust`: makes this machine trust the local CA's root.

#include <openssl/x509.h>

#include <string>

namespace usher::acme {

/// Where the root goes and what refreshes the store; the defaults are
/// Debian's (ca-certificates). Tests point them elsewhere.
struct TrustStore {
  std::string directory = "/usr/local/share/ca-certificates";
  std::string file_name = "usher-local-root.crt";  // update-ca-certificates wants .crt
  std::string update_command = "update-ca-certificates";
};

/// Copies the PEM root at `root_pem_path` into the store's directory and runs
/// its update command. Returns a message for the user naming the installed
/// file and the root's SHA-256 fingerprint. Throws std::runtime_error naming
/// what failed (unreadable root, no permission, command failed).
std::string install_root_in_system_store(const std::string& root_pem_path,
                                         const TrustStore& store = {});

/// "AB:CD:…": the SHA-256 fingerprint of `cert` as browsers show it.
std::string certificate_fingerprint_sha256(X509* cert);

}  // namespace usher::acme
