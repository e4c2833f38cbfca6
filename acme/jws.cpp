#include "acme/jws.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include <array>
#include <stdexcept>

#include "acme/local_ca.h"

namespace usher::acme {

namespace {

using ParamBuildPtr = core::OpenSslPtr<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using ParamsPtr = core::OpenSslPtr<OSSL_PARAM, OSSL_PARAM_free>;
using EcdsaSigPtr = core::OpenSslPtr<ECDSA_SIG, ECDSA_SIG_free>;

// RFC 7518 §3.4: a P-256 signature is r and s, each 32 bytes, concatenated.
constexpr int kP256CoordinateBytes = 32;
// RFC 7518 §3.3: RSA keys below 2048 bits must not be used.
constexpr int kMinRsaBits = 2048;

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

[[noreturn]] void fail(const std::string& what) {
  std::string reason = core::openssl_error_text();
  throw std::runtime_error(reason.empty() ? what : what + ": " + reason);
}

int alphabet_index(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-' || c == '+') return 62;
  if (c == '_' || c == '/') return 63;
  return -1;
}

std::string bn_bytes(const BIGNUM* bn, int pad_to) {
  std::string out(static_cast<size_t>(pad_to > 0 ? pad_to : BN_num_bytes(bn)), '\0');
  auto* data = reinterpret_cast<unsigned char*>(out.data());
  int written = pad_to > 0 ? BN_bn2binpad(bn, data, pad_to) : BN_bn2bin(bn, data);
  if (written < 0) fail("encoding a key parameter");
  return out;
}

core::BignumPtr bn_from(const std::string& bytes) {
  core::BignumPtr bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                               static_cast<int>(bytes.size()), nullptr));
  if (!bn) fail("decoding a key parameter");
  return bn;
}

std::string bn_param(EVP_PKEY* key, const char* name, int pad_to) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1)
    fail(std::string("reading key parameter ") + name);
  core::BignumPtr bn(raw);
  return bn_bytes(bn.get(), pad_to);
}

bool is_p256(EVP_PKEY* key) {
  if (!EVP_PKEY_is_a(key, "EC")) return false;
  std::array<char, 64> group{};
  size_t length = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size(),
                                     &length) != 1) {
    return false;
  }
  return std::string_view(group.data(), length) == "prime256v1";
}

std::string algorithm_of(EVP_PKEY* key) {
  if (is_p256(key)) return "ES256";
  if (EVP_PKEY_is_a(key, "RSA")) {
    if (EVP_PKEY_get_bits(key) < kMinRsaBits) {
      throw std::runtime_error("rsa account key shorter than 2048 bits");
    }
    return "RS256";
  }
  throw std::runtime_error("account key is neither ec p-256 nor rsa");
}

std::string der_to_raw_ecdsa(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig) fail("decoding an ecdsa signature");
  return bn_bytes(ECDSA_SIG_get0_r(sig.get()), kP256CoordinateBytes) +
         bn_bytes(ECDSA_SIG_get0_s(sig.get()), kP256CoordinateBytes);
}

// Empty when `raw` has the wrong length: such a signature cannot verify.
std::string raw_to_der_ecdsa(std::string_view raw) {
  if (raw.size() != 2 * kP256CoordinateBytes) return {};
  EcdsaSigPtr sig(ECDSA_SIG_new());
  auto r = bn_from(std::string(raw.substr(0, kP256CoordinateBytes)));
  auto s = bn_from(std::string(raw.substr(kP256CoordinateBytes)));
  if (!sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) fail("encoding an ecdsa signature");
  r.release();  // owned by sig now
  s.release();
  unsigned char* der = nullptr;
  int length = i2d_ECDSA_SIG(sig.get(), &der);
  if (length <= 0) fail("encoding an ecdsa signature");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(length));
  OPENSSL_free(der);
  return out;
}

std::string jwk_bytes(const Json& jwk, std::string_view member) {
  return base64url_decode(jwk.required_string(member));
}

void push_bn(OSSL_PARAM_BLD* build, const char* name, const std::string& bytes,
             std::vector<core::BignumPtr>& keep) {
  keep.push_back(bn_from(bytes));
  if (OSSL_PARAM_BLD_push_BN(build, name, keep.back().get()) != 1) fail("building key parameters");
}

