#include "acme/authorization.h"

namespace usher::acme {

Challenge Challenge::from_json(const Json& json) {
  Challenge challenge;
  challenge.type = json.string_or("type");
  challenge.url = json.string_or("url");
  challenge.token = json.string_or("token");
  challenge.status = json.string_or("status");
  if (const Json* error = json.find("error"); error && error->is_object()) {
    challenge.error = Problem::from_json(*error, 0);
  }
  return challenge;
}

Authorization Authorization::from_json(const Json& json, std::string url) {
  Authorization authorization;
  authorization.url = std::move(url);
  authorization.status = json.string_or("status");
  if (const Json* identifier = json.find("identifier")) {
    authorization.identifier = identifier->string_or("value");
  }
  if (const Json* wildcard = json.find("wildcard"); wildcard && wildcard->is_bool()) {
    authorization.wildcard = wildcard->as_bool();
  }
  if (const Json* challenges = json.find("challenges"); challenges && challenges->is_array()) {
    for (const Json& challenge : challenges->as_array()) {
      authorization.challenges.push_back(Challenge::from_json(challenge));
    }
  }
  return authorization;
}

const Challenge* Authorization::find(std::string_view type) const {
  for (const Challenge& challenge : challenges) {
    if (challenge.type == type) return &challenge;
  }
  return nullptr;
}

const Challenge* Authorization::failed() const {
  for (const Challenge& challenge : challenges) {
    if (challenge.status == "invalid" || challenge.error) return &challenge;
  }
  return nullptr;
}

Authorization fetch_authorization(Connection& connection, const std::string& url) {
  HttpResponse response = connection.post(url, "");
  Authorization authorization =
      Authorization::from_json(parse_body(response, "reading the authorization"), url);
  authorization.retry_after = retry_after(response, connection.clock().now());
  return authorization;
}

Challenge respond_to_challenge(Connection& connection, const std::string& url) {
  return Challenge::from_json(connection.post_json(url, "{}"));
}

}  // namespace usher::acme
