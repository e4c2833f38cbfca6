#include "proxy/tls_context.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include <asio/io_context.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/ssl.hpp>

#include <string_view>

namespace usher::proxy {
namespace {

using namespace std::string_view_literals;

// ---- certificates

enum class KeyType { kEc, kRsa };

core::EvpPkeyPtr make_key(KeyType type) {
  if (type == KeyType::kRsa) return core::EvpPkeyPtr(EVP_RSA_gen(2048));
  return core::EvpPkeyPtr(EVP_EC_gen("P-256"));
}

// A self-signed certificate for `names`; the client in these tests does not
// verify the chain, it checks which certificate it was given.
std::shared_ptr<const core::TlsCertificate> make_certificate(std::vector<std::string> names,
                                                             KeyType type = KeyType::kEc) {
  auto cert = std::make_shared<core::TlsCertificate>();
  cert->key = make_key(type);
  cert->leaf.reset(X509_new());
  X509* x = cert->leaf.get();
  X509_set_version(x, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_issuer_name(x, X509_get_subject_name(x));
  X509_set_pubkey(x, cert->key.get());
  std::string san;
  for (const auto& name : names)
    san += (san.empty() ? "DNS:" : ",DNS:") + name;
  X509V3_CTX context;
  X509V3_set_ctx(&context, x, x, nullptr, nullptr, 0);
  core::X509ExtensionPtr ext(
      X509V3_EXT_conf_nid(nullptr, &context, NID_subject_alt_name, san.c_str()));
  X509_add_ext(x, ext.get(), -1);
  X509_sign(x, cert->key.get(), EVP_sha256());
  cert->names = std::move(names);
  return cert;
}

class FakeResponder final : public core::ChallengeResponder {
 public:
  std::optional<std::string> http01_key_authorization(std::string_view,
                                                      std::string_view) const override {
    return std::nullopt;
  }
  std::shared_ptr<const core::TlsCertificate> tls_alpn01_certificate(
      std::string_view server_name) const override {
    return server_name == name ? certificate : nullptr;
  }
  std::string name;
  std::shared_ptr<const core::TlsCertificate> certificate;
};

// ---- in-memory handshakes

struct ClientOptions {
  const char* server_name = nullptr;
  int max_version = TLS1_3_VERSION;
  std::string alpn{};  // wire format
  SSL_SESSION* session = nullptr;
  const char* groups = nullptr;
  bool legacy = false;  // allow TLS 1.0/1.1 on the client
};

struct Connection {
  core::SslPtr client;
  core::SslPtr server;
  bool established = false;
  unsigned long client_error = 0;
  unsigned long server_error = 0;

  X509* peer() const { return SSL_get0_peer_certificate(client.get()); }
  bool presented(const char* name) const {
    return peer() != nullptr && X509_check_host(peer(), name, 0, 0, nullptr) == 1;
  }
  std::string alpn() const {
    const unsigned char* data = nullptr;
    unsigned int length = 0;
    SSL_get0_alpn_selected(client.get(), &data, &length);
    return std::string(reinterpret_cast<const char*>(data), length);
  }
  bool resumed() const { return SSL_session_reused(client.get()) == 1; }
  // Moves application data once, so that the client reads TLS 1.3 tickets,
  // then closes cleanly.
  core::OpenSslPtr<SSL_SESSION, SSL_SESSION_free> session() const {
    char byte = 'x';
    EXPECT_EQ(SSL_write(server.get(), &byte, 1), 1);
    EXPECT_EQ(SSL_read(client.get(), &byte, 1), 1);
    core::OpenSslPtr<SSL_SESSION, SSL_SESSION_free> session(SSL_get1_session(client.get()));
    // A connection freed without close_notify marks its session unresumable.
    SSL_shutdown(client.get());
    return session;
  }
};

// One handshake step; 1 done, 0 waiting for the peer, -1 failed (error kept).
int step(SSL* ssl, unsigned long& error) {
  int rc = SSL_do_handshake(ssl);
  if (rc == 1) return 1;
  int reason = SSL_get_error(ssl, rc);
  if (reason == SSL_ERROR_WANT_READ || reason == SSL_ERROR_WANT_WRITE) return 0;
  error = ERR_peek_error();
  ERR_clear_error();
  return -1;
}

core::SslCtxPtr client_context(const ClientOptions& options) {
  core::SslCtxPtr context(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_max_proto_version(context.get(), options.max_version);
  if (options.legacy) {
    SSL_CTX_set_min_proto_version(context.get(), TLS1_VERSION);
    SSL_CTX_set_security_level(context.get(), 0);
    SSL_CTX_set_cipher_list(context.get(), "DEFAULT:@SECLEVEL=0");
  }
  if (options.groups != nullptr) SSL_CTX_set1_groups_list(context.get(), options.groups);
  return context;
}

Connection connect(SSL_CTX* server_context, const ClientOptions& options = {}) {
  auto client_ctx = client_context(options);
  Connection c{core::SslPtr(SSL_new(client_ctx.get())), core::SslPtr(SSL_new(server_context))};
  SSL_set_connect_state(c.client.get());
  SSL_set_accept_state(c.server.get());
  if (options.server_name != nullptr) {
    SSL_ctrl(c.client.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(options.server_name));
  }
  if (!options.alpn.empty()) {
    SSL_set_alpn_protos(c.client.get(), reinterpret_cast<const unsigned char*>(options.alpn.data()),
                        static_cast<unsigned int>(options.alpn.size()));
  }
  if (options.session != nullptr) SSL_set_session(c.client.get(), options.session);
  BIO* client_bio = nullptr;
  BIO* server_bio = nullptr;
  BIO_new_bio_pair(&client_bio, 0, &server_bio, 0);
  SSL_set_bio(c.client.get(), client_bio, client_bio);
  SSL_set_bio(c.server.get(), server_bio, server_bio);
  int client_state = 0;
  int server_state = 0;
  for (int round = 0; round < 20 && (client_state == 0 || server_state == 0); ++round) {
    if (client_state == 0) client_state = step(c.client.get(), c.client_error);
    if (server_state == 0) server_state = step(c.server.get(), c.server_error);
  }
  c.established = client_state == 1 && server_state == 1;
  return c;
}

std::shared_ptr<const core::CertificateSet> set_of(
    std::vector<std::shared_ptr<const core::TlsCertificate>> certs) {
  auto set = std::make_shared<core::CertificateSet>();
  for (auto& cert : certs)
    set->add(cert);
  return set;
}

// ---- certificate choice

class SniChoice : public ::testing::TestWithParam<const char*> {};

TEST_P(SniChoice, PresentsTheCertificateForTheServerName) {
  TlsServerContext tls(
      set_of({make_certificate({"a.example.com"}), make_certificate({"b.example.com"}),
              make_certificate({"*.wild.example"})}));
  auto c = connect(tls.native(), {.server_name = GetParam()});
  ASSERT_TRUE(c.established) << ERR_error_string(c.client_error, nullptr);
  EXPECT_TRUE(c.presented(GetParam())) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(TlsServerContext, SniChoice,
                         ::testing::Values("a.example.com", "b.example.com", "B.Example.Com",
                                           "x.wild.example"));

TEST(TlsServerContext, RejectsAnUnknownServerNameWithUnrecognizedName) {
  TlsServerContext tls(set_of({make_certificate({"a.example.com"})}));
  auto c = connect(tls.native(), {.server_name = "other.example.com"});
  EXPECT_FALSE(c.established);
  EXPECT_EQ(ERR_GET_REASON(c.client_error), SSL_R_TLSV1_UNRECOGNIZED_NAME)
      << ERR_error_string(c.client_error, nullptr);
  EXPECT_EQ(c.peer(), nullptr);
}

TEST(TlsServerContext, AnswersAClientWithoutSniWithTheFallback) {
  auto fallback = make_certificate({"fallback.example"});
  auto set = std::make_shared<core::CertificateSet>();
  set->add(make_certificate({"a.example.com"}));
  set->set_fallback(fallback);
  TlsServerContext tls(set);
  auto c = connect(tls.native());
  ASSERT_TRUE(c.established);
  EXPECT_TRUE(c.presented("fallback.example"));
}

TEST(TlsServerContext, FailsAClientWithoutSniWhenThereIsNoFallback) {
  TlsServerContext tls(set_of({make_certificate({"a.example.com"})}));
  auto c = connect(tls.native());
  EXPECT_FALSE(c.established);
  EXPECT_EQ(ERR_GET_REASON(c.client_error), SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE)
      << ERR_error_string(c.client_error, nullptr);
}

TEST(TlsServerContext, ServesRsaCertificatesWithEcdheOverTls12) {
  TlsServerContext tls(set_of({make_certificate({"rsa.example"}, KeyType::kRsa)}));
  auto c = connect(tls.native(), {.server_name = "rsa.example", .max_version = TLS1_2_VERSION});
  ASSERT_TRUE(c.established);
  EXPECT_THAT(SSL_get_cipher_name(c.client.get()), ::testing::StartsWith("ECDHE-RSA-"));
}

TEST(TlsServerContext, SurvivesAHelloRetryRequest) {
  // The client guesses a group the server does not take; the server asks
  // again for X25519 and the second ClientHello must find the same site.
  TlsServerContext tls(set_of({make_certificate({"a.example.com"})}));
  auto c = connect(tls.native(), {.server_name = "a.example.com", .groups = "ffdhe2048:X25519"});
  ASSERT_TRUE(c.established) << ERR_error_string(c.server_error, nullptr);
  EXPECT_TRUE(c.presented("a.example.com"));
}

// ---- protocol versions

struct VersionCase {
  int client_max;
  int negotiated;
};

class Versions : public ::testing::TestWithParam<VersionCase> {};

TEST_P(Versions, NegotiatesTls12AndTls13) {
  TlsServerContext tls(set_of({make_certificate({"a.example.com"})}));
  auto c =
      connect(tls.native(), {.server_name = "a.example.com", .max_version = GetParam().client_max});
  ASSERT_TRUE(c.established);
  EXPECT_EQ(SSL_version(c.server.get()), GetParam().negotiated);
}

INSTANTIATE_TEST_SUITE_P(TlsServerContext, Versions,
                         ::testing::Values(VersionCase{TLS1_3_VERSION, TLS1_3_VERSION},
                                           VersionCase{TLS1_2_VERSION, TLS1_2_VERSION}));

TEST(TlsServerContext, RefusesATls11Client) {
  TlsServerContext tls(set_of({make_certificate({"a.example.com"})}));
  auto c = connect(tls.native(),
                   {.server_name = "a.example.com", .max_version = TLS1_1_VERSION, .legacy = true});
  EXPECT_FALSE(c.established);
  EXPECT_EQ(ERR_GET_REASON(c.server_error), SSL_R_UNSUPPORTED_PROTOCOL)
      << ERR_error_string(c.server_error, nullptr);
}

// ---- ALPN

struct AlpnCase {
  std::string offered;
  std::string selected;
};

class Alpn : public ::testing::TestWithParam<AlpnCase> {};

TEST_P(Alpn, SelectsFromTheConfiguredList) {
  TlsServerContext tls(set_of({make_certificate({"a.example.com"})}));
  auto c = connect(tls.native(), {.server_name = "a.example.com", .alpn = GetParam().offered});
  ASSERT_TRUE(c.established);
  EXPECT_EQ(c.alpn(), GetParam().selected);
}

INSTANTIATE_TEST_SUITE_P(TlsServerContext, Alpn,
                         ::testing::Values(AlpnCase{"\x02h2\x08http/1.1", "http/1.1"},
                                           AlpnCase{"\x08http/1.1", "http/1.1"},
                                           AlpnCase{"\x02h2", ""}, AlpnCase{"", ""},
                                           AlpnCase{"\x0a"
                                                    "acme-tls/1",
                                                    ""}));

TEST(TlsServerContext, PrefersTheServersAlpnOrder) {
  TlsServerContext tls(set_of({make_certificate({"a.example.com"})}), nullptr,
                       {.alpn = {"h2", "http/1.1"}});
  auto c = connect(tls.native(), {.server_name = "a.example.com", .alpn = "\x08http/1.1\x02h2"});
  ASSERT_TRUE(c.established);
  EXPECT_EQ(c.alpn(), "h2");
}

TEST(TlsServerContext, AnswersTlsAlpn01WithTheChallengeCertificate) {
  FakeResponder responder;
  responder.name = "a.example.com";
  responder.certificate = make_certificate({"a.example.com"});
  TlsServerContext tls(set_of({make_certificate({"a.example.com"})}), &responder);
  auto c = connect(tls.native(), {.server_name = "a.example.com",
                                  .alpn = "\x0a"
                                          "acme-tls/1"});
  ASSERT_TRUE(c.established) << ERR_error_string(c.client_error, nullptr);
  EXPECT_EQ(c.alpn(), "acme-tls/1");
  EXPECT_EQ(X509_cmp(c.peer(), responder.certificate->leaf.get()), 0);

  // A normal handshake for the same name still gets the site's certificate.
  auto normal = connect(tls.native(), {.server_name = "a.example.com", .alpn = "\x08http/1.1"});
  ASSERT_TRUE(normal.established);
  EXPECT_NE(X509_cmp(normal.peer(), responder.certificate->leaf.get()), 0);
  EXPECT_EQ(normal.alpn(), "http/1.1");
}

TEST(TlsServerContext, IgnoresAcmeTls1WithoutAPendingChallenge) {
  FakeResponder responder;
  responder.name = "elsewhere.example";
  responder.certificate = make_certificate({"elsewhere.example"});
  auto site = make_certificate({"a.example.com"});
  TlsServerContext tls(set_of({site}), &responder);
  auto c = connect(tls.native(), {.server_name = "a.example.com",
                                  .alpn = "\x0a"
                                          "acme-tls/1"});
  ASSERT_TRUE(c.established);
  EXPECT_EQ(c.alpn(), "");
  EXPECT_EQ(X509_cmp(c.peer(), site->leaf.get()), 0);
}

// ---- session tickets

class Resumption : public ::testing::TestWithParam<int> {
 protected:
  Connection connect_a(SSL_CTX* context, SSL_SESSION* session = nullptr) {
    return connect(context,
                   {.server_name = "a.example.com", .max_version = GetParam(), .session = session});
  }
  std::shared_ptr<const core::CertificateSet> set_ = set_of({make_certificate({"a.example.com"})});
};

TEST_P(Resumption, ResumesWithATicket) {
  TlsServerContext tls(set_);
  auto first = connect_a(tls.native());
  ASSERT_TRUE(first.established);
  EXPECT_FALSE(first.resumed());
  auto session = first.session();
  ASSERT_NE(session, nullptr);
  auto second = connect_a(tls.native(), session.get());
  ASSERT_TRUE(second.established);
  EXPECT_TRUE(second.resumed());
  EXPECT_TRUE(second.presented("a.example.com"));
}

TEST_P(Resumption, AcceptsATicketAfterOneRotationButNotAfterThreeMore) {
  TlsServerContext tls(set_);
  auto session = connect_a(tls.native()).session();
  tls.ticket_keys()->rotate();
  auto after_one = connect_a(tls.native(), session.get());
  ASSERT_TRUE(after_one.established);
  EXPECT_TRUE(after_one.resumed());
  for (int i = 0; i < 3; ++i)
    tls.ticket_keys()->rotate();
  auto after_four = connect_a(tls.native(), session.get());
  ASSERT_TRUE(after_four.established);  // a full handshake instead
  EXPECT_FALSE(after_four.resumed());
}

TEST_P(Resumption, KeepsTicketsAcrossACertificateRebuildWithTheSameKeys) {
  TlsServerContext old_tls(set_);
  auto session = connect_a(old_tls.native()).session();
  TlsServerContext new_tls(set_, nullptr, {.ticket_keys = old_tls.ticket_keys()});
  EXPECT_TRUE(connect_a(new_tls.native(), session.get()).resumed());
  TlsServerContext unrelated(set_);
  EXPECT_FALSE(connect_a(unrelated.native(), session.get()).resumed());
}

INSTANTIATE_TEST_SUITE_P(TlsServerContext, Resumption,
                         ::testing::Values(TLS1_2_VERSION, TLS1_3_VERSION));

TEST(TicketKeyRing, KeepsTheNewestThreeKeysNewestFirst) {
  TicketKeyRing ring;
  auto first = ring.keys()->front().name;
  ring.rotate();
  EXPECT_EQ(ring.keys()->size(), 2u);
  EXPECT_EQ(ring.keys()->back().name, first);
  for (int i = 0; i < 5; ++i)
    ring.rotate();
  EXPECT_EQ(ring.keys()->size(), kTicketKeysKept);
  EXPECT_NE(ring.keys()->front().name, ring.keys()->back().name);
}

// ---- ownership

TEST(TlsServerContext, SharedNativeHandleOutlivesTheContext) {
  core::SslCtxPtr handle;
  {
    TlsServerContext tls(set_of({make_certificate({"a.example.com"})}));
    handle = tls.share_native();
    EXPECT_EQ(handle.get(), tls.native());
  }
  auto c = connect(handle.get(), {.server_name = "a.example.com"});
  ASSERT_TRUE(c.established);
  EXPECT_TRUE(c.presented("a.example.com"));
}

TEST(TlsServerContext, WorksAsTheNativeHandleOfAnAsioSslContext) {
  // asio::ssl::context frees the handle it wraps and deletes whatever sits in
  // the SSL_CTX's app-data slot; this proves both are safe with ours.
  asio::io_context io;
  asio::local::stream_protocol::socket client_socket(io);
  asio::local::stream_protocol::socket server_socket(io);
  asio::local::connect_pair(client_socket, server_socket);
  std::optional<asio::ssl::context> server_context;
  {
    TlsServerContext tls(set_of({make_certificate({"a.example.com"})}));
    server_context.emplace(tls.share_native().release());
  }
  asio::ssl::context client_context(asio::ssl::context::tls_client);
  asio::ssl::stream<asio::local::stream_protocol::socket&> server(server_socket, *server_context);
  asio::ssl::stream<asio::local::stream_protocol::socket&> client(client_socket, client_context);
  SSL_ctrl(client.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
           const_cast<char*>("a.example.com"));
  asio::error_code server_result = asio::error::would_block;
  asio::error_code client_result = asio::error::would_block;
  server.async_handshake(asio::ssl::stream_base::server,
                         [&](const asio::error_code& ec) { server_result = ec; });
  client.async_handshake(asio::ssl::stream_base::client,
                         [&](const asio::error_code& ec) { client_result = ec; });
  io.run();
  EXPECT_FALSE(server_result) << server_result.message();
  EXPECT_FALSE(client_result) << client_result.message();
  X509* peer = SSL_get0_peer_certificate(client.native_handle());
  ASSERT_NE(peer, nullptr);
  EXPECT_EQ(X509_check_host(peer, "a.example.com", 0, 0, nullptr), 1);
}

TEST(TlsServerContext, KeepsTheSnapshotItWasBuiltFrom) {
  auto set = set_of({make_certificate({"a.example.com"})});
  TlsServerContext tls(set);
  EXPECT_EQ(tls.certificates(), set);
}

TEST(TlsServerContext, RejectsACertificateWithoutAMatchingKey) {
  auto cert = std::make_shared<core::TlsCertificate>(core::TlsCertificate{});
  auto good = make_certificate({"a.example.com"});
  cert->leaf = core::share(good->leaf.get());
  cert->key = make_key(KeyType::kEc);
  cert->names = {"a.example.com"};
  try {
    TlsServerContext tls(set_of({cert}));
    FAIL() << "accepted a mismatched key";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("a.example.com"));
  }
}

}  // namespace
}  // namespace usher::proxy
