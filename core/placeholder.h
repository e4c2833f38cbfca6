#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace usher::core {

/// The request placeholders usher knows. Each is expanded per request by the
/// proxy; an unknown name is a configuration error at load time, never an
/// empty string at run time.
enum class PlaceholderKind : uint8_t {
  kHost,              // {host}, {http.request.host}: request host without port
  kHostport,          // {hostport}, {http.request.hostport}
  kPort,              // {port}, {http.request.port}
  kUri,               // {uri}, {http.request.uri}: path and query
  kPath,              // {path}, {http.request.uri.path}
  kDir,               // {dir}, {http.request.uri.path.dir}
  kFile,              // {file}, {http.request.uri.path.file}
  kQuery,             // {query}, {http.request.uri.query}: without the `?`
  kQueryParam,        // {query.NAME}, {http.request.uri.query.NAME}
  kScheme,            // {scheme}, {http.request.scheme}
  kMethod,            // {method}, {http.request.method}
  kRemote,            // {remote}, {http.request.remote}: host:port of the client
  kRemoteHost,        // {remote_host}, {http.request.remote.host}
  kRemotePort,        // {remote_port}, {http.request.remote.port}
  kClientIp,          // {client_ip}, {http.vars.client_ip}: after trusted_proxies
  kHeader,            // {header.NAME}, {http.request.header.NAME}
  kCookie,            // {cookie.NAME}, {http.request.cookie.NAME}
  kLabel,             // {labels.N}, {http.request.host.labels.N}: N counts from the right
  kTlsServerName,     // {tls_server_name}, {http.request.tls.server_name}
  kUpstreamHostport,  // {upstream_hostport}, {http.reverse_proxy.upstream.hostport}
  kEnv,               // {env.NAME}: environment variable, read once at load
  kErrorStatusCode,   // {err.status_code}, {http.error.status_code}: in handle_errors
  kErrorStatusText,   // {err.status_text}, {http.error.status_text}
  kErrorMessage,      // {err.message}, {http.error.message}
  kUnknown,           // anything else: rejected by the validator
};

/// One piece of a template: literal text, or a placeholder with its argument
/// (header name, label index, env name, query key).
struct TemplatePart {
  bool literal = true;
  std::string text;  // literal text, or the placeholder name as written (without braces)
  PlaceholderKind kind = PlaceholderKind::kUnknown;
  std::string arg;
};

/// A string that may contain `{placeholders}`, parsed once at load time.
/// `raw` is what the user wrote (and what YAML shows); `parts` is what the
/// proxy expands. `\{` and `\}` are literal braces, as in Caddy.
struct Template {
  std::string raw;
  std::vector<TemplatePart> parts;

  static Template parse(std::string_view raw);

  /// True when there is no placeholder in it.
  bool is_literal() const;
  /// The placeholder names (as written) that are unknown; empty when valid.
  std::vector<std::string> unknown_placeholders() const;

  bool operator==(const Template& other) const { return raw == other.raw; }
};

/// Maps a placeholder name (without braces) to its kind and argument.
PlaceholderKind classify_placeholder(std::string_view name, std::string* arg);

}  // namespace usher::core
