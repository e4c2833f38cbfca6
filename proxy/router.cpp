// RouteTable: which site serves an exchange, and the steps every exchange
// takes before and after the site's routes (ACME HTTP-01, the HTTP→HTTPS
// redirect, error pages, the access log). The request journey is serve();
// it reads top to bottom.

#include "proxy/router.h"

#include <algorithm>
#include <chrono>
#include <span>

#include "core/diagnostic.h"
#include "core/ip_range.h"
#include "proxy/access_log.h"
#include "proxy/handlers.h"
#include "proxy/http1_writer.h"
#include "proxy/matcher.h"
#include "proxy/metrics.h"
#include "proxy/placeholder_expand.h"
#include "proxy/site_address.h"
#include "proxy/worker_context.h"

namespace usher::proxy {

/// One site block, compiled.
struct CompiledSite {
  RouteList routes;
  RouteList error_routes;
  std::shared_ptr<const AccessLog> access_log;  // null = no `log`
  std::shared_ptr<SiteMetrics> metrics;         // shared with the tables before and after a reload
  size_t path_length = 0;  // longest path in its addresses: longer paths are tried first
  std::string name;        // its addresses as written, for status pages
};

namespace {

// RFC 8555 §8.3: the path HTTP-01 validation requests.
constexpr std::string_view kAcmeChallengePath = "/.well-known/acme-challenge/";

using SiteList = std::vector<const CompiledSite*>;

/// The sites of one listening port by host: exact names, then wildcards
/// (longest first), then the catch-all, as Caddy prefers the most specific.
struct PortSites {
  uint16_t port = 0;
  bool tls = false;
  std::vector<std::pair<std::string, SiteList>> exact;  // sorted by lower-case name
  std::vector<std::pair<HostPattern, SiteList>> wildcards;
  std::vector<size_t> wildcard_lengths;
  SiteList catch_all;
  std::vector<core::IpRange> trusted_proxies;

  /// The sites named for `host` (exact, then wildcard), or null.
  const SiteList* find_named(std::string_view host) const {
    auto it =
        std::lower_bound(exact.begin(), exact.end(), host,
                         [](const auto& entry, std::string_view h) { return entry.first < h; });
    if (it != exact.end() && it->first == host) return &it->second;
    for (const auto& [pattern, sites] : wildcards)
      if (pattern.matches(host)) return &sites;
    return nullptr;
  }

  /// The sites serving `host`, the catch-all included, or null.
  const SiteList* find(std::string_view host) const {
    const SiteList* named = find_named(host);
    if (named != nullptr) return named;
    return catch_all.empty() ? nullptr : &catch_all;
  }
};

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; });
  return out;
}

void add_site(SiteList& list, const CompiledSite* site) {
  if (std::find(list.begin(), list.end(), site) == list.end()) list.push_back(site);
}

SiteList& exact_entry(PortSites& port, const std::string& host) {
  for (auto& [name, sites] : port.exact)
    if (name == host) return sites;
  return port.exact.emplace_back(host, SiteList{}).second;
}

SiteList& wildcard_entry(PortSites& port, const std::string& host) {
  for (size_t i = 0; i < port.wildcards.size(); ++i)
    if (port.wildcards[i].first.matches(host) && port.wildcard_lengths[i] == host.size())
      return port.wildcards[i].second;
  port.wildcard_lengths.push_back(host.size());
  return port.wildcards.emplace_back(HostPattern(host), SiteList{}).second;
}

// Fixes the lookup order once everything is indexed.
void finish_index(PortSites& port) {
  std::sort(port.exact.begin(), port.exact.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<size_t> order(port.wildcards.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return port.wildcard_lengths[a] > port.wildcard_lengths[b];
  });
  std::vector<std::pair<HostPattern, SiteList>> sorted;
  for (size_t i : order)
    sorted.push_back(std::move(port.wildcards[i]));
  port.wildcards = std::move(sorted);
  // Sites sharing a host: longer address paths first, as Caddy sorts them.
  auto by_path = [](const CompiledSite* a, const CompiledSite* b) {
    return a->path_length > b->path_length;
  };
  for (auto& entry : port.exact)
    std::stable_sort(entry.second.begin(), entry.second.end(), by_path);
  for (auto& entry : port.wildcards)
    std::stable_sort(entry.second.begin(), entry.second.end(), by_path);
  std::stable_sort(port.catch_all.begin(), port.catch_all.end(), by_path);
}

