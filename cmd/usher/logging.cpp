#include "cmd/usher/logging.h"

#include <spdlog/formatter.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <mutex>

#include "core/json_text.h"
#include "proxy/access_log.h"

namespace usher::cmd {

namespace {

std::string_view level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
    case spdlog::level::critical:
      return "error";
    default:
      return "info";
  }
}

class LineFormatter final : public spdlog::formatter {
 public:
  LineFormatter(bool json, bool journal) : json_(json), journal_(journal) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string_view level = level_name(msg.level);
    std::string line;
    if (journal_) line += proxy::journal_prefix(level);
    if (json_) {
      append_json(msg, level, line);
    } else {
      append_console(msg, level, line);
    }
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<LineFormatter>(json_, journal_);
  }

 private:
  void append_json(const spdlog::details::log_msg& msg, std::string_view level,
                   std::string& line) const {
    line += "{\"level\":\"";
    line += level;
    line += '"';
    if (!journal_) {
      line += ",\"ts\":";
      const double ts = std::chrono::duration<double>(msg.time.time_since_epoch()).count();
      line += fmt::format("{:.6f}", ts);
    }
    line += ",\"logger\":\"usher\",\"msg\":";
    core::append_json_string(std::string_view(msg.payload.data(), msg.payload.size()), line);
    line += '}';
  }

  void append_console(const spdlog::details::log_msg& msg, std::string_view level,
                      std::string& line) const {
    if (!journal_) {
      proxy::append_console_time(msg.time, line);
      line += ' ';
    }
    // The level is what a colour sink paints on a terminal.
    msg.color_range_start = line.size();
    for (char c : level)
      line += static_cast<char>(c - 32);
    msg.color_range_end = line.size();
    line.append(6 - level.size(), ' ');
    line.append(msg.payload.data(), msg.payload.size());
  }

  bool json_;
  bool journal_;
};

spdlog::sink_ptr stream_sink(const core::LogOutput& output, bool color) {
  const bool out = output.kind == core::LogOutput::Kind::kStdout;
  if (color) {
    if (out) return std::make_shared<spdlog::sinks::stdout_color_sink_mt>();
    return std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  }
  if (out) return std::make_shared<spdlog::sinks::stdout_sink_mt>();
  return std::make_shared<spdlog::sinks::stderr_sink_mt>();
}

spdlog::sink_ptr make_output(const core::LogConfig& config, spdlog::level::level_enum level,
                             proxy::SinkCache& files) {
  const proxy::LineStyle style = proxy::line_style(config);
  const bool json = style.format == proxy::LogFormat::kJson;
  spdlog::sink_ptr sink;
  if (config.output.kind == core::LogOutput::Kind::kFile) {
    sink = proxy::open_log_sink(config.output, files, "log file");
  } else if (config.output.kind != core::LogOutput::Kind::kDiscard) {
    const int fd =
        config.output.kind == core::LogOutput::Kind::kStdout ? STDOUT_FILENO : STDERR_FILENO;
    sink = stream_sink(config.output, !json && !style.journal && isatty(fd));
  }
  if (!sink) return nullptr;
  sink->set_formatter(make_log_formatter(json, style.journal));
  sink->set_level(level);
  return sink;
}

/// The outputs of the default logger; created once, swapped on reload.
std::shared_ptr<spdlog::sinks::dist_sink_mt>& outputs() {
  static std::shared_ptr<spdlog::sinks::dist_sink_mt> sink;
  return sink;
}

}  // namespace

std::unique_ptr<spdlog::formatter> make_log_formatter(bool json, bool journal) {
  return std::make_unique<LineFormatter>(json, journal);
}

LogSetup make_log_setup(const core::GlobalOptions& global) {
  const auto fallback = global.debug ? spdlog::level::debug : spdlog::level::info;
  std::vector<core::LogConfig> configs = global.logs;
  if (configs.empty()) configs.emplace_back();  // stderr, format by terminal
  LogSetup setup;
  setup.level = spdlog::level::off;
  proxy::SinkCache files;
  for (const core::LogConfig& config : configs) {
    const auto level = proxy::parse_log_level(config.level, fallback);
    if (auto sink = make_output(config, level, files)) {
      setup.sinks.push_back(std::move(sink));
      setup.level = std::min(setup.level, level);
    }
  }
  return setup;
}

void install_logging(LogSetup setup) {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  auto& dist = outputs();
  if (!dist) {
    dist = std::make_shared<spdlog::sinks::dist_sink_mt>();
    auto logger = std::make_shared<spdlog::logger>("usher", dist);
    // Lines are few (never one per request): each reaches its file at once.
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  dist->set_sinks(std::move(setup.sinks));
  spdlog::default_logger_raw()->set_level(setup.level);
}

}  // namespace usher::cmd
