#include "cmd/usher/status.h"

#include <algorithm>
#include <stdexcept>

#include "acme/certs_report.h"
#include "acme/timestamp.h"

namespace usher::cmd {

namespace {

using acme::Json;
using TimePoint = std::chrono::system_clock::time_point;

Json optional_time(const std::optional<TimePoint>& when) {
  return when ? Json(acme::format_rfc3339(*when)) : Json();
}

std::optional<TimePoint> time_field(const Json& object, std::string_view key) {
  const Json* value = object.find(key);
  if (value == nullptr || value->is_null()) return std::nullopt;
  auto parsed = acme::parse_rfc3339(value->as_string());
  if (!parsed) throw std::runtime_error("status: unreadable time in `" + std::string(key) + "`");
  return parsed;
}

Json strings(const std::vector<std::string>& values) {
  Json::Array out;
  for (const auto& v : values)
    out.emplace_back(v);
  return out;
}

Json listener_json(const proxy::ListenerPlan& listener) {
  Json out;
  out.set("port", static_cast<int>(listener.port));
  out.set("tls", listener.tls);
  out.set("binds", strings(listener.binds));
  return out;
}

Json upstream_group_json(const proxy::UpstreamGroup& group) {
  Json::Array upstreams;
  for (const auto& u : group.upstreams) {
    Json row;
    row.set("address", u.name);
    row.set("healthy", u.healthy());
    row.set("active_healthy", u.active_healthy);
    row.set("passive_healthy", u.passive_healthy);
    row.set("in_flight", u.in_flight);
    upstreams.push_back(std::move(row));
  }
  Json out;
  out.set("site", group.site);
  out.set("active_checks", group.active_checks);
  out.set("passive_checks", group.passive_checks);
  out.set("upstreams", std::move(upstreams));
  return out;
}

Json certificate_json(const acme::CertificateStatus& c) {
  Json out;
  out.set("name", c.name);
  out.set("issuer", c.issuer);
  out.set("not_after", optional_time(c.not_after));
  out.set("next_renewal", optional_time(c.renew_at));
  out.set("next_try", optional_time(c.next_try));
  out.set("attempts", c.attempts);
  out.set("last_error", c.last_error);
  return out;
}

const Json::Array& array_field(const Json& object, std::string_view key) {
  const Json* value = object.find(key);
  if (value == nullptr || !value->is_array())
    throw std::runtime_error("status: missing list `" + std::string(key) + "`");
  return value->as_array();
}

bool bool_field(const Json& object, std::string_view key) {
  const Json* value = object.find(key);
  return value != nullptr && value->is_bool() && value->as_bool();
}

/// Columns padded to their widest cell, two spaces apart, indented.
std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line = " ";
    for (size_t i = 0; i < row.size(); ++i)
      line += " " + row[i] +
              (i + 1 < row.size() ? std::string(widths[i] - row[i].size() + 1, ' ') : "");
    out += line + "\n";
  }
  return out;
}

std::string uptime_text(int64_t seconds) {
  int64_t days = seconds / 86400, hours = seconds / 3600 % 24, minutes = seconds / 60 % 60;
  if (days > 0) return std::to_string(days) + "d" + std::to_string(hours) + "h";
  if (hours > 0) return std::to_string(hours) + "h" + std::to_string(minutes) + "m";
  if (minutes > 0) return std::to_string(minutes) + "m" + std::to_string(seconds % 60) + "s";
  return std::to_string(seconds) + "s";
}

/// "down (active check failing)" and friends: what a person acts on.
std::string upstream_state(const Json& u) {
  if (bool_field(u, "healthy")) return "up";
  std::vector<std::string> why;
  if (!bool_field(u, "active_healthy")) why.push_back("active check failing");
  if (!bool_field(u, "passive_healthy")) why.push_back("recent failures");
  std::string text = "down (";
  for (size_t i = 0; i < why.size(); ++i)
    text += (i ? ", " : "") + why[i];
  return text + ")";
}

std::string checks_text(const Json& group) {
  bool active = bool_field(group, "active_checks"), passive = bool_field(group, "passive_checks");
  if (active && passive) return "active+passive";
  if (active) return "active";
  if (passive) return "passive";
  return "none";
}

