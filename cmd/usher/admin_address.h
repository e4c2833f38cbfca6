#pragma once

// Where the admin API listens and who may talk to it. Pure functions, shared
// by the server (run) and the client verbs (reload, stop, status, certs).

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/config.h"

namespace usher::cmd {

/// The admin address when neither the config nor the environment names one.
inline constexpr const char* kDefaultAdminAddress = "localhost:2019";
/// The environment variable naming the admin address (the packaged service
/// sets unix//run/usher/admin.sock).
inline constexpr const char* kAdminEnvVar = "USHER_ADMIN";

/// A parsed admin address: a Unix socket path, or a loopback IP and port.
struct AdminAddress {
  std::string unix_path;  // set for `unix//path`
  std::string ip;         // the IP to bind or dial: 127.0.0.1 for localhost and ``
  std::string host;       // the host as written (localhost, 127.0.0.1, ::1)
  uint16_t port = 0;

  bool is_unix() const { return !unix_path.empty(); }
  /// For messages: `127.0.0.1:2019`, `[::1]:2019` or `unix//run/usher/admin.sock`.
  std::string str() const;
  /// The Host header a client sends: `localhost` for sockets, else ip:port.
  std::string host_header() const;
};

/// Parses `localhost:2019`, `:2019`, `127.0.0.1:2019`, `[::1]:2019` or
/// `unix//path`. Only loopback hosts are accepted (the API has no
/// authentication). On failure returns nullopt with `error` set.
std::optional<AdminAddress> parse_admin_address(std::string_view text, std::string* error);

/// Fills `out` with the socket address to bind or dial; returns its length,
/// or 0 when a Unix socket path does not fit in sockaddr_un.
socklen_t socket_address(const AdminAddress& address, sockaddr_storage& out);

/// Whether a request's Host (and Origin, when present) names this machine:
/// localhost, a loopback IP or the configured host. A web page elsewhere can
/// make a browser send requests to 127.0.0.1 through DNS rebinding, but it
/// cannot make the browser send a local Host; so every other value is refused
/// (403), as Caddy does. `reason` says which header failed.
bool is_local_request(std::string_view host, std::optional<std::string_view> origin,
                      const AdminAddress& address, std::string* reason);

/// The address `usher run` listens on: the config's `admin` option; when
/// the config leaves it at its default, $USHER_ADMIN when set. Empty when the
/// config says `admin off`. `env` is the value of $USHER_ADMIN (null = unset).
std::string effective_admin_address(const core::AdminConfig& config, const char* env);

}  // namespace usher::cmd
