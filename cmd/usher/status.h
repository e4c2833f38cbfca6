#pragma once

// What `GET /status` reports and how `usher status` shows it. The JSON is
// the one wire format: the server builds it from the running instance, the
// CLI prints it as it is (--json) or as tables.

#include <chrono>
#include <string>
#include <vector>

#include "acme/certificate_manager.h"
#include "acme/json.h"
#include "proxy/handler.h"
#include "proxy/site_plan.h"

namespace usher::cmd {

/// A snapshot of a running instance.
struct InstanceStatus {
  std::string version;
  std::chrono::seconds uptime{0};
  std::string config_path;  // "" for a config built from flags or loaded over the API only
  int workers = 0;
  std::vector<std::vector<std::string>> sites;  // each site's addresses as written
  std::vector<proxy::ListenerPlan> listeners;
  std::vector<proxy::UpstreamGroup> upstreams;
  std::vector<acme::CertificateStatus> certificates;
};

/// The JSON of `GET /status`.
acme::Json status_to_json(const InstanceStatus& status);

/// The certificates of a status JSON, as `usher certs` prints them.
/// Throws std::runtime_error when the JSON does not have the expected shape.
std::vector<acme::CertificateStatus> certificates_from_json(const acme::Json& status);

/// `usher status`: a header line, then sites, listeners, upstreams (up or
/// down, and why) and certificates as tables. Throws std::runtime_error when
/// the JSON does not have the expected shape.
std::string format_status(const acme::Json& status);

}  // namespace usher::cmd
