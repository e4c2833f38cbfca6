#pragma once

// The compiled handlers of a site: a RouteList runs routes in order with
// Caddy's semantics (matchers evaluated when the route is reached, one route
// per mutually exclusive group), and make_route_handler turns each
// core::Handler alternative into a RouteHandler through a table.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "core/config.h"
#include "proxy/handler.h"
#include "proxy/matcher.h"

namespace usher::proxy {

/// One route ready to run.
struct CompiledRoute {
  std::optional<CompiledMatcher> match;  // nullopt = every request
  std::string group;                     // mutual-exclusion group; "" = none
  std::unique_ptr<RouteHandler> handler;
};

/// Routes in execution order. Immutable once compiled, shared by workers.
class RouteList {
 public:
  /// Compiles `routes`. Throws core::ConfigError for a handler the proxy
  /// does not implement or an invalid matcher.
  static RouteList compile(const std::vector<core::Route>& routes);

  /// Runs the routes whose matchers match until one finishes the request
  /// (kDone) or fails (kError); kNext when none did. Within a group only the
  /// first matching route runs.
  asio::awaitable<HandlerResult> run(RequestContext& ctx) const;

  /// The upstream groups of every handler in the list, nested ones included.
  void collect_upstreams(std::vector<UpstreamGroup>& out) const;

  bool empty() const { return routes_.empty(); }
  size_t size() const { return routes_.size(); }

 private:
  std::vector<CompiledRoute> routes_;
};

/// Builds the handler of `route` (a table indexed by the handler's variant
/// alternative). Throws core::ConfigError, naming the route's origin, for
/// handlers the proxy does not implement yet.
std::unique_ptr<RouteHandler> make_route_handler(const core::Route& route);

/// Applies one header operation to `headers`, expanding its value for `ctx`.
void apply_header_op(const core::HeaderOp& op, Headers& headers, const RequestContext& ctx);

/// Applies the response operations `header` collected in `ctx` to a
/// response head about to be written.
void apply_response_header_ops(const RequestContext& ctx, Headers& headers);

/// Writes a complete response with a small body (empty = no body, no
/// Content-Type); aborts the sink when writing fails.
asio::awaitable<void> send_response(RequestContext& ctx, int status, std::string_view content_type,
                                    std::string_view body);

/// Errors of the handlers themselves.
enum class handler_errc {
  kBodyTooLarge = 1,  // the request body exceeded request_body max_size
};
const std::error_category& handler_category() noexcept;
std::error_code make_error_code(handler_errc e) noexcept;

/// The request body as handlers and upstreams read it: counts the bytes
/// (access log) and enforces request_body's max_size on bodies of unknown
/// length, failing with handler_errc::kBodyTooLarge (and setting the
/// context's error status to 413) once more than max_size bytes arrived.
class LimitedBodySource : public BodySource {
 public:
  LimitedBodySource(BodySource& inner, RequestContext& ctx) : inner_(inner), ctx_(ctx) {}

  asio::awaitable<std::error_code> read(Chunk& chunk) override;
  const Headers& trailers() const override { return inner_.trailers(); }
  asio::awaitable<std::error_code> send_continue() override { return inner_.send_continue(); }

  uint64_t bytes_read() const { return bytes_read_; }

 private:
  BodySource& inner_;
  RequestContext& ctx_;
  uint64_t bytes_read_ = 0;
  bool exceeded_ = false;
};

/// Removes `prefix` from the start of the percent-encoded `path`, comparing
/// decoded characters case-insensitively as Caddy does; keeps a leading `/`.
/// Returns false when the path does not start with it.
bool strip_path_prefix(std::string& path, std::string_view prefix);

/// The suffix counterpart of strip_path_prefix.
bool strip_path_suffix(std::string& path, std::string_view suffix);

}  // namespace usher::proxy

template <>
struct std::is_error_code_enum<usher::proxy::handler_errc> : std::true_type {};
