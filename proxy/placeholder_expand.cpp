#include "proxy/placeholder_expand.h"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <cstdlib>

#include "proxy/http1_writer.h"
#include "proxy/matcher.h"

namespace usher::proxy {
namespace {

using Kind = core::PlaceholderKind;
using Part = core::TemplatePart;

void append_number(uint64_t value, std::string& out) {
  std::array<char, 24> buffer{};
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  out.append(buffer.data(), result.ptr);
}

// The port of `authority`, or "" when it has none.
std::string_view authority_port(std::string_view authority) {
  const size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos) return {};
  // `[::1]` alone has colons but no port.
  const size_t bracket = authority.rfind(']');
  if (bracket != std::string_view::npos && bracket > colon) return {};
  return authority.substr(colon + 1);
}

std::string_view scheme_of(const RequestContext& ctx) {
  const std::string& scheme = ctx.exchange.request().scheme;
  if (!scheme.empty()) return scheme;
  return ctx.exchange.connection().tls ? "https" : "http";
}

// The decoded path, as Caddy's {path} (Go's URL.Path).
void append_decoded_path(const RequestContext& ctx, std::string& out) {
  percent_decode_into(ctx.exchange.request().path, out);
}

// The value of query parameter `key` (the first one), decoded.
void append_query_param(std::string_view query, std::string_view key, std::string& out) {
  thread_local std::string name;  // reused: no allocation once warm
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    name.clear();
    percent_decode_into(pair.substr(0, eq), name, true);
    if (name != key) continue;
    if (eq != std::string_view::npos) percent_decode_into(pair.substr(eq + 1), out, true);
    return;
  }
}

// The value of cookie `name` from every Cookie field (`a=1; b=2`).
void append_cookie(const Headers& headers, std::string_view name, std::string& out) {
  for (const Header& h : headers.fields()) {
    if (!header_name_equals(h.name, "Cookie")) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      const size_t semi = rest.find(';');
      std::string_view pair = rest.substr(0, semi);
      rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
      while (!pair.empty() && pair.front() == ' ')
        pair.remove_prefix(1);
      const size_t eq = pair.find('=');
      if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
      out.append(pair.substr(eq + 1));
      return;
    }
  }
}

// Label `index` counted from the right (0 is the top-level domain), as Caddy's
// {labels.N}; nothing when the host has fewer labels.
void append_label(std::string_view host, std::string_view index_text, std::string& out) {
  size_t index = 0;
  std::from_chars(index_text.data(), index_text.data() + index_text.size(), index);
  size_t end = host.size();
  while (true) {
    const size_t dot = end == 0 ? std::string_view::npos : host.rfind('.', end - 1);
    const size_t begin = dot == std::string_view::npos ? 0 : dot + 1;
    if (index == 0) {
      out.append(host.substr(begin, end - begin));
      return;
    }
    if (dot == std::string_view::npos) return;
    --index;
    end = dot;
  }
}

// ------------------------------------------------------- one per kind

