#include "acme/certificate_state.h"

#include <stdexcept>

#include "acme/json.h"
#include "acme/timestamp.h"

namespace usher::acme {

namespace {

using TimePoint = CertificateState::TimePoint;

void set_time(Json& json, const char* key, const std::optional<TimePoint>& value) {
  if (value) json.set(key, format_rfc3339(*value));
}

std::optional<TimePoint> get_time(const Json& json, const char* key) {
  const Json* value = json.find(key);
  if (!value || value->is_null()) return std::nullopt;
  auto parsed = parse_rfc3339(value->as_string());
  if (!parsed) throw std::runtime_error(std::string("unreadable time in ") + key);
  return parsed;
}

}  // namespace

std::string CertificateState::to_json() const {
  Json json;
  json.set("name", name);
  json.set("issuer", issuer);
  json.set("certificate_key", certificate_key);
  set_time(json, "not_before", not_before);
  set_time(json, "not_after", not_after);
  json.set("ari_id", ari_id);
  set_time(json, "ari_window_start", ari_window_start);
  set_time(json, "ari_window_end", ari_window_end);
  set_time(json, "ari_recheck", ari_recheck);
  set_time(json, "renew_at", renew_at);
  json.set("attempts", attempts);
  json.set("last_error", last_error);
  set_time(json, "next_try", next_try);
  json.set("issuer_index", static_cast<int64_t>(issuer_index));
  json.set("challenge", challenge);
  return json.dump() + "\n";
}

CertificateState CertificateState::from_json(const std::string& text) {
  try {
    Json json = Json::parse(text);
    if (!json.is_object()) throw std::runtime_error("not a json object");
    CertificateState state;
    state.name = json.required_string("name");
    state.issuer = json.string_or("issuer");
    state.certificate_key = json.string_or("certificate_key");
    state.not_before = get_time(json, "not_before");
    state.not_after = get_time(json, "not_after");
    state.ari_id = json.string_or("ari_id");
    state.ari_window_start = get_time(json, "ari_window_start");
    state.ari_window_end = get_time(json, "ari_window_end");
    state.ari_recheck = get_time(json, "ari_recheck");
    state.renew_at = get_time(json, "renew_at");
    if (const Json* attempts = json.find("attempts")) {
      state.attempts = static_cast<int>(attempts->as_int());
    }
    if (state.attempts < 0) throw std::runtime_error("negative attempts");
    state.last_error = json.string_or("last_error");
    state.next_try = get_time(json, "next_try");
    if (const Json* index = json.find("issuer_index")) {
      int64_t value = index->as_int();
      if (value < 0) throw std::runtime_error("negative issuer_index");
      state.issuer_index = static_cast<size_t>(value);
    }
    state.challenge = json.string_or("challenge");
    return state;
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("invalid state: ") + e.what());
  }
}

}  // namespace usher::acme
