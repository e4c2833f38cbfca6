#include "cmd/usher/app.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <set>

#include "cmd/usher/systemd_notify.h"  // Type=notify: readiness, reloads, watchdog

#include "acme/local_ca.h"
#include "cmd/usher/admin_address.h"
#include "cmd/usher/admin_server.h"
#include "cmd/usher/certificates.h"
#include "cmd/usher/cli.h"
#include "cmd/usher/logging.h"
#include "cmd/usher/status.h"
#include "core/clock.h"
#include "core/config_yaml.h"
#include "core/data_dir.h"
#include "proxy/metrics.h"
#include "proxy/router.h"
#include "proxy/server.h"
#include "proxy/site_plan.h"
#include "proxy/tls_context.h"
#include "usher/version.h"

namespace usher::cmd {

namespace {

// Default time in-flight requests get to finish on shutdown (Caddy's
// grace_period); the config can change it.
constexpr auto kDefaultGracePeriod = std::chrono::seconds(10);

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
    if (!server.protocols.empty()) {
      const auto& p = server.protocols;
      settings.h2 = std::find(p.begin(), p.end(), "h2") != p.end();
      settings.h2c = std::find(p.begin(), p.end(), "h2c") != p.end();
    }
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
  // ALPN h2 first (server preference), unless `servers { protocols }` leaves it out.
  options.alpn = connection_settings(runtime.config).h2 ? std::vector<std::string>{"h2", "http/1.1"}
                                                        : std::vector<std::string>{"http/1.1"};
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

/// The site addresses as written, per site (status pages).
std::vector<std::vector<std::string>> site_addresses(const core::Config& config) {
  std::vector<std::vector<std::string>> out;
  for (const auto& site : config.sites) {
    auto& addresses = out.emplace_back();
    for (const auto& a : site.addresses)
      addresses.push_back(a.original.empty() ? a.host : a.original);
  }
  return out;
}

std::string join_lines(const std::vector<std::string>& lines, std::string_view separator) {
  std::string out;
  for (const auto& line : lines)
    out += (out.empty() ? "" : std::string(separator)) + line;
  return out;
}

/// `usher_upstream_healthy{site,upstream}`: one sample per site and upstream
/// (an upstream behind two reverse_proxy handlers of one site is healthy
/// only when both see it so; Prometheus rejects duplicate series).
void write_upstream_metrics(const std::vector<proxy::UpstreamGroup>& groups,
                            proxy::MetricsWriter& out) {
  std::vector<std::pair<std::pair<std::string, std::string>, bool>> series;
  for (const auto& group : groups) {
    for (const auto& u : group.upstreams) {
      auto key = std::make_pair(group.site, u.name);
      auto it = std::find_if(series.begin(), series.end(),
                             [&](const auto& entry) { return entry.first == key; });
      if (it == series.end()) {
        series.emplace_back(key, u.healthy());
      } else {
        it->second = it->second && u.healthy();
      }
    }
  }
  out.family("usher_upstream_healthy", "gauge",
             "1 when the upstream takes requests (active and passive health checks pass).");
  for (const auto& [key, healthy] : series)
    out.sample("usher_upstream_healthy", {{"site", key.first}, {"upstream", key.second}},
               healthy ? 1 : 0);
}

/// The process while it serves: signals, reloads, ticket key rotation, and
/// the admin API's actions.
class Instance final : public AdminActions {
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

