#include "acme/problem.h"

#include <array>
#include <utility>

namespace usher::acme {

namespace {

// RFC 8555 §6.7 and RFC 9773 §7.4; a type not listed here is transient.
constexpr std::array<std::pair<std::string_view, ProblemClass>, 20> kProblemClasses{{
    {"badNonce", ProblemClass::kBadNonce},
    {"rateLimited", ProblemClass::kRateLimited},
    {"accountDoesNotExist", ProblemClass::kAccountGone},
    {"alreadyReplaced", ProblemClass::kAlreadyReplaced},
    {"badCSR", ProblemClass::kBadConfig},
    {"badPublicKey", ProblemClass::kBadConfig},
    {"badSignatureAlgorithm", ProblemClass::kBadConfig},
    {"badRevocationReason", ProblemClass::kBadConfig},
    {"caa", ProblemClass::kBadConfig},
    {"externalAccountRequired", ProblemClass::kBadConfig},
    {"invalidContact", ProblemClass::kBadConfig},
    {"rejectedIdentifier", ProblemClass::kBadConfig},
    {"unsupportedContact", ProblemClass::kBadConfig},
    {"unsupportedIdentifier", ProblemClass::kBadConfig},
    {"userActionRequired", ProblemClass::kBadConfig},
    {"alreadyRevoked", ProblemClass::kBadConfig},
    {"connection", ProblemClass::kRetryLater},
    {"dns", ProblemClass::kRetryLater},
    {"incorrectResponse", ProblemClass::kRetryLater},
    {"serverInternal", ProblemClass::kRetryLater},
}};

constexpr std::array<std::pair<ProblemClass, std::string_view>, 6> kClassNames{{
    {ProblemClass::kRetryLater, "retry later"},
    {ProblemClass::kRateLimited, "rate limited"},
    {ProblemClass::kBadConfig, "bad configuration"},
    {ProblemClass::kAccountGone, "account gone"},
    {ProblemClass::kBadNonce, "bad nonce"},
    {ProblemClass::kAlreadyReplaced, "already replaced"},
}};

}  // namespace

Problem Problem::from_json(const Json& json, int http_status) {
  Problem problem;
  problem.type = json.string_or("type");
  problem.title = json.string_or("title");
  problem.detail = json.string_or("detail");
  problem.status = http_status;
  if (const Json* status = json.find("status"); status && status->is_number()) {
    problem.status = static_cast<int>(status->as_int());
  }
  if (const Json* identifier = json.find("identifier")) {
    problem.identifier = identifier->string_or("value");
  }
  if (const Json* subproblems = json.find("subproblems"); subproblems && subproblems->is_array()) {
    for (const Json& sub : subproblems->as_array()) {
      problem.subproblems.push_back(from_json(sub, http_status));
    }
  }
  return problem;
}

std::string Problem::short_type() const {
  if (type.starts_with(kAcmeErrorPrefix)) return type.substr(kAcmeErrorPrefix.size());
  return type;
}

std::string Problem::to_string() const {
  std::string text = short_type();
  std::string what = detail.empty() ? title : detail;
  if (!what.empty()) text += text.empty() ? what : ": " + what;
  if (text.empty()) text = "http status " + std::to_string(status);
  for (size_t i = 0; i < subproblems.size(); ++i) {
    text += i == 0 ? " (" : "; ";
    if (!subproblems[i].identifier.empty()) text += subproblems[i].identifier + ": ";
    text += subproblems[i].to_string();
  }
  if (!subproblems.empty()) text += ")";
  return text;
}

ProblemClass classify(const Problem& problem) {
  if (problem.type.starts_with(kAcmeErrorPrefix)) {
    std::string_view name = std::string_view(problem.type).substr(kAcmeErrorPrefix.size());
    for (const auto& [type, problem_class] : kProblemClasses) {
      if (type == name) return problem_class;
    }
  }
  // RFC 6585: 429 means rate limited whatever the document says.
  if (problem.status == 429) return ProblemClass::kRateLimited;
  return ProblemClass::kRetryLater;
}

std::string to_string(ProblemClass problem_class) {
  for (const auto& [value, name] : kClassNames) {
    if (value == problem_class) return std::string(name);
  }
  return "unknown";
}

AcmeError::AcmeError(Problem problem, std::optional<std::chrono::seconds> retry_after)
    : std::runtime_error(problem.to_string()),
      problem_(std::move(problem)),
      class_(classify(problem_)),
      retry_after_(retry_after) {}

AcmeError AcmeError::transient(const std::string& what) {
  Problem problem;
  problem.detail = what;
  return AcmeError(std::move(problem), std::nullopt);
}

}  // namespace usher::acme