// `servers :443 { trusted_proxies … }` applies to that port, `servers` to all.
std::vector<core::IpRange> trusted_proxies_for(uint16_t port, const core::GlobalOptions& global) {
  std::vector<core::IpRange> out;
  for (const core::ServerOptions& server : global.servers) {
    const std::string suffix = ":" + std::to_string(port);
    if (!server.listener.empty() && !server.listener.ends_with(suffix)) continue;
    for (const std::string& spec : core::expand_private_ranges(server.trusted_proxies))
      if (auto range = core::IpRange::parse(spec)) out.push_back(*range);
  }
  return out;
}

// The `site` label of the metrics: the site's first address as written.
std::string site_label(const core::Site& site) {
  return site.addresses.empty() ? std::string() : site.addresses.front().original;
}

size_t longest_path(const core::Site& site) {
  size_t longest = 0;
  for (const core::SiteAddress& a : site.addresses)
    longest = std::max(longest, a.path.size());
  return longest;
}

std::string site_name(const core::Site& site) {
  std::string name;
  for (const core::SiteAddress& a : site.addresses)
    name += (name.empty() ? "" : ", ") +
            (!a.original.empty() ? a.original
                                 : a.host + (a.port != 0 ? ":" + std::to_string(a.port) : ""));
  return name;
}

// ------------------------------------------------------------ the exchange seen by handlers

/// The response sink handlers write to: applies the response header
/// operations `header` collected when the head goes out, and remembers the
/// status for the access log.
class SiteSink : public ResponseSink {
 public:
  SiteSink(ResponseSink& inner, const RequestContext*& ctx) : inner_(inner), ctx_(ctx) {}

  asio::awaitable<std::error_code> write_interim(const ResponseHead& head) override {
    return inner_.write_interim(head);
  }
  asio::awaitable<std::error_code> write_head(const ResponseHead& head) override {
    status_ = head.status;
    if (ctx_->response_header_ops.empty()) return inner_.write_head(head);
    return write_head_with_ops(head);
  }
  asio::awaitable<std::error_code> write_body(std::span<const char> data, bool flush) override {
    return inner_.write_body(data, flush);
  }
  asio::awaitable<std::error_code> finish(const Headers* trailers) override {
    return inner_.finish(trailers);
  }
  void abort() override {
    aborted_ = true;
    inner_.abort();
  }
  bool head_written() const override { return inner_.head_written(); }
  uint64_t body_bytes() const override { return inner_.body_bytes(); }

  int status() const { return status_; }
  bool aborted() const { return aborted_; }

 private:
  // The copy lives in this coroutine's frame until the inner write is done.
  asio::awaitable<std::error_code> write_head_with_ops(ResponseHead head) {
    apply_response_header_ops(*ctx_, head.headers);
    co_return co_await inner_.write_head(head);
  }

  ResponseSink& inner_;
  const RequestContext*& ctx_;
  int status_ = 0;
  bool aborted_ = false;
};

/// The codec's exchange with the site's sink and the size-limited body.
class SiteExchange : public Exchange {
 public:
  explicit SiteExchange(Exchange& inner) : inner_(inner), sink_(inner.response(), ctx_) {}

  void attach(RequestContext& ctx) {
    ctx_ = &ctx;
    body_.emplace(inner_.body(), ctx);
  }

  HttpRequest& request() override { return inner_.request(); }
  const ConnectionInfo& connection() const override { return inner_.connection(); }
  BodySource& body() override { return *body_; }
  ResponseSink& response() override { return sink_; }
  UpgradedStream* upgraded_stream() override { return inner_.upgraded_stream(); }
  void close_after() override { inner_.close_after(); }

