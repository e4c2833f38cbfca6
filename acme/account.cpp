#include "acme/account.h"

#include "acme/problem.h"

namespace usher::acme {

namespace {

Json account_payload(Connection& connection, const AccountKey& key, const AccountRequest& request) {
  Json payload;
  if (request.only_return_existing) {
    payload.set("onlyReturnExisting", true);
    return payload;
  }
  payload.set("termsOfServiceAgreed", true);
  if (!request.email.empty()) payload.set("contact", Json::Array{Json("mailto:" + request.email)});
  const Directory& directory = connection.directory();
  if (request.eab) {
    payload.set("externalAccountBinding",
                sign_external_account_binding(*request.eab, key.jwk(), directory.new_account));
  } else if (directory.external_account_required) {
    Problem problem;
    problem.type = std::string(kAcmeErrorPrefix) + "externalAccountRequired";
    problem.detail = "the ca requires external account binding: set acme_eab KEY_ID MAC_KEY";
    throw AcmeError(std::move(problem), std::nullopt);
  }
  return payload;
}

}  // namespace

Account register_account(Connection& connection, const AccountKey& key,
                         const AccountRequest& request) {
  connection.use_key(key, "");
  Json payload = account_payload(connection, key, request);
  HttpResponse response =
      connection.post(connection.directory().new_account, payload.dump(), /*embed_jwk=*/true);
  auto location = response.header("Location");
  if (!location) throw AcmeError::transient("newAccount response has no Location");
  Json body = parse_body(response, "reading the account");
  Account account;
  account.url = *location;
  account.status = body.string_or("status", "valid");
  if (const Json* contact = body.find("contact"); contact && contact->is_array()) {
    for (const Json& c : contact->as_array()) {
      if (c.is_string()) account.contact.push_back(c.as_string());
    }
  }
  if (account.status != "valid") {
    Problem problem;
    problem.type = std::string(kAcmeErrorPrefix) + "accountDoesNotExist";
    problem.detail = "account " + account.url + " is " + account.status;
    throw AcmeError(std::move(problem), std::nullopt);
  }
  connection.use_key(key, account.url);
  return account;
}

}  // namespace usher::acme
