#include "acme/client.h"

#include <algorithm>
#include <set>

#include <openssl/pem.h>

#include "acme/challenge.h"
#include "acme/csr.h"
#include "acme/local_ca.h"

namespace usher::acme {

namespace {

using Clock = std::chrono::system_clock;

// Polls until `done(value)`; `fetch` re-reads the resource. Bounded by
// kMaxPolls and kPollDeadline.
template <typename T, typename Fetch, typename Done>
T poll(Connection& connection, const Sleeper& sleep, T value, Fetch fetch, Done done,
       const std::string& what) {
  auto deadline = connection.clock().now() + kPollDeadline;
  for (int polls = 0; !done(value); ++polls) {
    if (polls >= kMaxPolls || connection.clock().now() >= deadline) {
      throw AcmeError::transient(what + " did not finish in time");
    }
    auto wait = std::clamp<std::chrono::seconds>(value.retry_after.value_or(kDefaultPollInterval),
                                                 std::chrono::seconds(1), kMaxPollInterval);
    sleep(wait);
    value = fetch();
  }
  return value;
}

// Withdraws a presented challenge whatever happens next.
class PresentedChallenge {
 public:
  PresentedChallenge(ChallengeSolver& solver, std::string type, std::string name, std::string token,
                     const std::string& key_authorization)
      : solver_(solver), type_(std::move(type)), name_(std::move(name)), token_(std::move(token)) {
    solver_.present(type_, name_, token_, key_authorization);
  }
  ~PresentedChallenge() {
    try {
      solver_.cleanup(type_, name_, token_);
    } catch (...) {  // cleanup failing must not hide the order's own outcome
    }
  }
  PresentedChallenge(const PresentedChallenge&) = delete;
  PresentedChallenge& operator=(const PresentedChallenge&) = delete;

