// Fuzzes the whole config front end: env substitution, lexer, parser,
// adapter, validator, YAML printer and reader, and the formatter.
// Invariants: nothing crashes or hangs; a config that adapts prints YAML that
// reads back without errors to the same YAML; fmt is idempotent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "core/caddyfile/format.h"
#include "core/config_loader.h"
#include "core/config_yaml.h"

namespace {

usher::core::caddyfile::ParseOptions hermetic_options() {
  usher::core::caddyfile::ParseOptions options;
  options.getenv = [](const std::string& name) -> std::optional<std::string> {
    if (name == "FUZZ") return std::string("a.example.com { respond x }");
    return std::nullopt;
  };
  // No file system access while fuzzing: every import of a file fails.
  options.read_file = [](const std::string& path) -> std::string {
    throw std::runtime_error("no such file: " + path);
  };
  options.glob = [](const std::string&) { return std::vector<std::string>{}; };
  return options;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto loaded = usher::core::load_config_text(
      text, "Caddyfile", usher::core::ConfigFormat::kCaddyfile, hermetic_options());
  if (!loaded.diagnostics.has_errors()) {
    usher::core::check_config(loaded);
    std::string yaml = usher::core::to_yaml(loaded.config);
    usher::core::Diagnostics diagnostics;
    auto reread = usher::core::from_yaml(yaml, "fuzz.yaml", diagnostics);
    if (diagnostics.has_errors() || usher::core::to_yaml(reread) != yaml) std::abort();
  }
  std::string once = usher::core::caddyfile::format(text);
  if (usher::core::caddyfile::format(once) != once) std::abort();
  return 0;
}