  const SiteSink& sink() const { return sink_; }
  uint64_t bytes_read() const { return body_ ? body_->bytes_read() : 0; }

 private:
  Exchange& inner_;
  const RequestContext* ctx_ = nullptr;
  SiteSink sink_;
  std::optional<LimitedBodySource> body_;
};

// The client address: the peer, or with a trusted peer the left-most
// X-Forwarded-For entry, as Caddy's client_ip without strict mode.
std::string client_ip(Exchange& exchange, const PortSites& port) {
  const ConnectionInfo& conn = exchange.connection();
  std::string out;
  if (!port.trusted_proxies.empty()) {
    const core::IpAddress peer = to_ip_address(conn.remote_address);
    const bool trusted = std::any_of(port.trusted_proxies.begin(), port.trusted_proxies.end(),
                                     [&](const core::IpRange& r) { return r.contains(peer); });
    const std::string* forwarded =
        trusted ? exchange.request().headers.find("X-Forwarded-For") : nullptr;
    if (forwarded != nullptr) {
      std::string_view first = std::string_view(*forwarded).substr(0, forwarded->find(','));
      while (!first.empty() && first.front() == ' ')
        first.remove_prefix(1);
      while (!first.empty() && first.back() == ' ')
        first.remove_suffix(1);
      if (core::IpAddress::parse(first)) return std::string(first);
    }
  }
  if (!conn.remote_ip.empty()) return conn.remote_ip;  // formatted once per connection
  append_address(conn.remote_address, out);
  return out;
}

std::string_view proto_name(const HttpRequest& request) {
  if (request.version_major == 2) return "HTTP/2.0";
  if (request.version_major == 3) return "HTTP/3.0";
  return request.version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1";
}

// Writes a complete small response straight to the codec (no site routes).
// Returns the status sent, 0 when the response could not be written.
asio::awaitable<int> write_plain(Exchange& exchange, int status, std::string_view body,
                                 std::string_view location = {}) {
  ResponseHead head;
  head.status = status;
  if (!body.empty()) head.headers.add("Content-Type", "text/plain; charset=utf-8");
  if (!location.empty()) head.headers.add("Location", location);
  head.content_length = body.size();
  ResponseSink& sink = exchange.response();
  std::error_code ec = co_await sink.write_head(head);
  if (!ec && !body.empty() && exchange.request().method != "HEAD")
    ec = co_await sink.write_body({body.data(), body.size()});
  if (!ec) ec = co_await sink.finish();
  if (ec) sink.abort();
  co_return ec ? 0 : status;
}

}  // namespace

// ------------------------------------------------------------ the table

struct RouteTable::Impl {
  RouterOptions options;
  core::GlobalOptions::AutoHttps auto_https = core::GlobalOptions::AutoHttps::kOn;
  uint16_t http_port = 80;
  uint16_t https_port = 443;
  std::vector<std::unique_ptr<CompiledSite>> sites;
  std::vector<PortSites> ports;
  std::shared_ptr<SiteMetrics> unrouted;  // site="": redirects, challenges, unknown hosts

  PortSites& port_entry(ServedAddress served);
  const PortSites* find_port(uint16_t port) const;
  void index_site(const core::Site& site, const CompiledSite* compiled,
                  const core::GlobalOptions& global);

