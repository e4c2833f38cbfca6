#include "core/config_loader.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/caddyfile/adapter.h"
#include "core/config_yaml.h"
#include "core/validate.h"

namespace usher::core {

bool parse_config_format(std::string_view name, ConfigFormat* format) {
  if (name == "caddyfile") {
    *format = ConfigFormat::kCaddyfile;
  } else if (name == "yaml") {
    *format = ConfigFormat::kYaml;
  } else {
    return false;
  }
  return true;
}

ConfigFormat detect_config_format(std::string_view path, ConfigFormat requested) {
  if (requested != ConfigFormat::kAuto) return requested;
  auto ends_with = [&](std::string_view suffix) {
    return path.size() >= suffix.size() && path.substr(path.size() - suffix.size()) == suffix;
  };
  return ends_with(".yaml") || ends_with(".yml") ? ConfigFormat::kYaml : ConfigFormat::kCaddyfile;
}

LoadedConfig load_config_text(std::string_view text, const std::string& filename,
                              ConfigFormat format, const caddyfile::ParseOptions& options) {
  LoadedConfig loaded;
  if (detect_config_format(filename, format) == ConfigFormat::kYaml) {
    loaded.config = from_yaml(text, filename, loaded.diagnostics);
  } else {
    loaded.config = caddyfile::adapt(text, filename, loaded.diagnostics, options);
  }
  return loaded;
}

LoadedConfig load_config_file(const std::string& path, ConfigFormat format) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadedConfig failed;
    failed.diagnostics.error(path, 0,
                             std::string("cannot read config file: ") + std::strerror(errno),
                             "check the path, or pass another file with --config");
    return failed;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return load_config_text(text.str(), path, format);
}

void check_config(LoadedConfig& loaded) {
  if (loaded.diagnostics.has_errors()) return;  // a half-built config would only add noise
  validate(loaded.config, loaded.diagnostics);
  check_supported(loaded.config, loaded.diagnostics);
}

}  // namespace usher::core
