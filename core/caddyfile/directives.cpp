// The directive tables and the handler directives that fit in a few lines.
// reverse_proxy and forward_auth live in reverse_proxy.cpp; tls and log in
// site_tls.cpp.

#include "core/caddyfile/directives.h"

#include "core/ip_range.h"

#include <algorithm>
#include <array>
#include <limits>

namespace usher::core::caddyfile {

namespace {

constexpr size_t kNoLimit = std::numeric_limits<size_t>::max();

bool is_status_code(const std::string& s) {
  return s.size() == 3 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Caddy's rule for root, redir and rewrite: with a single argument, that
// argument is the value even when it starts with `/`.
void take_matcher_if_followed(Dispenser& d, const Scope& scope, Route& route) {
  if (d.count_remaining_args() >= 2) take_matcher(d, scope, route);
}

// Parses the lines of a block whose first token is data (a header field, a
// user name) rather than a subdirective name; each bad line is reported.
template <class Fn>
void for_each_block_line(Dispenser& d, Fn&& fn) {
  for (int nesting = d.nesting(); d.next_block(nesting);) {
    try {
      const Token first = d.token();
      fn(first);
      expect_line_end(d, first.text);
    } catch (const ConfigError& e) {
      d.report(e);
    }
  }
}

// ------------------------------------------------------ simple handlers

void parse_root(Dispenser& d, Scope& scope, Route& route) {
  take_matcher_if_followed(d, scope, route);
  route.handler = RootHandler{Template::parse(take_one(d, "root", "a directory path").text)};
}

void parse_header(Dispenser& d, Scope& scope, Route& route) {
  const Token directive = d.token();
  take_matcher(d, scope, route);
  HeadersHandler h;
  std::vector<Token> args = take_args(d, "header", 0, 3, "");
  if (!args.empty())
    h.ops.push_back(parse_header_op(args[0], {args.begin() + 1, args.end()}, true));
  bool defer_all = false;
  const bool has_block = d.next_is_block_open();
  for_each_block_line(d, [&](const Token& field) {
    if (field.text == "defer") {
      take_none(d, "defer");
      defer_all = true;
    } else if (field.text == "match") {
      throw unsupported_error(field, "`match` in `header`");
    } else {
      h.ops.push_back(parse_header_op(field, d.remaining_arg_tokens(), true));
    }
  });
  if (args.empty() && !has_block)
    throw missing_arg_error(directive, "header",
                            "a header field like `X-Frame-Options DENY`, or a block");
  if (defer_all)
    for (HeaderOp& op : h.ops)
      op.defer = true;
  route.handler = std::move(h);
}

void parse_request_header(Dispenser& d, Scope& scope, Route& route) {
  take_matcher(d, scope, route);
  std::vector<Token> args =
      take_args(d, "request_header", 1, 3, "a header field like `X-Real-IP {remote_host}`");
  HeadersHandler h;
  h.request = true;
  h.ops.push_back(parse_header_op(args[0], {args.begin() + 1, args.end()}, false));
  route.handler = std::move(h);
}

void parse_max_size(Dispenser& d, RequestBodyHandler& h) {
  h.max_size = parse_size_arg(take_one(d, "max_size", "a size like `10MB`"), "max_size");
}

constexpr std::array<Subdirective<RequestBodyHandler>, 1> kRequestBodySubdirectives{{
    {"max_size", parse_max_size},
}};

void parse_request_body(Dispenser& d, Scope& scope, Route& route) {
  take_matcher(d, scope, route);
  take_none(d, "request_body");
  RequestBodyHandler h;
  parse_subdirectives(d, "request_body", kRequestBodySubdirectives, h);
  route.handler = h;
}

// `permanent`, `temporary`, `html` or a code: Caddy allows any 3xx and 401.
void set_redirect_code(const Token& t, RedirHandler& h) {
  if (t.text == "permanent") {
    h.status = 301;
  } else if (t.text == "temporary") {
    h.status = 302;
  } else if (t.text == "html") {
    h.html = true;
    h.status = 200;
  } else {
    const int code = is_status_code(t.text) ? std::stoi(t.text) : 0;
    if ((code < 300 || code > 399) && code != 401)
      throw invalid_value_error(t, "redirect code", "redir",
                                "`permanent`, `temporary`, `html` or a 3xx status code");
    h.status = code;
  }
}

bool is_redirect_code(const Token& t) {
  return t.text == "permanent" || t.text == "temporary" || t.text == "html" ||
         is_status_code(t.text);
}

void parse_redir(Dispenser& d, Scope& scope, Route& route) {
  // Unlike Caddy, `redir /new 301` redirects to /new: reading `/new` as a
  // matcher and `301` as the target is never what was meant.
  // `@name` and `*` are always matchers.
  const bool target_and_code = d.count_remaining_args() == 2 && [&] {
    Dispenser ahead = d;
    ahead.next_arg();
    if (ahead.token().text.starts_with("@") || ahead.token().is("*")) return false;
    ahead.next_arg();
    return is_redirect_code(ahead.token());
  }();
  if (!target_and_code) take_matcher_if_followed(d, scope, route);
  std::vector<Token> args =
      take_args(d, "redir", 1, 2, "a target URL like `https://example.com{uri}`");
  RedirHandler h;
  h.to = Template::parse(args[0].text);
  if (args.size() == 2) set_redirect_code(args[1], h);
  route.handler = std::move(h);
}

void parse_rewrite(Dispenser& d, Scope& scope, Route& route) {
  take_matcher_if_followed(d, scope, route);
  route.handler =
      RewriteHandler{Template::parse(take_one(d, "rewrite", "a URI like `/index.html`").text)};
}

// ------------------------------------------------------------------ uri

using UriOpFn = void (*)(Dispenser& d, UriHandler& h);

void uri_strip_prefix(Dispenser& d, UriHandler& h) {
  h.op = UriHandler::Op::kStripPrefix;
  h.find = take_one(d, "strip_prefix", "a path prefix").text;
  // As Caddy: a prefix is always taken from the start of the path.
  if (h.find.front() != '/') h.find.insert(h.find.begin(), '/');
}

void uri_strip_suffix(Dispenser& d, UriHandler& h) {
  h.op = UriHandler::Op::kStripSuffix;
  h.find = take_one(d, "strip_suffix", "a path suffix").text;
}

void uri_replace(Dispenser& d, UriHandler& h) {
  std::vector<Token> args = take_args(d, "replace", 2, 3, "a substring and its replacement");
  h.op = UriHandler::Op::kReplace;
  h.find = args[0].text;
  h.replace = args[1].text;
  if (args.size() == 3)
    h.limit = parse_int_arg(args[2], "replace", 0, std::numeric_limits<int>::max());
}

struct UriOp {
  std::string_view name;
  UriOpFn parse;
};

constexpr std::array<UriOp, 3> kUriOps{{
    {"strip_prefix", uri_strip_prefix},
    {"strip_suffix", uri_strip_suffix},
    {"replace", uri_replace},
}};

void parse_uri(Dispenser& d, Scope& scope, Route& route) {
  take_matcher(d, scope, route);
  if (!d.next_arg())
    throw missing_arg_error(d.token(), "uri", "`strip_prefix`, `strip_suffix` or `replace`");
  UriHandler h;
  const UriOp* op = nullptr;
  for (const UriOp& row : kUriOps)
    if (row.name == d.val()) op = &row;
  if (op == nullptr) {
    if (d.val() == "path_regexp" || d.val() == "query")
      throw unsupported_error(d.token(), "`uri " + d.val() + "`");
    const std::array<std::string_view, 3> names{"strip_prefix", "strip_suffix", "replace"};
    throw unknown_name_error(d.token(), "operation", "uri", names,
                             "expected " + quoted_list(names));
  }
  op->parse(d, h);
  route.handler = std::move(h);
}

void parse_try_files(Dispenser& d, Scope&, Route& route) {
  // No matcher: try_files builds its own file matcher in Caddy, and its
  // first file often starts with `/`.
  TryFilesHandler h;
  for (const Token& t :
       take_args(d, "try_files", 1, kNoLimit, "one or more files like `{path} /index.html`"))
    h.files.push_back(Template::parse(t.text));
  route.handler = std::move(h);
}

// ----------------------------------------------------------- basic_auth

void parse_basic_auth(Dispenser& d, Scope& scope, Route& route) {
  const Token directive = d.token();
  take_matcher(d, scope, route);
  std::vector<Token> args = take_args(d, directive.text, 0, 2, "");
  BasicAuthHandler h;
  if (!args.empty() && args[0].text != "bcrypt")
    throw unsupported_error(args[0], "hash algorithm `" + args[0].text + "`",
                            "use `bcrypt` (`caddy hash-password` makes them)");
  if (args.size() == 2) h.realm = args[1].text;
  for_each_block_line(d, [&](const Token& user) {
    std::vector<Token> rest = d.remaining_arg_tokens();
    if (rest.empty())
      throw missing_arg_error(user, user.text, "a password hash after the user name");
    if (rest.size() > 1) throw too_many_args_error(user, user.text, 1, rest);
    h.accounts.push_back({user.text, rest[0].text});
  });
  if (h.accounts.empty())
    throw missing_arg_error(directive, directive.text, "a block of `USER HASH` lines");
  route.handler = std::move(h);
}

// --------------------------------------------------------------- encode

constexpr std::array<std::string_view, 2> kEncodings{"zstd", "gzip"};

void add_encoding(EncodeHandler& h, const std::string& name) {
  if (std::find(h.encodings.begin(), h.encodings.end(), name) == h.encodings.end())
    h.encodings.push_back(name);
}

void encode_gzip(Dispenser& d, EncodeHandler& h) {
  if (d.count_remaining_args() > 0)
    throw unsupported_error(d.token(), "a compression level for `gzip`");
  add_encoding(h, "gzip");
}

void encode_zstd(Dispenser& d, EncodeHandler& h) {
  take_none(d, "zstd");
  add_encoding(h, "zstd");
}

void encode_minimum_length(Dispenser& d, EncodeHandler& h) {
  h.minimum_length = parse_int_arg(take_one(d, "minimum_length", "a number of bytes"),
                                   "minimum_length", 0, std::numeric_limits<int>::max());
}

constexpr std::array<Subdirective<EncodeHandler>, 3> kEncodeSubdirectives{{
    {"gzip", encode_gzip},
    {"zstd", encode_zstd},
    {"minimum_length", encode_minimum_length},
}};

void parse_encode(Dispenser& d, Scope& scope, Route& route) {
  take_matcher(d, scope, route);
  EncodeHandler h;
  for (const Token& t : d.remaining_arg_tokens())
    add_encoding(h, parse_choice_arg(t, "encode", kEncodings));
  parse_subdirectives(d, "encode", kEncodeSubdirectives, h);
  // Caddy's default when no format is named.
  if (h.encodings.empty()) h.encodings = {"zstd", "gzip"};
  route.handler = std::move(h);
}

// ------------------------------------------------- handle, route, friends

void parse_handle(Dispenser& d, Scope& scope, Route& route) {
  take_matcher(d, scope, route);
  take_none(d, "handle");
  // A handle block is a subroute in Caddy, and subroutes are ordered too.
  route.handler = SubrouteHandler{parse_route_block(d, scope, true)};
}

void parse_handle_path(Dispenser& d, Scope& scope, Route& route) {
  const Token path = take_one(d, "handle_path", "a path matcher like `/api/*`");
  if (path.quoted || path.text.front() != '/')
    throw invalid_value_error(path, "path matcher", "handle_path",
                              "a path starting with `/`, like `/api/*`");
  route.match = MatcherSet{};
  route.match->paths.push_back(path.text);
  // Caddy's expansion: a handle whose first route strips the matched prefix.
  Route strip;
  strip.directive = "uri";
  strip.origin = route.origin;
  // `/api/v1/*` strips `/api/v1`, as in Caddy: the wildcard and the slash
  // before it go, so the rest of the path keeps its leading `/`.
  std::string prefix = path.text;
  if (prefix.back() == '*') prefix.pop_back();
  if (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  strip.handler = UriHandler{UriHandler::Op::kStripPrefix, prefix, "", 0};
  std::vector<Route> routes{std::move(strip)};
  for (Route& r : parse_route_block(d, scope, true))
    routes.push_back(std::move(r));
  route.handler = SubrouteHandler{std::move(routes)};
}

void parse_route(Dispenser& d, Scope& scope, Route& route) {
  take_matcher(d, scope, route);
  take_none(d, "route");
  route.handler = SubrouteHandler{parse_route_block(d, scope, false)};
}

void parse_abort(Dispenser& d, Scope& scope, Route& route) {
  take_matcher(d, scope, route);
  take_none(d, "abort");
  route.handler = AbortHandler{};
}

void parse_error(Dispenser& d, Scope& scope, Route& route) {
  take_matcher(d, scope, route);
  std::vector<Token> args = take_args(d, "error", 1, 2, "a status code or a message");
  ErrorHandler h;
  if (args.size() == 1 && is_status_code(args[0].text)) {
    h.status = parse_status_arg(args[0], "error");
  } else {
    h.message = Template::parse(args[0].text);
    if (args.size() == 2) h.status = parse_status_arg(args[1], "error");
  }
  route.handler = std::move(h);
}

// ------------------------------------------------------------- respond

void respond_body(Dispenser& d, RespondHandler& h) {
  h.body = Template::parse(take_one(d, "body", "the response body").text);
}

void respond_close(Dispenser& d, RespondHandler& h) {
  take_none(d, "close");
  h.close = true;
}

constexpr std::array<Subdirective<RespondHandler>, 2> kRespondSubdirectives{{
    {"body", respond_body},
    {"close", respond_close},
}};

void parse_respond(Dispenser& d, Scope& scope, Route& route) {
  take_matcher(d, scope, route);
  std::vector<Token> args = take_args(d, "respond", 0, 2, "");
  RespondHandler h;
  // A lone three-digit number is the status, as in Caddy; quote it to send
  // it as the body.
  if (args.size() == 1 && !args[0].quoted && is_status_code(args[0].text)) {
    h.status = parse_status_arg(args[0], "respond");
  } else if (!args.empty()) {
    h.body = Template::parse(args[0].text);
    if (args.size() == 2) h.status = parse_status_arg(args[1], "respond");
  }
  parse_subdirectives(d, "respond", kRespondSubdirectives, h);
  route.handler = std::move(h);
}

// ---------------------------------------------------------- file_server

void file_server_root(Dispenser& d, FileServerHandler& h) {
  h.root = Template::parse(take_one(d, "root", "a directory path").text);
}

void file_server_hide(Dispenser& d, FileServerHandler& h) {
  for (const Token& t : take_args(d, "hide", 1, kNoLimit, "one or more files or patterns"))
    h.hide.push_back(t.text);
}

void file_server_index(Dispenser& d, FileServerHandler& h) {
  for (const Token& t : take_args(d, "index", 1, kNoLimit, "one or more file names"))
    h.index.push_back(t.text);
}

void file_server_browse(Dispenser& d, FileServerHandler& h) {
  if (d.count_remaining_args() > 0) throw unsupported_error(d.token(), "a template for `browse`");
  h.browse = true;
}

constexpr std::array<Subdirective<FileServerHandler>, 4> kFileServerSubdirectives{{
    {"root", file_server_root},
    {"hide", file_server_hide},
    {"index", file_server_index},
    {"browse", file_server_browse},
}};

void parse_file_server(Dispenser& d, Scope& scope, Route& route) {
  take_matcher(d, scope, route);
  FileServerHandler h;
  std::vector<Token> args = take_args(d, "file_server", 0, 1, "");
  if (!args.empty()) {
    const std::array<std::string_view, 1> choices{"browse"};
    parse_choice_arg(args[0], "file_server", choices);
    h.browse = true;
  }
  parse_subdirectives(d, "file_server", kFileServerSubdirectives, h);
  route.handler = std::move(h);
}

// ------------------------------------------------------- handle_errors

void parse_handle_errors(Dispenser& d, Scope& scope, Site& site) {
  if (d.count_remaining_args() > 0)
    throw unsupported_error(d.remaining_arg_tokens().front(), "status codes after `handle_errors`");
  for (Route& r : parse_route_block(d, scope, true))
    site.error_routes.push_back(std::move(r));
}

// Caddy's directive order (caddyconfig/httpcaddyfile/directives.go), limited
// to the directives usher has. Routes of a site are sorted by this position.
constexpr std::array<HandlerDirective, 20> kHandlerDirectives{{
    {"root", parse_root, "root"},
    {"header", parse_header, "header"},
    {"request_body", parse_request_body, "request_body"},
    {"redir", parse_redir, "redir"},
    {"rewrite", parse_rewrite, "rewrite"},
    {"uri", parse_uri, "uri"},
    {"try_files", parse_try_files, "try_files"},
    {"basicauth", parse_basic_auth, "basic_auth"},  // Caddy's old name, still accepted
    {"basic_auth", parse_basic_auth, "basic_auth"},
    {"forward_auth", parse_forward_auth, "forward_auth"},
    {"request_header", parse_request_header, "request_header"},
    {"encode", parse_encode, "encode"},
    {"handle", parse_handle, "handle"},
    {"handle_path", parse_handle_path, "handle_path"},
    {"route", parse_route, "route"},
    {"abort", parse_abort, "abort"},
    {"error", parse_error, "error"},
    {"respond", parse_respond, "respond"},
    {"reverse_proxy", parse_reverse_proxy, "reverse_proxy"},
    {"file_server", parse_file_server, "file_server"},
}};

// ------------------------------------------------------- bind

/// `bind ADDRESS…`: listen on these IP addresses only (e.g. a LAN address, or
/// 127.0.0.1 behind another proxy) instead of every address.
void parse_bind(Dispenser& d, Scope&, Site& site) {
  for (const Token& t :
       take_args(d, "bind", 1, 32, "an IP address to listen on, like `127.0.0.1`")) {
    std::string address = t.text;
    if (address.size() > 2 && address.front() == '[' && address.back() == ']')
      address = address.substr(1, address.size() - 2);
    if (!IpAddress::parse(address))
      throw invalid_value_error(t, "address", "bind", "an IP address like `127.0.0.1` or `::1`");
    site.binds.push_back(address);
  }
}

constexpr std::array<SiteDirective, 4> kSiteDirectives{{
    {"bind", parse_bind},
    {"tls", parse_tls},
    {"log", parse_site_log},
    {"handle_errors", parse_handle_errors},
}};

}  // namespace

std::span<const HandlerDirective> handler_directives() {
  return kHandlerDirectives;
}

std::span<const SiteDirective> site_directives() {
  return kSiteDirectives;
}

int directive_rank(std::string_view directive) {
  // handle_path sorts with handle: Caddy renames it before sorting.
  if (directive == "handle_path") directive = "handle";
  for (size_t i = 0; i < kHandlerDirectives.size(); ++i)
    if (kHandlerDirectives[i].canonical == directive) return static_cast<int>(i);
  return static_cast<int>(kHandlerDirectives.size());
}

}  // namespace usher::core::caddyfile
