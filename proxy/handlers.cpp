#include "proxy/handlers.h"

#include <algorithm>
#include <cctype>
#include <variant>

#include "core/diagnostic.h"
#include "proxy/placeholder_expand.h"
#include "proxy/reverse_proxy.h"

namespace usher::proxy {
namespace {

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The escape `%XY` starting at `at` decoded, or -1 when there is none.
int escape_at(std::string_view text, size_t at) {
  if (at + 3 > text.size() || text[at] != '%') return -1;
  const int hi = hex_value(text[at + 1]);
  const int lo = hex_value(text[at + 2]);
  return (hi < 0 || lo < 0) ? -1 : hi * 16 + lo;
}

bool same_folded(int a, char b) {
  return ascii_lower(static_cast<char>(a)) == ascii_lower(b);
}

void ensure_leading_slash(std::string& path) {
  if (path.empty() || path.front() != '/') path.insert(path.begin(), '/');
}

// Replaces up to `limit` occurrences (0 = all) of `find` in `text`.
void replace_substrings(std::string& text, std::string_view find, std::string_view with,
                        int limit) {
  if (find.empty()) return;
  int done = 0;
  for (size_t at = text.find(find); at != std::string::npos; at = text.find(find, at)) {
    if (limit > 0 && done == limit) return;
    text.replace(at, find.size(), with);
    at += with.size();
    ++done;
  }
}

// A reused per-thread buffer for values that are copied right away (header
// values); never held across a suspension point.
std::string& scratch_buffer() {
  thread_local std::string buffer;
  buffer.clear();
  return buffer;
}

bool name_has_wildcard_edges(std::string_view name, bool& leading, bool& trailing) {
  leading = name.size() > 1 && name.front() == '*';
  trailing = name.size() > 1 && name.back() == '*';
  return leading || trailing;
}

bool header_name_contains(std::string_view name, std::string_view part) {
  if (part.size() > name.size()) return false;
  for (size_t i = 0; i + part.size() <= name.size(); ++i)
    if (header_name_equals(name.substr(i, part.size()), part)) return true;
  return false;
}

// `-Name*`, `-*Name` and `-*Name*` delete by prefix, suffix or substring.
void delete_headers(std::string_view name, Headers& headers) {
  bool leading = false;
  bool trailing = false;
  if (!name_has_wildcard_edges(name, leading, trailing)) {
    headers.remove(name);
    return;
  }
  if (trailing && !leading) {
    headers.remove_prefix(name.substr(0, name.size() - 1));
    return;
  }
  const std::string_view core_name = name.substr(1, name.size() - (trailing ? 2 : 1));
  std::erase_if(headers.fields(), [&](const Header& h) {
    if (trailing) return header_name_contains(h.name, core_name);
    return h.name.size() >= core_name.size() &&
           header_name_equals(std::string_view(h.name).substr(h.name.size() - core_name.size()),
                              core_name);
  });
}

void replace_in_headers(const core::HeaderOp& op, std::string_view with, Headers& headers) {
  for (Header& h : headers.fields())
    if (op.name == "*" || header_name_equals(h.name, op.name))
      replace_substrings(h.value, op.search, with, 0);
}

core::HeaderOp resolved(const core::HeaderOp& op) {
  core::HeaderOp out = op;
  out.value = resolve_env(op.value);
  return out;
}

std::vector<core::HeaderOp> resolved(const std::vector<core::HeaderOp>& ops) {
  std::vector<core::HeaderOp> out;
  out.reserve(ops.size());
  for (const core::HeaderOp& op : ops)
    out.push_back(resolved(op));
  return out;
}

// Caddy's respond sets a Content-Type when the body has one that is obvious.
std::string_view guess_content_type(std::string_view body) {
  const size_t first = body.find_first_not_of(" \t\r\n");
  const size_t last = body.find_last_not_of(" \t\r\n");
  if (first != std::string_view::npos && last > first + 1) {
    const char open = body[first];
    const char close = body[last];
    if ((open == '{' && close == '}') || (open == '[' && close == ']')) return "application/json";
  }
  return "text/plain; charset=utf-8";
}

void append_html_escaped(std::string_view text, std::string& out) {
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
}

/// A template resolved at build time; literal ones are expanded once.
class Expandable {
 public:
  explicit Expandable(const core::Template& tmpl) : tmpl_(resolve_env(tmpl)) {
    literal_ = tmpl_.is_literal();
    if (literal_)
      for (const core::TemplatePart& p : tmpl_.parts)
        text_ += p.text;
  }
  /// The expansion for `ctx`: the literal text, or `storage` filled.
  std::string_view view(const RequestContext& ctx, std::string& storage) const {
    if (literal_) return text_;
    storage.clear();
    expand_into(tmpl_, ctx, storage);
    return storage;
  }
  const core::Template& tmpl() const { return tmpl_; }

