#include "acme/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/pem.h>

#include "acme/account.h"
#include "acme/ari.h"
#include "acme/challenge.h"
#include "acme/challenge_responder.h"
#include "acme/local_ca.h"
#include "acme/x509_util.h"
#include "fake_ca.h"

namespace usher::acme {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

class OrderFlow : public ::testing::Test {
 protected:
  void SetUp() override { register_account(connection_, key_, {"admin@example.com", {}, false}); }

  IssuedCertificate obtain(std::vector<std::string> names, std::string replaces = "",
                           std::string preferred_chain = "") {
    OrderOptions options;
    options.names = std::move(names);
    options.replaces = std::move(replaces);
    options.preferred_chain = std::move(preferred_chain);
    return obtain_certificate(connection_, responder_, sleep_, options);
  }

  static core::X509Ptr leaf_of(const std::string& pem) {
    core::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    return core::X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  }

  core::ManualClock clock_{std::chrono::system_clock::now()};
  AcmeChallengeResponder responder_{clock_};
  testing::FakeCa ca_{clock_, &responder_};
  Connection connection_{ca_, testing::FakeCa::kDirectoryUrl, clock_};
  AccountKey key_ = AccountKey::generate();
  std::vector<std::chrono::milliseconds> waits_;
  Sleeper sleep_ = [this](std::chrono::milliseconds d) {
    waits_.push_back(d);
    clock_.advance(d);
  };
};

TEST_F(OrderFlow, IssuesACertificateSignedByTheCaWithAFreshKey) {
  auto issued = obtain({"a.example.com"});
  auto leaf = leaf_of(issued.chain_pem);
  ASSERT_NE(leaf, nullptr);
  EXPECT_EQ(subject_alt_names(leaf.get()), std::vector<std::string>{"a.example.com"});
  EXPECT_EQ(X509_verify(leaf.get(), X509_get0_pubkey(ca_.root())), 1);
  auto cert = core::load_tls_certificate(issued.chain_pem, issued.key_pem);
  EXPECT_EQ(cert->chain.size(), 1u);
  EXPECT_NE(issued.key_pem, key_.to_pem());  // never the account key
  EXPECT_EQ(issued.challenge_type, "http-01");
  EXPECT_EQ(ca_.bad_signatures(), 0);
  EXPECT_EQ(responder_.pending(), 0u);  // every challenge withdrawn
}

TEST_F(OrderFlow, AnswersTlsAlpn01WithTheRfc8737Certificate) {
  ca_.script().offered_types = {"tls-alpn-01"};
  auto issued = obtain({"b.example.com"});
  EXPECT_EQ(issued.challenge_type, "tls-alpn-01");
  EXPECT_EQ(ca_.validated_types(), std::vector<std::string>{"tls-alpn-01"});
}

TEST_F(OrderFlow, RetriesBadNonceWithTheFreshNonce) {
  ca_.script().bad_nonces = 3;
  EXPECT_NO_THROW(obtain({"a.example.com"}));
}

TEST_F(OrderFlow, GivesUpOnABadNonceStormAfterItsCap) {
  ca_.script().bad_nonces = 1000;
  try {
    obtain({"a.example.com"});
    FAIL() << "a badNonce storm must end in an error";
  } catch (const AcmeError& e) {
    EXPECT_EQ(e.problem_class(), ProblemClass::kBadNonce);
  }
  EXPECT_EQ(1000 - ca_.script().bad_nonces, kMaxBadNonceRetries + 1);
}

TEST_F(OrderFlow, RateLimitedOrderCarriesRetryAfter) {
  ca_.script().rate_limited_orders = 1;
  ca_.script().rate_limit_retry_after = 7200s;
  try {
    obtain({"a.example.com"});
    FAIL();
  } catch (const AcmeError& e) {
    EXPECT_EQ(e.problem_class(), ProblemClass::kRateLimited);
    EXPECT_EQ(e.retry_after(), 7200s);
    EXPECT_THAT(e.what(), HasSubstr("too many new orders"));
  }
}

TEST_F(OrderFlow, WaitsForAProcessingFinalizeUsingRetryAfter) {
  ca_.script().processing_polls = 3;
  auto issued = obtain({"a.example.com"});
  EXPECT_FALSE(issued.chain_pem.empty());
  EXPECT_EQ(std::count(waits_.begin(), waits_.end(), 3000ms), 3);
}

TEST_F(OrderFlow, RetriesAnInvalidChallengeWithTheOtherTypeOnANewOrder) {
  ca_.script().failing_types = {"http-01"};
  auto issued = obtain({"a.example.com"});
  EXPECT_EQ(issued.challenge_type, "tls-alpn-01");
  EXPECT_EQ(ca_.orders_created(), 2);
}

TEST_F(OrderFlow, ReportsWhichPortFailedWhenEveryTypeFails) {
  ca_.script().failing_types = {"http-01", "tls-alpn-01"};
  try {
    obtain({"a.example.com"});
    FAIL();
  } catch (const ChallengeError& e) {
    EXPECT_EQ(e.challenge_type(), "tls-alpn-01");
    EXPECT_EQ(e.name(), "a.example.com");
    EXPECT_THAT(e.what(), HasSubstr("connection refused"));
    EXPECT_THAT(challenge_failure_hint(e), HasSubstr("port 443"));
    EXPECT_THAT(challenge_failure_hint(e), HasSubstr("router forwards port 443"));
  }
  EXPECT_EQ(ca_.orders_created(), 2);
}

TEST_F(OrderFlow, PrefersTheConfiguredChainFromTheAlternateLink) {
  ca_.script().alternate_chain = true;
  auto issued = obtain({"a.example.com"}, "", testing::FakeCa::kAlternateIssuer);
  auto leaf = leaf_of(issued.chain_pem);
  char issuer[128] = {};
  X509_NAME_get_text_by_NID(X509_get_issuer_name(leaf.get()), NID_commonName, issuer,
                            sizeof issuer);
  EXPECT_STREQ(issuer, testing::FakeCa::kAlternateIssuer);
}

TEST_F(OrderFlow, SendsReplacesAndReadsTheRenewalWindow) {
  ca_.script().ari = true;
  Connection connection(ca_, testing::FakeCa::kDirectoryUrl, clock_);  // sees renewalInfo
  register_account(connection, key_, {});
  OrderOptions options;
  options.names = {"a.example.com"};
  auto leaf = leaf_of(obtain_certificate(connection, responder_, sleep_, options).chain_pem);
  std::string id = ari_certificate_id(leaf.get());
  RenewalInfo info = fetch_renewal_info(connection, id);
  EXPECT_LT(info.window.start, info.window.end);
  EXPECT_GT(info.window.start, x509_not_before(leaf.get()));
  EXPECT_EQ(info.recheck_after, 6h);
  options.replaces = id;
  obtain_certificate(connection, responder_, sleep_, options);
  EXPECT_EQ(ca_.replaces_seen(), std::vector<std::string>{id});
}

class Accounts : public OrderFlow {
  void SetUp() override {}
};

TEST_F(Accounts, AreFoundAgainByKey) {
  register_account(connection_, key_, {});
  Connection other(ca_, testing::FakeCa::kDirectoryUrl, clock_);
  Account again = register_account(other, key_, {"", {}, true});
  EXPECT_EQ(again.url, connection_.kid());
  EXPECT_EQ(ca_.accounts_created(), 1);
}

TEST_F(Accounts, OnlyReturnExistingFailsForAnUnknownKey) {
  try {
    register_account(connection_, key_, {"", {}, true});
    FAIL();
  } catch (const AcmeError& e) {
    EXPECT_EQ(e.problem_class(), ProblemClass::kAccountGone);
  }
}

TEST_F(Accounts, NeedEabWhenTheDirectorySaysSo) {
  ca_.script().eab_required = true;
  ca_.script().eab_mac_key = "mac-secret";
  try {
    register_account(connection_, key_, {});
    FAIL();
  } catch (const AcmeError& e) {
    EXPECT_EQ(e.problem_class(), ProblemClass::kBadConfig);
    EXPECT_THAT(e.what(), HasSubstr("acme_eab"));
  }
  core::EabCredentials eab{"kid-1", base64url_encode("mac-secret")};
  EXPECT_NO_THROW(register_account(connection_, key_, {"", eab, false}));
  EXPECT_EQ(ca_.accounts_created(), 1);
}

TEST_F(Accounts, RsaKeysSignWithRs256) {
  core::EvpPkeyPtr rsa(EVP_RSA_gen(2048));
  AccountKey key = AccountKey::from_pem(to_pem(rsa.get()));
  EXPECT_EQ(key.algorithm(), "RS256");
  EXPECT_NO_THROW(register_account(connection_, key, {}));
  EXPECT_EQ(ca_.bad_signatures(), 0);
}

TEST(ChallengeResponder, ServesHttp01OnlyForItsHostAndToken) {
  core::ManualClock clock(std::chrono::system_clock::now());
  AcmeChallengeResponder responder(clock);
  responder.present("http-01", "A.example.com", "tok", "tok.thumb");
  EXPECT_EQ(responder.http01_key_authorization("a.example.com:80", "tok"), "tok.thumb");
  EXPECT_EQ(responder.http01_key_authorization("b.example.com", "tok"), std::nullopt);
  EXPECT_EQ(responder.http01_key_authorization("a.example.com", "other"), std::nullopt);
  responder.cleanup("http-01", "a.example.com", "tok");
  EXPECT_EQ(responder.http01_key_authorization("a.example.com", "tok"), std::nullopt);
}

TEST(ChallengeResponder, PublishesATlsAlpnCertificateWithTheCriticalExtension) {
  core::ManualClock clock(std::chrono::system_clock::now());
  AcmeChallengeResponder responder(clock);
  responder.present("tls-alpn-01", "a.example.com", "tok", "tok.thumb");
  auto cert = responder.tls_alpn01_certificate("A.EXAMPLE.COM");
  ASSERT_NE(cert, nullptr);
  EXPECT_TRUE(tls_alpn01_certificate_matches(cert->leaf.get(), "a.example.com", "tok.thumb"));
  EXPECT_FALSE(tls_alpn01_certificate_matches(cert->leaf.get(), "a.example.com", "tok.other"));
  EXPECT_FALSE(tls_alpn01_certificate_matches(cert->leaf.get(), "b.example.com", "tok.thumb"));
  responder.cleanup("tls-alpn-01", "a.example.com", "tok");
  EXPECT_EQ(responder.tls_alpn01_certificate("a.example.com"), nullptr);
}

}  // namespace
}  // namespace usher::acme