  /// `admin` is the address the API listens on; nullopt = `admin off`.
  int run(const std::optional<AdminAddress>& admin, std::ostream& out) {
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
    started_ = std::chrono::steady_clock::now();
    // The API last: its actions (reload, status) expect a running server.
    if (admin) {
      try {
        admin_ = std::make_unique<AdminServer>(*admin, *this);
        admin_->start();
      } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
        admin_.reset();
        server_.stop(std::chrono::milliseconds(0));
        hub_.stop();
        return kExitFailure;
      }
    }
    spdlog::info("usher started: {} sites, {} workers, admin API {}", runtime_->config.sites.size(),
                 server_.worker_count(), admin ? "on " + admin->str() : "off");
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
      if (signal == SIGHUP) {
        reload();
        wait_for_signal(signals);
        return;
      }
      shutdown();
    });
  }

  /// SIGTERM, SIGINT and POST /stop: stop the API (no reload may start
  /// during the drain), then drain the data plane.
  void shutdown() {
    if (stopping_.exchange(true)) return;
    systemd::notify_stopping();
    watchdog_.stop();
    if (admin_) admin_->stop();
    std::chrono::milliseconds grace;
    {
      std::lock_guard lock(runtime_mutex_);
      grace = runtime_->config.global.grace_period.value_or(kDefaultGracePeriod);
    }
    spdlog::info("shutting down: letting requests in flight finish (up to {} ms)", grace.count());
    server_.stop(grace);
    hub_.stop();
    control_.stop();
  }

  void schedule_ticket_rotation() {
    rotation_.expires_after(proxy::kTicketKeyRotation);
    rotation_.async_wait([this](std::error_code ec) {
      if (ec) return;
      ticket_keys_->rotate();
      schedule_ticket_rotation();
    });
  }

  /// SIGHUP: reads the config file again (not what POST /load sent last:
  /// the file on disk is the source of truth, as in Caddy).
  void reload() {
    if (source_.path.empty()) {
      spdlog::warn("reload: this instance has no config file to read again");
      return;
    }
    auto loaded = core::load_config_file(source_.path, source_.format);
    core::check_config(loaded);
    apply(loaded, source_.path);
  }

  /// The one reload path (SIGHUP and POST /load): a new config replaces the
  /// running one only once it is completely valid and built; otherwise the
  /// old one keeps serving. Logs the outcome once.
  LoadOutcome apply(const core::LoadedConfig& loaded, const std::string& origin) {
    std::lock_guard reloading(reload_mutex_);
    systemd::ReloadNotice notice;  // RELOADING=1 now, READY=1 however the reload ends
    LoadOutcome outcome;
    for (const auto& d : loaded.diagnostics.items()) {
      if (d.is_error()) {
        outcome.errors.push_back(d.str());
      } else {
        spdlog::warn("reload: {}", d.str());
      }
    }
    if (stopping_) outcome.errors.push_back("usher is shutting down");
    if (outcome.errors.empty()) {
      try {
        LogSetup logging = make_log_setup(loaded.config.global);
        auto next = build_runtime(loaded.config, hub_);
        std::lock_guard lock(runtime_mutex_);
        // Server::publish opens new listeners first and returns once every
        // worker has taken the new snapshot; requests in flight hold
        // the old routes and TLS contexts themselves, the old runtime is
        // only their builder.
        server_.publish(snapshot_of(*next, hub_, ticket_keys_));
        install_logging(std::move(logging));
        runtime_ = std::move(next);
        outcome.applied = true;
        outcome.sites = runtime_->config.sites.size();
      } catch (const std::exception& e) {
        outcome.errors.push_back(e.what());
      }
    }
    proxy::MetricsRegistry::global().note_reload(outcome.applied);
    if (!outcome.applied) {
      spdlog::error("reload of {} failed: {}; still serving the previous config", origin,
                    join_lines(outcome.errors, "; "));
      return outcome;
    }
    spdlog::info("reloaded {}: {} sites", origin, outcome.sites);
    if (admin_ && effective_admin_address(loaded.config.global.admin, std::getenv(kAdminEnvVar)) !=
                      admin_config_)
      spdlog::warn("the admin address changed; the API stays on {} until restart",
                   admin_->address().str());
    return outcome;
  }

  // ---------------------------------------------------------------- admin API

  LoadOutcome load(const std::string& text, core::ConfigFormat format) override {
    // Messages name the file the instance runs from, so that line numbers
    // point at what the person edits (and imports resolve next to it).
    const std::string name = source_.path.empty() ? "admin:/load" : source_.path;
    auto loaded = core::load_config_text(text, name, format);
    core::check_config(loaded);
    return apply(loaded, name + " (admin API)");
  }

  std::string config_yaml() override {
    std::lock_guard lock(runtime_mutex_);
    return core::to_yaml(runtime_->config);
  }

  std::string status_json() override {
    InstanceStatus status;
    status.version = kVersion;
    status.uptime = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::steady_clock::now() - started_);
    status.config_path = source_.path;
    status.workers = server_.worker_count();
    {
      std::lock_guard lock(runtime_mutex_);
      status.sites = site_addresses(runtime_->config);
      status.listeners = runtime_->plan.listeners;
      status.upstreams = runtime_->routes->upstreams();
    }
    if (auto* acme = hub_.acme()) status.certificates = acme->status();
    return status_to_json(status).dump() + "\n";
  }

  std::string metrics() override {
    proxy::MetricsWriter out;
    server_.write_metrics(out);
    hub_.write_metrics(out);
    std::shared_ptr<const proxy::RouteTable> routes;
    {
      std::lock_guard lock(runtime_mutex_);
      routes = runtime_->routes;
    }
    write_upstream_metrics(routes->upstreams(), out);
    return out.text();
  }

  void request_stop() override {
    spdlog::info("stop requested through the admin API");
    asio::post(control_, [this] { shutdown(); });
  }

 public:
  /// The admin address the instance started with, as configured (to notice
  /// a reload that changes it).
  void set_admin_config(std::string address) { admin_config_ = std::move(address); }

 private:
  ConfigSource source_;
  std::mutex
      reload_mutex_;  // one reload at a time (SIGHUP on the control thread, /load on the API's)
  std::atomic<bool> stopping_{false};
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::string admin_config_;
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
  // Last: destroyed (stopped) first, while everything its actions use lives.
  std::unique_ptr<AdminServer> admin_;
};

}  // namespace

int run_instance(const core::Config& config, const ConfigSource& source, std::ostream& out,
                 std::ostream& err) {
  try {
    install_logging(make_log_setup(config.global));
  } catch (const std::exception& e) {
    err << "usher: " << e.what() << "\n";
    return kExitConfig;
  }
  // A peer that closes first must cost one connection, not the process:
  // OpenSSL writes to the socket itself (a close_notify to a client already
  // gone, such as a CA's TLS-ALPN-01 check), and so does the ACME client's
  // TLS (cpp-httplib over OpenSSL). Writes then fail with EPIPE instead.
  std::signal(SIGPIPE, SIG_IGN);
  std::string admin_config =
      effective_admin_address(config.global.admin, std::getenv(kAdminEnvVar));
  std::optional<AdminAddress> admin;
  if (!admin_config.empty()) {
    std::string error;
    admin = parse_admin_address(admin_config, &error);
    if (!admin) {
      err << "usher: " << error
          << (config.global.admin == core::AdminConfig{} ? " (from $USHER_ADMIN)" : "") << "\n";
      return kExitConfig;
    }
  }
  Instance instance(config, source);
  instance.set_admin_config(admin_config);
  if (!instance.prepare(config, err)) return kExitConfig;
  return instance.run(admin, out);
}

}  // namespace usher::cmd