 private:
  core::Template tmpl_;
  std::string text_;
  bool literal_ = false;
};

// ------------------------------------------------------------ handlers

/// `respond`.
class RespondRoute : public RouteHandler {
 public:
  explicit RespondRoute(const core::RespondHandler& config)
      : body_(config.body), status_(config.status), close_(config.close) {}

  asio::awaitable<HandlerResult> handle(RequestContext& ctx) const override {
    if (close_) ctx.exchange.close_after();
    std::string storage;
    const std::string_view body = body_.view(ctx, storage);
    // As Caddy: in handle_errors, a respond without its own status keeps
    // the error's status.
    const int status = status_ == 200 && ctx.error_status != 0 ? ctx.error_status : status_;
    co_await send_response(ctx, status, guess_content_type(body), body);
    co_return HandlerResult::kDone;
  }

 private:
  Expandable body_;
  int status_;
  bool close_;
};

/// `redir`: a Location header, or with `html` a page that redirects.
class RedirRoute : public RouteHandler {
 public:
  explicit RedirRoute(const core::RedirHandler& config)
      : to_(config.to), status_(config.status), html_(config.html) {}

  asio::awaitable<HandlerResult> handle(RequestContext& ctx) const override {
    std::string storage;
    const std::string_view to = to_.view(ctx, storage);
    if (html_) {
      co_await send_response(ctx, status_, "text/html; charset=utf-8", html_page(to));
      co_return HandlerResult::kDone;
    }
    ResponseHead head;
    head.status = status_;
    head.headers.add("Location", to);
    head.content_length = 0;
    co_await send_head_only(ctx, head);
    co_return HandlerResult::kDone;
  }

 private:
  static std::string html_page(std::string_view to) {
    std::string escaped;
    append_html_escaped(to, escaped);
    std::string page = "<!DOCTYPE html>\n<html><head><title>Redirecting</title>";
    page += "<meta http-equiv=\"refresh\" content=\"0; url=" + escaped + "\"></head>\n";
    page += "<body>This page has moved to <a href=\"" + escaped + "\">" + escaped +
            "</a>.</body></html>\n";
    return page;
  }

  static asio::awaitable<void> send_head_only(RequestContext& ctx, const ResponseHead& head) {
    ResponseSink& sink = ctx.exchange.response();
    std::error_code ec = co_await sink.write_head(head);
    if (!ec) ec = co_await sink.finish();
    if (ec) sink.abort();
  }

  Expandable to_;
  int status_;
  bool html_;
};

/// `header` and `request_header`. Request operations apply at once; response
/// operations are collected and applied when the response head is written,
/// whoever writes it (respond, an upstream, the error page).
///
/// Caddy applies a response operation without `>` to the header map at once
/// (so an upstream's header of the same name is added next to it); usher
/// applies every response operation to the final head, so `header X v`
/// always wins over the upstream. This is what people mean when they write it.
class HeadersRoute : public RouteHandler {
 public:
  explicit HeadersRoute(const core::HeadersHandler& config)
      : request_(config.request), ops_(resolved(config.ops)) {}

