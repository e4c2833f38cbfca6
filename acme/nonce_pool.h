#pragma once

// Replay nonces (RFC 8555 §6.5): every response carries a fresh one, which
// pays for the next request; the pool saves a newNonce round trip per POST.

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

namespace usher::acme {

/// Nonces kept at most; older ones are dropped first (the CA may have
/// expired them anyway).
inline constexpr size_t kMaxPooledNonces = 16;

/// A thread-safe bounded pool of unused nonces, newest first.
class NoncePool {
 public:
  /// Keeps `nonce` for the next request (ignored when empty).
  void add(std::string nonce);
  /// The freshest nonce, removed from the pool; nullopt when empty.
  std::optional<std::string> take();
  size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::deque<std::string> nonces_;
};

}  // namespace usher::acme
