#pragma once

// The admin API (design.md §3): a small HTTP server on a loopback address or
// a Unix socket, on its own threads, never on the data path. It parses and
// checks requests; what they do is the Instance's business (AdminActions).

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cmd/usher/admin_address.h"
#include "core/config_loader.h"

namespace usher::cmd {

/// The result of applying a config through POST /load.
struct LoadOutcome {
  bool applied = false;
  std::vector<std::string> errors;  // one line each (file:line: message); empty when applied
  size_t sites = 0;
};

/// What the endpoints do, implemented by the running instance. Called from
/// the admin server's threads.
class AdminActions {
 public:
  virtual ~AdminActions() = default;
  /// POST /load: validate `text` completely and apply it like a SIGHUP reload.
  virtual LoadOutcome load(const std::string& text, core::ConfigFormat format) = 0;
  /// GET /config: the running config as YAML.
  virtual std::string config_yaml() = 0;
  /// GET /status: JSON.
  virtual std::string status_json() = 0;
  /// GET /metrics: Prometheus text.
  virtual std::string metrics() = 0;
  /// POST /stop: begin the graceful shutdown (after the response is sent).
  virtual void request_stop() = 0;
};

/// Largest request body the API reads (a Caddyfile or YAML config): 413 above.
inline constexpr size_t kMaxAdminBody = 4 * 1024 * 1024;

/// The admin HTTP server. start() binds (or throws), then serves on a
/// background thread until stop() or destruction.
class AdminServer {
 public:
  AdminServer(AdminAddress address, AdminActions& actions);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  /// Binds the address and starts serving. Throws std::runtime_error naming
  /// the address and what to do when it cannot be bound. A Unix socket is
  /// created with mode 0600, replacing a stale socket file.
  void start();
  /// Stops accepting, lets requests being answered finish, removes the
  /// socket file. Idempotent.
  void stop();

  const AdminAddress& address() const { return address_; }

  struct Impl;

 private:
  AdminAddress address_;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
};

}  // namespace usher::cmd