  asio::awaitable<HandlerResult> handle(RequestContext& ctx) const override {
    if (request_) {
      for (const core::HeaderOp& op : ops_)
        apply_header_op(op, ctx.request().headers, ctx);
    } else {
      for (const core::HeaderOp& op : ops_)
        ctx.response_header_ops.push_back(&op);
    }
    co_return HandlerResult::kNext;
  }

 private:
  bool request_;
  std::vector<core::HeaderOp> ops_;
};

/// `request_body { max_size }`: 413 at once when the announced length is too
/// large; bodies of unknown length are cut by LimitedBodySource.
class RequestBodyRoute : public RouteHandler {
 public:
  explicit RequestBodyRoute(const core::RequestBodyHandler& config) : max_(config.max_size) {}

  asio::awaitable<HandlerResult> handle(RequestContext& ctx) const override {
    if (max_ == 0) co_return HandlerResult::kNext;
    ctx.max_body_size = max_;
    const std::optional<uint64_t>& length = ctx.request().content_length;
    if (!length || *length <= max_) co_return HandlerResult::kNext;
    // The unread body must not be taken for the next request.
    ctx.exchange.close_after();
    ctx.error_status = 413;
    ctx.error_message = "request body too large";
    co_return HandlerResult::kError;
  }

 private:
  uint64_t max_;
};

/// `abort`: the connection is closed without a response.
class AbortRoute : public RouteHandler {
 public:
  asio::awaitable<HandlerResult> handle(RequestContext& ctx) const override {
    ctx.exchange.close_after();
    ctx.exchange.response().abort();
    co_return HandlerResult::kDone;
  }
};

/// `error`: hands the request to handle_errors with a status and message.
class ErrorRoute : public RouteHandler {
 public:
  explicit ErrorRoute(const core::ErrorHandler& config)
      : message_(config.message), status_(config.status) {}

  asio::awaitable<HandlerResult> handle(RequestContext& ctx) const override {
    std::string storage;
    ctx.error_status = status_;
    ctx.error_message = message_.view(ctx, storage);
    co_return HandlerResult::kError;
  }

 private:
  Expandable message_;
  int status_;
};

/// `uri strip_prefix|strip_suffix|replace`. Prefix and suffix work on the
/// cleaned path, as Caddy's do, so that `//api/x` loses `/api` too.
class UriRoute : public RouteHandler {
 public:
  explicit UriRoute(const core::UriHandler& config) : config_(config) {
    if (config_.op == core::UriHandler::Op::kStripPrefix) ensure_leading_slash(config_.find);
  }

  asio::awaitable<HandlerResult> handle(RequestContext& ctx) const override {
    HttpRequest& request = ctx.request();
    clean_path_in_place(request.path);
    switch (config_.op) {
      case core::UriHandler::Op::kStripPrefix:
        strip_path_prefix(request.path, config_.find);
        break;
      case core::UriHandler::Op::kStripSuffix:
        strip_path_suffix(request.path, config_.find);
        break;
      case core::UriHandler::Op::kReplace:
        replace_substrings(request.path, config_.find, config_.replace, config_.limit);
        replace_substrings(request.query, config_.find, config_.replace, config_.limit);
        ensure_leading_slash(request.path);
        break;
    }
    co_return HandlerResult::kNext;
  }

 private:
  core::UriHandler config_;
};

/// `rewrite TO`: replaces the path and, when TO has a `?`, the query.
/// Placeholder values in the query part are query-escaped, except {query}
/// which already is; empty `&` components are dropped, so that
/// `/x?{query}&a=b` gives `a=b` for a request without a query, as in Caddy.
class RewriteRoute : public RouteHandler {
 public:
  explicit RewriteRoute(const core::RewriteHandler& config) { split(resolve_env(config.to)); }

