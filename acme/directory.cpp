#include "acme/directory.h"

#include <stdexcept>

namespace usher::acme {

Directory Directory::from_json(const Json& json) {
  if (!json.is_object()) throw std::runtime_error("directory is not a json object");
  Directory directory;
  directory.new_nonce = json.string_or("newNonce");
  directory.new_account = json.string_or("newAccount");
  directory.new_order = json.string_or("newOrder");
  directory.revoke_cert = json.string_or("revokeCert");
  directory.key_change = json.string_or("keyChange");
  directory.renewal_info = json.string_or("renewalInfo");
  for (const char* required : {"newNonce", "newAccount", "newOrder"}) {
    if (json.string_or(required).empty()) {
      throw std::runtime_error(std::string("directory has no ") + required);
    }
  }
  if (const Json* meta = json.find("meta")) {
    directory.terms_of_service = meta->string_or("termsOfService");
    directory.website = meta->string_or("website");
    if (const Json* required = meta->find("externalAccountRequired");
        required && required->is_bool()) {
      directory.external_account_required = required->as_bool();
    }
    if (const Json* caa = meta->find("caaIdentities"); caa && caa->is_array()) {
      for (const Json& identity : caa->as_array()) {
        if (identity.is_string()) directory.caa_identities.push_back(identity.as_string());
      }
    }
  }
  return directory;
}

}  // namespace usher::acme
