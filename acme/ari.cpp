#include "acme/ari.h"

#include <algorithm>
#include <stdexcept>

#include "acme/jws.h"
#include "acme/timestamp.h"

namespace usher::acme {

namespace {

std::string serial_contents(X509* cert) {
  core::BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (!serial) throw std::runtime_error("reading the certificate serial");
  std::string bytes(static_cast<size_t>(BN_num_bytes(serial.get())), '\0');
  BN_bn2bin(serial.get(), reinterpret_cast<unsigned char*>(bytes.data()));
  // DER INTEGER contents are two's complement: a set high bit needs a 0x00
  // in front to stay positive.
  if (bytes.empty() || (static_cast<unsigned char>(bytes.front()) & 0x80)) bytes.insert(0, 1, '\0');
  return bytes;
}

std::chrono::system_clock::time_point window_bound(const Json& window, const char* field) {
  auto when = parse_rfc3339(window.string_or(field));
  if (!when) throw std::runtime_error(std::string("renewal info has no readable ") + field);
  return *when;
}

}  // namespace

std::string ari_certificate_id(X509* cert) {
  const ASN1_OCTET_STRING* key_id = X509_get0_authority_key_id(cert);
  if (!key_id) throw std::runtime_error("certificate has no authority key identifier");
  std::string aki(reinterpret_cast<const char*>(ASN1_STRING_get0_data(key_id)),
                  static_cast<size_t>(ASN1_STRING_length(key_id)));
  return base64url_encode(aki) + "." + base64url_encode(serial_contents(cert));
}

RenewalInfo fetch_renewal_info(Connection& connection, const std::string& cert_id) {
  const std::string& base = connection.directory().renewal_info;
  if (base.empty()) throw std::runtime_error("the ca offers no renewal information");
  std::string url = base + (base.ends_with('/') ? "" : "/") + cert_id;
  HttpResponse response = connection.get(url);
  Json body = parse_body(response, "reading renewal info");
  const Json* window = body.find("suggestedWindow");
  if (!window) throw std::runtime_error("renewal info has no suggestedWindow");
  RenewalInfo info;
  info.window = {window_bound(*window, "start"), window_bound(*window, "end")};
  // RFC 9773 §4.2: a window whose end is not after its start is invalid.
  if (info.window.end <= info.window.start) throw std::runtime_error("renewal window is empty");
  info.explanation_url = body.string_or("explanationURL");
  if (auto after = retry_after(response, connection.clock().now())) {
    info.recheck_after = std::clamp<std::chrono::seconds>(*after, kMinAriRecheck, kMaxAriRecheck);
  }
  return info;
}

std::chrono::system_clock::time_point pick_renewal_time(const RenewalWindow& window,
                                                        double fraction) {
  fraction = std::clamp(fraction, 0.0, 1.0);
  auto span = std::chrono::duration<double>(window.end - window.start) * fraction;
  return window.start + std::chrono::duration_cast<std::chrono::system_clock::duration>(span);
}

}  // namespace usher::acme
