#pragma once

#include <string>
#include <string_view>

#include "core/caddyfile/parser.h"
#include "core/config.h"
#include "core/diagnostic.h"

namespace usher::core::caddyfile {

/// Turns Caddyfile text into the typed config: parses server blocks, reads the
/// global options block, and runs one small parse function per directive
/// (a table, not a switch), then orders each site's routes as Caddy does.
/// Every problem found goes to `diagnostics` with file:line; parsing goes on
/// past a bad directive so that all errors of a file are reported at once.
Config adapt(std::string_view text, const std::string& filename, Diagnostics& diagnostics,
             const ParseOptions& options = {});

}  // namespace usher::core::caddyfile
