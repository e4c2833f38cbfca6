#include "proxy/health_check.h"

#include <spdlog/spdlog.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <mutex>
#include <thread>

#include "proxy/upstream_h2.h"

namespace usher::proxy {

namespace {

/// A request body that is empty.
class EmptyBody final : public BodySource {
 public:
  asio::awaitable<std::error_code> read(Chunk& chunk) override {
    chunk = Chunk{{}, true};
    co_return std::error_code{};
  }
  const Headers& trailers() const override { return trailers_; }
  asio::awaitable<std::error_code> send_continue() override { co_return std::error_code{}; }

 private:
  Headers trailers_;
};

/// Interim responses to a health check go nowhere.
class DiscardSink final : public ResponseSink {
 public:
  asio::awaitable<std::error_code> write_interim(const ResponseHead&) override {
    co_return std::error_code{};
  }
  asio::awaitable<std::error_code> write_head(const ResponseHead&) override {
    co_return std::error_code{};
  }
  asio::awaitable<std::error_code> write_body(std::span<const char>, bool) override {
    co_return std::error_code{};
  }
  asio::awaitable<std::error_code> finish(const Headers*) override { co_return std::error_code{}; }
  void abort() override {}
  bool head_written() const override { return false; }
  uint64_t body_bytes() const override { return 0; }
};

}  // namespace

/// The background thread and its io_context.
class HealthCheckRunner {
 public:
  HealthCheckRunner()
      : pools_(std::make_unique<UpstreamPools>(io_)),
        guard_(io_.get_executor()),
        thread_([this] { io_.run(); }) {}
  ~HealthCheckRunner() {
    guard_.reset();
    io_.stop();
    thread_.join();
    // io_ goes next, destroying unfinished checks while pools_ still exists.
  }

  asio::io_context& io() { return io_; }
  UpstreamPools& pools() { return *pools_; }

  /// The runner every handler shares; created on first use.
  static std::shared_ptr<HealthCheckRunner> shared() {
    static std::mutex mutex;
    static std::weak_ptr<HealthCheckRunner> current;
    std::lock_guard lock(mutex);
    auto runner = current.lock();
    if (!runner) {
      runner = std::make_shared<HealthCheckRunner>();
      current = runner;
    }
    return runner;
  }

