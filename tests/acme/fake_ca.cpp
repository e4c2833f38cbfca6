#include "fake_ca.h"

#include <openssl/pem.h>

#include <stdexcept>

#include "acme/ari.h"
#include "acme/challenge.h"
#include "acme/jws.h"
#include "acme/local_ca.h"
#include "acme/timestamp.h"
#include "acme/x509_util.h"

namespace usher::acme::testing {

namespace {

using namespace std::chrono_literals;

const std::string kErr = "urn:ietf:params:acme:error:";

int id_after(const std::string& path, const std::string& prefix) {
  return std::stoi(path.substr(prefix.size()));
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  core::X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) throw_openssl("fake ca extension " + value);
}

void set_name(X509_NAME* name, const std::string& cn) {
  X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
}

core::X509Ptr make_root(EVP_PKEY* key, const std::string& cn,
                        std::chrono::system_clock::time_point now) {
  core::X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  set_random_serial(cert.get());
  ASN1_TIME_set(X509_getm_notBefore(cert.get()),
                std::chrono::system_clock::to_time_t(now - 24h * 365));
  ASN1_TIME_set(X509_getm_notAfter(cert.get()),
                std::chrono::system_clock::to_time_t(now + 24h * 3650));
  set_name(X509_get_subject_name(cert.get()), cn);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  X509_set_pubkey(cert.get(), key);
  add_extension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  add_extension(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
  X509_sign(cert.get(), key, EVP_sha256());
  return cert;
}

// Builds an object member by member (initializer lists of Json trip a
// GCC 12 -Wmaybe-uninitialized false positive at -O2).
Json object_of(std::initializer_list<std::pair<const char*, Json>> members) {
  Json json;
  for (const auto& [key, value] : members)
    json.set(key, value);
  return json;
}

}  // namespace

FakeCa::FakeCa(const core::Clock& clock, const core::ChallengeResponder* responder)
    : clock_(clock),
      responder_(responder),
      root_key_(generate_p256_key()),
      root_(make_root(root_key_.get(), "Fake Root", clock.now())),
      alternate_key_(generate_p256_key()),
      alternate_(make_root(alternate_key_.get(), kAlternateIssuer, clock.now())) {}

int FakeCa::orders_created() const {
  std::lock_guard lock(mutex_);
  return static_cast<int>(orders_.size());
}
int FakeCa::accounts_created() const {
  std::lock_guard lock(mutex_);
  return accounts_created_;
}
int FakeCa::bad_signatures() const {
  std::lock_guard lock(mutex_);
  return bad_signatures_;
}
std::vector<std::string> FakeCa::replaces_seen() const {
  std::lock_guard lock(mutex_);
  return replaces_seen_;
}
std::vector<std::string> FakeCa::validated_types() const {
  std::lock_guard lock(mutex_);
  return validated_types_;
}

std::string FakeCa::fresh_nonce() {
  std::string nonce = "nonce-" + std::to_string(++next_nonce_);
  nonces_.insert(nonce);
  return nonce;
}

HttpResponse FakeCa::json_response(int status, const Json& body) {
  HttpResponse response;
  response.status = status;
  response.body = body.dump();
  response.headers = {{"Content-Type", "application/json"}, {"Replay-Nonce", fresh_nonce()}};
  return response;
}

HttpResponse FakeCa::problem(int status, const std::string& type, const std::string& detail) {
  Json body;
  body.set("type", kErr + type);
  body.set("detail", detail);
  body.set("status", status);
  HttpResponse response = json_response(status, body);
  response.headers[0].second = "application/problem+json";
  return response;
}

HttpResponse FakeCa::send(const HttpRequest& request) {
  std::lock_guard lock(mutex_);
  if (script_.down)
    throw std::runtime_error(request.method + " " + request.url + ": couldn't connect");
  return handle(request);
}

HttpResponse FakeCa::handle(const HttpRequest& request) {
  std::string base = kBase;
  if (!request.url.starts_with(base)) return problem(404, "malformed", "unknown host");
  std::string path = request.url.substr(base.size());
  if (request.method == "GET" && path == "/directory") {
    Json directory;
    directory.set("newNonce", base + "/new-nonce");
    directory.set("newAccount", base + "/new-account");
    directory.set("newOrder", base + "/new-order");
    directory.set("revokeCert", base + "/revoke");
    if (script_.ari) directory.set("renewalInfo", base + "/renewal-info");
    Json meta;
    meta.set("termsOfService", base + "/terms");
    if (script_.eab_required) meta.set("externalAccountRequired", true);
    directory.set("meta", meta);
    return json_response(200, directory);
  }
  if (request.method == "HEAD" && path == "/new-nonce") {
    HttpResponse response;
    response.status = 200;
    response.headers = {{"Replay-Nonce", fresh_nonce()}, {"Cache-Control", "no-store"}};
    return response;
  }
  if (request.method == "GET" && path.starts_with("/renewal-info/")) {
    return renewal_info(path.substr(std::string("/renewal-info/").size()));
  }
  if (request.method == "POST") return handle_post(path, request);
  return problem(405, "malformed", "method not allowed");
}

std::optional<FakeCa::Verified> FakeCa::verify(const HttpRequest& request, HttpResponse& error) {
  Json jws = Json::parse(request.body);
  std::string protected_b64 = jws.required_string("protected");
  std::string payload_b64 = jws.required_string("payload");
  Verified verified;
  verified.header = Json::parse(base64url_decode(protected_b64));
  verified.payload = base64url_decode(payload_b64);
  const Json& header = verified.header;
  std::string nonce = header.string_or("nonce");
  if (!nonces_.erase(nonce)) {
    error = problem(400, "badNonce", "nonce " + nonce + " is unknown or used");
    return std::nullopt;
  }
  if (script_.bad_nonces > 0) {
    --script_.bad_nonces;
    error = problem(400, "badNonce", "scripted bad nonce");
    return std::nullopt;
  }
  if (header.string_or("url") != request.url) {
    error = problem(401, "unauthorized", "url in jws does not match the request");
    return std::nullopt;
  }
  core::EvpPkeyPtr embedded;
  EVP_PKEY* key = nullptr;
  bool is_new_account = request.url == std::string(kBase) + "/new-account";
  if (const Json* jwk = header.find("jwk")) {
    if (header.find("kid") || !is_new_account) {
      error = problem(400, "malformed", "jwk is only for newAccount");
      return std::nullopt;
    }
    embedded = public_key_from_jwk(*jwk);
    key = embedded.get();
  } else {
    auto it = accounts_.find(header.string_or("kid"));
    if (it == accounts_.end() || is_new_account) {
      error = problem(400, "accountDoesNotExist", "unknown kid");
      return std::nullopt;
    }
    verified.account = &it->second;
    key = it->second.key.get();
  }
  if (!verify_signature(key, header.string_or("alg"), protected_b64 + "." + payload_b64,
                        base64url_decode(jws.required_string("signature")))) {
    ++bad_signatures_;
    error = problem(400, "malformed", "jws signature does not verify");
    return std::nullopt;
  }
  return verified;
}

HttpResponse FakeCa::handle_post(const std::string& path, const HttpRequest& request) {
  HttpResponse error;
  auto jws = verify(request, error);
  if (!jws) return error;
  Json payload = jws->payload.empty() ? Json() : Json::parse(jws->payload);
  if (path == "/new-account") return new_account(*jws, payload);
  if (path == "/new-order") return new_order(*jws, payload);
  if (!jws->payload.empty() && !path.starts_with("/chall/") && !path.starts_with("/finalize/")) {
    return problem(400, "malformed", "expected POST-as-GET with an empty payload");
  }
  if (path.starts_with("/order/")) return get_order(id_after(path, "/order/"));
  if (path.starts_with("/authz/")) return get_authz(id_after(path, "/authz/"));
  if (path.starts_with("/chall/")) return post_challenge(id_after(path, "/chall/"));
  if (path.starts_with("/finalize/")) return finalize(id_after(path, "/finalize/"), *jws, payload);
  if (path.ends_with("/alt")) return get_certificate(id_after(path, "/cert/"), true);
  if (path.starts_with("/cert/")) return get_certificate(id_after(path, "/cert/"), false);
  return problem(404, "malformed", "no such resource");
}

HttpResponse FakeCa::new_account(const Verified& jws, const Json& payload) {
  auto key = public_key_from_jwk(*jws.header.find("jwk"));
  std::string thumbprint = base64url_encode(sha256(jws.header.find("jwk")->dump()));
  for (auto& [url, account] : accounts_) {
    if (account.thumbprint == thumbprint) {
      HttpResponse response = json_response(200, object_of({{"status", "valid"}}));
      response.headers.emplace_back("Location", url);
      return response;
    }
  }
  if (const Json* only = payload.find("onlyReturnExisting"); only && only->as_bool()) {
    return problem(400, "accountDoesNotExist", "no account for this key");
  }
  if (!payload.find("termsOfServiceAgreed")) {
    return problem(400, "userActionRequired", "terms of service not agreed");
  }
  if (script_.eab_required) {
    const Json* eab = payload.find("externalAccountBinding");
    if (!eab) return problem(400, "externalAccountRequired", "eab required");
    std::string input = eab->required_string("protected") + "." + eab->required_string("payload");
    Json eab_header = Json::parse(base64url_decode(eab->required_string("protected")));
    if (eab_header.string_or("kid") != script_.eab_key_id ||
        base64url_decode(eab->required_string("signature")) !=
            hmac_sha256(script_.eab_mac_key, input) ||
        Json::parse(base64url_decode(eab->required_string("payload"))) != *jws.header.find("jwk")) {
      return problem(400, "unauthorized", "external account binding does not verify");
    }
  }
  std::string url = std::string(kBase) + "/account/" + std::to_string(next_id_++);
  accounts_[url] = {url, std::move(key), thumbprint};
  ++accounts_created_;
  Json body;
  body.set("status", "valid");
  if (const Json* contact = payload.find("contact")) body.set("contact", *contact);
  HttpResponse response = json_response(201, body);
  response.headers.emplace_back("Location", url);
  return response;
}

HttpResponse FakeCa::new_order(const Verified& jws, const Json& payload) {
  if (script_.rate_limited_orders > 0) {
    --script_.rate_limited_orders;
    HttpResponse response = problem(429, "rateLimited", "too many new orders recently");
    response.headers.emplace_back("Retry-After",
                                  std::to_string(script_.rate_limit_retry_after.count()));
    return response;
  }
  int id = next_id_++;
  OrderState order;
  order.account = jws.account->url;
  order.replaces = payload.string_or("replaces");
  if (!order.replaces.empty()) replaces_seen_.push_back(order.replaces);
  for (const Json& identifier : payload.find("identifiers")->as_array()) {
    int authz_id = next_id_++;
    AuthzState authz;
    authz.name = identifier.required_string("value");
    authz.order = id;
    for (const std::string& type : script_.offered_types) {
      int challenge_id = next_id_++;
      challenges_[challenge_id] = {
          type, "token-" + std::to_string(challenge_id), "pending", "", "", authz_id};
      authz.challenges.push_back(challenge_id);
    }
    order.names.push_back(authz.name);
    order.authzs.push_back(authz_id);
    authzs_[authz_id] = std::move(authz);
  }
  orders_[id] = std::move(order);
  HttpResponse response = json_response(201, order_json(id));
  response.headers.emplace_back("Location", std::string(kBase) + "/order/" + std::to_string(id));
  return response;
}

Json FakeCa::order_json(int id) {
  OrderState& order = orders_.at(id);
  if (order.status == "pending") {
    bool all_valid = true;
    for (int authz : order.authzs) {
      if (authzs_.at(authz).status == "invalid") order.status = "invalid";
      all_valid = all_valid && authzs_.at(authz).status == "valid";
    }
    if (all_valid) order.status = "ready";
  }
  std::string base = kBase;
  Json body;
  body.set("status", order.status);
  Json::Array identifiers, authorizations;
  for (const std::string& name : order.names) {
    identifiers.push_back(object_of({{"type", "dns"}, {"value", name}}));
  }
  for (int authz : order.authzs)
    authorizations.push_back(base + "/authz/" + std::to_string(authz));
  body.set("identifiers", identifiers);
  body.set("authorizations", authorizations);
  body.set("finalize", base + "/finalize/" + std::to_string(id));
  if (order.status == "valid")
    body.set("certificate", base + "/cert/" + std::to_string(order.cert));
  if (order.status == "invalid") {
    body.set("error",
             object_of({{"type", kErr + "unauthorized"}, {"detail", "an authorization failed"}}));
  }
  return body;
}

HttpResponse FakeCa::get_order(int id) {
  if (!orders_.count(id)) return problem(404, "malformed", "no such order");
  OrderState& order = orders_.at(id);
  if (order.status == "processing") {
    if (order.processing_left > 0) {
      --order.processing_left;
      HttpResponse response = json_response(200, order_json(id));
      response.headers.emplace_back("Retry-After", "3");
      return response;
    }
    order.status = "valid";
  }
  return json_response(200, order_json(id));
}

Json FakeCa::challenge_json(int id) {
  const ChallengeState& challenge = challenges_.at(id);
  Json body;
  body.set("type", challenge.type);
  body.set("url", std::string(kBase) + "/chall/" + std::to_string(id));
  body.set("token", challenge.token);
  body.set("status", challenge.status);
  if (!challenge.error_type.empty()) {
    body.set("error", object_of({{"type", kErr + challenge.error_type},
                                 {"detail", challenge.error_detail}}));
  }
  return body;
}

HttpResponse FakeCa::get_authz(int id) {
  if (!authzs_.count(id)) return problem(404, "malformed", "no such authorization");
  const AuthzState& authz = authzs_.at(id);
  Json body;
  body.set("status", authz.status);
  body.set("identifier", object_of({{"type", "dns"}, {"value", authz.name}}));
  Json::Array challenges;
  for (int challenge : authz.challenges)
    challenges.push_back(challenge_json(challenge));
  body.set("challenges", challenges);
  return json_response(200, body);
}

bool FakeCa::validate(const ChallengeState& challenge, const std::string& name,
                      const std::string& thumbprint) {
  std::string expected = key_authorization(challenge.token, thumbprint);
  if (!responder_) return true;
  if (challenge.type == "http-01") {
    return responder_->http01_key_authorization(name, challenge.token) == expected;
  }
  if (challenge.type == "tls-alpn-01") {
    auto cert = responder_->tls_alpn01_certificate(name);
    return cert && tls_alpn01_certificate_matches(cert->leaf.get(), name, expected);
  }
  return false;
}

HttpResponse FakeCa::post_challenge(int id) {
  if (!challenges_.count(id)) return problem(404, "malformed", "no such challenge");
  ChallengeState& challenge = challenges_.at(id);
  AuthzState& authz = authzs_.at(challenge.authz);
  const std::string& thumbprint = accounts_.at(orders_.at(authz.order).account).thumbprint;
  if (challenge.status == "pending") {
    if (script_.failing_types.count(challenge.type)) {
      challenge.status = "invalid";
      challenge.error_type = "connection";
      challenge.error_detail = "connection refused";
    } else if (!validate(challenge, authz.name, thumbprint)) {
      challenge.status = "invalid";
      challenge.error_type = "incorrectResponse";
      challenge.error_detail = "key authorization did not match";
    } else {
      challenge.status = "valid";
      validated_types_.push_back(challenge.type);
    }
    authz.status = challenge.status;
  }
  return json_response(200, challenge_json(id));
}

std::string FakeCa::issue(X509_REQ* csr, const std::vector<std::string>& names, X509* issuer,
                          EVP_PKEY* issuer_key) {
  auto now = clock_.now();
  core::X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  set_random_serial(cert.get());
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), std::chrono::system_clock::to_time_t(now));
  ASN1_TIME_set(X509_getm_notAfter(cert.get()),
                std::chrono::system_clock::to_time_t(now + script_.lifetime));
  set_name(X509_get_subject_name(cert.get()), names.front());
  X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer));
  core::EvpPkeyPtr key(X509_REQ_get_pubkey(csr));
  X509_set_pubkey(cert.get(), key.get());
  std::string san;
  for (const auto& name : names)
    san += (san.empty() ? "DNS:" : ",DNS:") + name;
  add_extension(cert.get(), issuer, NID_subject_alt_name, san);
  add_extension(cert.get(), issuer, NID_authority_key_identifier, "keyid:always");
  X509_sign(cert.get(), issuer_key, EVP_sha256());
  return to_pem(cert.get()) + to_pem(issuer);
}

