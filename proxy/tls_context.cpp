#include "proxy/tls_context.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string_view>

namespace usher::proxy {

namespace {

// Mozilla's "intermediate" configuration (v5.7) for TLS 1.2, ECDHE only:
// every client of the last decade has one of these. TLS 1.3 keeps OpenSSL's
// default suites, which are exactly Mozilla's.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kGroups = "X25519:P-256:P-384";
// Resumption must not cross into another program's tickets; any constant
// shared by all of usher's contexts will do.
constexpr std::string_view kSessionIdContext = "usher";
// One TLS 1.3 ticket per handshake: browsers open several connections and
// each gets its own; the OpenSSL default of two doubles the work for nothing.
constexpr size_t kTls13TicketsPerHandshake = 1;
// RFC 8737 §6: the ALPN protocol of TLS-ALPN-01 validation handshakes.
constexpr std::string_view kAcmeTls1 = "acme-tls/1";

using CertificatePtr = std::shared_ptr<const core::TlsCertificate>;

// What the OpenSSL callbacks read; owned by the base SSL_CTX (ex_data) so it
// lives exactly as long as any SSL that could call back into it.
struct ContextState {
  std::shared_ptr<const core::CertificateSet> certificates;
  const core::ChallengeResponder* responder = nullptr;
  std::vector<std::string> alpn;
  std::shared_ptr<TicketKeyRing> ticket_keys;
  std::map<const core::TlsCertificate*, core::SslCtxPtr> contexts;  // per certificate
};

void free_owned_state(void*, void* state, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<ContextState*>(state);
}

// Slot 0 ("app data") is asio's: its context and stream destructors delete
// whatever they find there. Ours are separate slots.
int state_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}
int owner_index() {
  static const int index =
      SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, &free_owned_state);
  return index;
}
int connection_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// Per-connection markers stored in the SSL's slot: their addresses are the
// values, so marking a connection allocates nothing.
char acme_offered_marker;
char acme_challenge_marker;

ContextState* state_of(SSL* ssl) {
  return static_cast<ContextState*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), state_index()));
}

bool marked(SSL* ssl, char& marker) {
  return SSL_get_ex_data(ssl, connection_index()) == &marker;
}

[[noreturn]] void fail(const std::string& what) {
  std::string reason = core::openssl_error_text();
  throw std::runtime_error(reason.empty() ? what : what + ": " + reason);
}

// ---- ALPN

// Walks a wire-format protocol list (length-prefixed strings, RFC 7301 §3.1);
// returns the entry equal to `wanted` as a pointer into `list`, or null.
const unsigned char* find_protocol(const unsigned char* list, size_t length,
                                   std::string_view wanted) {
  size_t pos = 0;
  while (pos < length) {
    size_t entry = list[pos];
    if (pos + 1 + entry > length) return nullptr;  // malformed: stop, choose nothing
    std::string_view name(reinterpret_cast<const char*>(list + pos + 1), entry);
    if (name == wanted) return list + pos;
    pos += 1 + entry;
  }
  return nullptr;
}

int select_alpn(SSL* ssl, const unsigned char** out, unsigned char* out_length,
                const unsigned char* offered, unsigned int offered_length, void*) {
  ContextState* state = state_of(ssl);
  if (state == nullptr) return SSL_TLSEXT_ERR_NOACK;
  auto choose = [&](std::string_view name) {
    const unsigned char* entry = find_protocol(offered, offered_length, name);
    if (entry == nullptr) return false;
    *out_length = entry[0];
    *out = entry + 1;
    return true;
  };
  if (marked(ssl, acme_challenge_marker)) {
    return choose(kAcmeTls1) ? SSL_TLSEXT_ERR_OK : SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  for (const auto& protocol : state->alpn) {
    if (protocol != kAcmeTls1 && choose(protocol)) return SSL_TLSEXT_ERR_OK;
  }
  // No common protocol: carry on without ALPN, as most servers do; the
  // client decides whether it can live with that.
  return SSL_TLSEXT_ERR_NOACK;
}

// Runs before SNI is acted on: notes whether the client offers acme-tls/1, so
// that the servername callback can pick the challenge certificate.
int inspect_client_hello(SSL* ssl, int*, void*) {
  ContextState* state = state_of(ssl);
  if (state == nullptr || state->responder == nullptr) return SSL_CLIENT_HELLO_SUCCESS;
  const unsigned char* data = nullptr;
  size_t length = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &data,
                                &length) == 1 &&
      length >= 2) {
    if (find_protocol(data + 2, length - 2, kAcmeTls1) != nullptr) {
      SSL_set_ex_data(ssl, connection_index(), &acme_offered_marker);
    }
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

// ---- session tickets

void set_hmac_key(EVP_MAC_CTX* hmac, const TicketKeyRing::Key& key) {
  auto hmac_key = key.hmac_key;  // OSSL_PARAM wants a mutable buffer
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, hmac_key.data(), hmac_key.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  EVP_MAC_CTX_set_params(hmac, params);
}

// OpenSSL's ticket key callback contract: when encrypting, 1 = done; when
// decrypting, 0 = unknown key (full handshake), 1 = done, 2 = done and issue
// a fresh ticket under the current key; -1 = error.
int ticket_key_callback(SSL* ssl, unsigned char name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher,
                        EVP_MAC_CTX* hmac, int encrypt) {
  ContextState* state = state_of(ssl);
  if (state == nullptr) return -1;
  auto keys = state->ticket_keys->keys();
  if (encrypt == 1) {
    const auto& key = keys->front();
    std::memcpy(name, key.name.data(), key.name.size());
    if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1) return -1;
    if (EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes_key.data(), iv) != 1) {
      return -1;
    }
    set_hmac_key(hmac, key);
    return 1;
  }
  auto found = std::find_if(keys->begin(), keys->end(), [&](const TicketKeyRing::Key& key) {
    return std::memcmp(name, key.name.data(), key.name.size()) == 0;
  });
  if (found == keys->end()) return 0;
  set_hmac_key(hmac, *found);
  if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, found->aes_key.data(), iv) != 1) {
    return -1;
  }
  return found == keys->begin() ? 1 : 2;
}

