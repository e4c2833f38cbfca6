#include "proxy/reverse_proxy.h"

#include <spdlog/spdlog.h>

#include <asio/steady_timer.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <type_traits>

#include "core/ip_range.h"
#include "proxy/coarse_clock.h"
#include "proxy/handlers.h"
#include "proxy/health_check.h"
#include "proxy/http1_parser.h"
#include "proxy/http1_writer.h"
#include "proxy/load_balancer.h"
#include "proxy/metrics.h"
#include "proxy/placeholder_expand.h"
#include "proxy/upstream_client.h"
#include "proxy/upstream_h2.h"
#include "proxy/upstream_pool.h"
#include "proxy/worker_context.h"

namespace usher::proxy {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Attempts per request at most, whatever lb_retries and lb_try_duration
// say: a request never loops through upstreams without end.
constexpr int kMaxAttempts = 16;
// Retries stop this long after the first attempt when lb_try_duration does
// not set another window.
constexpr milliseconds kMaxRetryWindow{30'000};
// Timeouts `transport http` leaves unset (see UpstreamTimeouts).
constexpr milliseconds kDefaultDialTimeout{3'000};
constexpr milliseconds kDefaultKeepAlive{120'000};
constexpr size_t kDefaultIdleConns = 32;

// RFC 9110 §7.6.1 and the fields that named themselves hop-by-hop before it:
// they describe one connection and never cross the proxy.
constexpr std::array<std::string_view, 9> kHopByHop = {"connection",
                                                       "proxy-connection",
                                                       "keep-alive",
                                                       "proxy-authenticate",
                                                       "proxy-authorization",
                                                       "te",
                                                       "trailer",
                                                       "transfer-encoding",
                                                       "upgrade"};

// Most Connection fields name one or two options; beyond this many, the
// rest are ignored (the fields they name are forwarded).
constexpr size_t kMaxConnectionOptions = 16;

/// The field names a message's Connection fields list (RFC 9110 §7.6.1).
class ConnectionOptions {
 public:
  explicit ConnectionOptions(const Headers& headers) : ConnectionOptions(headers.fields()) {}
  /// From any list of fields with a name and a value (a parsed head's views).
  template <class Fields>
  explicit ConnectionOptions(const Fields& fields) {
    for (const auto& h : fields) {
      if (!iequals(h.name, "connection")) continue;
      std::string_view list = h.value;
      while (!list.empty() && count_ < kMaxConnectionOptions) {
        const size_t comma = list.find(',');
        std::string_view item = list.substr(0, comma);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
          item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t'))
          item.remove_suffix(1);
        if (!item.empty()) names_[count_++] = item;
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      }
    }
  }
  bool names(std::string_view field) const {
    for (size_t i = 0; i < count_; ++i)
      if (iequals(names_[i], field)) return true;
    return false;
  }

 private:
  std::array<std::string_view, kMaxConnectionOptions> names_{};
  size_t count_ = 0;
};

bool is_hop_by_hop(std::string_view name, const ConnectionOptions& options) {
  for (std::string_view h : kHopByHop)
    if (iequals(name, h)) return true;
  return options.names(name);
}

/// Fields the proxy frames or answers itself, so never copies from a request.
bool is_request_framing(std::string_view name) {
  return iequals(name, "content-length") || iequals(name, "expect") ||
         iequals(name, "x-forwarded-for") || iequals(name, "x-forwarded-proto") ||
         iequals(name, "x-forwarded-host");
}

/// RFC 9110 §9.2.2: a request that may be sent twice with the same effect.
bool is_idempotent(std::string_view method) {
  static constexpr std::array<std::string_view, 6> kIdempotent = {"GET",   "HEAD", "OPTIONS",
                                                                  "TRACE", "PUT",  "DELETE"};
  return std::find(kIdempotent.begin(), kIdempotent.end(), method) != kIdempotent.end();
}

/// The textual address of the direct peer, IPv4-mapped addresses unmapped.
std::string peer_ip(const ConnectionInfo& conn) {
  if (!conn.remote_ip.empty()) return conn.remote_ip;  // formatted once per connection
  asio::ip::address address = conn.remote_address;
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  return address.to_string();
}

/// The X-Forwarded-* values sent upstream; computed once per request.
struct Forwarded {
  std::string for_;
  std::string proto;
  std::string host;
};

/// The last value of `name`, or nullptr.
const std::string* last_value(const Headers& headers, std::string_view name) {
  const std::string* found = nullptr;
  for (const Header& h : headers.fields())
    if (iequals(h.name, name)) found = &h.value;
  return found;
}

/// What one failed attempt (or the absence of an upstream) means.
enum class Failure { kNone, kNoUpstream, kAttempt };

/// The Caddy spelling of an upstream's dial address, for hashing and cookies.
std::string dial_name(const core::Upstream& u, uint16_t port) {
  if (u.scheme == "unix") return "unix/" + u.unix_path;
  const bool v6 = u.host.find(':') != std::string::npos;
  return (v6 ? "[" + u.host + "]" : u.host) + ":" + std::to_string(port);
}

/// The upstreams of a handler and the TLS settings their endpoints point to.
struct UpstreamSet {
  std::shared_ptr<UpstreamTls> tls;
  // Every upstream speaks HTTP/2 with prior knowledge (h2c:// or `versions
  // h2c`); validation keeps one scheme per handler and h2c off TLS.
  bool h2c = false;
  std::vector<UpstreamEndpoint> endpoints;
  std::vector<std::string> names;
  std::vector<std::shared_ptr<UpstreamMetrics>> metrics;  // by dial name, shared across reloads
};

std::shared_ptr<UpstreamSet> build_upstreams(const core::ReverseProxyHandler& config) {
  auto set = std::make_shared<UpstreamSet>();
  const auto& versions = config.transport.versions;
  const bool h2c_versions = std::find(versions.begin(), versions.end(), "h2c") != versions.end();
  set->h2c = !config.upstreams.empty() && !config.transport.tls;
  for (const core::Upstream& u : config.upstreams)
    if (u.scheme != "h2c" && !(h2c_versions && (u.scheme.empty() || u.scheme == "http")))
      set->h2c = false;
  for (const core::Upstream& u : config.upstreams) {
    const bool tls = u.scheme == "https" || config.transport.tls;
    if (tls && !set->tls) set->tls = std::make_shared<UpstreamTls>(config.transport);
    UpstreamEndpoint e;
    const uint16_t port = u.port != 0 ? u.port : (u.scheme == "https" ? 443 : 80);
    const std::string name = dial_name(u, port);
    if (u.scheme == "unix") {
      e.unix_path = u.unix_path;
      e.hostport = u.unix_path;
      e.pool_key = "unix:" + u.unix_path;
    } else {
      e.host = u.host;
      e.port = port;
      e.hostport = name;
      e.pool_key = "tcp:" + name;
    }
    if (tls) {
      e.tls = set->tls.get();
      e.pool_key += "|" + set->tls->key();
    }
    set->endpoints.push_back(std::move(e));
    set->names.push_back(name);
    set->metrics.push_back(MetricsRegistry::global().upstream(name));
  }
  return set;
}

std::vector<core::HeaderOp> resolved(const std::vector<core::HeaderOp>& ops) {
  std::vector<core::HeaderOp> out = ops;
  for (core::HeaderOp& op : out)
    op.value = resolve_env(op.value);
  return out;
}

/// Counts one attempt in the upstream's metrics once its outcome is known.
/// Failures of the client side (its body, its connection) are not the
/// upstream's and are not counted.
template <class Client>
void count_attempt(UpstreamMetrics& metrics, int worker, AttemptOutcome outcome,
                   const Client& client) {
  switch (outcome) {
    case AttemptOutcome::kResponse:
      metrics.record_response(worker, client.response().status);
      break;
    case AttemptOutcome::kDialFailed:
      metrics.record_connect_failure(worker);
      break;
    case AttemptOutcome::kStale:
    case AttemptOutcome::kNoResponse:
    case AttemptOutcome::kTimeout:
    case AttemptOutcome::kBadResponse:
      metrics.record_response(worker, 0);
      break;
    case AttemptOutcome::kClientFailed:
    case AttemptOutcome::kNotReplayable:
      break;
  }
}

/// `reverse_proxy`.
class ReverseProxy final : public RouteHandler {
 public:
  explicit ReverseProxy(const core::ReverseProxyHandler& config);
  asio::awaitable<HandlerResult> handle(RequestContext& ctx) const override;
  void collect_upstreams(std::vector<UpstreamGroup>& out) const override;

 private:
  template <class Client>
  asio::awaitable<HandlerResult> run(RequestContext& ctx, Client& client) const;
  void prepare(const RequestContext& ctx, const Forwarded& fwd, Headers& scratch,
               UpstreamClient& client) const;
  void prepare(const RequestContext& ctx, const Forwarded& fwd, Headers& scratch,
               H2UpstreamClient& client) const;
  Forwarded forwarded(const RequestContext& ctx) const;
  void build_head(const RequestContext& ctx, const Forwarded& fwd, Headers& scratch,
                  std::string& out) const;
  template <class Emit>
  void for_each_upstream_field(const RequestContext& ctx, const Forwarded& fwd, Emit emit) const;
  template <class Client>
  asio::awaitable<AttemptOutcome> try_upstream(RequestContext& ctx, Client& client,
                                               const Forwarded& fwd, Headers& scratch,
                                               const UpstreamEndpoint& endpoint) const;
  template <class Client>
  asio::awaitable<HandlerResult> respond(RequestContext& ctx, Client& client, size_t index,
                                         const std::string& set_cookie) const;
  void build_response_head(const RequestContext& ctx, const ResponseHeadView& view,
                           ResponseHead& head) const;
  milliseconds flush_interval(const ResponseHeadView& view) const;
  template <class Client>
  bool may_retry(AttemptOutcome outcome, Failure failure, int attempt, Clock::time_point deadline,
                 const RequestContext& ctx, const Client& client) const;
  template <class Client>
  HandlerResult fail(RequestContext& ctx, Failure failure, AttemptOutcome outcome,
                     const Client& client) const;
  asio::awaitable<void> wait_before_retry(RequestContext& ctx, Clock::time_point deadline) const;

  std::shared_ptr<UpstreamSet> upstreams_;
  std::shared_ptr<LoadBalancer> lb_;
  std::unique_ptr<HealthChecks> health_;
  std::vector<core::HeaderOp> header_up_;
  std::vector<core::HeaderOp> header_down_;
  std::vector<core::IpRange> trusted_;
  UpstreamTimeouts timeouts_;
  PoolSettings pool_settings_;
  std::optional<milliseconds> flush_interval_;
  int retries_ = 0;
  milliseconds try_duration_{0};
  milliseconds try_interval_{0};
};

ReverseProxy::ReverseProxy(const core::ReverseProxyHandler& config)
    : upstreams_(build_upstreams(config)),
      lb_(std::make_shared<LoadBalancer>(config.load_balancing, config.passive_health,
                                         upstreams_->names)),
      header_up_(resolved(config.header_up)),
      header_down_(resolved(config.header_down)),
      flush_interval_(config.flush_interval),
      retries_(std::clamp(config.load_balancing.retries, 0, kMaxAttempts - 1)),
      try_duration_(config.load_balancing.try_duration),
      try_interval_(config.load_balancing.try_interval) {
  for (const std::string& spec : core::expand_private_ranges(config.trusted_proxies))
    if (auto range = core::IpRange::parse(spec)) trusted_.push_back(*range);
  const core::HttpTransport& t = config.transport;
  timeouts_.dial = t.dial_timeout.value_or(kDefaultDialTimeout);
  timeouts_.response_header = t.response_header_timeout;
  if (t.read_timeout) timeouts_.read = *t.read_timeout;
  if (t.write_timeout) timeouts_.write = *t.write_timeout;
  if (t.read_timeout) timeouts_.tunnel_idle = std::max(*t.read_timeout, timeouts_.tunnel_idle);
  pool_settings_.idle_timeout = t.keepalive.value_or(kDefaultKeepAlive);
  pool_settings_.max_idle = t.keepalive_idle_conns
                                ? static_cast<size_t>(std::max(*t.keepalive_idle_conns, 0))
                                : kDefaultIdleConns;
  if (!config.active_health.uri.empty()) {
    health_ = std::make_unique<HealthChecks>(
        config.active_health, lb_,
        std::shared_ptr<const std::vector<UpstreamEndpoint>>(upstreams_, &upstreams_->endpoints),
        upstreams_->h2c);
  }
}

void ReverseProxy::collect_upstreams(std::vector<UpstreamGroup>& out) const {
  UpstreamGroup group;
  group.active_checks = health_ != nullptr;
  group.passive_checks = lb_->passive_enabled();
  const auto now = Clock::now();
  for (size_t i = 0; i < lb_->size(); ++i) {
    const UpstreamHealth& health = lb_->health(i);
    group.upstreams.push_back(
        {lb_->name(i), health.active_healthy(), health.passive_healthy(now), health.in_flight()});
  }
  out.push_back(std::move(group));
}

// ------------------------------------------------------------ the request upstream

Forwarded ReverseProxy::forwarded(const RequestContext& ctx) const {
  const ConnectionInfo& conn = ctx.exchange.connection();
  const HttpRequest& req = ctx.exchange.request();
  Forwarded fwd;
  fwd.for_ = peer_ip(conn);
  bool trusted = false;
  if (!trusted_.empty()) {
    if (auto ip = core::IpAddress::parse(fwd.for_)) {
      trusted = std::any_of(trusted_.begin(), trusted_.end(),
                            [&](const core::IpRange& r) { return r.contains(*ip); });
    }
  }
  // Values a client sent are kept only when the peer is a trusted proxy;
  // anyone else could claim any address (as Caddy does).
  std::string prior = trusted ? req.headers.joined("X-Forwarded-For") : std::string();
  if (!prior.empty()) fwd.for_ = prior + ", " + fwd.for_;
  const std::string* proto = trusted ? last_value(req.headers, "X-Forwarded-Proto") : nullptr;
  fwd.proto = proto != nullptr && !proto->empty() ? *proto : req.scheme;
  const std::string* host = trusted ? last_value(req.headers, "X-Forwarded-Host") : nullptr;
  fwd.host = host != nullptr && !host->empty() ? *host : req.authority;
  return fwd;
}

template <class Emit>
void ReverseProxy::for_each_upstream_field(const RequestContext& ctx, const Forwarded& fwd,
                                           Emit emit) const {
  const HttpRequest& req = ctx.exchange.request();
  const ConnectionOptions options(req.headers);
  // The Host field goes on unchanged; HTTP/2 requests carry :authority instead.
  if (!req.headers.contains("Host")) emit("Host", req.authority);
  for (const Header& h : req.headers.fields())
    if (!is_hop_by_hop(h.name, options) && !is_request_framing(h.name)) emit(h.name, h.value);
  emit("X-Forwarded-For", fwd.for_);
  emit("X-Forwarded-Proto", fwd.proto);
  emit("X-Forwarded-Host", fwd.host);
  if (req.upgrade) {
    // The one hop-by-hop exchange that must reach the upstream (RFC 9110 §7.8).
    if (const std::string* upgrade = req.headers.find("Upgrade")) {
      emit("Connection", "Upgrade");
      emit("Upgrade", *upgrade);
    }
  }
}

void ReverseProxy::build_head(const RequestContext& ctx, const Forwarded& fwd, Headers& scratch,
                              std::string& out) const {
  const HttpRequest& req = ctx.exchange.request();
  out.clear();
  // Room for the whole head up front: appended field by field, it would
  // grow (and copy) several times per request.
  size_t bytes = 128 + req.method.size() + req.path.size() + req.query.size() +
                 req.authority.size() + fwd.for_.size() + fwd.proto.size() + fwd.host.size();
  for (const Header& h : req.headers.fields())
    bytes += h.name.size() + h.value.size() + 4;
  out.reserve(bytes);
  out.append(req.method).append(" ").append(req.path);
  if (!req.query.empty()) out.append("?").append(req.query);
  out.append(" HTTP/1.1\r\n");
  if (header_up_.empty()) {
    // The common case: fields go straight from the request into the head.
    for_each_upstream_field(ctx, fwd, [&](std::string_view name, std::string_view value) {
      append_header(name, value, out);
    });
    return;
  }
  scratch.clear();
  for_each_upstream_field(
      ctx, fwd, [&](std::string_view name, std::string_view value) { scratch.add(name, value); });
  for (const core::HeaderOp& op : header_up_)
    apply_header_op(op, scratch, ctx);
  for (const Header& h : scratch.fields())
    append_header(h.name, h.value, out);
}

void ReverseProxy::prepare(const RequestContext& ctx, const Forwarded& fwd, Headers& scratch,
                           UpstreamClient& client) const {
  build_head(ctx, fwd, scratch, client.head());
}

void ReverseProxy::prepare(const RequestContext& ctx, const Forwarded& fwd, Headers&,
                           H2UpstreamClient& client) const {
  // The same fields an HTTP/1.1 upstream gets; the h2 client turns them
  // into HTTP/2 fields (pseudo-headers, no connection-specific fields).
  Headers& out = client.fields();
  out.clear();
  for_each_upstream_field(
      ctx, fwd, [&](std::string_view name, std::string_view value) { out.add(name, value); });
  for (const core::HeaderOp& op : header_up_)
    apply_header_op(op, out, ctx);
}

/// Ends an attempt: the HTTP/2 client may have to wait for its body pump.
asio::awaitable<void> end_attempt(UpstreamClient& client) {
  client.finish_attempt();
  co_return;
}
asio::awaitable<void> end_attempt(H2UpstreamClient& client) {
  co_await client.finish_attempt();
}

// ------------------------------------------------------------ the loop

/// Counts a request in flight for least_conn while it lives.
class InFlight {
 public:
  explicit InFlight(UpstreamHealth& health) : health_(health) { health_.begin_request(); }
  ~InFlight() { health_.end_request(); }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  UpstreamHealth& health_;
};

asio::awaitable<HandlerResult> ReverseProxy::handle(RequestContext& ctx) const {
  HttpRequest& req = ctx.request();
  if (!upstreams_->h2c) {
    UpstreamClient client(ctx.worker.upstream_pools(), timeouts_, pool_settings_, req,
                          ctx.exchange.body());
    co_return co_await run(ctx, client);
  }
  if (req.upgrade) {
    // An h2c upstream has no HTTP/1.1 Upgrade (RFC 9113 §8.6) and usher
    // does not speak extended CONNECT upstream yet (decision 0007).
    ctx.error_status = 502;
    ctx.error_message = "upgrade to an h2c upstream is not supported";
    spdlog::warn(
        "reverse_proxy: {} {}: {} upgrade refused: the upstreams of this route speak h2c; "
        "route upgrades to an http:// upstream",
        req.method, req.path,
        last_value(req.headers, "Upgrade") ? *last_value(req.headers, "Upgrade") : "");
    co_return HandlerResult::kError;
  }
  H2UpstreamClient client(ctx.worker.h2_pools(), timeouts_, pool_settings_, req,
                          ctx.exchange.body());
  co_return co_await run(ctx, client);
}

template <class Client>
asio::awaitable<HandlerResult> ReverseProxy::run(RequestContext& ctx, Client& client) const {
  HttpRequest& req = ctx.request();
  const Forwarded fwd = forwarded(ctx);
  Headers scratch;
  const std::string remote_ip = peer_ip(ctx.exchange.connection());
  // Without a query the path is the URI: no copy.
  const std::string uri_with_query = req.query.empty() ? std::string() : req.uri();
  const std::string_view uri = req.query.empty() ? std::string_view(req.path) : uri_with_query;
  const Clock::time_point deadline =
      coarse_now() + (try_duration_.count() > 0 ? try_duration_ : kMaxRetryWindow);
  uint64_t tried = 0;
  for (int attempt = 0;; ++attempt) {
    SelectionInput input;
    input.remote_ip = remote_ip;
    input.uri = uri;
    input.headers = &req.headers;
    input.tls = ctx.exchange.connection().tls;
    input.tried = tried;
    const std::optional<Selection> selection = lb_->select(input, coarse_now());
    Failure failure = Failure::kNoUpstream;
    AttemptOutcome outcome = AttemptOutcome::kDialFailed;
    if (selection) {
      const size_t i = selection->index;
      const UpstreamEndpoint& endpoint = upstreams_->endpoints[i];
      ctx.upstream_hostport = endpoint.hostport;
      InFlight in_flight(lb_->health(i));
      outcome = co_await try_upstream(ctx, client, fwd, scratch, endpoint);
      count_attempt(*upstreams_->metrics[i], ctx.worker.index(), outcome, client);
      if (outcome == AttemptOutcome::kResponse)
        co_return co_await respond(ctx, client, i, selection->set_cookie);
      failure = Failure::kAttempt;
      if (outcome != AttemptOutcome::kClientFailed && outcome != AttemptOutcome::kNotReplayable)
        lb_->record_failure(i, Clock::now(), [&] { return client.error().message(); });
      if (i < 64) tried |= uint64_t{1} << i;
    }
    co_await end_attempt(client);
    if (!may_retry(outcome, failure, attempt, deadline, ctx, client))
      co_return fail(ctx, failure, outcome, client);
    co_await wait_before_retry(ctx, deadline);
  }
}

template <class Client>
asio::awaitable<AttemptOutcome> ReverseProxy::try_upstream(RequestContext& ctx, Client& client,
                                                           const Forwarded& fwd, Headers& scratch,
                                                           const UpstreamEndpoint& endpoint) const {
  ResponseSink& sink = ctx.exchange.response();
  prepare(ctx, fwd, scratch, client);
  AttemptOutcome outcome = co_await client.attempt(endpoint, sink, false);
  if (outcome != AttemptOutcome::kStale) co_return outcome;
  // A pooled connection the upstream had closed: once more on a fresh one.
  // Nothing reached the application, so this is safe for every method.
  prepare(ctx, fwd, scratch, client);
  outcome = co_await client.attempt(endpoint, sink, true);
  co_return outcome == AttemptOutcome::kStale ? AttemptOutcome::kNoResponse : outcome;
}

template <class Client>
bool ReverseProxy::may_retry(AttemptOutcome outcome, Failure failure, int attempt,
                             Clock::time_point deadline, const RequestContext& ctx,
                             const Client& client) const {
  const auto now = Clock::now();
  if (attempt + 1 >= kMaxAttempts || now >= deadline) return false;
  const bool budget = attempt < retries_ || try_duration_.count() > 0;
  if (!budget || client.body_committed()) return false;
  if (failure == Failure::kNoUpstream) return true;
  switch (outcome) {
    case AttemptOutcome::kDialFailed:
      return true;  // nothing was sent
    case AttemptOutcome::kNoResponse:
    case AttemptOutcome::kStale:
      // The upstream may have acted on it: only a request that may be sent
      // twice goes to another upstream.
      return is_idempotent(ctx.exchange.request().method);
    default:
      return false;
  }
}

asio::awaitable<void> ReverseProxy::wait_before_retry(RequestContext& ctx,
                                                      Clock::time_point deadline) const {
  if (try_interval_.count() <= 0) co_return;
  asio::steady_timer timer(ctx.worker.io());
  timer.expires_at(std::min(Clock::now() + try_interval_, deadline));
  co_await timer.async_wait(kNoThrow);
}

template <class Client>
HandlerResult ReverseProxy::fail(RequestContext& ctx, Failure failure, AttemptOutcome outcome,
                                 const Client& client) const {
  ResponseSink& sink = ctx.exchange.response();
  if (failure == Failure::kNoUpstream) {
    ctx.error_status = 503;
    ctx.error_message = "no upstream available";
    return HandlerResult::kError;
  }
  if (outcome == AttemptOutcome::kClientFailed) {
    // request_body's limit was hit (the body source set 413): an error page.
    if (ctx.error_status != 0 && !sink.head_written()) return HandlerResult::kError;
    sink.abort();  // the client is gone or broke its body: nothing to answer
    return HandlerResult::kDone;
  }
  ctx.error_status = outcome == AttemptOutcome::kTimeout ? 504 : 502;
  ctx.error_message = "upstream " + ctx.upstream_hostport + ": " + client.error().message();
  // Debug only: a dead upstream must not cost a warning per request; the
  // access log has the status, passive health logs the outage once.
  spdlog::debug("reverse_proxy: {} {}: {}", ctx.exchange.request().method,
                ctx.exchange.request().path, ctx.error_message);
  return HandlerResult::kError;
}

// ------------------------------------------------------------ the response

void ReverseProxy::build_response_head(const RequestContext& ctx, const ResponseHeadView& view,
                                       ResponseHead& head) const {
  head.status = view.status;
  head.reason.assign(view.reason);
  // Read from the parsed views: no copy of the fields to look them over.
  const ConnectionOptions options(view.headers);
  head.headers.fields().reserve(view.headers.size() + 2);  // one allocation, not log2(n)
  for (const HeaderField& f : view.headers) {
    if (is_hop_by_hop(f.name, options) || iequals(f.name, "content-length")) continue;
    head.headers.add(f.name, f.value);
  }
  if (view.status == 101) {
    head.headers.add("Connection", "Upgrade");
    head.headers.add("Upgrade", view.upgrade);
  }
  // The declared length goes on for HEAD answers too (RFC 9110 §9.3.2).
  if (view.framing == ResponseFraming::kContentLength ||
      (view.framing == ResponseFraming::kNone && view.has_content_length))
    head.content_length = view.content_length;
  for (const core::HeaderOp& op : header_down_)
    apply_header_op(op, head.headers, ctx);
}

milliseconds ReverseProxy::flush_interval(const ResponseHeadView& view) const {
  if (flush_interval_) return *flush_interval_;
  // Server-sent events and bodies of unknown length (streams) go out as
  // they arrive, as Go's and so Caddy's proxy do.
  if (view.framing != ResponseFraming::kContentLength) return milliseconds(-1);
  for (const HeaderField& f : view.headers) {
    if (iequals(f.name, "content-type") && f.value.substr(0, 17) == "text/event-stream")
      return milliseconds(-1);
  }
  return milliseconds(0);
}

template <class Client>
asio::awaitable<HandlerResult> ReverseProxy::respond(RequestContext& ctx, Client& client,
                                                     size_t index,
                                                     const std::string& set_cookie) const {
  const ResponseHeadView& view = client.response();
  ResponseSink& sink = ctx.exchange.response();
  if (lb_->passive_enabled() && lb_->is_unhealthy_status(view.status))
    lb_->record_failure(index, Clock::now(),
                        [&] { return "answered with status " + std::to_string(view.status); });
  ResponseHead head;
  build_response_head(ctx, view, head);
  if (!set_cookie.empty()) head.headers.add("Set-Cookie", set_cookie);
  const milliseconds flush = flush_interval(view);
  if (co_await sink.write_head(head)) {
    sink.abort();
    if constexpr (std::is_same_v<Client, H2UpstreamClient>) co_await end_attempt(client);
    co_return HandlerResult::kDone;
  }
  if constexpr (std::is_same_v<Client, UpstreamClient>) {
    if (view.status == 101) {
      UpgradedStream* stream = ctx.exchange.upgraded_stream();
      if (stream == nullptr) {
        sink.abort();
        co_return HandlerResult::kDone;
      }
      co_await client.tunnel(*stream);
      client.finish_attempt();
      co_return HandlerResult::kDone;
    }
  }
  if (std::error_code ec = co_await client.relay_body(sink, flush)) {
    // Mid-response: the client must see a broken response, never a
    // truncated one that looks complete.
    sink.abort();
    spdlog::debug("reverse_proxy: relaying the response of {}: {}", ctx.upstream_hostport,
                  ec.message());
  }
  co_await end_attempt(client);
  co_return HandlerResult::kDone;
}

}  // namespace

std::unique_ptr<RouteHandler> make_reverse_proxy_handler(const core::ReverseProxyHandler& config) {
  return std::make_unique<ReverseProxy>(config);
}

}  // namespace usher::proxy