  asio::awaitable<HandlerResult> handle(RequestContext& ctx) const override {
    std::string path;
    expand_into(path_, ctx, path);
    std::optional<std::string> query;
    // A placeholder may bring a query along ({uri}); it counts as written.
    if (const size_t q = path.find('?'); q != std::string::npos) {
      query = path.substr(q + 1);
      path.resize(q);
    }
    if (has_query_) query = expand_query(ctx);
    HttpRequest& request = ctx.request();
    if (!path.empty()) {
      ensure_leading_slash(path);
      request.path = std::move(path);
    }
    if (query) request.query = drop_empty_components(*query);
    co_return HandlerResult::kNext;
  }

 private:
  // Splits the template at the first `?` of its literal text.
  void split(const core::Template& to) {
    core::Template* target = &path_;
    for (const core::TemplatePart& part : to.parts) {
      const size_t q = part.literal ? part.text.find('?') : std::string::npos;
      if (target == &query_ || q == std::string::npos) {
        target->parts.push_back(part);
        continue;
      }
      if (q > 0) path_.parts.push_back({true, part.text.substr(0, q), part.kind, {}});
      if (q + 1 < part.text.size())
        query_.parts.push_back({true, part.text.substr(q + 1), part.kind, {}});
      has_query_ = true;
      target = &query_;
    }
  }

  std::string expand_query(const RequestContext& ctx) const {
    std::string out;
    std::string value;
    for (const core::TemplatePart& part : query_.parts) {
      if (part.literal || part.kind == core::PlaceholderKind::kQuery) {
        const core::Template one{{}, {part}};
        expand_into(one, ctx, out);
        continue;
      }
      value.clear();
      expand_into(core::Template{{}, {part}}, ctx, value);
      append_query_escaped(value, out);
    }
    return out;
  }

  static void append_query_escaped(std::string_view text, std::string& out) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (char c : text) {
      const auto u = static_cast<unsigned char>(c);
      if (std::isalnum(u) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
        out += c;
      } else if (c == ' ') {
        out += '+';
      } else {
        out += '%';
        out += kHex[u >> 4];
        out += kHex[u & 15];
      }
    }
  }

  static std::string drop_empty_components(std::string_view query) {
    std::string out;
    while (!query.empty()) {
      const size_t amp = query.find('&');
      const std::string_view part = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
      if (part.empty()) continue;
      if (!out.empty()) out += '&';
      out += part;
    }
    return out;
  }

  core::Template path_;
  core::Template query_;
  bool has_query_ = false;
};

/// `handle`, `handle_path`, `route`: a nested route list.
class SubrouteRoute : public RouteHandler {
 public:
  explicit SubrouteRoute(RouteList routes) : routes_(std::move(routes)) {}
  asio::awaitable<HandlerResult> handle(RequestContext& ctx) const override {
    co_return co_await routes_.run(ctx);
  }
  void collect_upstreams(std::vector<UpstreamGroup>& out) const override {
    routes_.collect_upstreams(out);
  }

 private:
  RouteList routes_;
};

/// `root`: sets the site root that file handlers would read.
class RootRoute : public RouteHandler {
 public:
  explicit RootRoute(const core::RootHandler& config) : path_(config.path) {}
  asio::awaitable<HandlerResult> handle(RequestContext& ctx) const override {
    std::string storage;
    ctx.root = path_.view(ctx, storage);
    co_return HandlerResult::kNext;
  }

