#pragma once

#include "core/config.h"
#include "core/diagnostic.h"

namespace usher::core {

/// Checks a whole config for problems that no single directive can see:
/// duplicate site addresses, unknown placeholders, conflicting options,
/// impossible values. Reports every problem found, with its origin.
void validate(const Config& config, Diagnostics& diagnostics);

/// Reports every feature of `config` that this build parses but cannot serve
/// yet (e.g. "encode is not supported yet"), so that `validate` and `run`
/// refuse it instead of silently ignoring it. `adapt` does not call this.
void check_supported(const Config& config, Diagnostics& diagnostics);

}  // namespace usher::core
