#pragma once

#include <string>
#include <string_view>

#include "core/config.h"
#include "core/diagnostic.h"

namespace usher::core {

/// Prints the typed config as YAML, the structured twin of the Caddyfile.
/// Defaults are omitted so the output stays short; the order of keys is fixed,
/// so the output is stable and can be compared in golden tests.
std::string to_yaml(const Config& config);

/// Reads a config written as YAML (the format `to_yaml` prints). Unknown keys,
/// wrong types and bad values are diagnostics with file:line, never ignored.
/// Reading `to_yaml(c)` gives back a config equal to `c`.
Config from_yaml(std::string_view text, const std::string& filename, Diagnostics& diagnostics);

/// Returns `config` with every Origin (sites, routes, nested routes) cleared.
/// YAML does not carry origins, so round trips compare configs through this.
Config strip_origins(Config config);

}  // namespace usher::core
