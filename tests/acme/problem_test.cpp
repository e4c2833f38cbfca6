#include "acme/problem.h"

#include <gtest/gtest.h>

namespace usher::acme {
namespace {

struct ClassCase {
  const char* type;
  int status;
  ProblemClass expected;
};

class ProblemClassification : public ::testing::TestWithParam<ClassCase> {};

TEST_P(ProblemClassification, FollowsTheErrorType) {
  Problem problem;
  problem.type = GetParam().type;
  problem.status = GetParam().status;
  EXPECT_EQ(classify(problem), GetParam().expected) << GetParam().type;
}

INSTANTIATE_TEST_SUITE_P(
    Rfc8555, ProblemClassification,
    ::testing::Values(
        ClassCase{"urn:ietf:params:acme:error:badNonce", 400, ProblemClass::kBadNonce},
        ClassCase{"urn:ietf:params:acme:error:rateLimited", 429, ProblemClass::kRateLimited},
        ClassCase{"about:blank", 429, ProblemClass::kRateLimited},
        ClassCase{"urn:ietf:params:acme:error:accountDoesNotExist", 400,
                  ProblemClass::kAccountGone},
        ClassCase{"urn:ietf:params:acme:error:rejectedIdentifier", 400, ProblemClass::kBadConfig},
        ClassCase{"urn:ietf:params:acme:error:caa", 403, ProblemClass::kBadConfig},
        ClassCase{"urn:ietf:params:acme:error:externalAccountRequired", 400,
                  ProblemClass::kBadConfig},
        ClassCase{"urn:ietf:params:acme:error:connection", 400, ProblemClass::kRetryLater},
        ClassCase{"urn:ietf:params:acme:error:serverInternal", 500, ProblemClass::kRetryLater},
        ClassCase{"urn:ietf:params:acme:error:alreadyReplaced", 409,
                  ProblemClass::kAlreadyReplaced},
        ClassCase{"", 503, ProblemClass::kRetryLater}));

TEST(Problem, ReadsSubproblemsWithTheirIdentifiers) {
  Json json = Json::parse(R"({
    "type": "urn:ietf:params:acme:error:malformed",
    "detail": "some of the identifiers requested were rejected",
    "subproblems": [
      {"type": "urn:ietf:params:acme:error:malformed", "detail": "invalid underscore",
       "identifier": {"type": "dns", "value": "_example.org"}},
      {"type": "urn:ietf:params:acme:error:rejectedIdentifier", "detail": "policy forbids",
       "identifier": {"type": "dns", "value": "example.net"}}]})");
  Problem problem = Problem::from_json(json, 400);
  ASSERT_EQ(problem.subproblems.size(), 2u);
  EXPECT_EQ(problem.subproblems[1].identifier, "example.net");
  EXPECT_EQ(problem.to_string(),
            "malformed: some of the identifiers requested were rejected (_example.org: malformed: "
            "invalid underscore; example.net: rejectedIdentifier: policy forbids)");
}

TEST(Problem, ErrorCarriesClassAndRetryAfter) {
  Problem problem;
  problem.type = "urn:ietf:params:acme:error:rateLimited";
  problem.detail = "too many certificates";
  AcmeError error(problem, std::chrono::seconds(3600));
  EXPECT_EQ(error.problem_class(), ProblemClass::kRateLimited);
  EXPECT_EQ(error.retry_after(), std::chrono::seconds(3600));
  EXPECT_STREQ(error.what(), "rateLimited: too many certificates");
  EXPECT_EQ(AcmeError::transient("timeout").problem_class(), ProblemClass::kRetryLater);
}

}  // namespace
}  // namespace usher::acme
