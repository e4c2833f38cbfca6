#pragma once

// The pieces of the Caddyfile adapter and how they meet: the directive
// tables (in Caddy's directive order), the scope a directive is parsed in,
// and the parse functions that live in their own files. adapt() in
// adapter.cpp is the only public entry point; everything here is internal.

#include <array>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/caddyfile/arguments.h"
#include "core/caddyfile/dispenser.h"
#include "core/caddyfile/token.h"
#include "core/config.h"
#include "core/diagnostic.h"

namespace usher::core::caddyfile {

/// A named matcher (`@api …`) and where it was defined.
struct NamedMatcher {
  MatcherSet set;
  Origin origin;
};
using MatcherDefs = std::map<std::string, NamedMatcher>;

/// What a directive sees while it is parsed: where errors go, the named
/// matchers visible here, and the site (only at a site block's top level,
/// where `tls`, `log` and `handle_errors` are allowed).
struct Scope {
  Diagnostics* diagnostics = nullptr;
  MatcherDefs matchers;
  Site* site = nullptr;
  const GlobalOptions* global = nullptr;
  int* group_counter = nullptr;  // numbers mutual-exclusion groups across the config
};

/// Parses one handler directive into `route`, whose directive name and origin
/// are already set; the cursor is on the directive name.
using HandlerParseFn = void (*)(Dispenser& d, Scope& scope, Route& route);

/// A row of the handler directive table.
struct HandlerDirective {
  std::string_view name;
  HandlerParseFn parse;
  std::string_view canonical;  // name the route gets and sorts by ("basicauth" -> "basic_auth")
};

/// Parses a directive that configures the site itself rather than adding a route.
using SiteParseFn = void (*)(Dispenser& d, Scope& scope, Site& site);

/// A row of the site directive table.
struct SiteDirective {
  std::string_view name;
  SiteParseFn parse;
};

/// The handler directives, in Caddy's directive order (their sort order).
std::span<const HandlerDirective> handler_directives();
/// The site-level directives: tls, log, handle_errors.
std::span<const SiteDirective> site_directives();
/// Position of a route's directive in the directive order (`handle_path`
/// sorts with `handle`, as in Caddy).
int directive_rank(std::string_view directive);

// ---------------------------------------------------------- adapter.cpp

/// Turns the segments of one block into routes: reads the named matchers
/// defined in it first, parses each directive (an error skips that directive
/// only), then orders the routes (when `ordered`) and marks the mutually
/// exclusive groups.
std::vector<Route> build_routes(const std::vector<Segment>& segments, const Scope& scope,
                                bool ordered);
/// Reads the block after the cursor's line as nested directives (handle,
/// route, handle_errors) and builds their routes in a child scope.
std::vector<Route> parse_route_block(Dispenser& d, const Scope& parent, bool ordered);

// ---------------------------------------------------------- matchers.cpp

/// Parses a `@name …` segment into `defs` (the cursor is on `@name`).
void parse_matcher_definition(Dispenser& d, MatcherDefs& defs);
/// True when `t` can only be a matcher: `*`, `/path` or `@name`, unquoted.
bool is_matcher_token(const Token& t);
/// When the next argument is a matcher token, consumes it and stores the
/// matcher in `route`; returns whether it did. An unknown `@name` throws.
bool take_matcher(Dispenser& d, const Scope& scope, Route& route);

// ----------------------------------------------------- reverse_proxy.cpp

void parse_reverse_proxy(Dispenser& d, Scope& scope, Route& route);
void parse_forward_auth(Dispenser& d, Scope& scope, Route& route);
/// Parses an upstream address (`host:port`, `https://host`, `unix//path`).
Upstream parse_upstream(const Token& t);

// ---------------------------------------------------------- site_tls.cpp

void parse_tls(Dispenser& d, Scope& scope, Site& site);
void parse_site_log(Dispenser& d, Scope& scope, Site& site);
/// Parses a log block (`output`, `format`, `level`) after the cursor's line.
void parse_log_block(Dispenser& d, LogConfig& log);
/// Parses `acme [DIR] { … }` or `internal` (the cursor on the issuer kind's
/// owner, e.g. `issuer` or `cert_issuer`).
IssuerConfig parse_issuer(Dispenser& d);

// --------------------------------------------------------- addresses.cpp

/// Parses one site address key.
SiteAddress parse_site_address(const Token& key);
/// The normalized form two addresses share when they are the same site
/// (scheme, host and port made explicit, path kept).
std::string site_address_key(const SiteAddress& address, const GlobalOptions& global);

// ---------------------------------------------------- global_options.cpp

/// Reads the global options block into `global`; every error is reported.
void parse_global_options(const ServerBlock& block, GlobalOptions& global,
                          Diagnostics& diagnostics);
/// The names of the global options (to explain one written inside a site).
std::span<const std::string_view> global_option_names();

// ------------------------------------------------------- block helpers

/// A row of a subdirective table: `name` and its parse function.
template <class T>
struct Subdirective {
  std::string_view name;
  void (*parse)(Dispenser& d, T& target);
};

/// Parses the block after the cursor's line with a subdirective table. A bad
/// line is reported to the dispenser's sink and parsing goes on with the
/// next line, so that every mistake in a block is reported at once.
template <class T, size_t N>
void parse_subdirectives(Dispenser& d, std::string_view owner,
                         const std::array<Subdirective<T>, N>& table, T& target) {
  std::array<std::string_view, N> names{};
  for (size_t i = 0; i < N; ++i)
    names[i] = table[i].name;
  for (int nesting = d.nesting(); d.next_block(nesting);) {
    try {
      const Subdirective<T>* row = nullptr;
      for (const auto& candidate : table)
        if (candidate.name == d.val()) row = &candidate;
      if (row == nullptr)
        throw unknown_name_error(d.token(), "subdirective", owner, names,
                                 "expected " + quoted_list(names));
      const std::string name = d.val();
      row->parse(d, target);
      expect_line_end(d, name);
    } catch (const ConfigError& e) {
      d.report(e);
    }
  }
}

}  // namespace usher::core::caddyfile
