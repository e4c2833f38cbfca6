#pragma once

// Expanding `{placeholders}` per request. Templates are parsed once at load
// time (core::Template); here each part is appended straight into the
// caller's buffer, so that a reused buffer makes expansion allocation-free.

#include <string>

#include "core/placeholder.h"
#include "proxy/handler.h"

namespace usher::proxy {

/// Appends the expansion of `tmpl` for the request of `ctx` to `out`.
/// Absent values (a missing header, a label past the host's first) expand
/// to nothing, as in Caddy.
void expand_into(const core::Template& tmpl, const RequestContext& ctx, std::string& out);

/// The expansion of `tmpl` as a new string.
std::string expand(const core::Template& tmpl, const RequestContext& ctx);

/// `tmpl` with every `{env.NAME}` replaced by the variable's value now:
/// handlers call it when they are built, so that the environment is read
/// once per config load and never on the request path.
core::Template resolve_env(const core::Template& tmpl);

/// Appends `ip:port` of a peer, with brackets around IPv6 addresses.
void append_host_port(const asio::ip::address& address, uint16_t port, std::string& out);

/// Appends the textual form of `address` without allocating.
void append_address(const asio::ip::address& address, std::string& out);

}  // namespace usher::proxy
