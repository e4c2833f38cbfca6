#pragma once

// ACME problem documents (RFC 7807, RFC 8555 §6.7) and the errors the client
// throws with them, classified so that the manager knows whether to retry
// later, wait out a rate limit, report a configuration mistake or re-create
// the account.

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "acme/json.h"

namespace usher::acme {

/// The URN prefix of the ACME error types (RFC 8555 §6.7).
inline constexpr std::string_view kAcmeErrorPrefix = "urn:ietf:params:acme:error:";

/// A problem document as a CA sends it; subproblems (RFC 8555 §6.7.1) name
/// the identifier each one is about.
struct Problem {
  std::string type;  // full URN, e.g. urn:ietf:params:acme:error:rateLimited
  std::string title;
  std::string detail;
  int status = 0;          // HTTP status in the document (or of the response)
  std::string identifier;  // subproblems: the identifier's value
  std::vector<Problem> subproblems;

  /// Reads a problem document; never throws (missing fields stay empty).
  static Problem from_json(const Json& json, int http_status);
  /// The type without the ACME URN prefix ("rateLimited"); the full type for
  /// other namespaces.
  std::string short_type() const;
  /// One line for logs: "rateLimited: too many certificates (a.example.com:
  /// caa: …)".
  std::string to_string() const;
};

/// What a failure means for the one who asked (style rule 8: classify, then
/// retry or finish).
enum class ProblemClass {
  kRetryLater,       // transient: network, CA trouble, a failed challenge
  kRateLimited,      // wait at least Retry-After, then try again
  kBadConfig,        // the request cannot succeed as configured (rejected name, CAA, EAB)
  kAccountGone,      // the account was deactivated or never existed here: make a new one
  kBadNonce,         // retry at once with the fresh nonce (RFC 8555 §6.5)
  kAlreadyReplaced,  // RFC 9773 §5: the `replaces` certificate was already replaced
};

/// The class of a problem type (a table over RFC 8555 §6.7 and RFC 9773).
ProblemClass classify(const Problem& problem);

/// Name of a class for logs and state files ("rate limited", …).
std::string to_string(ProblemClass problem_class);

/// A failed ACME exchange: the CA's problem (or a synthesized one for
/// transport failures), its class, and the CA's Retry-After if it sent one.
class AcmeError : public std::runtime_error {
 public:
  AcmeError(Problem problem, std::optional<std::chrono::seconds> retry_after);
  /// A failure with no problem document (transport, malformed response).
  static AcmeError transient(const std::string& what);

  const Problem& problem() const { return problem_; }
  ProblemClass problem_class() const { return class_; }
  std::optional<std::chrono::seconds> retry_after() const { return retry_after_; }

 private:
  Problem problem_;
  ProblemClass class_;
  std::optional<std::chrono::seconds> retry_after_;
};

}  // namespace usher::acme
