#include "acme/jws.h"

#include <gtest/gtest.h>

namespace usher::acme {
namespace {

// RFC 7638 §3.1: the example RSA key and its thumbprint.
constexpr const char* kRfc7638Modulus =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPeb"
    "WKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368Q"
    "QMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2"
    "NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
constexpr const char* kRfc7638Thumbprint = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

// RFC 7515 appendix A.3: ES256 example key and JWS.
constexpr const char* kA3X = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
constexpr const char* kA3Y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
constexpr const char* kA3D = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";
constexpr const char* kSigningInput =
    "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNv"
    "bS9pc19yb290Ijp0cnVlfQ";
constexpr const char* kA3Signature =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

// RFC 7515 appendix A.2: RS256 example public key and signature.
constexpr const char* kA2Modulus =
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4"
    "QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdb"
    "BYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-D"
    "WNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
constexpr const char* kA2SigningInput =
    "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNv"
    "bS9pc19yb290Ijp0cnVlfQ";
constexpr const char* kA2Signature =
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_"
    "O8W2Fp5jujG"
    "bds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe"
    "7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI"
    "8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";

Json a3_jwk(bool with_private) {
  Json jwk;
  jwk.set("kty", "EC");
  jwk.set("crv", "P-256");
  jwk.set("x", kA3X);
  jwk.set("y", kA3Y);
  if (with_private) jwk.set("d", kA3D);
  return jwk;
}

TEST(Base64Url, EncodesWithoutPaddingAndDecodesBack) {
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_EQ(base64url_decode("-_8"), "\xfb\xff");
  EXPECT_EQ(base64url_decode("Zm8="), "fo");
  EXPECT_THROW(base64url_decode("Zm9v!"), std::runtime_error);
  EXPECT_THROW(base64url_decode("Z"), std::runtime_error);
}

TEST(Jws, ThumbprintMatchesRfc7638Example) {
  Json jwk;
  jwk.set("kty", "RSA");
  jwk.set("n", kRfc7638Modulus);
  jwk.set("e", "AQAB");
  // The thumbprint is defined on the canonical JSON; check both the JSON
  // form and a thumbprint computed from a key built from it.
  EXPECT_EQ(base64url_encode(sha256(jwk.dump())), kRfc7638Thumbprint);
  auto key = public_key_from_jwk(jwk);
  ASSERT_NE(key, nullptr);
}

TEST(Jws, ImportedEcKeyReproducesRfc7515PublicJwk) {
  AccountKey key = AccountKey::from_jwk(a3_jwk(true));
  EXPECT_EQ(key.algorithm(), "ES256");
  EXPECT_EQ(key.jwk(), a3_jwk(false));
  EXPECT_EQ(key.thumbprint(), base64url_encode(sha256(a3_jwk(false).dump())));
}

TEST(Jws, VerifiesRfc7515Es256ExampleSignature) {
  auto key = public_key_from_jwk(a3_jwk(false));
  std::string signature = base64url_decode(kA3Signature);
  EXPECT_EQ(signature.size(), 64u);  // raw r‖s, not DER
  EXPECT_TRUE(verify_signature(key.get(), "ES256", kSigningInput, signature));
  signature[10] = static_cast<char>(signature[10] ^ 1);
  EXPECT_FALSE(verify_signature(key.get(), "ES256", kSigningInput, signature));
}

TEST(Jws, VerifiesRfc7515Rs256ExampleSignature) {
  Json jwk;
  jwk.set("kty", "RSA");
  jwk.set("n", kA2Modulus);
  jwk.set("e", "AQAB");
  auto key = public_key_from_jwk(jwk);
  EXPECT_TRUE(
      verify_signature(key.get(), "RS256", kA2SigningInput, base64url_decode(kA2Signature)));
  EXPECT_FALSE(
      verify_signature(key.get(), "ES256", kA2SigningInput, base64url_decode(kA2Signature)));
}

TEST(Jws, SignsWithRawRAndSThatVerify) {
  AccountKey key = AccountKey::from_jwk(a3_jwk(true));
  std::string signature = key.sign(kSigningInput);
  ASSERT_EQ(signature.size(), 64u);
  auto public_key = public_key_from_jwk(key.jwk());
  EXPECT_TRUE(verify_signature(public_key.get(), "ES256", kSigningInput, signature));
}

TEST(Jws, RejectsAPointOffTheCurve) {
  Json jwk = a3_jwk(false);
  jwk.set("y", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5aw");
  EXPECT_THROW(public_key_from_jwk(jwk), std::runtime_error);
}

TEST(Jws, EmbedsJwkOrKidAndSignsTheFlattenedForm) {
  AccountKey key = AccountKey::generate();
  for (std::string kid : {"", "https://ca/acct/1"}) {
    Json jws = Json::parse(sign_jws(key, {"https://ca/new", "n1", kid}, "{\"a\":1}"));
    Json header = Json::parse(base64url_decode(jws.required_string("protected")));
    EXPECT_EQ(header.string_or("alg"), "ES256");
    EXPECT_EQ(header.string_or("url"), "https://ca/new");
    EXPECT_EQ(header.string_or("nonce"), "n1");
    EXPECT_EQ(header.find("jwk") != nullptr, kid.empty());
    EXPECT_EQ(header.string_or("kid"), kid);
    EXPECT_EQ(base64url_decode(jws.required_string("payload")), "{\"a\":1}");
    auto public_key = public_key_from_jwk(key.jwk());
    EXPECT_TRUE(
        verify_signature(public_key.get(), "ES256",
                         jws.required_string("protected") + "." + jws.required_string("payload"),
                         base64url_decode(jws.required_string("signature"))));
  }
}

TEST(Jws, PostAsGetHasAnEmptyPayload) {
  AccountKey key = AccountKey::generate();
  Json jws = Json::parse(sign_jws(key, {"https://ca/order/1", "n", "kid"}, ""));
  EXPECT_EQ(jws.required_string("payload"), "");
}

TEST(Jws, ExternalAccountBindingIsAnHmacOverTheAccountKey) {
  AccountKey key = AccountKey::generate();
  core::EabCredentials eab{"kid-7", base64url_encode("secret-mac-key")};
  Json binding = sign_external_account_binding(eab, key.jwk(), "https://ca/new-account");
  Json header = Json::parse(base64url_decode(binding.required_string("protected")));
  EXPECT_EQ(header.string_or("alg"), "HS256");
  EXPECT_EQ(header.string_or("kid"), "kid-7");
  EXPECT_EQ(header.find("nonce"), nullptr);
  EXPECT_EQ(Json::parse(base64url_decode(binding.required_string("payload"))), key.jwk());
  EXPECT_EQ(base64url_decode(binding.required_string("signature")),
            hmac_sha256("secret-mac-key", binding.required_string("protected") + "." +
                                              binding.required_string("payload")));
}

TEST(Jws, AccountKeySurvivesPem) {
  AccountKey key = AccountKey::generate();
  AccountKey again = AccountKey::from_pem(key.to_pem());
  EXPECT_EQ(again.thumbprint(), key.thumbprint());
  EXPECT_THROW(AccountKey::from_pem("not a key"), std::runtime_error);
}

}  // namespace
}  // namespace usher::acme
