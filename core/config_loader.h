#pragma once

#include <string>
#include <string_view>

#include "core/caddyfile/parser.h"
#include "core/config.h"
#include "core/diagnostic.h"

namespace usher::core {

/// Which front end reads a config file.
enum class ConfigFormat { kAuto, kCaddyfile, kYaml };

/// Parses `--adapter` values: "caddyfile", "yaml". Returns false when unknown.
bool parse_config_format(std::string_view name, ConfigFormat* format);

/// The format of `path` when the user did not name one: `.yaml`/`.yml` is
/// YAML, everything else (Caddyfile, *.caddy, *.caddyfile) the Caddyfile.
ConfigFormat detect_config_format(std::string_view path, ConfigFormat requested);

/// A config read from text, with every diagnostic its front end produced.
/// When diagnostics has errors, `config` is incomplete and must not be used.
struct LoadedConfig {
  Config config;
  Diagnostics diagnostics;
};

/// Reads config text with the front end for `format` (kAuto is decided from
/// `filename`). Never throws for a bad config: problems are diagnostics.
LoadedConfig load_config_text(std::string_view text, const std::string& filename,
                              ConfigFormat format, const caddyfile::ParseOptions& options = {});

/// Reads and parses the config file at `path`. An unreadable file is a
/// diagnostic naming the path and the reason.
LoadedConfig load_config_file(const std::string& path, ConfigFormat format);

/// Runs the validator and the "supported by this build" check, adding their
/// diagnostics to `loaded`. Used by `validate`, `run` and reloads alike.
void check_config(LoadedConfig& loaded);

}  // namespace usher::core
