#include "cmd/usher/app.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <iostream>
#include <set>

#include "acme/local_ca.h"
#include "acme/local_certificates.h"
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
  std::unique_ptr<acme::LocalCertificateManager> certificates;
  std::shared_ptr<const proxy::RouteTable> routes;
};

/// The clock every certificate manager of the process reads.
const core::Clock& system_clock() {
  static const core::SystemClock clock;
  return clock;
}

std::unique_ptr<Runtime> build_runtime(const core::Config& config) {
  auto runtime = std::make_unique<Runtime>();
  runtime->config = config;
  runtime->plan = proxy::plan_sites(runtime->config);
  std::vector<std::string> local_names;
  std::vector<acme::FileCertificate> files;
  std::set<std::string> seen;
  for (const auto& need : runtime->plan.certificates) {
    if (!seen.insert(need.name).second) continue;
    switch (need.origin) {
      case proxy::CertificateOrigin::kLocal:
        local_names.push_back(need.name);
        break;
      case proxy::CertificateOrigin::kFiles:
        files.push_back({need.name, need.site->tls->cert_file, need.site->tls->key_file});
        break;
      case proxy::CertificateOrigin::kAcme:
        spdlog::warn(
            "{}: no certificate: getting certificates from an ACME CA is not supported by this "
            "build yet; the site answers TLS handshakes with an alert. Use `tls internal` or "
            "`tls CERT KEY` for now",
            need.name);
        break;
    }
  }
  std::string data_dir = core::data_directory(runtime->config.global.storage_path);
  runtime->certificates =
      std::make_unique<acme::LocalCertificateManager>(data_dir, local_names, files, system_clock());
  runtime->routes = proxy::RouteTable::build(runtime->config, proxy::RouterOptions{});
  return runtime;
}

bool needs_tls(const proxy::SitePlan& plan) {
  return std::any_of(plan.listeners.begin(), plan.listeners.end(),
                     [](const auto& l) { return l.tls; });
}

std::shared_ptr<const proxy::TlsServerContext> tls_context(
    const Runtime& runtime, const std::shared_ptr<proxy::TicketKeyRing>& ticket_keys) {
  if (!needs_tls(runtime.plan)) return nullptr;
  proxy::TlsOptions options;
  options.ticket_keys = ticket_keys;
  return std::make_shared<proxy::TlsServerContext>(runtime.certificates->certificates(), nullptr,
                                                   options);
}

proxy::ServerSnapshot snapshot_of(const Runtime& runtime,
                                  const std::shared_ptr<proxy::TicketKeyRing>& ticket_keys) {
  proxy::ServerSnapshot snapshot;
  snapshot.routes = runtime.routes;
  snapshot.tls = tls_context(runtime, ticket_keys);
  snapshot.settings = connection_settings(runtime.config);
  snapshot.listeners = runtime.plan.listeners;
  return snapshot;
}

/// Tells the person who started usher where to point a browser or curl.
void print_welcome(const Runtime& runtime, std::ostream& out) {
  const auto& global = runtime.config.global;
  bool any_local = false;
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
      any_local = any_local || (https && proxy::is_local_name(host));
    }
  }
  if (any_local) {
    std::string root =
        acme::local_root_certificate_path(core::data_directory(runtime.config.global.storage_path));
    out << "local sites use usher's own CA; try:\n  curl --cacert " << root << " https://"
        << "localhost:" << global.https_port << "/\n"
        << "or trust the CA on this machine with `sudo usher trust`\n";
  }
  out.flush();
}

/// The process while it serves: signals, reloads, ticket key rotation.
class Instance {
 public:
  Instance(std::unique_ptr<Runtime> runtime, const ConfigSource& source)
      : source_(source),
        runtime_(std::move(runtime)),
        ticket_keys_(std::make_shared<proxy::TicketKeyRing>()),
        server_(runtime_->config.global.workers.value_or(0)) {}

  int run(std::ostream& out) {
    watch_certificates(*runtime_);
    try {
      server_.start(snapshot_of(*runtime_, ticket_keys_));
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
      return kExitFailure;
    }
    runtime_->certificates->start();
    spdlog::info("usher started: {} sites, {} workers", runtime_->config.sites.size(),
                 server_.worker_count());
    print_welcome(*runtime_, out);
    asio::signal_set signals(control_, SIGINT, SIGTERM, SIGHUP);
    wait_for_signal(signals);
    schedule_ticket_rotation();
    control_.run();
    return kExitOk;
  }

 private:
  void watch_certificates(Runtime& runtime) {
    // New leaves (renewals) reach the workers as a fresh TLS context.
    runtime.certificates->on_publish([this, &runtime] {
      try {
        server_.publish_tls(tls_context(runtime, ticket_keys_));
      } catch (const std::exception& e) {
        spdlog::error("publishing renewed certificates: {}", e.what());
      }
    });
    runtime.certificates->on_error(
        [](const std::string& error) { spdlog::error("local certificates: {}", error); });
  }

  void wait_for_signal(asio::signal_set& signals) {
    signals.async_wait([this, &signals](std::error_code ec, int signal) {
      if (ec) return;
      if (signal == SIGHUP) {
        reload();
        wait_for_signal(signals);
        return;
      }
      auto grace = runtime_->config.global.grace_period.value_or(kDefaultGracePeriod);
      spdlog::info("shutting down: letting requests in flight finish (up to {} ms)", grace.count());
      server_.stop(grace);
      runtime_->certificates->stop();
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
      auto next = build_runtime(loaded.config);
      watch_certificates(*next);
      server_.publish(snapshot_of(*next, ticket_keys_));
      next->certificates->start();
      // Requests in flight hold the old routes and TLS contexts themselves;
      // the old runtime is only their builder.
      runtime_->certificates->stop();
      runtime_ = std::move(next);
      spdlog::info("reloaded {}: {} sites", source_.path, runtime_->config.sites.size());
    } catch (const std::exception& e) {
      spdlog::error("reload of {} failed: {}; still serving the previous config", source_.path,
                    e.what());
    }
  }

  ConfigSource source_;
  std::unique_ptr<Runtime> runtime_;
  std::shared_ptr<proxy::TicketKeyRing> ticket_keys_;
  proxy::Server server_;
  asio::io_context control_;
  asio::steady_timer rotation_{control_};
};

}  // namespace

int run_instance(const core::Config& config, const ConfigSource& source, std::ostream& out,
                 std::ostream& err) {
  setup_logging(config.global.debug);
  std::unique_ptr<Runtime> runtime;
  try {
    runtime = build_runtime(config);
  } catch (const std::exception& e) {
    err << "usher: " << e.what() << "\n";
    return kExitConfig;
  }
  Instance instance(std::move(runtime), source);
  return instance.run(out);
}

}  // namespace usher::cmd