 private:
  Expandable path_;
};

/// `encode`: compression is not implemented yet. Responses stay correct,
/// only larger, so the directive is accepted and passes requests on.
class PassRoute : public RouteHandler {
 public:
  asio::awaitable<HandlerResult> handle(RequestContext&) const override {
    co_return HandlerResult::kNext;
  }
};

// ------------------------------------------------------------ factory table

using Factory = std::unique_ptr<RouteHandler> (*)(const core::Route&);

template <typename Config, typename Handler>
std::unique_ptr<RouteHandler> make(const core::Route& route) {
  return std::make_unique<Handler>(std::get<Config>(route.handler));
}

std::unique_ptr<RouteHandler> make_reverse_proxy(const core::Route& route) {
  return make_reverse_proxy_handler(std::get<core::ReverseProxyHandler>(route.handler));
}

std::unique_ptr<RouteHandler> make_subroute(const core::Route& route) {
  return std::make_unique<SubrouteRoute>(
      RouteList::compile(std::get<core::SubrouteHandler>(route.handler).routes));
}

std::unique_ptr<RouteHandler> make_abort(const core::Route&) {
  return std::make_unique<AbortRoute>();
}

std::unique_ptr<RouteHandler> make_pass(const core::Route&) {
  return std::make_unique<PassRoute>();
}

// Silently skipping basic_auth would expose what it protects, and skipping
// file_server would answer 200 with nothing: refuse the config instead.
std::unique_ptr<RouteHandler> make_unsupported(const core::Route& route) {
  throw core::ConfigError(route.origin.file, route.origin.line,
                          "`" + route.directive + "` is not supported by the proxy yet");
}

// Indexed by the alternative of core::Handler, in its order.
constexpr Factory kFactories[] = {
    make_reverse_proxy,                                // ReverseProxyHandler
    make<core::RedirHandler, RedirRoute>,              // RedirHandler
    make<core::RespondHandler, RespondRoute>,          // RespondHandler
    make<core::HeadersHandler, HeadersRoute>,          // HeadersHandler
    make<core::RequestBodyHandler, RequestBodyRoute>,  // RequestBodyHandler
    make_pass,                                         // EncodeHandler
    make<core::RootHandler, RootRoute>,                // RootHandler
    make_unsupported,                                  // FileServerHandler
    make_unsupported,                                  // TryFilesHandler
    make<core::UriHandler, UriRoute>,                  // UriHandler
    make<core::RewriteHandler, RewriteRoute>,          // RewriteHandler
    make_subroute,                                     // SubrouteHandler
    make_unsupported,                                  // BasicAuthHandler
    make_unsupported,                                  // ForwardAuthHandler
    make_abort,                                        // AbortHandler
    make<core::ErrorHandler, ErrorRoute>,              // ErrorHandler
};
static_assert(std::size(kFactories) == std::variant_size_v<core::Handler>,
              "one factory per handler alternative");

class HandlerCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "handler"; }
  std::string message(int value) const override {
    if (static_cast<handler_errc>(value) == handler_errc::kBodyTooLarge)
      return "request body exceeds max_size";
    return "unknown handler error";
  }
};

}  // namespace

// ------------------------------------------------------------ public

std::unique_ptr<RouteHandler> make_route_handler(const core::Route& route) {
  return kFactories[route.handler.index()](route);
}

RouteList RouteList::compile(const std::vector<core::Route>& routes) {
  RouteList list;
  list.routes_.reserve(routes.size());
  for (const core::Route& route : routes) {
    CompiledRoute compiled;
    compiled.group = route.group;
    if (route.match) {
      try {
        compiled.match.emplace(*route.match);
      } catch (const core::ConfigError& e) {
        // The matcher knows what is wrong; the route knows where.
        throw core::ConfigError(route.origin.file, route.origin.line,
                                e.diagnostics().items().front().message);
      }
    }
    compiled.handler = make_route_handler(route);
    list.routes_.push_back(std::move(compiled));
  }
  return list;
}

void RouteList::collect_upstreams(std::vector<UpstreamGroup>& out) const {
  for (const CompiledRoute& route : routes_)
    route.handler->collect_upstreams(out);
}

asio::awaitable<HandlerResult> RouteList::run(RequestContext& ctx) const {
  // Groups are consecutive (config.h), so remembering the last one suffices.
  const std::string* done_group = nullptr;
  for (const CompiledRoute& route : routes_) {
    if (!route.group.empty() && done_group != nullptr && *done_group == route.group) continue;
    if (route.match && !route.match->matches(ctx)) continue;
    if (!route.group.empty()) done_group = &route.group;
    const HandlerResult result = co_await route.handler->handle(ctx);
    if (result != HandlerResult::kNext) co_return result;
  }
  co_return HandlerResult::kNext;
}