 private:
  // Declared before io_ (it only stores the reference) so that it outlives
  // the check coroutines io_ destroys; checks never pool, so it holds no
  // sockets of its own.
  std::unique_ptr<UpstreamPools> pools_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::thread thread_;
};

/// What the check loops of one handler share.
struct HealthChecks::State {
  core::ActiveHealthCheck config;
  std::shared_ptr<const LoadBalancer> lb;
  std::shared_ptr<const std::vector<UpstreamEndpoint>> endpoints;
  std::vector<UpstreamEndpoint> targets;                    // endpoints with health_port applied
  std::vector<std::unique_ptr<asio::steady_timer>> timers;  // touched on the runner thread only
  std::atomic<bool> stopped{false};
  bool h2c = false;  // the upstreams speak HTTP/2 with prior knowledge
  UpstreamTimeouts timeouts;
  PoolSettings no_pooling{.max_idle = 0, .idle_timeout = std::chrono::milliseconds(0)};
  // An h2c check's connection is closed by the check itself (decision 0021);
  // an idle timeout of 0 would race it with a GOAWAY of its own.
  PoolSettings h2c_check;
};

bool health_status_matches(int status, core::StatusMatch expected) {
  return expected < 10 ? status / 100 == expected : status == expected;
}

namespace {

/// Whether the answer to a check is healthy; otherwise `reason` says what
/// happened instead. Shared by both protocols so that logs read the same.
bool judge(const HealthChecks::State& state, const UpstreamEndpoint& target, AttemptOutcome outcome,
           int status, const std::error_code& error, std::string& reason) {
  const bool healthy = outcome == AttemptOutcome::kResponse &&
                       health_status_matches(status, state.config.expect_status);
  if (!healthy) {
    reason =
        outcome == AttemptOutcome::kResponse ? "status " + std::to_string(status) : error.message();
    spdlog::debug("health check of {}: {}", target.hostport, reason);
  }
  return healthy;
}

/// One HTTP/1.1 check of upstream `i`.
asio::awaitable<bool> check_http1(HealthChecks::State& state, UpstreamPools& pools, size_t i,
                                  std::string& reason) {
  const UpstreamEndpoint& target = state.targets[i];
  HttpRequest request;
  request.method = "GET";
  EmptyBody body;
  DiscardSink sink;
  UpstreamClient client(pools, state.timeouts, state.no_pooling, request, body);
  std::string& head = client.head();
  head.assign("GET ").append(state.config.uri).append(" HTTP/1.1\r\n");
  head.append("Host: ").append(target.hostport).append("\r\n");
  head.append("User-Agent: usher-health-check\r\nConnection: close\r\n");
  const AttemptOutcome outcome = co_await client.attempt(target, sink, true);
  co_return judge(state, target, outcome, client.response().status, client.error(), reason);
}

/// One check of an h2c upstream: the GET goes as a stream on a connection
/// of its own, closed when the check ends (decision 0021), so no socket of
/// a check outlives it and nothing is left for the runner to tear down.
asio::awaitable<bool> check_h2c(HealthChecks::State& state, asio::io_context& io, size_t i,
                                std::string& reason) {
  const UpstreamEndpoint& target = state.targets[i];
  HttpRequest request;
  request.method = "GET";
  request.scheme = "http";
  request.authority = target.hostport;
  request.path = state.config.uri;  // the whole target, query included: query stays empty
  EmptyBody body;
  DiscardSink sink;
  // Declared before the client: the client's stream is reset before its
  // connection is closed.
  H2Pools pools(io);
  AttemptOutcome outcome = AttemptOutcome::kDialFailed;
  int status = 0;
  std::error_code error;
  {
    H2UpstreamClient client(pools, state.timeouts, state.h2c_check, request, body);
    client.fields().add("Host", target.hostport);
    client.fields().add("User-Agent", "usher-health-check");
    outcome = co_await client.attempt(target, sink, true);
    if (outcome == AttemptOutcome::kResponse) status = client.response().status;
    error = client.error();
    co_await client.finish_attempt();
  }
  pools.close_all();
  co_return judge(state, target, outcome, status, error, reason);
}

/// One check of upstream `i`: true when it answered with the expected
/// status; otherwise `reason` says what happened instead.
asio::awaitable<bool> check_once(HealthChecks::State& state, HealthCheckRunner& runner, size_t i,
                                 std::string& reason) {
  if (state.h2c) co_return co_await check_h2c(state, runner.io(), i, reason);
  co_return co_await check_http1(state, runner.pools(), i, reason);
}

// The loop holds the state but not the runner: the runner must never be
// released on its own thread (its destructor joins that thread).
asio::awaitable<void> check_loop(std::shared_ptr<HealthChecks::State> state,
                                 HealthCheckRunner* runner, size_t i) {
  asio::steady_timer& timer = *state->timers[i];
  while (!state->stopped.load()) {
    std::string reason;
    const bool healthy = co_await check_once(*state, *runner, i, reason);
    if (state->stopped.load()) break;
    // Log a change once, not every check.
    if (state->lb->health(i).set_active_healthy(healthy)) {
      if (healthy) {
        spdlog::info("upstream {} is healthy again", state->lb->name(i));
      } else {
        spdlog::warn("upstream {} failed its health check (GET {}): {}; taken out of rotation",
                     state->lb->name(i), state->config.uri, reason);
      }
    }
    timer.expires_after(state->config.interval);
    auto [ec] = co_await timer.async_wait(kNoThrow);
    if (ec) break;
  }
}

}  // namespace

HealthChecks::HealthChecks(const core::ActiveHealthCheck& config,
                           std::shared_ptr<const LoadBalancer> lb,
                           std::shared_ptr<const std::vector<UpstreamEndpoint>> endpoints, bool h2c)
    : runner_(HealthCheckRunner::shared()), state_(std::make_shared<State>()) {
  state_->config = config;
  state_->lb = std::move(lb);
  state_->endpoints = std::move(endpoints);
  state_->h2c = h2c;
  state_->timeouts.dial = config.timeout;
  state_->timeouts.response_header = config.timeout;
  state_->timeouts.read = config.timeout;
  state_->timeouts.write = config.timeout;
  state_->h2c_check.max_idle = 0;
  state_->h2c_check.idle_timeout = config.timeout;
  for (const UpstreamEndpoint& e : *state_->endpoints) {
    UpstreamEndpoint target = e;
    if (config.port != 0 && target.unix_path.empty()) {
      target.port = config.port;
      target.hostport = target.host + ":" + std::to_string(config.port);
      target.pool_key += "|health";
    }
    state_->targets.push_back(std::move(target));
    state_->timers.push_back(std::make_unique<asio::steady_timer>(runner_->io()));
  }
  // Started on the runner thread: the loops' state is touched there only.
  asio::post(runner_->io(), [state = state_, runner = runner_.get()] {
    for (size_t i = 0; i < state->targets.size(); ++i)
      asio::co_spawn(runner->io(), check_loop(state, runner, i), asio::detached);
  });
}

HealthChecks::~HealthChecks() {
  state_->stopped.store(true);
  asio::post(runner_->io(), [state = state_] {
    for (auto& timer : state->timers)
      timer->cancel();
  });
}

}  // namespace usher::proxy
