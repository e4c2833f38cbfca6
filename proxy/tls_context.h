#pragma once

// The TLS server side of every HTTPS listener: certificate choice by SNI,
// ALPN, protocol and cipher policy, session tickets. Built once per
// certificate snapshot and shared by every worker; handshakes take no lock
// except a brief one to read the ticket keys.

#include <array>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/certificates.h"
#include "core/openssl.h"

namespace usher::proxy {

/// How many ticket keys stay usable: the current one plus two predecessors,
/// so with rotation every kTicketKeyRotation a ticket resumes for 24 to 36
/// hours and a stolen key stops decrypting traffic a day and a half later.
inline constexpr size_t kTicketKeysKept = 3;
/// How often the owner of a TicketKeyRing should call rotate().
inline constexpr std::chrono::hours kTicketKeyRotation{12};

/// Session-ticket keys: the newest encrypts new tickets, older ones still
/// decrypt (and trigger a fresh ticket under the newest key). Thread-safe:
/// readers copy a snapshot, rotate() publishes a new one.
class TicketKeyRing {
 public:
  /// 80 bytes per key, as OpenSSL's own default: a 16-byte name that
  /// identifies the key inside a ticket, an HMAC-SHA256 key and an AES-256 key.
  struct Key {
    std::array<unsigned char, 16> name;
    std::array<unsigned char, 32> hmac_key;
    std::array<unsigned char, 32> aes_key;
  };
  using Keys = std::vector<Key>;  // newest first

  /// Starts with one random key.
  TicketKeyRing();
  /// Adds a new random key as the current one and forgets keys beyond
  /// kTicketKeysKept.
  void rotate();
  /// The current keys, newest first.
  std::shared_ptr<const Keys> keys() const;

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Keys> keys_;
};

/// Choices a listener makes about TLS.
struct TlsOptions {
  /// ALPN protocols in server preference order. `acme-tls/1` need not be
  /// listed: it is chosen only for a pending TLS-ALPN-01 challenge.
  std::vector<std::string> alpn = {"http/1.1"};
  /// Shared across rebuilds so that a new certificate snapshot does not
  /// invalidate every client's ticket; a fresh ring when null.
  std::shared_ptr<TicketKeyRing> ticket_keys{};
};

/// An OpenSSL server context for one certificate snapshot. SNI picks the
/// certificate (an unknown name gets the fatal alert unrecognized_name, never
/// another site's certificate; no SNI gets the set's fallback or a handshake
/// failure), TLS 1.2 and 1.3 only with Mozilla's "intermediate" ciphers,
/// tickets instead of a server session cache.
///
/// Everything the callbacks need is owned by the native SSL_CTX itself, so a
/// handle from share_native() keeps working after this object is gone. The
/// responder, when given, must outlive every handle.
class TlsServerContext {
 public:
  /// Builds one SSL_CTX per distinct certificate in `certificates` up front.
  /// Throws std::runtime_error naming the certificate when one is unusable.
  explicit TlsServerContext(std::shared_ptr<const core::CertificateSet> certificates,
                            const core::ChallengeResponder* responder = nullptr,
                            TlsOptions options = {});

  /// The context to create server SSL objects from (SSL_new). Borrowed.
  SSL_CTX* native() const { return base_.get(); }

  /// A second owner of native(). asio::ssl::context(native_handle_type)
  /// takes ownership of the handle it is given and frees it in its
  /// destructor, so give it this: `asio::ssl::context c(tls.share_native().release());`.
  core::SslCtxPtr share_native() const;

  const std::shared_ptr<const core::CertificateSet>& certificates() const;
  const std::shared_ptr<TicketKeyRing>& ticket_keys() const;

 private:
  core::SslCtxPtr base_;
};

}  // namespace usher::proxy
