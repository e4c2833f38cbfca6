#include "acme/json.h"

#include <gtest/gtest.h>

#include <string>

namespace usher::acme {
namespace {

TEST(Json, ParsesAnAcmeDirectoryShapedDocument) {
  Json json = Json::parse(R"({"newNonce":"https://ca/n","meta":{"externalAccountRequired":true,
    "caaIdentities":["ca.example"]},"n":-12,"f":1.5,"z":null})");
  EXPECT_EQ(json.string_or("newNonce"), "https://ca/n");
  EXPECT_TRUE(json.find("meta")->find("externalAccountRequired")->as_bool());
  EXPECT_EQ(json.find("meta")->find("caaIdentities")->as_array()[0].as_string(), "ca.example");
  EXPECT_EQ(json.find("n")->as_int(), -12);
  EXPECT_TRUE(json.find("z")->is_null());
  EXPECT_EQ(json.find("absent"), nullptr);
}

TEST(Json, DumpsObjectsWithSortedKeysAndNoWhitespace) {
  Json json;
  json.set("y", "2");
  json.set("crv", "P-256");
  json.set("kty", "EC");
  json.set("list", Json::Array{Json(1), Json(true), Json()});
  EXPECT_EQ(json.dump(), R"({"crv":"P-256","kty":"EC","list":[1,true,null],"y":"2"})");
}

TEST(Json, RoundTripsEscapesAndUnicode) {
  Json json = Json::parse(R"(["a\"b\\c\n\u00e9\ud83d\ude00\/"])");
  EXPECT_EQ(json.as_array()[0].as_string(), "a\"b\\c\n\xc3\xa9\xf0\x9f\x98\x80/");
  EXPECT_EQ(Json::parse(json.dump()), json);
  EXPECT_EQ(Json(std::string("\x01")).dump(), "\"\\u0001\"");
}

struct BadJson {
  const char* text;
  const char* why;
};

class JsonRejects : public ::testing::TestWithParam<BadJson> {};

TEST_P(JsonRejects, MalformedInputWithAnError) {
  try {
    Json::parse(GetParam().text);
    FAIL() << "accepted " << GetParam().text;
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(GetParam().why), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, JsonRejects,
    ::testing::Values(BadJson{"{\"a\":1,\"a\":2}", "duplicate key"},
                      BadJson{"[1,]", "unexpected character"}, BadJson{"{\"a\":1} x", "trailing"},
                      BadJson{"\"abc", "unterminated"}, BadJson{"\"a\x01\"", "control character"},
                      BadJson{"", "unexpected end"}, BadJson{"tru", "unexpected character"}));

TEST(Json, RejectsNestingBeyondItsLimit) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  EXPECT_THROW(Json::parse(deep), std::runtime_error);
}

TEST(Json, RequiredStringNamesTheMissingField) {
  try {
    Json::parse("{}").required_string("finalize");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "missing field finalize");
  }
}

}  // namespace
}  // namespace usher::acme
