#pragma once

// Shared by the adapter tests: adapt a Caddyfile text and look at the result.

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/caddyfile/adapter.h"

namespace usher::core::caddyfile::test {

struct Adapted {
  Config config;
  Diagnostics diagnostics;

  /// Every diagnostic, rendered `file:line: message; hint`.
  std::vector<std::string> errors() const {
    std::vector<std::string> out;
    for (const Diagnostic& d : diagnostics.items())
      out.push_back(d.str());
    return out;
  }
};

inline Adapted adapt_text(std::string_view text) {
  Adapted a;
  a.config = adapt(text, "Caddyfile", a.diagnostics);
  return a;
}

/// The first diagnostic of `text`, or "" when there is none.
inline std::string first_error(std::string_view text) {
  const Adapted a = adapt_text(text);
  return a.diagnostics.items().empty() ? "" : a.diagnostics.items().front().str();
}

/// The routes of `example.com { BODY }`, failing the test on any diagnostic.
inline std::vector<Route> site_routes(std::string_view body) {
  const Adapted a = adapt_text("example.com {\n" + std::string(body) + "\n}\n");
  EXPECT_EQ(a.diagnostics.str(), "");
  if (a.config.sites.size() != 1) {
    ADD_FAILURE() << "expected one site, got " << a.config.sites.size();
    return {};
  }
  return a.config.sites.front().routes;
}

/// The only route of `example.com { BODY }`.
inline Route only_route(std::string_view body) {
  std::vector<Route> routes = site_routes(body);
  if (routes.size() != 1) {
    ADD_FAILURE() << "expected one route, got " << routes.size();
    return {};
  }
  return routes.front();
}

/// The handler of `route` as H, failing the test when it is another type.
template <class H>
H handler_as(const Route& route) {
  if (const H* h = std::get_if<H>(&route.handler)) return *h;
  ADD_FAILURE() << "route `" << route.directive << "` has another handler type";
  return H{};
}

/// The directive names of `routes`, in order.
inline std::vector<std::string> directives(const std::vector<Route>& routes) {
  std::vector<std::string> out;
  for (const Route& r : routes)
    out.push_back(r.directive);
  return out;
}

}  // namespace usher::core::caddyfile::test
