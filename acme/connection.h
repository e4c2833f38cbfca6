#pragma once

// One client's conversation with one CA: the directory, the nonce pool and
// the signing of every POST (RFC 8555 §6). The resource files (account,
// order, authorization, challenge, ari) speak through it.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "acme/directory.h"
#include "acme/http_transport.h"
#include "acme/json.h"
#include "acme/jws.h"
#include "acme/nonce_pool.h"
#include "core/clock.h"

namespace usher::acme {

/// How often one POST is re-sent after `badNonce` (RFC 8555 §6.5 asks the
/// client to retry with the nonce from the error response). A retry costs
/// one request; with 5, pebble's test mode rejecting half the nonces failed
/// one order in seven (6 rejections in a row among ~10 POSTs), with 10 it
/// fails one in 200. A CA that keeps rejecting nonces after this many is
/// broken, not busy (style rule 8).
inline constexpr int kMaxBadNonceRetries = 10;

/// The content type of every ACME POST (RFC 8555 §6.2).
inline constexpr const char* kJoseContentType = "application/jose+json";

/// A session with one ACME server. Not thread-safe: one order flow at a
/// time uses it (the nonce pool alone could be shared).
class Connection {
 public:
  Connection(HttpTransport& transport, std::string directory_url, const core::Clock& clock);

  /// The directory, fetched on first use and kept. Throws AcmeError.
  const Directory& directory();
  const std::string& directory_url() const { return directory_url_; }

  /// Signs later requests with `key` and names it by `kid` (the account
  /// URL); an empty kid embeds the JWK (only newAccount wants that).
  void use_key(const AccountKey& key, std::string kid);
  const AccountKey* key() const { return key_; }
  const std::string& kid() const { return kid_; }

  /// A signed POST; `payload` empty = POST-as-GET (RFC 8555 §6.3);
  /// `embed_jwk` for newAccount. Retries badNonce up to
  /// kMaxBadNonceRetries; throws AcmeError with the CA's problem on any
  /// error status, AcmeError::transient when the CA cannot be reached.
  HttpResponse post(const std::string& url, std::string_view payload, bool embed_jwk = false);
  /// post() and parse the body as JSON.
  Json post_json(const std::string& url, std::string_view payload, bool embed_jwk = false);
  /// An unsigned GET (directory, renewalInfo); errors as for post().
  HttpResponse get(const std::string& url);

  const core::Clock& clock() const { return clock_; }

 private:
  std::string fresh_nonce();
  HttpResponse send(const HttpRequest& request);
  [[noreturn]] void throw_problem(const HttpResponse& response);

  HttpTransport& transport_;
  std::string directory_url_;
  const core::Clock& clock_;
  std::optional<Directory> directory_;
  NoncePool nonces_;
  const AccountKey* key_ = nullptr;
  std::string kid_;
};

/// Parses a response body as JSON; throws AcmeError::transient naming `what`.
Json parse_body(const HttpResponse& response, std::string_view what);

}  // namespace usher::acme
