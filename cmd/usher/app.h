#pragma once

#include <iosfwd>
#include <string>

#include "core/config.h"
#include "core/config_loader.h"

namespace usher::cmd {

/// Where a running instance reads its config from again on SIGHUP.
struct ConfigSource {
  std::string path;  // empty for a config built from flags (reverse-proxy)
  core::ConfigFormat format = core::ConfigFormat::kAuto;
};

/// Runs usher on a checked config until SIGTERM or SIGINT: wires the
/// certificate sources, the routing snapshot and the TLS contexts into the
/// proxy server (design.md §1: cmd is where proxy and acme meet), reloads on
/// SIGHUP, drains gracefully on shutdown. Returns the process exit code.
int run_instance(const core::Config& config, const ConfigSource& source, std::ostream& out,
                 std::ostream& err);

}  // namespace usher::cmd