void apply_header_op(const core::HeaderOp& op, Headers& headers, const RequestContext& ctx) {
  using Op = core::HeaderOp::Op;
  if (op.op == Op::kDelete) {
    delete_headers(op.name, headers);
    return;
  }
  std::string& value = scratch_buffer();
  expand_into(op.value, ctx, value);
  if (op.op == Op::kSet) {
    headers.set(op.name, value);
  } else if (op.op == Op::kAdd) {
    headers.add(op.name, value);
  } else {
    replace_in_headers(op, value, headers);
  }
}

void apply_response_header_ops(const RequestContext& ctx, Headers& headers) {
  for (const core::HeaderOp* op : ctx.response_header_ops)
    apply_header_op(*op, headers, ctx);
}

asio::awaitable<void> send_response(RequestContext& ctx, int status, std::string_view content_type,
                                    std::string_view body) {
  ResponseHead head;
  head.status = status;
  if (!body.empty() && !content_type.empty()) head.headers.add("Content-Type", content_type);
  head.content_length = body.size();
  ResponseSink& sink = ctx.exchange.response();
  std::error_code ec = co_await sink.write_head(head);
  // RFC 9110 §9.3.2: a HEAD response has the headers of GET, not the body.
  const bool send_body = !body.empty() && ctx.request().method != "HEAD";
  if (!ec && send_body) ec = co_await sink.write_body({body.data(), body.size()});
  if (!ec) ec = co_await sink.finish();
  if (ec) sink.abort();
}

const std::error_category& handler_category() noexcept {
  static const HandlerCategory category;
  return category;
}

std::error_code make_error_code(handler_errc e) noexcept {
  return {static_cast<int>(e), handler_category()};
}

asio::awaitable<std::error_code> LimitedBodySource::read(Chunk& chunk) {
  if (exceeded_) co_return make_error_code(handler_errc::kBodyTooLarge);
  const std::error_code ec = co_await inner_.read(chunk);
  if (ec) co_return ec;
  bytes_read_ += chunk.data.size();
  if (ctx_.max_body_size != 0 && bytes_read_ > ctx_.max_body_size) {
    exceeded_ = true;
    chunk = {};
    ctx_.error_status = 413;
    ctx_.error_message = "request body too large";
    ctx_.exchange.close_after();
    co_return make_error_code(handler_errc::kBodyTooLarge);
  }
  co_return ec;
}

bool strip_path_prefix(std::string& path, std::string_view prefix) {
  // A prefix written with `%XY` compares with the path as written (Caddy
  // compares per character; usher keeps the simpler whole-prefix rule).
  const bool raw = prefix.find('%') != std::string_view::npos;
  size_t at = 0;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (at >= path.size()) return false;
    const int decoded = raw ? -1 : escape_at(path, at);
    if (decoded >= 0 ? !same_folded(decoded, prefix[i])
                     : ascii_lower(path[at]) != ascii_lower(prefix[i]))
      return false;
    at += decoded >= 0 ? 3 : 1;
  }
  path.erase(0, at);
  ensure_leading_slash(path);
  return true;
}

bool strip_path_suffix(std::string& path, std::string_view suffix) {
  // A suffix written with `%XY` compares with the path as written.
  const bool raw = suffix.find('%') != std::string_view::npos;
  size_t end = path.size();
  for (size_t i = suffix.size(); i > 0; --i) {
    if (end == 0) return false;
    const int decoded = (raw || end < 3) ? -1 : escape_at(path, end - 3);
    if (decoded >= 0 ? !same_folded(decoded, suffix[i - 1])
                     : ascii_lower(path[end - 1]) != ascii_lower(suffix[i - 1]))
      return false;
    end -= decoded >= 0 ? 3 : 1;
  }
  path.resize(end);
  ensure_leading_slash(path);
  return true;
}

}  // namespace usher::proxy