  // The exchange steps, in the order serve() takes them.
  // Each returns the status it answered with (0: the write failed), or
  // nullopt when the request is not theirs.
  asio::awaitable<std::optional<int>> answer_challenge(Exchange& exchange) const;
  /// Whether answer_challenge() may answer: checked first, as calling a
  /// coroutine allocates its frame, on every request.
  bool may_answer_challenge(Exchange& exchange) const {
    return options.challenges != nullptr && !exchange.connection().tls &&
           exchange.request().path.starts_with(kAcmeChallengePath);
  }
  asio::awaitable<std::optional<int>> redirect_to_https(Exchange& exchange) const;
  void count_unrouted(int status, Exchange& exchange, WorkerContext& worker,
                      std::chrono::steady_clock::time_point start) const;
  asio::awaitable<void> run_sites(const SiteList& candidates, const PortSites& port,
                                  Exchange& exchange, WorkerContext& worker) const;
  asio::awaitable<void> handle_error(const CompiledSite& site, RequestContext& ctx,
                                     SiteExchange& wrapped) const;
  void log_exchange(const CompiledSite& site, const RequestContext& ctx,
                    const SiteExchange& wrapped, std::chrono::steady_clock::duration elapsed) const;
  void count_exchange(const CompiledSite& site, const SiteExchange& wrapped, WorkerContext& worker,
                      std::chrono::steady_clock::duration elapsed) const;
};

PortSites& RouteTable::Impl::port_entry(ServedAddress served) {
  for (PortSites& p : ports)
    if (p.port == served.port) return p;
  PortSites& added = ports.emplace_back();
  added.port = served.port;
  added.tls = served.tls;
  return added;
}

const PortSites* RouteTable::Impl::find_port(uint16_t port) const {
  for (const PortSites& p : ports)
    if (p.port == port) return &p;
  return nullptr;
}

void RouteTable::Impl::index_site(const core::Site& site, const CompiledSite* compiled,
                                  const core::GlobalOptions& global) {
  for (const core::SiteAddress& address : site.addresses) {
    PortSites& port = port_entry(serve_address(address, site, global));
    const std::string host = lower(address.host);
    if (host.empty()) {
      add_site(port.catch_all, compiled);
    } else if (host.find('*') != std::string::npos) {
      add_site(wildcard_entry(port, host), compiled);
    } else {
      add_site(exact_entry(port, host), compiled);
    }
  }
}

std::shared_ptr<const RouteTable> RouteTable::build(const core::Config& config,
                                                    RouterOptions options) {
  std::shared_ptr<RouteTable> table(new RouteTable());
  Impl& impl = *table->impl_;
  impl.options = options;
  impl.auto_https = config.global.auto_https;
  impl.http_port = config.global.http_port;
  impl.https_port = config.global.https_port;
  SinkCache sinks;
  MetricsRegistry& metrics = options.metrics ? *options.metrics : MetricsRegistry::global();
  impl.unrouted = metrics.site("");
  for (const core::Site& site : config.sites) {
    auto compiled = std::make_unique<CompiledSite>();
    compiled->metrics = metrics.site(site_label(site));
    compiled->routes = RouteList::compile(site.routes);
    compiled->error_routes = RouteList::compile(site.error_routes);
    if (site.log) compiled->access_log = AccessLog::open(*site.log, sinks);
    compiled->path_length = longest_path(site);
    compiled->name = site_name(site);
    impl.index_site(site, compiled.get(), config.global);
    impl.sites.push_back(std::move(compiled));
  }
  for (PortSites& port : impl.ports) {
    finish_index(port);
    port.trusted_proxies = trusted_proxies_for(port.port, config.global);
  }
  return table;
}

RouteTable::RouteTable() : impl_(std::make_unique<Impl>()) {}
RouteTable::~RouteTable() = default;

std::vector<UpstreamGroup> RouteTable::upstreams() const {
  std::vector<UpstreamGroup> out;
  for (const auto& site : impl_->sites) {
    size_t first = out.size();
    site->routes.collect_upstreams(out);
    site->error_routes.collect_upstreams(out);
    for (size_t i = first; i < out.size(); ++i)
      out[i].site = site->name;
  }
  return out;
}

