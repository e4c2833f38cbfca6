#include "cmd/usher/app.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <csignal>
#include <iostream>
#include <set>

#include "cmd/usher/systemd_notify.h"  // Type=notify: readiness, reloads, watchdog

#include "acme/local_ca.h"
#include "cmd/usher/certificates.h"
#include "cmd/usher/cli.h"
#include "core/clock.h"
#include "core/data_dir.h"
#include "proxy/router.h"
#include "proxy/server.h"
#include "proxy/site_plan.h"
#include "proxy/tls_context.h"

namespace usher::cmd {

namespace {

// Default time in-flight requests get to finish on shutdown (Caddy's
// grace_period); the config can change it.
constexpr auto kDefaultGracePeriod = std::chrono::seconds(10);

/// Logs go to standard error: coloured and timestamped on a terminal; plain
/// level and message otherwise, since journald and docker add their own
/// timestamps.
void setup_logging(bool debug) {
  auto logger = spdlog::stderr_color_mt("usher");
  if (isatty(STDERR_FILENO)) {
    logger->set_pattern("%Y/%m/%d %H:%M:%S.%e %^%-5l%$ %v");
  } else {
    logger->set_pattern("%l %v");
  }
  logger->set_level(debug ? spdlog::level::debug : spdlog::level::info);
  spdlog::set_default_logger(logger);
}

proxy::ConnectionSettings connection_settings(const core::Config& config) {
  proxy::ConnectionSettings settings;
  for (const auto& server : config.global.servers) {
    if (!server.listener.empty()) continue;  // per-listener options: not applied yet
    const auto& t = server.timeouts;
    if (t.read_header) settings.read_header = *t.read_header;
    if (t.read_body) settings.read_body = *t.read_body;
    if (t.write) settings.write = *t.write;
    if (t.idle) settings.idle = *t.idle;
    if (server.max_header_size) settings.max_header_bytes = *server.max_header_size;
  }
  return settings;
}

/// Everything built from one config. A reload builds a new Runtime beside the
/// running one and swaps only once it is complete.
struct Runtime {
  core::Config config;
  proxy::SitePlan plan;
  std::shared_ptr<const proxy::RouteTable> routes;
};

/// The clock every certificate manager of the process reads.
const core::Clock& system_clock() {
  static const core::SystemClock clock;
  return clock;
}

/// Builds the runtime of `config` and points the certificate hub at its
/// names. Throws (with the reason) when the config cannot be served.
std::unique_ptr<Runtime> build_runtime(const core::Config& config, CertificateHub& hub) {
  auto runtime = std::make_unique<Runtime>();
  runtime->config = config;
  runtime->plan = proxy::plan_sites(runtime->config);
  hub.configure(runtime->config, runtime->plan);
  proxy::RouterOptions options;
  options.challenges = hub.responder();
  runtime->routes = proxy::RouteTable::build(runtime->config, options);
  return runtime;
}

bool needs_tls(const proxy::SitePlan& plan) {
  return std::any_of(plan.listeners.begin(), plan.listeners.end(),
                     [](const auto& l) { return l.tls; });
}

std::shared_ptr<const proxy::TlsServerContext> tls_context(
    const Runtime& runtime, CertificateHub& hub,
    const std::shared_ptr<proxy::TicketKeyRing>& ticket_keys) {
  if (!needs_tls(runtime.plan)) return nullptr;
  proxy::TlsOptions options;
  options.ticket_keys = ticket_keys;
  return std::make_shared<proxy::TlsServerContext>(hub.certificates(), hub.responder(), options);
}

proxy::ServerSnapshot snapshot_of(const Runtime& runtime, CertificateHub& hub,
                                  const std::shared_ptr<proxy::TicketKeyRing>& ticket_keys) {
  proxy::ServerSnapshot snapshot;
  snapshot.routes = runtime.routes;
  snapshot.tls = tls_context(runtime, hub, ticket_keys);
  snapshot.settings = connection_settings(runtime.config);
  snapshot.listeners = runtime.plan.listeners;
  return snapshot;
}

/// Tells the person who started usher where to point a browser or curl.
void print_welcome(const Runtime& runtime, std::ostream& out) {
  const auto& global = runtime.config.global;
  std::string local_url;  // the first HTTPS site on the local CA, for the curl hint
  for (const auto& site : runtime.config.sites) {
    for (const auto& address : site.addresses) {
      bool https = address.scheme == "https" || (address.scheme.empty() && !address.host.empty() &&
                                                 address.port != global.http_port);
      uint16_t port = address.port != 0 ? address.port
                      : https           ? global.https_port
                                        : global.http_port;
      std::string host = address.host.empty() ? "localhost" : address.host;
      if (host.front() == '*') continue;
      bool default_port = (https && port == 443) || (!https && port == 80);
      std::string url = std::string(https ? "https://" : "http://") +
                        (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
                        (default_port ? "" : ":" + std::to_string(port)) + "/";
      out << "serving " << url << "\n";
      if (local_url.empty() && https && proxy::is_local_name(host)) local_url = url;
    }
  }
  if (!local_url.empty()) {
    std::string root =
        acme::local_root_certificate_path(core::data_directory(runtime.config.global.storage_path));
    out << "local sites use usher's own CA; try:\n  curl --cacert " << root << " " << local_url
        << "\n"
        << "or trust the CA on this machine with `sudo usher trust`\n";
  }
  out.flush();
}

/// The process while it serves: signals, reloads, ticket key rotation.
class Instance {
 public:
  Instance(const core::Config& config, const ConfigSource& source)
      : source_(source),
        ticket_keys_(std::make_shared<proxy::TicketKeyRing>()),
        server_(config.global.workers.value_or(0)) {}

  /// Builds the first runtime; false (with the reason printed) when the
  /// config cannot be served.
  bool prepare(const core::Config& config, std::ostream& err) {
    try {
      runtime_ = build_runtime(config, hub_);
    } catch (const std::exception& e) {
      err << "usher: " << e.what() << "\n";
      return false;
    }
    return true;
  }

  int run(std::ostream& out) {
    // New or renewed certificates reach the workers as a fresh TLS context.
    hub_.on_publish([this] { publish_certificates(); });
    try {
      std::lock_guard lock(runtime_mutex_);
      server_.start(snapshot_of(*runtime_, hub_, ticket_keys_));
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
      return kExitFailure;
    }
    hub_.start();
    spdlog::info("usher started: {} sites, {} workers", runtime_->config.sites.size(),
                 server_.worker_count());
    print_welcome(*runtime_, out);
    systemd::notify_ready();  // every listener is open: `systemctl start` may return
    watchdog_.start();
    asio::signal_set signals(control_, SIGINT, SIGTERM, SIGHUP);
    wait_for_signal(signals);
    schedule_ticket_rotation();
    control_.run();
    return kExitOk;
  }

 private:
  void publish_certificates() {
    try {
      std::lock_guard lock(runtime_mutex_);
      if (runtime_) server_.publish_tls(tls_context(*runtime_, hub_, ticket_keys_));
    } catch (const std::exception& e) {
      spdlog::error("publishing new certificates: {}", e.what());
    }
  }

  void wait_for_signal(asio::signal_set& signals) {
    signals.async_wait([this, &signals](std::error_code ec, int signal) {
      if (ec) return;
      if (signal != SIGHUP) {
        systemd::notify_stopping();
        watchdog_.stop();
      }
      if (signal == SIGHUP) {
        reload();
        wait_for_signal(signals);
        return;
      }
      auto grace = runtime_->config.global.grace_period.value_or(kDefaultGracePeriod);
      spdlog::info("shutting down: letting requests in flight finish (up to {} ms)", grace.count());
      server_.stop(grace);
      hub_.stop();
      control_.stop();
    });
  }

  void schedule_ticket_rotation() {
    rotation_.expires_after(proxy::kTicketKeyRotation);
    rotation_.async_wait([this](std::error_code ec) {
      if (ec) return;
      ticket_keys_->rotate();
      schedule_ticket_rotation();
    });
  }

  /// SIGHUP: a new config replaces the running one only once it is
  /// completely valid and built; otherwise the old one keeps serving.
  void reload() {
    systemd::ReloadNotice notice;  // RELOADING=1 now, READY=1 however the reload ends
    if (source_.path.empty()) {
      spdlog::warn("reload: this instance has no config file to read again");
      return;
    }
    auto loaded = core::load_config_file(source_.path, source_.format);
    core::check_config(loaded);
    for (const auto& d : loaded.diagnostics.items()) {
      if (d.is_error()) {
        spdlog::error("reload: {}", d.str());
      } else {
        spdlog::warn("reload: {}", d.str());
      }
    }
    if (loaded.diagnostics.has_errors()) {
      spdlog::error("reload of {} failed; still serving the previous config", source_.path);
      return;
    }
    try {
      auto next = build_runtime(loaded.config, hub_);
      std::lock_guard lock(runtime_mutex_);
      server_.publish(snapshot_of(*next, hub_, ticket_keys_));
      // Requests in flight hold the old routes and TLS contexts themselves;
      // the old runtime is only their builder.
      runtime_ = std::move(next);
      spdlog::info("reloaded {}: {} sites", source_.path, runtime_->config.sites.size());
    } catch (const std::exception& e) {
      spdlog::error("reload of {} failed: {}; still serving the previous config", source_.path,
                    e.what());
    }
  }

  ConfigSource source_;
  // Declared before server_ so that it is destroyed after it: TLS contexts
  // and routes in the workers refer to its challenge responder.
  CertificateHub hub_{system_clock()};
  std::mutex runtime_mutex_;  // runtime_ is swapped on reload and read by certificate threads
  std::unique_ptr<Runtime> runtime_;
  std::shared_ptr<proxy::TicketKeyRing> ticket_keys_;
  proxy::Server server_;
  asio::io_context control_;
  systemd::Watchdog watchdog_{control_};  // WATCHDOG=1 when the unit sets WatchdogSec
  asio::steady_timer rotation_{control_};
};

}  // namespace

int run_instance(const core::Config& config, const ConfigSource& source, std::ostream& out,
                 std::ostream& err) {
  setup_logging(config.global.debug);
  // A peer that closes first must cost one connection, not the process:
  // OpenSSL writes to the socket itself (a close_notify to a client already
  // gone, such as a CA's TLS-ALPN-01 check) and libcurl under CURLOPT_NOSIGNAL
  // leaves SIGPIPE to the application. Writes then fail with EPIPE instead.
  std::signal(SIGPIPE, SIG_IGN);
  Instance instance(config, source);
  if (!instance.prepare(config, err)) return kExitConfig;
  return instance.run(out);
}

}  // namespace usher::cmd
