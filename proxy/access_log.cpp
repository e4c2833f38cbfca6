#include "proxy/access_log.h"

#include "core/json_text.h"

#include <spdlog/logger.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <array>
#include <charconv>
#include <cstdio>

#include "core/diagnostic.h"

namespace usher::proxy {
namespace {

// Defaults of `log { output file … }` when roll_size / roll_keep are unset,
// as in Caddy: bounds the disk a busy site's log can take.
constexpr uint64_t kDefaultRollSize = 100ull * 1024 * 1024;
constexpr int kDefaultRollKeep = 10;

template <typename Number>
void append_number(Number value, std::string& out) {
  std::array<char, 32> buffer{};
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  out.append(buffer.data(), result.ptr);
}

void append_string_field(std::string_view name, std::string_view value, std::string& out) {
  out += ",\"";
  out += name;
  out += "\":";
  core::append_json_string(value, out);
}

template <typename Number>
void append_number_field(std::string_view name, Number value, std::string& out) {
  out += ",\"";
  out += name;
  out += "\":";
  append_number(value, out);
}

std::shared_ptr<spdlog::sinks::sink> file_sink(const core::LogOutput& output) {
  const uint64_t size = output.roll_size != 0 ? output.roll_size : kDefaultRollSize;
  const int keep = output.roll_keep != 0 ? output.roll_keep : kDefaultRollKeep;
  try {
    return std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        output.path, static_cast<size_t>(size), static_cast<size_t>(keep));
  } catch (const spdlog::spdlog_ex& e) {
    throw core::ConfigError("", 0, "opening access log " + output.path + ": " + e.what());
  }
}

std::shared_ptr<spdlog::sinks::sink> make_sink(const core::LogOutput& output) {
  using Kind = core::LogOutput::Kind;
  if (output.kind == Kind::kStdout) return std::make_shared<spdlog::sinks::stdout_sink_mt>();
  if (output.kind == Kind::kFile) return file_sink(output);
  return std::make_shared<spdlog::sinks::stderr_sink_mt>();
}

std::string sink_key(const core::LogOutput& output) {
  using Kind = core::LogOutput::Kind;
  if (output.kind == Kind::kStdout) return "stdout";
  if (output.kind == Kind::kFile) return "file:" + output.path;
  return "stderr";
}

}  // namespace

void format_access_record(const AccessRecord& r, std::string& out) {
  const double ts = std::chrono::duration<double>(r.time.time_since_epoch()).count();
  out += "{\"level\":\"info\",\"ts\":";
  append_number(ts, out);
  out += ",\"logger\":\"http.log.access\",\"msg\":\"handled request\"";
  append_string_field("remote_ip", r.remote_ip, out);
  append_number_field("remote_port", r.remote_port, out);
  append_string_field("proto", r.proto, out);
  append_string_field("method", r.method, out);
  append_string_field("host", r.host, out);
  append_string_field("uri", r.uri, out);
  append_number_field("status", r.status, out);
  append_number_field("size", r.size, out);
  append_number_field("bytes_read", r.bytes_read, out);
  append_number_field("duration", r.duration, out);
  append_string_field("upstream", r.upstream, out);
  append_string_field("tls", r.tls_version, out);
  out += '}';
}

std::shared_ptr<const AccessLog> AccessLog::open(const core::LogConfig& config, SinkCache& sinks) {
  if (config.output.kind == core::LogOutput::Kind::kDiscard) return nullptr;
  std::shared_ptr<spdlog::sinks::sink>& sink = sinks[sink_key(config.output)];
  if (!sink) sink = make_sink(config.output);
  auto logger = std::make_shared<spdlog::logger>("http.log.access", sink);
  // The line is complete JSON already; nothing may be added around it.
  logger->set_pattern("%v");
  // A line per request must reach the file promptly for `tail -f`.
  logger->flush_on(spdlog::level::info);
  return std::make_shared<const AccessLog>(std::move(logger));
}

void AccessLog::write(const AccessRecord& record) const {
  // Reused per thread: formatting a line allocates nothing once warm.
  thread_local std::string line;
  line.clear();
  format_access_record(record, line);
  logger_->info(std::string_view(line));
}

}  // namespace usher::proxy