 private:
  ChallengeSolver& solver_;
  std::string type_, name_, token_;
};

const Challenge* choose_challenge(const Authorization& authorization,
                                  const std::vector<std::string>& preferred,
                                  const std::set<std::string>& failed) {
  for (const std::string& type : preferred) {
    if (failed.contains(type)) continue;
    if (const Challenge* challenge = authorization.find(type)) return challenge;
  }
  return nullptr;
}

// Proves control of one name; returns the challenge type used ("" when the
// authorization was already valid, e.g. reused from an earlier order).
std::string authorize(Connection& connection, ChallengeSolver& solver, const Sleeper& sleep,
                      const std::string& url, const OrderOptions& options,
                      const std::set<std::string>& failed) {
  Authorization authorization = fetch_authorization(connection, url);
  if (authorization.status == "valid") return "";
  const Challenge* challenge = choose_challenge(authorization, options.challenge_types, failed);
  if (!challenge) {
    Problem problem;
    problem.type = std::string(kAcmeErrorPrefix) + "unsupportedIdentifier";
    problem.detail = "no usable challenge type offered for " + authorization.identifier;
    throw AcmeError(std::move(problem), std::nullopt);
  }
  std::string type = challenge->type;
  PresentedChallenge presented(solver, type, authorization.identifier, challenge->token,
                               key_authorization(challenge->token, connection.key()->thumbprint()));
  respond_to_challenge(connection, challenge->url);
  authorization = poll(
      connection, sleep, fetch_authorization(connection, url),
      [&] { return fetch_authorization(connection, url); },
      [](const Authorization& a) { return a.status != "pending" && a.status != "processing"; },
      "validating " + authorization.identifier);
  if (authorization.status == "valid") return type;
  const Challenge* failed_challenge = authorization.failed();
  Problem problem =
      failed_challenge && failed_challenge->error ? *failed_challenge->error : Problem{};
  if (problem.detail.empty()) problem.detail = "authorization is " + authorization.status;
  throw ChallengeError(std::move(problem), type, authorization.identifier);
}

std::string issuer_common_name(X509* cert) {
  char buffer[256] = {};
  X509_NAME_get_text_by_NID(X509_get_issuer_name(cert), NID_commonName, buffer, sizeof buffer);
  return buffer;
}

bool chain_has_issuer(const std::string& pem, const std::string& issuer) {
  core::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  while (core::X509Ptr cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
    if (issuer_common_name(cert.get()) == issuer) return true;
  }
  return false;
}

CertificateChain download_preferred(Connection& connection, const std::string& url,
                                    const std::string& preferred) {
  CertificateChain chain = download_certificate(connection, url);
  if (preferred.empty() || chain_has_issuer(chain.pem, preferred)) return chain;
  size_t tried = 0;
  for (const std::string& alternate : chain.alternates) {
    if (tried++ >= kMaxAlternateChains) break;
    CertificateChain other = download_certificate(connection, alternate);
    if (chain_has_issuer(other.pem, preferred)) return other;
  }
  return chain;  // RFC 8555 §7.4.2: the default chain when no alternate matches
}

Order place_order(Connection& connection, const OrderOptions& options) {
  try {
    return new_order(connection, options.names, options.replaces);
  } catch (const AcmeError& e) {
    // RFC 9773 §5: another order already replaced it; order without.
    if (e.problem_class() != ProblemClass::kAlreadyReplaced || options.replaces.empty()) throw;
    return new_order(connection, options.names, "");
  }
}

// One order with a given set of failed challenge types excluded.
IssuedCertificate run_order(Connection& connection, ChallengeSolver& solver, const Sleeper& sleep,
                            const OrderOptions& options, const std::set<std::string>& failed) {
  Order order = place_order(connection, options);
  IssuedCertificate issued;
  for (const std::string& url : order.authorizations) {
    std::string used = authorize(connection, solver, sleep, url, options, failed);
    if (!used.empty()) issued.challenge_type = used;
  }
  auto refresh = [&] { return fetch_order(connection, order.url); };
  order = poll(
      connection, sleep, refresh(), refresh, [](const Order& o) { return o.status != "pending"; },
      "order");
  if (order.status != "ready") {
    throw AcmeError(order.error.value_or(Problem{"", "", "order is " + order.status, 0, "", {}}),
                    std::nullopt);
  }
  auto key = generate_p256_key();  // never the account key
  order = finalize_order(connection, order, make_csr_der(options.names, key.get()));
  order = poll(
      connection, sleep, order, refresh,
      [](const Order& o) { return o.status != "processing" && o.status != "ready"; }, "finalizing");
  if (order.status != "valid" || order.certificate.empty()) {
    throw AcmeError(order.error.value_or(Problem{"", "", "order is " + order.status, 0, "", {}}),
                    std::nullopt);
  }
  CertificateChain chain =
      download_preferred(connection, order.certificate, options.preferred_chain);
  issued.chain_pem = chain.pem;
  issued.key_pem = to_pem(key.get());
  issued.url = order.certificate;
  return issued;
}

}  // namespace

ChallengeError::ChallengeError(Problem problem, std::string challenge_type, std::string name)
    : AcmeError(std::move(problem), std::nullopt),
      challenge_type_(std::move(challenge_type)),
      name_(std::move(name)) {}

IssuedCertificate obtain_certificate(Connection& connection, ChallengeSolver& solver,
                                     const Sleeper& sleep, const OrderOptions& options) {
  // An invalid authorization fails its whole order (RFC 8555 §7.1.6); the
  // next type gets a new order. One order per type bounds the loop.
  std::set<std::string> failed;
  for (size_t attempt = 0;; ++attempt) {
    try {
      return run_order(connection, solver, sleep, options, failed);
    } catch (const ChallengeError& e) {
      failed.insert(e.challenge_type());
      bool another = std::any_of(options.challenge_types.begin(), options.challenge_types.end(),
                                 [&](const std::string& t) { return !failed.contains(t); });
      if (!another || attempt + 1 >= options.challenge_types.size()) throw;
    }
  }
}

std::string challenge_failure_hint(const ChallengeError& error) {
  bool http = error.challenge_type() == kHttp01;
  std::string port = http ? "80 (http)" : "443 (https)";
  std::string type = error.problem().short_type();
  if (type == "connection" || type == "tls" || type == "incorrectResponse" || type.empty()) {
    return "the ca could not validate " + error.name() + " on port " + port +
           ": make sure the name's dns points at this machine, the router forwards port " +
           (http ? "80" : "443") + " to it and no firewall blocks it";
  }
  if (type == "dns") {
    return "the ca could not resolve " + error.name() + ": check its dns a/aaaa records";
  }
  return "the ca rejected the " + error.challenge_type() + " challenge for " + error.name();
}

}  // namespace usher::acme
