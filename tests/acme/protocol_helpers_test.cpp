#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "acme/account.h"
#include "acme/http_transport.h"
#include "acme/problem.h"
#include "acme/timestamp.h"
#include "fake_ca.h"

namespace usher::acme {
namespace {

using namespace std::chrono_literals;

TEST(Timestamp, ParsesRfc3339WithFractionsAndOffsets) {
  auto base = parse_rfc3339("2025-01-02T03:04:05Z");
  ASSERT_TRUE(base);
  EXPECT_EQ(format_rfc3339(*base), "2025-01-02T03:04:05Z");
  EXPECT_EQ(parse_rfc3339("2025-01-02T03:04:05.123456Z"), base);
  EXPECT_EQ(parse_rfc3339("2025-01-02T05:04:05+02:00"), base);
  EXPECT_EQ(parse_rfc3339("2025-01-02T00:04:05-03:00"), base);
  EXPECT_EQ(parse_rfc3339("yesterday"), std::nullopt);
  EXPECT_EQ(parse_rfc3339("2025-01-02T03:04:05"), std::nullopt);  // no offset
}

TEST(HttpResponse, FindsLinksByRelation) {
  HttpResponse response;
  response.headers = {{"link", "<https://ca/dir>;rel=\"index\""},
                      {"Link", "<https://ca/cert/1/1>;rel=\"alternate\", <https://ca/up>;rel=up"},
                      {"LINK", "<https://ca/cert/1/2>; rel=alternate"}};
  EXPECT_EQ(link_targets(response, "alternate"),
            (std::vector<std::string>{"https://ca/cert/1/1", "https://ca/cert/1/2"}));
  EXPECT_EQ(link_targets(response, "up"), std::vector<std::string>{"https://ca/up"});
}

TEST(HttpResponse, ReadsRetryAfterAsSecondsOrDate) {
  auto now = *parse_rfc3339("2015-10-21T07:28:00Z");
  HttpResponse response;
  EXPECT_EQ(retry_after(response, now), std::nullopt);
  response.headers = {{"Retry-After", "120"}};
  EXPECT_EQ(retry_after(response, now), 120s);
  response.headers = {{"Retry-After", "Wed, 21 Oct 2015 07:30:00 GMT"}};
  EXPECT_EQ(retry_after(response, now), 120s);
  response.headers = {{"Retry-After", "soon"}};
  EXPECT_EQ(retry_after(response, now), std::nullopt);
}

// Flips a bit of every signature on its way to the CA.
class Tampering final : public HttpTransport {
 public:
  explicit Tampering(HttpTransport& target) : target_(target) {}
  HttpResponse send(const HttpRequest& request) override {
    HttpRequest copy = request;
    if (request.method == "POST") {
      Json jws = Json::parse(request.body);
      std::string signature = base64url_decode(jws.required_string("signature"));
      signature[0] = static_cast<char>(signature[0] ^ 1);
      jws.set("signature", base64url_encode(signature));
      copy.body = jws.dump();
    }
    return target_.send(copy);
  }

 private:
  HttpTransport& target_;
};

TEST(FakeCa, RejectsAWrongSignature) {
  core::ManualClock clock(std::chrono::system_clock::now());
  testing::FakeCa ca(clock, nullptr);
  Tampering tampering(ca);
  Connection connection(tampering, testing::FakeCa::kDirectoryUrl, clock);
  AccountKey key = AccountKey::generate();
  EXPECT_THROW(register_account(connection, key, {}), AcmeError);
  EXPECT_EQ(ca.bad_signatures(), 1);
  EXPECT_EQ(ca.accounts_created(), 0);
}

}  // namespace
}  // namespace usher::acme
