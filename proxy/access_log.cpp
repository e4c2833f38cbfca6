#include "proxy/access_log.h"

#include "core/json_text.h"

#include <spdlog/logger.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <ctime>

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

std::shared_ptr<spdlog::sinks::sink> file_sink(const core::LogOutput& output,
                                               std::string_view what) {
  const uint64_t size = output.roll_size != 0 ? output.roll_size : kDefaultRollSize;
  const int keep = output.roll_keep != 0 ? output.roll_keep : kDefaultRollKeep;
  try {
    return std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        output.path, static_cast<size_t>(size), static_cast<size_t>(keep));
  } catch (const spdlog::spdlog_ex& e) {
    throw core::ConfigError("", 0,
                            "opening " + std::string(what) + " " + output.path + ": " + e.what() +
                                "; check that the directory exists and usher may write there");
  }
}

std::shared_ptr<spdlog::sinks::sink> make_sink(const core::LogOutput& output,
                                               std::string_view what) {
  using Kind = core::LogOutput::Kind;
  if (output.kind == Kind::kStdout) return std::make_shared<spdlog::sinks::stdout_sink_mt>();
  if (output.kind == Kind::kFile) return file_sink(output, what);
  return std::make_shared<spdlog::sinks::stderr_sink_mt>();
}

std::string sink_key(const core::LogOutput& output) {
  using Kind = core::LogOutput::Kind;
  if (output.kind == Kind::kStdout) return "stdout";
  if (output.kind == Kind::kFile) return "file:" + output.path;
  return "stderr";
}

// The file descriptor of a stream output; -1 for files and discard.
int output_fd(const core::LogOutput& output) {
  using Kind = core::LogOutput::Kind;
  if (output.kind == Kind::kStderr) return STDERR_FILENO;
  if (output.kind == Kind::kStdout) return STDOUT_FILENO;
  return -1;
}

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  return out;
}

}  // namespace

void format_access_record(const AccessRecord& r, std::string& out, std::string_view level,
                          bool with_time) {
  out += "{\"level\":\"";
  out += level;
  out += '"';
  if (with_time) {
    out += ",\"ts\":";
    // Fixed notation: the shortest form of a whole second would be 1.7e+09.
    std::array<char, 32> buffer{};
    const double ts = std::chrono::duration<double>(r.time.time_since_epoch()).count();
    const auto result =
        std::to_chars(buffer.data(), buffer.data() + buffer.size(), ts, std::chars_format::fixed);
    out.append(buffer.data(), result.ptr);
  }
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

void append_console_time(std::chrono::system_clock::time_point time, std::string& out) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm local{};
  localtime_r(&seconds, &local);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()) %
                  std::chrono::seconds(1);
  std::array<char, 32> buffer{};
  const size_t n = std::strftime(buffer.data(), buffer.size(), "%Y/%m/%d %H:%M:%S", &local);
  out.append(buffer.data(), n);
  std::snprintf(buffer.data(), buffer.size(), ".%03d", static_cast<int>(ms.count()));
  out += buffer.data();
}

void format_access_console(const AccessRecord& r, std::string& out, std::string_view level,
                           bool with_time) {
  if (with_time) {
    append_console_time(r.time, out);
    out += ' ';
  }
  std::string tag = upper(level);
  tag.resize(std::max<size_t>(tag.size(), 5), ' ');
  out += tag;
  out += " access ";
  out += r.remote_ip;
  out += " \"";
  out += r.method;
  out += ' ';
  out += r.host;
  out += r.uri;
  out += ' ';
  out += r.proto;
  out += "\" ";
  append_number(r.status, out);
  out += ' ';
  append_number(r.size, out);
  out += "B ";
  std::array<char, 32> buffer{};
  std::snprintf(buffer.data(), buffer.size(), "%.1fms", r.duration * 1000);
  out += buffer.data();
  if (!r.upstream.empty()) {
    out += " upstream ";
    out += r.upstream;
  }
}

std::string_view journal_prefix(std::string_view level) {
  // syslog(3) priorities: 3 err, 4 warning, 6 info, 7 debug.
  if (level == "error") return "<3>";
  if (level == "warn") return "<4>";
  if (level == "debug") return "<7>";
  return "<6>";
}

bool is_journal_stream(int fd) {
  const char* value = std::getenv("JOURNAL_STREAM");
  if (value == nullptr || fd < 0) return false;
  unsigned long long device = 0, inode = 0;
  if (std::sscanf(value, "%llu:%llu", &device, &inode) != 2) return false;
  struct stat st {};
  if (fstat(fd, &st) != 0) return false;
  return st.st_dev == device && st.st_ino == inode;
}

LineStyle line_style(const core::LogConfig& config) {
  LineStyle style;
  const int fd = output_fd(config.output);
  if (config.format == "console") {
    style.format = LogFormat::kConsole;
  } else if (config.format.empty()) {
    // As Caddy: a person watching a terminal reads console lines, anything
    // else (a file, a pipe, the journal) gets JSON for machines.
    style.format = fd >= 0 && isatty(fd) ? LogFormat::kConsole : LogFormat::kJson;
  }
  style.journal = is_journal_stream(fd);
  return style;
}

std::shared_ptr<spdlog::sinks::sink> open_log_sink(const core::LogOutput& output, SinkCache& sinks,
                                                   std::string_view what) {
  if (output.kind == core::LogOutput::Kind::kDiscard) return nullptr;
  std::shared_ptr<spdlog::sinks::sink>& sink = sinks[sink_key(output)];
  if (!sink) sink = make_sink(output, what);
  return sink;
}

spdlog::level::level_enum parse_log_level(std::string_view level,
                                          spdlog::level::level_enum fallback) {
  const std::string name = upper(level);
  if (name == "DEBUG") return spdlog::level::debug;
  if (name == "INFO") return spdlog::level::info;
  if (name == "WARN") return spdlog::level::warn;
  if (name == "ERROR") return spdlog::level::err;
  return fallback;
}

std::shared_ptr<const AccessLog> AccessLog::open(const core::LogConfig& config, SinkCache& sinks) {
  auto sink = open_log_sink(config.output, sinks, "access log");
  if (!sink) return nullptr;
  auto logger = std::make_shared<spdlog::logger>("http.log.access", sink);
  // The line is complete already; nothing may be added around it.
  logger->set_pattern("%v");
  logger->set_level(parse_log_level(config.level, spdlog::level::info));
  // A line per request must reach the file promptly for `tail -f`.
  logger->flush_on(spdlog::level::info);
  return std::make_shared<const AccessLog>(std::move(logger), line_style(config));
}

void AccessLog::write(const AccessRecord& record) const {
  const bool failed = record.status == 0 || record.status >= 500;
  const auto level = failed ? spdlog::level::err : spdlog::level::info;
  if (!logger_->should_log(level)) return;
  const std::string_view name = failed ? "error" : "info";
  // Reused per thread: formatting a line allocates nothing once warm.
  thread_local std::string line;
  line.clear();
  if (style_.journal) line += journal_prefix(name);
  if (style_.format == LogFormat::kConsole) {
    format_access_console(record, line, name, !style_.journal);
  } else {
    format_access_record(record, line, name, !style_.journal);
  }
  logger_->log(level, std::string_view(line));
}

}  // namespace usher::proxy
