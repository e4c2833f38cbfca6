#pragma once

// The process log (spdlog's default logger, "usher"): where ACME failures,
// reloads, upstream health changes and start-up messages go. Configured by
// the global `log` blocks and `debug`; access logs are the sites' own
// (proxy/access_log).

#include <spdlog/common.h>
#include <spdlog/formatter.h>

#include <memory>
#include <string>
#include <vector>

#include "core/config.h"

namespace usher::cmd {

/// The outputs a config asks for, built before anything is installed so
/// that a reload whose log file cannot be opened changes nothing.
struct LogSetup {
  std::vector<spdlog::sink_ptr> sinks;
  spdlog::level::level_enum level = spdlog::level::info;  // the lowest any output wants
};

/// Every global `log` block becomes one output with its own format and
/// level (a block without `level` logs INFO, or DEBUG under `debug`); no
/// block means standard error. Throws core::ConfigError naming the file
/// when a log file cannot be opened.
LogSetup make_log_setup(const core::GlobalOptions& global);

/// Makes `setup` the process log's outputs. The default logger is created
/// once and its outputs swapped in place afterwards: other threads log
/// through it at any time, and replacing the logger itself under them is
/// not safe in spdlog.
void install_logging(LogSetup setup);

/// Formats process log lines: console (`2006/01/02 15:04:05.000 INFO  msg`,
/// the level coloured on a terminal) or JSON (`{"level":…,"ts":…,
/// "logger":"usher","msg":…}`); for the journal, no timestamp and a `<N>`
/// priority prefix.
std::unique_ptr<spdlog::formatter> make_log_formatter(bool json, bool journal);

}  // namespace usher::cmd