asio::awaitable<void> RouteTable::serve(Exchange& exchange, WorkerContext& worker) const {
  // run_sites() times the requests that reach a site; the others are timed
  // here, from when they are known not to (one clock read fewer per request).
  if (impl_->may_answer_challenge(exchange)) {
    const auto start = std::chrono::steady_clock::now();
    if (auto sent = co_await impl_->answer_challenge(exchange)) {
      impl_->count_unrouted(*sent, exchange, worker, start);
      co_return;
    }
  }
  const HttpRequest& request = exchange.request();
  const PortSites* port = impl_->find_port(exchange.connection().local_port);
  const SiteList* sites = port != nullptr ? port->find_named(request.host) : nullptr;
  // Caddy's redirects are host-specific routes, so they come before a
  // catch-all plain-HTTP site, never before a site named for the host.
  if (sites == nullptr) {
    const auto start = std::chrono::steady_clock::now();
    if (auto sent = co_await impl_->redirect_to_https(exchange)) {
      impl_->count_unrouted(*sent, exchange, worker, start);
      co_return;
    }
  }
  if (sites == nullptr && port != nullptr && !port->catch_all.empty()) sites = &port->catch_all;
  if (sites != nullptr) {
    co_await impl_->run_sites(*sites, *port, exchange, worker);
    co_return;
  }
  // Caddy answers an empty 200 here, which hides a mistyped host name.
  const auto start = std::chrono::steady_clock::now();
  const std::string body = "usher: no site is configured for host " + request.host + "\n";
  const int sent = co_await write_plain(exchange, 404, body);
  impl_->count_unrouted(sent, exchange, worker, start);
}

// Requests no site serves count under site="": a flood of unknown hosts or
// of plain-HTTP requests shows in the metrics too.
void RouteTable::Impl::count_unrouted(int status, Exchange& exchange, WorkerContext& worker,
                                      std::chrono::steady_clock::time_point start) const {
  unrouted->record(worker.index(), status, std::chrono::steady_clock::now() - start, 0,
                   exchange.response().body_bytes());
}

// HTTP-01 (RFC 8555 §8.3) on plain HTTP, before any site sees the request.
asio::awaitable<std::optional<int>> RouteTable::Impl::answer_challenge(Exchange& exchange) const {
  const HttpRequest& request = exchange.request();
  if (options.challenges == nullptr || exchange.connection().tls ||
      !request.path.starts_with(kAcmeChallengePath))
    co_return std::nullopt;
  const std::string_view token = std::string_view(request.path).substr(kAcmeChallengePath.size());
  const auto key = options.challenges->http01_key_authorization(request.host, token);
  if (!key) co_return std::nullopt;
  co_return co_await write_plain(exchange, 200, *key);
}

// A plain-HTTP request for a host an HTTPS site serves goes to HTTPS (308
// keeps the method and body). Challenge paths never redirect: a pending
// challenge was answered above, any other token is simply unknown. As in
// Caddy, only http_port redirects: another plain port (`:8081 { … }`) is a
// site of its own and serves every host it is asked for.
asio::awaitable<std::optional<int>> RouteTable::Impl::redirect_to_https(Exchange& exchange) const {
  const HttpRequest& request = exchange.request();
  if (exchange.connection().tls || exchange.connection().local_port != http_port ||
      auto_https != core::GlobalOptions::AutoHttps::kOn)
    co_return std::nullopt;
  const PortSites* target = nullptr;
  for (const PortSites& p : ports)
    if (p.tls && p.find(request.host) != nullptr && (target == nullptr || p.port == https_port))
      target = &p;
  if (target == nullptr) co_return std::nullopt;
  if (request.path.starts_with(kAcmeChallengePath))
    co_return co_await write_plain(exchange, 404, "usher: no such acme challenge\n");
  std::string location = "https://";
  // An IPv6 literal needs its brackets back in a URL.
  const bool bare_ipv6 =
      request.host.find(':') != std::string::npos && !request.host.starts_with('[');
  location += bare_ipv6 ? "[" + request.host + "]" : request.host;
  if (target->port != 443) location += ":" + std::to_string(target->port);
  location += request.uri();
  co_return co_await write_plain(exchange, 308, {}, location);
}

