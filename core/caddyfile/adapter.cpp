// adapt(): server blocks to the typed config. This file orchestrates: global
// options first, then each site (addresses, named matchers, directives), then
// Caddy's route ordering and mutually exclusive groups.

#include "core/caddyfile/adapter.h"

#include <algorithm>
#include <array>
#include <map>
#include <string>

#include "core/caddyfile/directives.h"

namespace usher::core::caddyfile {

namespace {

// Directives of Caddy's standard distribution that usher does not have; they
// get "not supported yet" rather than "unknown directive".
constexpr std::array<std::string_view, 20> kUnsupportedDirectives{"php_fastcgi",
                                                                  "templates",
                                                                  "map",
                                                                  "vars",
                                                                  "metrics",
                                                                  "push",
                                                                  "method",
                                                                  "intercept",
                                                                  "invoke",
                                                                  "tracing",
                                                                  "fs",
                                                                  "skip_log",
                                                                  "log_skip",
                                                                  "log_append",
                                                                  "log_name",
                                                                  "bind",
                                                                  "acme_server",
                                                                  "copy_response",
                                                                  "copy_response_headers",
                                                                  "tls_options"};

// Directives whose sibling routes exclude each other (only the first
// matching one runs), as in Caddy: handle blocks by definition, rewrite so
// that rewrites never cascade, root so that roots never overwrite each other.
constexpr std::array<std::string_view, 3> kExclusiveDirectives{"handle", "rewrite", "root"};

const HandlerDirective* find_handler(std::string_view name) {
  for (const HandlerDirective& row : handler_directives())
    if (row.name == name) return &row;
  return nullptr;
}

const SiteDirective* find_site_directive(std::string_view name) {
  for (const SiteDirective& row : site_directives())
    if (row.name == name) return &row;
  return nullptr;
}

bool contains(std::span<const std::string_view> names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Everything a site block may contain, for "did you mean".
std::vector<std::string_view> directive_names() {
  std::vector<std::string_view> names;
  for (const HandlerDirective& row : handler_directives())
    names.push_back(row.name);
  for (const SiteDirective& row : site_directives())
    names.push_back(row.name);
  return names;
}

// Throws the most helpful error for a name that is no directive here.
[[noreturn]] void throw_not_a_directive(const Token& name, const Scope& scope) {
  if (find_site_directive(name.text) != nullptr && scope.site == nullptr)
    throw Dispenser::error_at(
        name, "`" + name.text + "` is only allowed at the top level of a site block");
  if (contains(global_option_names(), name.text))
    throw Dispenser::error_at(
        name, "`" + name.text + "` is a global option, not a directive",
        "move it into the global options block `{ … }` at the top of the file");
  if (contains(kUnsupportedDirectives, name.text))
    throw unsupported_error(name, "directive `" + name.text + "`");
  const std::vector<std::string_view> names = directive_names();
  throw unknown_name_error(name, "directive", "", names,
                           "check the spelling, and that arguments are on their directive's line");
}

// Parses one directive segment; returns a route for handler directives.
std::optional<Route> adapt_segment(const Segment& segment, Scope& scope) {
  Dispenser d(segment.tokens, scope.diagnostics);
  d.next();
  const Token name = d.token();
  if (const HandlerDirective* row = find_handler(name.text)) {
    Route route;
    route.directive = std::string(row->canonical);
    route.origin = {name.file, name.line};
    row->parse(d, scope, route);
    expect_segment_end(d, name.text);
    return route;
  }
  const SiteDirective* site_row = find_site_directive(name.text);
  if (site_row == nullptr || scope.site == nullptr) throw_not_a_directive(name, scope);
  site_row->parse(d, scope, *scope.site);
  expect_segment_end(d, name.text);
  return std::nullopt;
}

bool is_matcher_definition(const Segment& segment) {
  const Token& first = segment.tokens.front();
  return !first.quoted && first.text.size() > 1 && first.text.front() == '@';
}

// ------------------------------------------------------------- ordering

// The single path of a route's matcher, or empty when it has not exactly one.
std::string_view single_path(const Route& r) {
  if (!r.match || r.match->paths.size() != 1) return {};
  return r.match->paths.front();
}

std::string_view trim_star(std::string_view s) {
  if (!s.empty() && s.back() == '*') s.remove_suffix(1);
  return s;
}

// Caddy's order of two routes of the same directive: the longer single path
// first (but `/a` before `/a*`), then a route with any matcher before a
// catch-all; anything else keeps the written order.
bool more_specific(const Route& a, const Route& b) {
  const std::string_view pa = single_path(a);
  const std::string_view pb = single_path(b);
  if (!pa.empty() && !pb.empty()) {
    if (trim_star(pa) == trim_star(pb)) return pa.size() < pb.size();
    return pa.size() > pb.size();
  }
  return a.match.has_value() && !b.match.has_value();
}

bool sorts_before(const Route& a, const Route& b) {
  const int ra = directive_rank(a.directive);
  const int rb = directive_rank(b.directive);
  if (ra != rb) return ra < rb;
  return more_specific(a, b);
}

// A stable insertion sort, as Go's sort.SliceStable does for short lists:
// Caddy's comparison is not a strict weak order (a single-path route and a
// route with another matcher compare equal), so the algorithm must be the
// same one for the result to be the same.
void sort_routes(std::vector<Route>& routes) {
  for (size_t i = 1; i < routes.size(); ++i)
    for (size_t j = i; j > 0 && sorts_before(routes[j], routes[j - 1]); --j)
      std::swap(routes[j], routes[j - 1]);
}

std::string_view exclusive_kind(const Route& r) {
  if (r.directive == "handle_path") return "handle";
  return r.directive;
}

// Puts the sibling routes of each mutually exclusive directive into one
// group when there are at least two of them. Caddy also groups a lone
// rewrite, only to stop its route consolidation, which usher does not do.
void assign_groups(std::vector<Route>& routes, int& counter) {
  for (std::string_view kind : kExclusiveDirectives) {
    const auto count = std::count_if(routes.begin(), routes.end(),
                                     [&](const Route& r) { return exclusive_kind(r) == kind; });
    if (count < 2) continue;
    const std::string group = std::string(kind) + "_" + std::to_string(counter++);
    for (Route& r : routes)
      if (exclusive_kind(r) == kind) r.group = group;
  }
}

// --------------------------------------------------------------- sites

// A path in the site address (`example.com/api/*`) limits the whole site to
// it. Caddy wraps the site's routes in a subroute with that path matcher;
// so does usher, with one `handle`-like route. Addresses with different
// paths give one matcher with every path (any of them matches); one address
// without a path makes the site match every path, as in Caddy.
std::vector<Route> wrap_in_site_paths(std::vector<Route> routes, const Site& site) {
  std::vector<std::string> paths;
  for (const SiteAddress& a : site.addresses) {
    if (a.path.empty()) return routes;
    if (std::find(paths.begin(), paths.end(), a.path) == paths.end()) paths.push_back(a.path);
  }
  if (paths.empty() || routes.empty()) return routes;
  Route wrapper;
  wrapper.directive = "handle";
  wrapper.match = MatcherSet{};
  wrapper.match->paths = std::move(paths);
  wrapper.handler = SubrouteHandler{std::move(routes)};
  wrapper.origin = site.origin;
  return {std::move(wrapper)};
}

struct AdaptState {
  Config& config;
  Diagnostics& diagnostics;
  std::map<std::string, Origin> seen_addresses;  // normalized address -> where defined
  int group_counter = 0;
};

void add_site_addresses(const ServerBlock& block, Site& site, AdaptState& state) {
  for (const Token& key : block.keys) {
    try {
      if (key.text.rfind("&(", 0) == 0)
        throw unsupported_error(key, "named route `" + key.text + "`");
      SiteAddress address = parse_site_address(key);
      const std::string normalized = site_address_key(address, state.config.global);
      const auto [it, inserted] =
          state.seen_addresses.emplace(normalized, Origin{key.file, key.line});
      if (!inserted)
        throw Dispenser::error_at(
            key, "ambiguous site definition: `" + address.original + "`",
            it->second == Origin{key.file, key.line}
                ? "it is listed twice on this line"
                : "also defined at " + it->second.file + ":" + std::to_string(it->second.line));
      site.addresses.push_back(std::move(address));
    } catch (const ConfigError& e) {
      state.diagnostics.append(e.diagnostics());
    }
  }
}

void adapt_site(const ServerBlock& block, AdaptState& state) {
  Site site;
  site.origin = {block.keys.front().file, block.keys.front().line};
  add_site_addresses(block, site, state);
  Scope scope;
  scope.diagnostics = &state.diagnostics;
  scope.site = &site;
  scope.global = &state.config.global;
  scope.group_counter = &state.group_counter;
  site.routes = wrap_in_site_paths(build_routes(block.segments, scope, true), site);
  site.error_routes = wrap_in_site_paths(std::move(site.error_routes), site);
  state.config.sites.push_back(std::move(site));
}

// Where a block without keys is, for the "must come first" error.
Origin block_origin(const ServerBlock& block, const std::string& filename) {
  if (!block.segments.empty() && !block.segments.front().tokens.empty()) {
    const Token& t = block.segments.front().tokens.front();
    return {t.file, t.line};
  }
  return {filename, 0};
}

}  // namespace

std::vector<Route> build_routes(const std::vector<Segment>& segments, const Scope& parent,
                                bool ordered) {
  Scope scope = parent;
  for (const Segment& segment : segments) {
    if (segment.tokens.empty() || !is_matcher_definition(segment)) continue;
    Dispenser d(segment.tokens, scope.diagnostics);
    d.next();
    try {
      parse_matcher_definition(d, scope.matchers);
    } catch (const ConfigError& e) {
      scope.diagnostics->append(e.diagnostics());
    }
  }
  std::vector<Route> routes;
  for (const Segment& segment : segments) {
    if (segment.tokens.empty() || is_matcher_definition(segment)) continue;
    try {
      if (auto route = adapt_segment(segment, scope)) routes.push_back(std::move(*route));
    } catch (const ConfigError& e) {
      scope.diagnostics->append(e.diagnostics());
    }
  }
  if (ordered) sort_routes(routes);
  assign_groups(routes, *scope.group_counter);
  return routes;
}

std::vector<Route> parse_route_block(Dispenser& d, const Scope& parent, bool ordered) {
  std::vector<Segment> segments;
  for (int nesting = d.nesting(); d.next_block(nesting);)
    segments.push_back({d.next_segment()});
  Scope child = parent;
  child.site = nullptr;  // tls, log and handle_errors belong to the site itself
  return build_routes(segments, child, ordered);
}

Config adapt(std::string_view text, const std::string& filename, Diagnostics& diagnostics,
             const ParseOptions& options) {
  const std::vector<ServerBlock> blocks = parse(text, filename, diagnostics, options);
  Config config;
  // The parser stops at a syntax error; what it returns is incomplete, and
  // adapting it would only add errors that are consequences of the first.
  if (diagnostics.has_errors()) return config;
  AdaptState state{config, diagnostics, {}, 0};
  for (size_t i = 0; i < blocks.size(); ++i) {
    const ServerBlock& block = blocks[i];
    if (!block.is_global_options()) {
      adapt_site(block, state);
    } else if (i == 0) {
      parse_global_options(block, config.global, diagnostics);
    } else {
      const Origin at = block_origin(block, filename);
      diagnostics.error(at.file, at.line, "a block without a site address must come first",
                        "the global options block `{ … }` is the first block of the file");
    }
  }
  return config;
}

}  // namespace usher::core::caddyfile
