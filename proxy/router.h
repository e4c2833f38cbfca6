#pragma once

#include <asio/awaitable.hpp>

#include <memory>

#include "core/certificates.h"
#include "core/config.h"
#include "proxy/exchange.h"
#include "proxy/handler.h"

namespace usher::proxy {

class WorkerContext;
struct CompiledSite;

/// What the route table needs from outside the config.
struct RouterOptions {
  /// Answers HTTP-01 challenges on the HTTP port; may be null (no ACME).
  const core::ChallengeResponder* challenges = nullptr;
};

/// An immutable routing snapshot compiled from a config: sites by host and
/// port, their matchers and handlers in execution order. A reload builds a
/// new table and publishes it; requests in flight finish on the old one.
class RouteTable {
 public:
  /// Compiles `config`. Throws core::ConfigError for what only the proxy
  /// can detect (the validator has run before).
  static std::shared_ptr<const RouteTable> build(const core::Config& config, RouterOptions options);
  ~RouteTable();

  /// Serves one exchange: ACME HTTP-01 challenge, HTTP→HTTPS redirect, or
  /// the matching site's routes (404 when no site serves the host), then
  /// the access log line.
  asio::awaitable<void> serve(Exchange& exchange, WorkerContext& worker) const;

  /// Every reverse_proxy handler's upstreams and their health now, by site
  /// in config order (admin API status and metrics; reads atomics only).
  std::vector<UpstreamGroup> upstreams() const;

 private:
  RouteTable();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace usher::proxy
