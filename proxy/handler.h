#pragma once

// Handlers and the per-request state they share. A RouteTable (router.h)
// runs a site's routes in order; each matching route's handler either passes
// the request on (middleware: header, rewrite, request_body…) or finishes it
// (respond, redir, reverse_proxy, abort, error).

#include <asio/awaitable.hpp>

#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "core/config.h"
#include "proxy/exchange.h"

namespace usher::proxy {

class WorkerContext;

/// State of one request on its way through the routes of a site.
struct RequestContext {
  Exchange& exchange;
  WorkerContext& worker;

  std::string original_uri;       // as received, before rewrites ({http.request.orig_uri})
  std::string client_ip;          // remote address, or the forwarded client when trusted
  std::string root;               // set by `root`
  std::string upstream_hostport;  // the upstream that served it (placeholders, log)
  uint64_t max_body_size = 0;     // from request_body; 0 = unlimited

  /// Response header operations collected by `header` (and deferred `>` ops);
  /// applied to the response head whoever writes it.
  std::vector<const core::HeaderOp*> response_header_ops;

  /// Set by `error` or a failing handler; handle_errors routes read them.
  int error_status = 0;
  std::string error_message;

  RequestContext(Exchange& e, WorkerContext& w) : exchange(e), worker(w) {}
  HttpRequest& request() { return exchange.request(); }
};

/// What a handler did with the request.
enum class HandlerResult {
  kNext,   // go on with the next matching route
  kDone,   // the response was written (or the exchange aborted)
  kError,  // error_status is set: run handle_errors, else write a plain error response
};

/// The health of one upstream as a status page shows it.
struct UpstreamHealthView {
  std::string name;             // dial address, as Caddy spells it (`host:port`, `unix//path`)
  bool active_healthy = true;   // verdict of the last active check (true without checks)
  bool passive_healthy = true;  // false while max_fails failures lie within fail_duration
  int in_flight = 0;            // requests being proxied to it now
  bool healthy() const { return active_healthy && passive_healthy; }
};

/// The upstreams of one `reverse_proxy` handler; `site` is filled in by the
/// route table (the site's addresses as written).
struct UpstreamGroup {
  std::string site;
  bool active_checks = false;   // health_uri is set
  bool passive_checks = false;  // fail_duration is set
  std::vector<UpstreamHealthView> upstreams;
};

/// One compiled handler. Built once per config snapshot; shared by every
/// worker, so handle() must not mutate the handler (per-worker state lives
/// in WorkerContext, shared health state in atomics).
class RouteHandler {
 public:
  virtual ~RouteHandler() = default;
  virtual asio::awaitable<HandlerResult> handle(RequestContext& ctx) const = 0;
  /// Appends the upstream groups this handler (or the routes it nests)
  /// proxies to; only reverse_proxy and nested route lists have any. For the
  /// admin API's status and metrics, off the request path.
  virtual void collect_upstreams(std::vector<UpstreamGroup>& /*out*/) const {}
};

}  // namespace usher::proxy
