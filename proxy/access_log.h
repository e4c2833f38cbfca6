#pragma once

// Per-site access logs (`log` in a site block): one JSON line per exchange,
// written through spdlog. Request headers are never logged, so Cookie and
// Authorization cannot leak into log files.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/config.h"

namespace spdlog {
class logger;
namespace sinks {
class sink;
}
}  // namespace spdlog

namespace usher::proxy {

/// What one access log line says about an exchange.
struct AccessRecord {
  std::chrono::system_clock::time_point time;  // when the request arrived
  std::string_view remote_ip;
  uint16_t remote_port = 0;
  std::string_view proto;  // "HTTP/1.1", "HTTP/2.0"
  std::string_view method;
  std::string_view host;
  std::string_view uri;  // as received
  int status = 0;        // 0 when the exchange was aborted before a response
  uint64_t size = 0;     // response body bytes written
  uint64_t bytes_read = 0;
  double duration = 0;  // seconds
  std::string_view upstream;
  std::string_view tls_version;  // empty without TLS
};

/// Appends `record` as one JSON object (no newline) to `out`.
void format_access_record(const AccessRecord& record, std::string& out);

/// Sinks shared by the logs of one config, so that two sites logging to the
/// same file write through one sink instead of racing on the file.
using SinkCache = std::map<std::string, std::shared_ptr<spdlog::sinks::sink>>;

/// One site's access log. Thread-safe: workers share it (spdlog's _mt sinks
/// serialise writes; each line is one short critical section).
class AccessLog {
 public:
  /// Opens the output `config` names; null for `output discard`.
  /// Throws core::ConfigError when a log file cannot be opened.
  static std::shared_ptr<const AccessLog> open(const core::LogConfig& config, SinkCache& sinks);

  explicit AccessLog(std::shared_ptr<spdlog::logger> logger) : logger_(std::move(logger)) {}

  void write(const AccessRecord& record) const;

 private:
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace usher::proxy