void push_ec_params(OSSL_PARAM_BLD* build, const Json& jwk, std::vector<core::BignumPtr>& keep,
                    std::string& point) {
  if (jwk.string_or("crv") != "P-256") throw std::runtime_error("jwk curve is not P-256");
  std::string x = jwk_bytes(jwk, "x");
  std::string y = jwk_bytes(jwk, "y");
  if (x.size() != kP256CoordinateBytes || y.size() != kP256CoordinateBytes) {
    throw std::runtime_error("jwk coordinates are not 32 bytes");
  }
  point = "\x04" + x + y;  // SEC 1 uncompressed point
  OSSL_PARAM_BLD_push_utf8_string(build, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
  OSSL_PARAM_BLD_push_octet_string(build, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  if (jwk.find("d")) push_bn(build, OSSL_PKEY_PARAM_PRIV_KEY, jwk_bytes(jwk, "d"), keep);
}

void push_rsa_params(OSSL_PARAM_BLD* build, const Json& jwk, std::vector<core::BignumPtr>& keep) {
  static constexpr std::array<std::pair<const char*, const char*>, 8> kMembers{{
      {"n", OSSL_PKEY_PARAM_RSA_N},
      {"e", OSSL_PKEY_PARAM_RSA_E},
      {"d", OSSL_PKEY_PARAM_RSA_D},
      {"p", OSSL_PKEY_PARAM_RSA_FACTOR1},
      {"q", OSSL_PKEY_PARAM_RSA_FACTOR2},
      {"dp", OSSL_PKEY_PARAM_RSA_EXPONENT1},
      {"dq", OSSL_PKEY_PARAM_RSA_EXPONENT2},
      {"qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1},
  }};
  for (const auto& [member, param] : kMembers) {
    if (jwk.find(member)) push_bn(build, param, jwk_bytes(jwk, member), keep);
  }
}

// Builds a key from JWK members; `keypair` when the private members are there.
core::EvpPkeyPtr key_from_jwk(const Json& jwk) {
  std::string kty = jwk.string_or("kty");
  if (kty != "EC" && kty != "RSA") throw std::runtime_error("unsupported jwk key type " + kty);
  ParamBuildPtr build(OSSL_PARAM_BLD_new());
  std::vector<core::BignumPtr> keep;
  std::string point;
  if (kty == "EC") {
    push_ec_params(build.get(), jwk, keep, point);
  } else {
    push_rsa_params(build.get(), jwk, keep);
  }
  ParamsPtr params(OSSL_PARAM_BLD_to_param(build.get()));
  core::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, kty.c_str(), nullptr));
  EVP_PKEY* raw = nullptr;
  int selection = jwk.find("d") ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, selection, params.get()) != 1) {
    fail("reading the jwk");
  }
  core::EvpPkeyPtr key(raw);
  // A point off the curve must never reach a signature check.
  core::EvpPkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) fail("jwk public key is invalid");
  return key;
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  auto byte = [&](size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    unsigned v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    for (int shift : {18, 12, 6, 0})
      out += kAlphabet[(v >> shift) & 0x3F];
  }
  size_t rest = bytes.size() - i;
  if (rest == 1) {
    unsigned v = byte(i) << 16;
    out += kAlphabet[(v >> 18) & 0x3F];
    out += kAlphabet[(v >> 12) & 0x3F];
  } else if (rest == 2) {
    unsigned v = byte(i) << 16 | byte(i + 1) << 8;
    for (int shift : {18, 12, 6})
      out += kAlphabet[(v >> shift) & 0x3F];
  }
  return out;
}

std::string base64url_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=')
    text.remove_suffix(1);
  if (text.size() % 4 == 1) throw std::runtime_error("invalid base64url length");
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    int index = alphabet_index(c);
    if (index < 0) throw std::runtime_error("invalid base64url character");
    buffer = (buffer << 6) | static_cast<unsigned>(index);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

std::string sha256(std::string_view bytes) {
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
         reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  unsigned length = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(),
            reinterpret_cast<unsigned char*>(out.data()), &length)) {
    fail("computing an hmac");
  }
  out.resize(length);
  return out;
}

AccountKey::AccountKey(core::EvpPkeyPtr key) : key_(std::move(key)) {
  algorithm_ = algorithm_of(key_.get());
}

AccountKey AccountKey::generate() {
  return AccountKey(generate_p256_key());
}

AccountKey AccountKey::from_pem(std::string_view pem) {
  core::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  core::EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) fail("reading the account key");
  return AccountKey(std::move(key));
}