asio::awaitable<void> RouteTable::Impl::run_sites(const SiteList& candidates, const PortSites& port,
                                                  Exchange& exchange, WorkerContext& worker) const {
  const auto start = std::chrono::steady_clock::now();
  SiteExchange wrapped(exchange);
  RequestContext ctx(wrapped, worker);
  wrapped.attach(ctx);
  ctx.original_uri = exchange.request().uri();
  ctx.client_ip = client_ip(exchange, port);

  // Sites sharing a host differ by address path; the first that handles wins.
  const CompiledSite* site = candidates.front();
  HandlerResult result = HandlerResult::kNext;
  for (const CompiledSite* candidate : candidates) {
    site = candidate;
    result = co_await candidate->routes.run(ctx);
    if (result != HandlerResult::kNext) break;
  }
  if (result == HandlerResult::kError) {
    co_await handle_error(*site, ctx, wrapped);
  } else if (result == HandlerResult::kNext && !wrapped.sink().head_written()) {
    // No handler answered: Caddy's default is an empty 200.
    co_await send_response(ctx, 200, {}, {});
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  if (site->access_log) log_exchange(*site, ctx, wrapped, elapsed);
  count_exchange(*site, wrapped, worker, elapsed);
}

void RouteTable::Impl::count_exchange(const CompiledSite& site, const SiteExchange& wrapped,
                                      WorkerContext& worker,
                                      std::chrono::steady_clock::duration elapsed) const {
  const SiteSink& sink = wrapped.sink();
  const int status = sink.aborted() && !sink.head_written() ? 0 : sink.status();
  site.metrics->record(worker.index(), status, elapsed, wrapped.bytes_read(), sink.body_bytes());
}

// handle_errors routes with {err.*} set, else a plain `status text` page.
asio::awaitable<void> RouteTable::Impl::handle_error(const CompiledSite& site, RequestContext& ctx,
                                                     SiteExchange& wrapped) const {
  ResponseSink& sink = wrapped.response();
  if (sink.head_written()) {
    // Too late for an error page: a reset is honest, a truncated body is not.
    sink.abort();
    co_return;
  }
  if (ctx.error_status < 100 || ctx.error_status > 999) ctx.error_status = 500;
  if (!site.error_routes.empty()) {
    const HandlerResult result = co_await site.error_routes.run(ctx);
    if (result == HandlerResult::kDone || sink.head_written()) co_return;
    if (ctx.error_status < 100 || ctx.error_status > 999) ctx.error_status = 500;
  }
  std::string body = std::to_string(ctx.error_status);
  body += ' ';
  body += reason_phrase(ctx.error_status);
  body += '\n';
  co_await send_response(ctx, ctx.error_status, "text/plain; charset=utf-8", body);
}

void RouteTable::Impl::log_exchange(const CompiledSite& site, const RequestContext& ctx,
                                    const SiteExchange& wrapped,
                                    std::chrono::steady_clock::duration elapsed) const {
  const ConnectionInfo& conn = ctx.exchange.connection();
  const HttpRequest& request = ctx.exchange.request();
  AccessRecord record;
  // When the request began, on the wall clock: read once here, for logged
  // requests only, rather than at the start of every request.
  record.time = std::chrono::system_clock::now() -
                std::chrono::duration_cast<std::chrono::system_clock::duration>(elapsed);
  record.remote_ip = ctx.client_ip;
  record.remote_port = conn.remote_port;
  record.proto = proto_name(request);
  record.method = request.method;
  record.host = request.host;
  record.uri = ctx.original_uri;
  record.status =
      wrapped.sink().aborted() && !wrapped.sink().head_written() ? 0 : wrapped.sink().status();
  record.size = wrapped.sink().body_bytes();
  record.bytes_read = wrapped.bytes_read();
  record.duration = std::chrono::duration<double>(elapsed).count();
  record.upstream = ctx.upstream_hostport;
  record.tls_version = conn.tls_version;
  site.access_log->write(record);
}

}  // namespace usher::proxy
