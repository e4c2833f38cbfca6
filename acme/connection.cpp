#include "acme/connection.h"

#include "acme/problem.h"

namespace usher::acme {

Json parse_body(const HttpResponse& response, std::string_view what) {
  try {
    return Json::parse(response.body);
  } catch (const std::exception& e) {
    throw AcmeError::transient(std::string(what) + ": " + e.what());
  }
}

Connection::Connection(HttpTransport& transport, std::string directory_url,
                       const core::Clock& clock)
    : transport_(transport), directory_url_(std::move(directory_url)), clock_(clock) {}

const Directory& Connection::directory() {
  if (!directory_) {
    HttpResponse response = get(directory_url_);
    try {
      directory_ = Directory::from_json(parse_body(response, "reading the directory"));
    } catch (const AcmeError&) {
      throw;
    } catch (const std::exception& e) {
      throw AcmeError::transient(std::string("reading the directory: ") + e.what());
    }
  }
  return *directory_;
}

void Connection::use_key(const AccountKey& key, std::string kid) {
  key_ = &key;
  kid_ = std::move(kid);
}

HttpResponse Connection::send(const HttpRequest& request) {
  HttpResponse response;
  try {
    response = transport_.send(request);
  } catch (const std::exception& e) {
    throw AcmeError::transient(e.what());
  }
  // RFC 8555 §6.5: every response carries a nonce, error responses too.
  if (auto nonce = response.header("Replay-Nonce")) nonces_.add(*nonce);
  return response;
}

std::string Connection::fresh_nonce() {
  if (auto nonce = nonces_.take()) return *nonce;
  // RFC 8555 §7.2: HEAD newNonce answers with a Replay-Nonce header.
  HttpResponse response = send({"HEAD", directory().new_nonce, {}, {}});
  if (response.status >= 400) throw_problem(response);
  if (auto nonce = nonces_.take()) return *nonce;
  throw AcmeError::transient("newNonce returned no Replay-Nonce");
}

void Connection::throw_problem(const HttpResponse& response) {
  Problem problem;
  try {
    problem = Problem::from_json(Json::parse(response.body), response.status);
  } catch (const std::exception&) {
    problem.status = response.status;  // not a problem document: the status speaks
  }
  throw AcmeError(std::move(problem), retry_after(response, clock_.now()));
}

HttpResponse Connection::post(const std::string& url, std::string_view payload, bool embed_jwk) {
  if (!key_) throw std::logic_error("acme connection has no account key");
  for (int attempt = 0;; ++attempt) {
    JwsTarget target{url, fresh_nonce(), embed_jwk ? std::string() : kid_};
    HttpRequest request{"POST", url, {{"Content-Type", kJoseContentType}}, {}};
    request.body = sign_jws(*key_, target, payload);
    HttpResponse response = send(request);
    if (response.status < 400) return response;
    try {
      throw_problem(response);
    } catch (const AcmeError& e) {
      // The error response carried a fresh nonce, now in the pool.
      if (e.problem_class() != ProblemClass::kBadNonce || attempt >= kMaxBadNonceRetries) throw;
    }
  }
}

Json Connection::post_json(const std::string& url, std::string_view payload, bool embed_jwk) {
  return parse_body(post(url, payload, embed_jwk), "reading " + url);
}

HttpResponse Connection::get(const std::string& url) {
  HttpResponse response = send({"GET", url, {}, {}});
  if (response.status >= 400) throw_problem(response);
  return response;
}

}  // namespace usher::acme