void expand_host(const Part&, const RequestContext& ctx, std::string& out) {
  out += ctx.exchange.request().host;
}
void expand_hostport(const Part&, const RequestContext& ctx, std::string& out) {
  out += ctx.exchange.request().authority;
}
void expand_port(const Part&, const RequestContext& ctx, std::string& out) {
  const std::string_view port = authority_port(ctx.exchange.request().authority);
  if (!port.empty()) {
    out += port;
    return;
  }
  // No port in the authority means the default port of the scheme.
  out += scheme_of(ctx) == "https" ? "443" : "80";
}
void expand_uri(const Part&, const RequestContext& ctx, std::string& out) {
  const HttpRequest& request = ctx.exchange.request();
  out += request.path;
  if (!request.query.empty()) out.append(1, '?').append(request.query);
}
void expand_path(const Part&, const RequestContext& ctx, std::string& out) {
  append_decoded_path(ctx, out);
}
void expand_dir(const Part&, const RequestContext& ctx, std::string& out) {
  const size_t start = out.size();
  append_decoded_path(ctx, out);
  const size_t slash = out.rfind('/');
  out.resize(slash == std::string::npos || slash < start ? start : slash + 1);
}
void expand_file(const Part&, const RequestContext& ctx, std::string& out) {
  const size_t start = out.size();
  append_decoded_path(ctx, out);
  const size_t slash = out.rfind('/');
  if (slash != std::string::npos && slash >= start) out.erase(start, slash + 1 - start);
}
void expand_query(const Part&, const RequestContext& ctx, std::string& out) {
  out += ctx.exchange.request().query;
}
void expand_query_param(const Part& part, const RequestContext& ctx, std::string& out) {
  append_query_param(ctx.exchange.request().query, part.arg, out);
}
void expand_scheme(const Part&, const RequestContext& ctx, std::string& out) {
  out += scheme_of(ctx);
}
void expand_method(const Part&, const RequestContext& ctx, std::string& out) {
  out += ctx.exchange.request().method;
}
void expand_remote(const Part&, const RequestContext& ctx, std::string& out) {
  const ConnectionInfo& c = ctx.exchange.connection();
  append_host_port(c.remote_address, c.remote_port, out);
}
void expand_remote_host(const Part&, const RequestContext& ctx, std::string& out) {
  append_address(ctx.exchange.connection().remote_address, out);
}
void expand_remote_port(const Part&, const RequestContext& ctx, std::string& out) {
  append_number(ctx.exchange.connection().remote_port, out);
}
void expand_client_ip(const Part&, const RequestContext& ctx, std::string& out) {
  if (!ctx.client_ip.empty()) {
    out += ctx.client_ip;
    return;
  }
  append_address(ctx.exchange.connection().remote_address, out);
}
void expand_header(const Part& part, const RequestContext& ctx, std::string& out) {
  // Caddy joins repeated fields with a bare comma.
  bool first = true;
  for (const Header& h : ctx.exchange.request().headers.fields()) {
    if (!header_name_equals(h.name, part.arg)) continue;
    if (!first) out += ',';
    out += h.value;
    first = false;
  }
}
void expand_cookie(const Part& part, const RequestContext& ctx, std::string& out) {
  append_cookie(ctx.exchange.request().headers, part.arg, out);
}
void expand_label(const Part& part, const RequestContext& ctx, std::string& out) {
  append_label(ctx.exchange.request().host, part.arg, out);
}
void expand_tls_server_name(const Part&, const RequestContext& ctx, std::string& out) {
  out += ctx.exchange.connection().tls_server_name;
}
void expand_upstream_hostport(const Part&, const RequestContext& ctx, std::string& out) {
  out += ctx.upstream_hostport;
}
void expand_env(const Part& part, const RequestContext&, std::string& out) {
  // Only reached for templates that skipped resolve_env (tests, ad hoc use).
  if (const char* value = std::getenv(part.arg.c_str())) out += value;
}
void expand_error_status_code(const Part&, const RequestContext& ctx, std::string& out) {
  if (ctx.error_status > 0) append_number(static_cast<uint64_t>(ctx.error_status), out);
}
void expand_error_status_text(const Part&, const RequestContext& ctx, std::string& out) {
  if (ctx.error_status > 0) out += reason_phrase(ctx.error_status);
}
void expand_error_message(const Part&, const RequestContext& ctx, std::string& out) {
  out += ctx.error_message;
}
void expand_unknown(const Part&, const RequestContext&, std::string&) {}

using Expander = void (*)(const Part&, const RequestContext&, std::string&);

// Indexed by PlaceholderKind, in the enum's order.
constexpr Expander kExpanders[] = {
    expand_host,
    expand_hostport,
    expand_port,
    expand_uri,
    expand_path,
    expand_dir,
    expand_file,
    expand_query,
    expand_query_param,
    expand_scheme,
    expand_method,
    expand_remote,
    expand_remote_host,
    expand_remote_port,
    expand_client_ip,
    expand_header,
    expand_cookie,
    expand_label,
    expand_tls_server_name,
    expand_upstream_hostport,
    expand_env,
    expand_error_status_code,
    expand_error_status_text,
    expand_error_message,
    expand_unknown,
};
static_assert(std::size(kExpanders) == static_cast<size_t>(Kind::kUnknown) + 1,
              "one expander per placeholder kind");

}  // namespace

void append_address(const asio::ip::address& address, std::string& out) {
  std::array<char, INET6_ADDRSTRLEN> buffer{};
  if (address.is_v4()) {
    const auto bytes = address.to_v4().to_bytes();
    ::inet_ntop(AF_INET, bytes.data(), buffer.data(), buffer.size());
  } else {
    const auto bytes = address.to_v6().to_bytes();
    ::inet_ntop(AF_INET6, bytes.data(), buffer.data(), buffer.size());
  }
  out += buffer.data();
}

void append_host_port(const asio::ip::address& address, uint16_t port, std::string& out) {
  if (address.is_v6()) out += '[';
  append_address(address, out);
  if (address.is_v6()) out += ']';
  out += ':';
  append_number(port, out);
}

void expand_into(const core::Template& tmpl, const RequestContext& ctx, std::string& out) {
  for (const Part& part : tmpl.parts) {
    if (part.literal) {
      out += part.text;
      continue;
    }
    kExpanders[static_cast<size_t>(part.kind)](part, ctx, out);
  }
}

std::string expand(const core::Template& tmpl, const RequestContext& ctx) {
  std::string out;
  expand_into(tmpl, ctx, out);
  return out;
}

core::Template resolve_env(const core::Template& tmpl) {
  core::Template out;
  out.raw = tmpl.raw;
  for (const Part& part : tmpl.parts) {
    if (part.literal || part.kind != Kind::kEnv) {
      out.parts.push_back(part);
      continue;
    }
    const char* value = std::getenv(part.arg.c_str());
    out.parts.push_back({true, value != nullptr ? value : "", Kind::kUnknown, {}});
  }
  return out;
}

}  // namespace usher::proxy
