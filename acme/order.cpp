#include "acme/order.h"

namespace usher::acme {

namespace {

std::vector<std::string> strings_of(const Json* array) {
  std::vector<std::string> out;
  if (!array || !array->is_array()) return out;
  for (const Json& item : array->as_array()) {
    if (item.is_string()) out.push_back(item.as_string());
  }
  return out;
}

Order order_from(const HttpResponse& response, std::string url, const core::Clock& clock) {
  Order order = Order::from_json(parse_body(response, "reading the order"), std::move(url));
  order.retry_after = retry_after(response, clock.now());
  return order;
}

}  // namespace

Order Order::from_json(const Json& json, std::string url) {
  Order order;
  order.url = std::move(url);
  order.status = json.string_or("status");
  if (const Json* identifiers = json.find("identifiers"); identifiers && identifiers->is_array()) {
    for (const Json& identifier : identifiers->as_array()) {
      order.identifiers.push_back(identifier.string_or("value"));
    }
  }
  order.authorizations = strings_of(json.find("authorizations"));
  order.finalize = json.string_or("finalize");
  order.certificate = json.string_or("certificate");
  if (const Json* error = json.find("error"); error && error->is_object()) {
    order.error = Problem::from_json(*error, 0);
  }
  return order;
}

Order new_order(Connection& connection, const std::vector<std::string>& names,
                const std::string& replaces) {
  Json::Array identifiers;
  for (const std::string& name : names) {
    Json identifier;
    identifier.set("type", "dns");
    identifier.set("value", name);
    identifiers.push_back(std::move(identifier));
  }
  Json payload;
  payload.set("identifiers", std::move(identifiers));
  // RFC 9773 §5: the certificate this order renews, so that the CA can
  // exempt it from rate limits and revoke the old one if it must.
  if (!replaces.empty()) payload.set("replaces", replaces);
  HttpResponse response = connection.post(connection.directory().new_order, payload.dump());
  auto location = response.header("Location");
  if (!location) throw AcmeError::transient("newOrder response has no Location");
  return order_from(response, *location, connection.clock());
}

Order fetch_order(Connection& connection, const std::string& url) {
  return order_from(connection.post(url, ""), url, connection.clock());
}

Order finalize_order(Connection& connection, const Order& order, const std::string& csr_der) {
  Json payload;
  payload.set("csr", base64url_encode(csr_der));
  return order_from(connection.post(order.finalize, payload.dump()), order.url, connection.clock());
}

CertificateChain download_certificate(Connection& connection, const std::string& url) {
  HttpResponse response = connection.post(url, "");
  if (response.body.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    throw AcmeError::transient("certificate download returned no pem certificate");
  }
  return {response.body, link_targets(response, "alternate")};
}

}  // namespace usher::acme