AccountKey AccountKey::from_jwk(const Json& jwk) {
  if (!jwk.find("d")) throw std::runtime_error("jwk has no private key");
  return AccountKey(key_from_jwk(jwk));
}

std::string AccountKey::to_pem() const {
  return acme::to_pem(key_.get());
}

Json AccountKey::jwk() const {
  Json jwk;
  if (algorithm_ == "ES256") {
    jwk.set("kty", "EC");
    jwk.set("crv", "P-256");
    jwk.set("x",
            base64url_encode(bn_param(key_.get(), OSSL_PKEY_PARAM_EC_PUB_X, kP256CoordinateBytes)));
    jwk.set("y",
            base64url_encode(bn_param(key_.get(), OSSL_PKEY_PARAM_EC_PUB_Y, kP256CoordinateBytes)));
  } else {
    jwk.set("kty", "RSA");
    // RFC 7518 §6.3.1: unsigned big-endian, no leading zero octets.
    jwk.set("n", base64url_encode(bn_param(key_.get(), OSSL_PKEY_PARAM_RSA_N, 0)));
    jwk.set("e", base64url_encode(bn_param(key_.get(), OSSL_PKEY_PARAM_RSA_E, 0)));
  }
  return jwk;
}

std::string AccountKey::thumbprint() const {
  // RFC 7638 §3: the required members, sorted, no whitespace — Json::dump().
  return base64url_encode(sha256(jwk().dump()));
}

std::string AccountKey::sign(std::string_view input) const {
  core::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  size_t length = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    fail("signing");
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    fail("signing");
  }
  signature.resize(length);
  return algorithm_ == "ES256" ? der_to_raw_ecdsa(signature) : signature;
}

std::string sign_jws(const AccountKey& key, const JwsTarget& target, std::string_view payload) {
  Json header;
  header.set("alg", key.algorithm());
  header.set("url", target.url);
  if (!target.nonce.empty()) header.set("nonce", target.nonce);
  // RFC 8555 §6.2: exactly one of jwk (newAccount, revokeCert by
  // certificate key) or kid (every other request).
  if (target.kid.empty()) {
    header.set("jwk", key.jwk());
  } else {
    header.set("kid", target.kid);
  }
  std::string protected_b64 = base64url_encode(header.dump());
  std::string payload_b64 = base64url_encode(payload);
  Json jws;
  jws.set("protected", protected_b64);
  jws.set("payload", payload_b64);
  jws.set("signature", base64url_encode(key.sign(protected_b64 + "." + payload_b64)));
  return jws.dump();
}

Json sign_external_account_binding(const core::EabCredentials& eab, const Json& account_jwk,
                                   const std::string& new_account_url) {
  // RFC 8555 §7.3.4: alg a MAC algorithm, kid the CA's key identifier, url
  // the newAccount URL, no nonce; the payload is the account's public JWK.
  Json header;
  header.set("alg", "HS256");
  header.set("kid", eab.key_id);
  header.set("url", new_account_url);
  std::string protected_b64 = base64url_encode(header.dump());
  std::string payload_b64 = base64url_encode(account_jwk.dump());
  std::string mac = hmac_sha256(base64url_decode(eab.mac_key), protected_b64 + "." + payload_b64);
  Json jws;
  jws.set("protected", protected_b64);
  jws.set("payload", payload_b64);
  jws.set("signature", base64url_encode(mac));
  return jws;
}

core::EvpPkeyPtr public_key_from_jwk(const Json& jwk) {
  Json public_only;
  for (const char* member : {"kty", "crv", "x", "y", "n", "e"}) {
    if (const Json* value = jwk.find(member)) public_only.set(member, *value);
  }
  return key_from_jwk(public_only);
}

bool verify_signature(EVP_PKEY* key, std::string_view alg, std::string_view input,
                      std::string_view signature) {
  std::string encoded(signature);
  if (alg == "ES256") {
    if (!is_p256(key)) return false;
    encoded = raw_to_der_ecdsa(signature);
    if (encoded.empty()) return false;
  } else if (alg != "RS256" || !EVP_PKEY_is_a(key, "RSA")) {
    return false;
  }
  core::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(encoded.data()),
                             encoded.size(), reinterpret_cast<const unsigned char*>(input.data()),
                             input.size()) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace usher::acme
