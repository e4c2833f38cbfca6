#pragma once

// Per-site access logs (`log` in a site block): one line per exchange, JSON
// or console, written through spdlog. Request headers are never logged, so
// Cookie and Authorization cannot leak into log files.
//
// Also the pieces every log output shares (the process log in
// cmd/usher/logging uses them too): opening an output with rolling files,
// choosing the format, recognising the systemd journal.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <spdlog/common.h>

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

/// How a log line is written.
enum class LogFormat { kJson, kConsole };

/// What every line of one output shares.
struct LineStyle {
  LogFormat format = LogFormat::kJson;
  // The output is the systemd journal, which stamps every line itself: no
  // timestamp in the line, and a `<N>` syslog priority prefix instead, which
  // journald turns into the entry's priority.
  bool journal = false;
};

/// Appends `record` as one JSON object (no newline) to `out`, as Caddy's
/// access log writes it, at level `level` ("info", "error").
void format_access_record(const AccessRecord& record, std::string& out,
                          std::string_view level = "info", bool with_time = true);

/// Appends `record` as one human-readable line (no newline) to `out`:
/// `2026/01/02 15:04:05.000 INFO  access 203.0.113.7 "GET a.example/x HTTP/1.1" 200 12B 1.2ms`.
void format_access_console(const AccessRecord& record, std::string& out,
                           std::string_view level = "info", bool with_time = true);

/// The `<N>` prefix journald reads as a syslog priority (sd-daemon(3)).
std::string_view journal_prefix(std::string_view level);

/// The local time as `2006/01/02 15:04:05.000`, the console format's stamp.
void append_console_time(std::chrono::system_clock::time_point time, std::string& out);

/// Whether file descriptor `fd` is the stream systemd connected to the
/// journal: JOURNAL_STREAM holds its `device:inode` (systemd.exec(5)).
/// Checking the descriptor, not just the variable, keeps a child that
/// inherited the variable but writes elsewhere from dropping its timestamps.
bool is_journal_stream(int fd);

/// The style of `config`'s output: its `format`, else console on a terminal
/// and JSON otherwise (as Caddy chooses); journal mode when the output is
/// the journal's stream.
LineStyle line_style(const core::LogConfig& config);

/// A `level` value (DEBUG, INFO, WARN, ERROR, any case) as spdlog's;
/// `fallback` when empty.
spdlog::level::level_enum parse_log_level(std::string_view level,
                                          spdlog::level::level_enum fallback);

/// Sinks shared by the logs of one config, so that two sites logging to the
/// same file write through one sink instead of racing on the file.
using SinkCache = std::map<std::string, std::shared_ptr<spdlog::sinks::sink>>;

/// Opens (or finds in `sinks`) the sink of `output`: stderr, stdout, or a
/// file rolled at roll_size with roll_keep old files kept. Throws
/// core::ConfigError naming `what` and the file when it cannot be opened;
/// null for `discard`.
std::shared_ptr<spdlog::sinks::sink> open_log_sink(const core::LogOutput& output, SinkCache& sinks,
                                                   std::string_view what);

/// One site's access log. Thread-safe: workers share it (spdlog's _mt sinks
/// serialise writes; each line is one short critical section).
class AccessLog {
 public:
  /// Opens the output `config` names; null for `output discard`.
  /// Throws core::ConfigError when a log file cannot be opened.
  static std::shared_ptr<const AccessLog> open(const core::LogConfig& config, SinkCache& sinks);

  AccessLog(std::shared_ptr<spdlog::logger> logger, LineStyle style)
      : logger_(std::move(logger)), style_(style) {}

  /// Writes `record` at info level, or error for a 5xx or an aborted
  /// exchange (as Caddy); dropped when below the log's `level`.
  void write(const AccessRecord& record) const;

 private:
  std::shared_ptr<spdlog::logger> logger_;
  LineStyle style_;
};

}  // namespace usher::proxy