std::string sites_section(const Json& status) {
  std::vector<std::vector<std::string>> rows;
  for (const Json& site : array_field(status, "sites")) {
    std::string addresses;
    for (const Json& a : array_field(site, "addresses"))
      addresses += (addresses.empty() ? "" : ", ") + a.as_string();
    rows.push_back({addresses});
  }
  return "sites:\n" + (rows.empty() ? "  (none)\n" : table(rows));
}

std::string listeners_section(const Json& status) {
  std::vector<std::vector<std::string>> rows;
  for (const Json& l : array_field(status, "listeners")) {
    std::string binds;
    for (const Json& b : array_field(l, "binds"))
      binds += (binds.empty() ? "" : " ") + b.as_string();
    rows.push_back({":" + std::to_string(l.find("port")->as_int()),
                    bool_field(l, "tls") ? "https" : "http",
                    binds.empty() ? "all addresses" : binds});
  }
  return "listeners:\n" + (rows.empty() ? "  (none)\n" : table(rows));
}

std::string upstreams_section(const Json& status) {
  std::vector<std::vector<std::string>> rows{{"SITE", "UPSTREAM", "STATE", "CHECKS", "IN FLIGHT"}};
  for (const Json& group : array_field(status, "upstreams")) {
    for (const Json& u : array_field(group, "upstreams"))
      rows.push_back({group.string_or("site", "-"), u.string_or("address"), upstream_state(u),
                      checks_text(group), std::to_string(u.find("in_flight")->as_int())});
  }
  return "upstreams:\n" + (rows.size() == 1 ? "  (no reverse_proxy)\n" : table(rows));
}

}  // namespace

Json status_to_json(const InstanceStatus& status) {
  Json::Array sites, listeners, upstreams, certificates;
  for (const auto& addresses : status.sites) {
    Json site;
    site.set("addresses", strings(addresses));
    sites.push_back(std::move(site));
  }
  for (const auto& l : status.listeners)
    listeners.push_back(listener_json(l));
  for (const auto& g : status.upstreams)
    upstreams.push_back(upstream_group_json(g));
  for (const auto& c : status.certificates)
    certificates.push_back(certificate_json(c));
  Json out;
  out.set("version", status.version);
  out.set("uptime_seconds", static_cast<int64_t>(status.uptime.count()));
  out.set("config_path", status.config_path);
  out.set("workers", status.workers);
  out.set("sites", std::move(sites));
  out.set("listeners", std::move(listeners));
  out.set("upstreams", std::move(upstreams));
  out.set("certificates", std::move(certificates));
  return out;
}

std::vector<acme::CertificateStatus> certificates_from_json(const Json& status) {
  std::vector<acme::CertificateStatus> out;
  for (const Json& c : array_field(status, "certificates")) {
    acme::CertificateStatus s;
    s.name = c.required_string("name");
    s.issuer = c.string_or("issuer");
    s.not_after = time_field(c, "not_after");
    s.renew_at = time_field(c, "next_renewal");
    s.next_try = time_field(c, "next_try");
    const Json* attempts = c.find("attempts");
    s.attempts =
        attempts != nullptr && attempts->is_number() ? static_cast<int>(attempts->as_int()) : 0;
    s.last_error = c.string_or("last_error");
    out.push_back(std::move(s));
  }
  return out;
}

std::string format_status(const Json& status) {
  const Json* uptime = status.find("uptime_seconds");
  const Json* workers = status.find("workers");
  if (uptime == nullptr || !uptime->is_number() || workers == nullptr || !workers->is_number())
    throw std::runtime_error("status: not an usher status document");
  std::string config = status.string_or("config_path");
  std::string out = "usher " + status.string_or("version", "?") + ", up " +
                    uptime_text(uptime->as_int()) + ", " + std::to_string(workers->as_int()) +
                    " workers, config " + (config.empty() ? "(none: built from flags)" : config) +
                    "\n\n";
  out += sites_section(status) + "\n" + listeners_section(status) + "\n" +
         upstreams_section(status) + "\n";
  out += "certificates:\n" + acme::format_certs_report(certificates_from_json(status));
  return out;
}

}  // namespace usher::cmd
