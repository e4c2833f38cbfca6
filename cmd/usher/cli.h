#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace usher::cmd {

// Exit codes, from sysexits(3) where one fits, so that systemd units and
// scripts can tell a usage mistake from a broken config.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 64;   // EX_USAGE: the command line is wrong
inline constexpr int kExitConfig = 78;  // EX_CONFIG: the configuration is wrong

/// Runs one invocation of the usher command line. `args` excludes the program
/// name. Output meant for pipes goes to `out`, messages for people to `err`.
int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace usher::cmd