// ---- certificate choice

int switch_context(SSL* ssl, SSL_CTX* context, int* alert) {
  if (SSL_set_SSL_CTX(ssl, context) != context) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  return SSL_TLSEXT_ERR_OK;
}

core::SslCtxPtr make_certificate_context(ContextState* state, const core::TlsCertificate& cert);

// RFC 8737 §3: a validation handshake offers only acme-tls/1 and must be
// answered with the challenge certificate for its SNI.
bool try_challenge(SSL* ssl, ContextState* state, const char* server_name, int* alert,
                   int* result) {
  if (server_name == nullptr || !marked(ssl, acme_offered_marker)) return false;
  CertificatePtr challenge = state->responder->tls_alpn01_certificate(server_name);
  if (!challenge) return false;
  try {
    // Rare (a few handshakes per issuance): built on demand, owned by the SSL.
    auto context = make_certificate_context(state, *challenge);
    *result = switch_context(ssl, context.get(), alert);
  } catch (const std::exception&) {
    *alert = SSL_AD_INTERNAL_ERROR;
    *result = SSL_TLSEXT_ERR_ALERT_FATAL;
    return true;
  }
  SSL_set_ex_data(ssl, connection_index(), &acme_challenge_marker);
  return true;
}

int choose_certificate(SSL* ssl, int* alert, void*) {
  ContextState* state = state_of(ssl);
  if (state == nullptr) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  const char* server_name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  int result = SSL_TLSEXT_ERR_OK;
  if (try_challenge(ssl, state, server_name, alert, &result)) return result;
  CertificatePtr cert = server_name != nullptr ? state->certificates->find(server_name)
                                               : state->certificates->fallback();
  if (!cert) {
    // RFC 6066 §3: unrecognized_name, fatal, rather than a certificate for
    // some other site that would only teach users to click through warnings.
    *alert = server_name != nullptr ? SSL_AD_UNRECOGNIZED_NAME : SSL_AD_HANDSHAKE_FAILURE;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  auto context = state->contexts.find(cert.get());
  if (context == state->contexts.end()) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  return switch_context(ssl, context->second.get(), alert);
}

// ---- contexts

// Every context gets the same policy: after the SNI switch OpenSSL reads the
// cipher list, ALPN callback and options from the certificate's context.
void configure_policy(SSL_CTX* context, ContextState* state) {
  bool ok = SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) == 1 &&
            SSL_CTX_set_max_proto_version(context, TLS1_3_VERSION) == 1 &&
            SSL_CTX_set_cipher_list(context, kTls12Ciphers) == 1 &&
            SSL_CTX_set1_groups_list(context, kGroups) == 1 &&
            SSL_CTX_set_session_id_context(
                context, reinterpret_cast<const unsigned char*>(kSessionIdContext.data()),
                static_cast<unsigned int>(kSessionIdContext.size())) == 1 &&
            SSL_CTX_set_num_tickets(context, kTls13TicketsPerHandshake) == 1 &&
            SSL_CTX_set_tlsext_ticket_key_evp_cb(context, ticket_key_callback) == 1 &&
            SSL_CTX_set_ex_data(context, state_index(), state) == 1;
  if (!ok) fail("configuring TLS");
  // Intermediate profile: the client's cipher order wins (it knows whether it
  // has AES hardware); renegotiation is an attack surface nobody needs.
  SSL_CTX_clear_options(context, SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_options(context, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  // Idle keep-alive connections hold no read/write buffers; the chain is
  // sent as configured instead of being rebuilt from a store per handshake.
  SSL_CTX_set_mode(context, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);
  // Read whatever the socket holds in one read() instead of a 5-byte record
  // header and then its body: one syscall less per request. The buffer is
  // still released whenever it is empty.
  SSL_CTX_set_read_ahead(context, 1);
  // Tickets only: a server-side cache costs memory per client and is
  // per-process anyway.
  SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_alpn_select_cb(context, select_alpn, nullptr);
}

core::SslCtxPtr new_context() {
  core::SslCtxPtr context(SSL_CTX_new(TLS_server_method()));
  if (!context) fail("creating a TLS context");
  return context;
}

std::string first_name(const core::TlsCertificate& cert) {
  return cert.names.empty() ? std::string("(unnamed certificate)") : cert.names.front();
}

core::SslCtxPtr make_certificate_context(ContextState* state, const core::TlsCertificate& cert) {
  auto context = new_context();
  configure_policy(context.get(), state);
  bool ok = cert.leaf && cert.key && SSL_CTX_use_certificate(context.get(), cert.leaf.get()) == 1 &&
            SSL_CTX_use_PrivateKey(context.get(), cert.key.get()) == 1;
  for (const auto& intermediate : cert.chain) {
    ok = ok && SSL_CTX_add1_chain_cert(context.get(), intermediate.get()) == 1;
  }
  ok = ok && SSL_CTX_check_private_key(context.get()) == 1;
  if (!ok) fail("loading the certificate for " + first_name(cert) + " into TLS");
  return context;
}

void add_context(ContextState* state, const CertificatePtr& cert) {
  if (!cert || state->contexts.count(cert.get()) != 0) return;
  state->contexts.emplace(cert.get(), make_certificate_context(state, *cert));
}

ContextState& state_of(const core::SslCtxPtr& base) {
  return *static_cast<ContextState*>(SSL_CTX_get_ex_data(base.get(), state_index()));
}

}  // namespace

// ---- TicketKeyRing

namespace {

TicketKeyRing::Key random_key() {
  TicketKeyRing::Key key{};
  if (RAND_bytes(key.name.data(), static_cast<int>(key.name.size())) != 1 ||
      RAND_bytes(key.hmac_key.data(), static_cast<int>(key.hmac_key.size())) != 1 ||
      RAND_bytes(key.aes_key.data(), static_cast<int>(key.aes_key.size())) != 1) {
    fail("generating a session ticket key");
  }
  return key;
}

}  // namespace

TicketKeyRing::TicketKeyRing() : keys_(std::make_shared<const Keys>(Keys{random_key()})) {}

void TicketKeyRing::rotate() {
  auto fresh = random_key();
  std::lock_guard lock(mutex_);
  auto next = std::make_shared<Keys>();
  next->push_back(fresh);
  for (const auto& key : *keys_) {
    if (next->size() == kTicketKeysKept) break;
    next->push_back(key);
  }
  keys_ = std::move(next);
}

std::shared_ptr<const TicketKeyRing::Keys> TicketKeyRing::keys() const {
  std::lock_guard lock(mutex_);
  return keys_;
}

// ---- TlsServerContext

TlsServerContext::TlsServerContext(std::shared_ptr<const core::CertificateSet> certificates,
                                   const core::ChallengeResponder* responder, TlsOptions options) {
  if (!certificates) certificates = std::make_shared<const core::CertificateSet>();
  auto state = std::make_unique<ContextState>();
  state->certificates = std::move(certificates);
  state->responder = responder;
  state->alpn = std::move(options.alpn);
  state->ticket_keys =
      options.ticket_keys ? std::move(options.ticket_keys) : std::make_shared<TicketKeyRing>();
  for (const auto& [name, cert] : state->certificates->entries())
    add_context(state.get(), cert);
  add_context(state.get(), state->certificates->fallback());

  base_ = new_context();
  configure_policy(base_.get(), state.get());
  // The OpenSSL macro for this hides a C-style cast; this is the same call.
  SSL_CTX_callback_ctrl(base_.get(), SSL_CTRL_SET_TLSEXT_SERVERNAME_CB,
                        reinterpret_cast<void (*)()>(choose_certificate));
  SSL_CTX_set_client_hello_cb(base_.get(), inspect_client_hello, nullptr);
  if (SSL_CTX_set_ex_data(base_.get(), owner_index(), state.get()) != 1) {
    fail("configuring TLS");
  }
  state.release();  // now owned by base_: freed with the last reference to it
}

core::SslCtxPtr TlsServerContext::share_native() const {
  SSL_CTX_up_ref(base_.get());
  return core::SslCtxPtr(base_.get());
}

const std::shared_ptr<const core::CertificateSet>& TlsServerContext::certificates() const {
  return state_of(base_).certificates;
}

const std::shared_ptr<TicketKeyRing>& TlsServerContext::ticket_keys() const {
  return state_of(base_).ticket_keys;
}

}  // namespace usher::proxy
