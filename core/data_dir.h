#pragma once

#include <functional>
#include <optional>
#include <string>

namespace usher::core {

/// Picks usher's data directory (design.md §4), first that applies:
/// `storage file_system PATH` from the config; $STATE_DIRECTORY (systemd sets
/// it for the service; the first of a colon-separated list); $XDG_DATA_HOME/usher;
/// $HOME/.local/share/usher. Never a fixed system path. Throws
/// std::runtime_error when none applies (no HOME either).
/// `getenv` is injected for tests; the default reads the process environment.
std::string data_directory(
    const std::string& configured,
    const std::function<std::optional<std::string>(const std::string&)>& getenv = {});

}  // namespace usher::core
