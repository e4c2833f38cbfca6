#pragma once

// The order flow (style rule 6): new order → solve each authorization →
// finalize with a CSR → download, over the protocol layer, with every wait
// bounded. No policy beyond one order: storage, renewal timing and retries
// belong to the CertificateManager.

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "acme/authorization.h"
#include "acme/connection.h"
#include "acme/order.h"
#include "acme/problem.h"

namespace usher::acme {

/// Pause between polls when the CA sends no Retry-After.
inline constexpr std::chrono::seconds kDefaultPollInterval{2};
/// Polls of one authorization or order at most (style rule 8) …
inline constexpr int kMaxPolls = 60;
/// … and never longer than this in total: a CA that keeps an order
/// `processing` this long will not finish it for us.
inline constexpr std::chrono::minutes kPollDeadline{10};
/// Longest single wait, whatever Retry-After says; the deadline still bounds
/// the whole.
inline constexpr std::chrono::seconds kMaxPollInterval{60};
/// Alternate chains downloaded at most when looking for `preferred_chain`.
inline constexpr size_t kMaxAlternateChains = 4;

/// Serves challenge answers while the CA validates (the proxy answers on
/// its ports through core::ChallengeResponder). Called from the order flow's
/// thread; implementations must be thread-safe towards the proxy.
class ChallengeSolver {
 public:
  virtual ~ChallengeSolver() = default;
  /// Starts answering challenge `type` for `name`.
  virtual void present(const std::string& type, const std::string& name, const std::string& token,
                       const std::string& key_authorization) = 0;
  /// Stops answering it (always called after present, even on failure).
  virtual void cleanup(const std::string& type, const std::string& name,
                       const std::string& token) = 0;
};

/// Waits; production sleeps, tests advance a ManualClock.
using Sleeper = std::function<void(std::chrono::milliseconds)>;

/// What to order.
struct OrderOptions {
  std::vector<std::string> names;
  /// Challenge types in order of preference ("http-01", "tls-alpn-01");
  /// a type the CA does not offer is skipped, a type that fails makes the
  /// next one be tried on a new order.
  std::vector<std::string> challenge_types{kHttp01, kTlsAlpn01};
  std::string replaces;         // RFC 9773 certificate ID being renewed
  std::string preferred_chain;  // issuer common name to prefer among alternate chains
};

/// The result of a successful order.
struct IssuedCertificate {
  std::string chain_pem;       // leaf first
  std::string key_pem;         // fresh P-256 key, PKCS #8
  std::string url;             // the certificate's URL at the CA
  std::string challenge_type;  // the type that proved control ("" when all were already valid)
};

/// A challenge the CA could not validate: which type, for which name, and
/// the CA's problem (connection refused, timeout, wrong response, …).
class ChallengeError : public AcmeError {
 public:
  ChallengeError(Problem problem, std::string challenge_type, std::string name);
  const std::string& challenge_type() const { return challenge_type_; }
  const std::string& name() const { return name_; }

 private:
  std::string challenge_type_;
  std::string name_;
};

/// Obtains one certificate. The connection must already sign with the
/// account (register_account). Throws AcmeError (ChallengeError when every
/// usable challenge type failed) with the CA's problem; on a rateLimited
/// problem the Retry-After travels with the error.
IssuedCertificate obtain_certificate(Connection& connection, ChallengeSolver& solver,
                                     const Sleeper& sleep, const OrderOptions& options);

/// One line a home user can act on after a failed challenge: which port the
/// CA could not reach and what usually causes that.
std::string challenge_failure_hint(const ChallengeError& error);

}  // namespace usher::acme