HttpResponse FakeCa::finalize(int id, const Verified& jws, const Json& payload) {
  OrderState& order = orders_.at(id);
  order_json(id);  // refresh pending → ready
  if (order.status != "ready") return problem(403, "orderNotReady", "order is " + order.status);
  std::string der = base64url_decode(payload.required_string("csr"));
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  core::X509ReqPtr csr(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
  if (!csr) return problem(400, "badCSR", "csr does not parse");
  core::EvpPkeyPtr key(X509_REQ_get_pubkey(csr.get()));
  if (X509_REQ_verify(csr.get(), key.get()) != 1)
    return problem(400, "badCSR", "bad csr signature");
  if (EVP_PKEY_eq(key.get(), jws.account->key.get()) == 1) {
    return problem(400, "badCSR", "certificate key is the account key");
  }
  int cert_id = next_id_++;
  CertState cert;
  cert.leaf_pem = issue(csr.get(), order.names, root_.get(), root_key_.get());
  cert.alternate_leaf_pem = issue(csr.get(), order.names, alternate_.get(), alternate_key_.get());
  core::BioPtr bio(BIO_new_mem_buf(cert.leaf_pem.data(), static_cast<int>(cert.leaf_pem.size())));
  core::X509Ptr leaf(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  cert.ari_id = ari_certificate_id(leaf.get());
  cert.not_before = x509_not_before(leaf.get());
  cert.not_after = x509_not_after(leaf.get());
  certs_[cert_id] = cert;
  order.cert = cert_id;
  order.processing_left = script_.processing_polls;
  order.status = "processing";
  if (order.processing_left == 0) order.status = "valid";
  return json_response(200, order_json(id));
}

HttpResponse FakeCa::get_certificate(int id, bool alternate) {
  if (!certs_.count(id)) return problem(404, "malformed", "no such certificate");
  HttpResponse response;
  response.status = 200;
  response.body = alternate ? certs_.at(id).alternate_leaf_pem : certs_.at(id).leaf_pem;
  response.headers = {{"Content-Type", "application/pem-certificate-chain"},
                      {"Replay-Nonce", fresh_nonce()}};
  if (script_.alternate_chain && !alternate) {
    response.headers.emplace_back("Link", "<" + std::string(kBase) + "/cert/" + std::to_string(id) +
                                              "/alt>;rel=\"alternate\"");
  }
  return response;
}

HttpResponse FakeCa::renewal_info(const std::string& id) {
  for (const auto& [cert_id, cert] : certs_) {
    if (cert.ari_id != id) continue;
    auto lifetime = cert.not_after - cert.not_before;
    auto start = cert.not_before + lifetime * 2 / 3;
    auto end = cert.not_after - lifetime / 10;
    if (script_.ari_window) {
      start = cert.not_before + script_.ari_window->first;
      end = cert.not_before + script_.ari_window->second;
    }
    Json window;
    window.set("start", format_rfc3339(start));
    window.set("end", format_rfc3339(end));
    HttpResponse response = json_response(200, object_of({{"suggestedWindow", window}}));
    response.headers.emplace_back("Retry-After", std::to_string(script_.ari_retry_after.count()));
    return response;
  }
  return problem(404, "malformed", "no such certificate");
}

}  // namespace usher::acme::testing
