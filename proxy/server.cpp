#include "proxy/server.h"

#include <spdlog/spdlog.h>

#include <asio/bind_allocator.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <condition_variable>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>

#include "proxy/http1_session.h"
#include "proxy/http2_session.h"
#include "proxy/metrics.h"
#include "proxy/router.h"
#include "proxy/stream.h"
#include "proxy/tls_context.h"

namespace usher::proxy {

namespace {

using asio::ip::tcp;

// Pending connections the kernel queues per listening socket before accept;
// generous so that a burst of new TLS clients is not refused.
constexpr int kListenBacklog = 4096;
// When accept fails for lack of file descriptors, wait this long before
// trying again instead of spinning on the error.
constexpr auto kAcceptErrorBackoff = std::chrono::milliseconds(100);
// How often stop() checks whether in-flight requests have finished.
constexpr auto kDrainPollInterval = std::chrono::milliseconds(50);
// After the grace period, how long closed connections get to unwind.
constexpr auto kUnwindTime = std::chrono::seconds(1);
// Longest a publish waits for every worker to take a new snapshot.
constexpr auto kPublishWait = std::chrono::milliseconds(5000);

using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

/// Runs `fn` on `io`'s thread and waits for it.
template <typename Fn>
auto run_on(asio::io_context& io, Fn fn) {
  std::packaged_task<decltype(fn())()> task(std::move(fn));
  auto result = task.get_future();
  asio::post(io, [&task] { task(); });
  return result.get();
}

std::string describe(const tcp::endpoint& endpoint) {
  auto address = endpoint.address();
  std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(endpoint.port());
}

}  // namespace

struct Server::Worker {
  // Declared before `io` so that it is destroyed after it: coroutines that
  // never finished are destroyed with the io_context and still refer to it.
  std::unique_ptr<WorkerContext> context;
  asio::io_context io{1};  // one thread runs it: asio can skip its internal locking
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  std::shared_ptr<const TlsServerContext> tls;  // this worker's copy; swapped by posting
  uint64_t next_connection_id = 0;
  std::thread thread;

  explicit Worker(int index) { context = std::make_unique<WorkerContext>(io, index); }
  ~Worker() {
    // Upstream sockets must go while their io_context exists.
    context->close_upstream_connections();
  }
};

struct Server::Listener {
  ListenerPlan plan;
  uint16_t bound_port = 0;
  // One acceptor per worker and bound address; each lives on its worker.
  std::vector<std::pair<Worker*, std::shared_ptr<tcp::acceptor>>> acceptors;
};

namespace {

/// What a client connection keeps for its whole life, on the heap rather
/// than in a coroutine frame, so that an idle HTTP/1.1 connection can be
/// parked: its coroutine frames (about 3.5 KiB) end, and only this object,
/// one wait on the socket and OpenSSL's state stay until the next request
/// arrives (decision 0015).
struct Connection {
  Connection(WorkerContext& w, ConnectionInfo i) : worker(w), info(std::move(i)) {}
  virtual ~Connection() { worker.connections().remove(entry); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  virtual Stream& stream() = 0;

  WorkerContext& worker;
  ConnectionInfo info;
  ConnectionEntry entry;
  std::optional<ConnectionCount> counted;  // once the protocol is known
};

struct TlsConnection final : Connection {
  TlsConnection(WorkerContext& w, ConnectionInfo i, tcp::socket socket, core::SslPtr ssl,
                std::shared_ptr<const TlsServerContext> context)
      : Connection(w, std::move(i)),
        tls(std::move(context)),
        stream_(std::move(socket), std::move(ssl)) {
    entry.stream = &stream_;
    worker.connections().add(entry);
  }
  TlsStream& stream() override { return stream_; }

  // The handshake's SNI callback and the session refer to it: kept until the
  // connection ends even after a newer one is published (declared first, so
  // that it outlives the SSL object).
  std::shared_ptr<const TlsServerContext> tls;
  TlsStream stream_;
};

struct PlainConnection final : Connection {
  PlainConnection(WorkerContext& w, ConnectionInfo i, tcp::socket socket)
      : Connection(w, std::move(i)), stream_(std::move(socket)) {
    entry.stream = &stream_;
    worker.connections().add(entry);
  }
  TcpStream& stream() override { return stream_; }

  TcpStream stream_;
};

void park(std::unique_ptr<Connection> c);

/// Allocates exactly what is asked. asio's default for handlers recycles a
/// per-thread cached block whenever one is big enough, so a parked
/// connection's 128-byte wait would often sit for minutes in a 300-byte
/// block left by a larger operation.
template <typename T>
struct ExactAllocator {
  using value_type = T;
  ExactAllocator() = default;
  template <typename U>
  ExactAllocator(const ExactAllocator<U>&) noexcept {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T))); }
  void deallocate(T* p, size_t) noexcept { ::operator delete(p); }
  template <typename U>
  bool operator==(const ExactAllocator<U>&) const noexcept {
    return true;
  }
};

/// Serves HTTP/1.1 until the connection ends, or parks it when the sweep
/// finds it idle.
asio::awaitable<void> serve_http1_or_park(std::unique_ptr<Connection> c) {
  c->entry.parkable = true;
  // Not `if (co_await …)`: GCC 12 miscompiles that here (SIGILL on resume).
  const bool idle = co_await serve_http1(c->stream(), c->info, c->worker, c->entry);
  if (idle) {
    park(std::move(c));
    co_return;
  }
  co_await c->stream().shutdown();
  c->stream().close();
}

/// The root of a parked connection's coroutine once its next request
/// arrives: like serve_connection, the one place an unexpected exception is
/// caught.
asio::awaitable<void> resume_parked(std::unique_ptr<Connection> c) {
  const uint64_t id = c->info.id;
  try {
    co_await serve_http1_or_park(std::move(c));
  } catch (const std::exception& e) {
    spdlog::error("connection {}: unexpected error: {}", id, e.what());
  }
}

/// Leaves the connection with a wait for readability as its only owner.
/// It stays in the registry, idle and with its idle deadline: the sweep's
/// timeout and a graceful stop close the socket, the wait ends with an
/// error, and the connection is freed with the handler.
void park(std::unique_ptr<Connection> c) {
  c->stream().trim();
  c->entry.idle = true;
  c->entry.trimmed = true;
  tcp::socket& socket = c->stream().socket();
  auto wake = [c = std::move(c)](std::error_code ec) mutable {
    if (ec) return;  // closed (timeout, stop): `c` goes with this handler
    c->entry.idle = false;
    asio::io_context& io = c->worker.io();
    asio::co_spawn(io, resume_parked(std::move(c)), asio::detached);
  };
  socket.async_wait(tcp::socket::wait_read,
                    asio::bind_allocator(ExactAllocator<void>(), std::move(wake)));
}

asio::awaitable<void> serve_plain(tcp::socket socket, ConnectionInfo info, WorkerContext& worker) {
  auto c = std::make_unique<PlainConnection>(worker, std::move(info), std::move(socket));
  // Prior-knowledge h2c (RFC 9113 §3.3) only when `servers { protocols }` asks.
  if (worker.settings().h2c &&
      co_await peek_http2_preface(c->stream_, c->entry, worker.settings().read_header)) {
    c->info.alpn = "h2c";
    c->counted.emplace(worker.counters(), c->info.alpn);
    co_await serve_http2(c->stream_, c->info, worker, c->entry);
  } else if (!c->entry.timed_out) {
    c->counted.emplace(worker.counters(), c->info.alpn);
    co_await serve_http1_or_park(std::move(c));
    co_return;
  }
  co_await c->stream_.shutdown();
  c->stream_.close();
}

asio::awaitable<void> serve_tls(tcp::socket socket, ConnectionInfo info, WorkerContext& worker,
                                std::shared_ptr<const TlsServerContext> tls) {
  core::SslPtr ssl(SSL_new(tls->native()));
  if (!ssl) {
    spdlog::error("connection {}: cannot create a TLS session: {}", info.id,
                  core::openssl_error_text());
    co_return;
  }
  auto c = std::make_unique<TlsConnection>(worker, std::move(info), std::move(socket),
                                           std::move(ssl), std::move(tls));
  c->entry.expires_after(worker.settings().handshake);
  std::error_code ec = co_await c->stream_.handshake();
  c->entry.clear_deadline();
  worker.counters().handshake(!ec);
  if (ec) {
    spdlog::debug("connection {}: tls handshake from {} failed: {}", c->info.id,
                  c->info.remote_address.to_string(), ec.message());
    c->stream_.close();
    co_return;
  }
  ConnectionInfo& i = c->info;
  i.tls = true;
  i.tls_version = c->stream_.version();
  i.alpn = c->stream_.alpn();
  i.tls_server_name = c->stream_.server_name();
  c->counted.emplace(worker.counters(), i.alpn);
  // RFC 8737 §3: an acme-tls/1 handshake only proves control of the name;
  // no application data follows.
  if (i.alpn == "h2") {
    co_await serve_http2(c->stream_, i, worker, c->entry);
  } else if (i.alpn != "acme-tls/1") {
    co_await serve_http1_or_park(std::move(c));
    co_return;
  }
  co_await c->stream_.shutdown();
  c->stream_.close();
}

// A dual-stack listener reports an IPv4 peer as ::ffff:a.b.c.d; logs,
// placeholders and matchers above must see the plain IPv4 address.
asio::ip::address unmapped(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  return address;
}

/// The root of one connection's coroutine: the one place where an unexpected
/// exception is caught; it closes this connection only (design.md §6).
asio::awaitable<void> serve_connection(tcp::socket socket, bool tls, WorkerContext& worker,
                                       std::shared_ptr<const TlsServerContext> tls_context,
                                       uint64_t id) {
  ConnectionInfo info;
  info.id = id;
  try {
    std::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    auto remote = socket.remote_endpoint(ec);
    if (ec) co_return;  // the client is already gone
    auto local = socket.local_endpoint(ec);
    info.remote_address = unmapped(remote.address());
    info.remote_port = remote.port();
    info.remote_ip = info.remote_address.to_string();
    info.local_address = unmapped(local.address());
    info.local_port = local.port();
    if (tls) {
      if (!tls_context) co_return;  // no certificate to offer yet
      co_await serve_tls(std::move(socket), std::move(info), worker, std::move(tls_context));
    } else {
      co_await serve_plain(std::move(socket), std::move(info), worker);
    }
  } catch (const std::exception& e) {
    spdlog::error("connection {}: unexpected error: {}", id, e.what());
  }
}

}  // namespace

// ------------------------------------------------------------------- Server

Server::Server(int workers) {
  if (workers <= 0) workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Before any route table asks for counter blocks: one slot per worker.
  reserve_worker_slots(static_cast<size_t>(workers));
  for (int i = 0; i < workers; ++i)
    workers_.push_back(std::make_unique<Worker>(i));
}

Server::~Server() {
  if (started_) stop(std::chrono::milliseconds(0));
}

void Server::post_snapshot(const ServerSnapshot& snapshot, bool wait) {
  // Counts the workers that have not taken the snapshot yet.
  struct Pending {
    std::mutex mutex;
    std::condition_variable done;
    size_t left = 0;
  };
  auto pending = std::make_shared<Pending>();
  pending->left = workers_.size();
  for (auto& worker : workers_) {
    asio::post(worker->io, [w = worker.get(), snapshot, pending] {
      w->context->set_routes(snapshot.routes);
      w->context->set_settings(snapshot.settings);
      w->tls = snapshot.tls;
      std::lock_guard lock(pending->mutex);
      if (--pending->left == 0) pending->done.notify_all();
    });
  }
  if (!wait) return;
  // A worker busy for seconds on one callback would be a bug elsewhere; the
  // bound keeps a reload from hanging on it (the snapshot still lands).
  std::unique_lock lock(pending->mutex);
  if (!pending->done.wait_for(lock, kPublishWait, [&] { return pending->left == 0; }))
    spdlog::warn("publish: {} of {} workers had not taken the new config after {} ms",
                 pending->left, workers_.size(), kPublishWait.count());
}

void Server::publish_tls(std::shared_ptr<const TlsServerContext> tls) {
  for (auto& worker : workers_)
    asio::post(worker->io, [w = worker.get(), tls] { w->tls = tls; });
}

namespace {

/// Opens one listening socket: SO_REUSEPORT so that every worker has its
/// own and the kernel spreads connections across them.
std::shared_ptr<tcp::acceptor> open_acceptor(asio::io_context& io, const tcp::endpoint& endpoint) {
  auto acceptor = std::make_shared<tcp::acceptor>(io);
  acceptor->open(endpoint.protocol());
  acceptor->set_option(tcp::acceptor::reuse_address(true));
  acceptor->set_option(ReusePort(true));
  if (endpoint.address().is_v6()) {
    // `[::]` also accepts IPv4 (as ::ffff:a.b.c.d): one socket for both.
    acceptor->set_option(asio::ip::v6_only(!endpoint.address().is_unspecified()));
  }
  acceptor->bind(endpoint);
  acceptor->listen(kListenBacklog);
  return acceptor;
}

std::vector<asio::ip::address> bind_addresses(const ListenerPlan& plan) {
  std::vector<asio::ip::address> addresses;
  for (const auto& bind : plan.binds)
    addresses.push_back(asio::ip::make_address(bind));
  if (addresses.empty()) {
    // Dual-stack when the machine has IPv6, IPv4 only otherwise.
    asio::io_context probe_io;
    tcp::socket probe(probe_io);
    std::error_code ec;
    probe.open(tcp::v6(), ec);
    addresses.push_back(ec ? asio::ip::address(asio::ip::address_v4::any())
                           : asio::ip::address(asio::ip::address_v6::any()));
  }
  return addresses;
}

asio::awaitable<void> accept_loop(std::shared_ptr<tcp::acceptor> acceptor, bool tls,
                                  WorkerContext& worker,
                                  const std::shared_ptr<const TlsServerContext>& worker_tls,
                                  uint64_t& next_id) {
  asio::steady_timer backoff(worker.io());
  while (acceptor->is_open()) {
    auto [ec, socket] = co_await acceptor->async_accept(kNoThrow);
    if (!acceptor->is_open() || ec == asio::error::operation_aborted) break;
    if (ec) {
      spdlog::warn("accepting on port {}: {}; retrying", acceptor->local_endpoint(ec).port(),
                   ec.message());
      backoff.expires_after(kAcceptErrorBackoff);
      co_await backoff.async_wait(kNoThrow);
      continue;
    }
    asio::co_spawn(worker.io(),
                   serve_connection(std::move(socket), tls, worker, worker_tls, ++next_id),
                   asio::detached);
  }
}

}  // namespace

void Server::open_listener(const ListenerPlan& plan) {
  auto listener = std::make_unique<Listener>();
  listener->plan = plan;
  uint16_t port = plan.port;
  for (const auto& address : bind_addresses(plan)) {
    for (auto& worker : workers_) {
      tcp::endpoint endpoint(address, port);
      try {
        auto acceptor = open_acceptor(worker->io, endpoint);
        port = acceptor->local_endpoint().port();  // port 0: every worker takes the same port
        listener->acceptors.emplace_back(worker.get(), std::move(acceptor));
      } catch (const std::system_error& e) {
        close_listener(*listener);
        std::string hint = e.code() == std::errc::permission_denied && port < 1024
                               ? "; ports below 1024 need root or CAP_NET_BIND_SERVICE"
                           : e.code() == std::errc::address_in_use
                               ? "; is another server (or another usher) running there?"
                               : "";
        throw std::runtime_error("cannot listen on " + describe(endpoint) + ": " +
                                 e.code().message() + hint);
      }
    }
  }
  listener->bound_port = port;
  for (auto& [worker, acceptor] : listener->acceptors) {
    asio::co_spawn(
        worker->io,
        accept_loop(acceptor, plan.tls, *worker->context, worker->tls, worker->next_connection_id),
        asio::detached);
  }
  listeners_.push_back(std::move(listener));
}

void Server::close_listener(Listener& listener) {
  for (auto& [worker, acceptor] : listener.acceptors) {
    asio::post(worker->io, [a = acceptor] {
      std::error_code ignored;
      a->close(ignored);
    });
  }
  listener.acceptors.clear();
}

void Server::start(const ServerSnapshot& snapshot) {
  std::lock_guard lock(mutex_);
  post_snapshot(snapshot, false);  // the workers start below
  try {
    for (const auto& plan : snapshot.listeners)
      open_listener(plan);
  } catch (...) {
    for (auto& listener : listeners_)
      close_listener(*listener);
    listeners_.clear();
    throw;
  }
  for (auto& worker : workers_) {
    asio::co_spawn(worker->io, worker->context->connections().run_sweeper(), asio::detached);
    worker->thread = std::thread([w = worker.get()] { w->io.run(); });
  }
  started_ = true;
}

void Server::publish(const ServerSnapshot& snapshot) {
  std::lock_guard lock(mutex_);
  size_t kept = listeners_.size();
  // Open what is new first: if a port cannot be bound, nothing has changed.
  try {
    for (const auto& plan : snapshot.listeners) {
      bool exists = std::any_of(listeners_.begin(), listeners_.begin() + static_cast<long>(kept),
                                [&](const auto& l) { return l->plan == plan; });
      if (!exists) open_listener(plan);
    }
  } catch (...) {
    for (size_t i = kept; i < listeners_.size(); ++i)
      close_listener(*listeners_[i]);
    listeners_.resize(kept);
    throw;
  }
  post_snapshot(snapshot, true);
  for (auto it = listeners_.begin(); it != listeners_.end();) {
    bool wanted = std::find(snapshot.listeners.begin(), snapshot.listeners.end(), (*it)->plan) !=
                  snapshot.listeners.end();
    if (wanted) {
      ++it;
    } else {
      close_listener(**it);
      it = listeners_.erase(it);
    }
  }
}

void Server::stop(std::chrono::milliseconds grace) {
  std::lock_guard lock(mutex_);
  if (!started_) return;
  for (auto& listener : listeners_)
    close_listener(*listener);
  listeners_.clear();
  for (auto& worker : workers_) {
    asio::post(worker->io, [w = worker.get()] {
      w->context->set_draining();
      w->context->connections().close_idle();
    });
  }
  auto deadline = std::chrono::steady_clock::now() + grace;
  auto open_connections = [this] {
    size_t total = 0;
    for (auto& worker : workers_)
      total += run_on(worker->io, [w = worker.get()] { return w->context->connections().size(); });
    return total;
  };
  while (open_connections() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(kDrainPollInterval);
  for (auto& worker : workers_) {
    asio::post(worker->io, [w = worker.get()] {
      w->context->connections().close_all();
      w->context->connections().stop();
    });
  }
  // Closed connections unwind within a few loop iterations; whatever still
  // waits after that (idle upstream connections) is dropped with the loop.
  auto unwind_deadline = std::chrono::steady_clock::now() + kUnwindTime;
  while (open_connections() > 0 && std::chrono::steady_clock::now() < unwind_deadline)
    std::this_thread::sleep_for(kDrainPollInterval);
  for (auto& worker : workers_) {
    worker->guard.reset();
    worker->io.stop();
    if (worker->thread.joinable()) worker->thread.join();
  }
  started_ = false;
}

std::vector<uint16_t> Server::bound_ports() const {
  std::lock_guard lock(mutex_);
  std::vector<uint16_t> ports;
  for (const auto& listener : listeners_)
    ports.push_back(listener->bound_port);
  return ports;
}

void Server::write_metrics(MetricsWriter& out) const {
  out.family("usher_workers", "gauge", "Worker threads serving connections.");
  out.sample("usher_workers", {}, static_cast<double>(worker_count()));
  // Each worker writes only its own counters; relaxed reads here may lag a
  // request or two behind, never more.
  constexpr size_t kProtocols = ConnectionCounters::kProtocols.size();
  std::array<uint64_t, kProtocols> opened{}, closed{};
  uint64_t handshakes_ok = 0, handshakes_failed = 0;
  for (const auto& worker : workers_) {
    const ConnectionCounters& c = worker->context->counters();
    for (size_t p = 0; p < kProtocols; ++p) {
      opened[p] += c.opened_total(p);
      closed[p] += c.closed_total(p);
    }
    handshakes_ok += c.handshakes_ok();
    handshakes_failed += c.handshakes_failed();
  }
  // http/1.1 and h2 always; the others once they were seen.
  auto shown = [&](size_t p) { return p < 2 || opened[p] > 0; };
  out.family("usher_connections_active", "gauge", "Open client connections, by protocol.");
  for (size_t p = 0; p < kProtocols; ++p)
    if (shown(p))
      out.sample("usher_connections_active", {{"protocol", ConnectionCounters::kProtocols[p]}},
                 static_cast<double>(opened[p] - std::min(closed[p], opened[p])));
  out.family("usher_connections_total", "counter",
             "Client connections served (after the TLS handshake), by protocol.");
  for (size_t p = 0; p < kProtocols; ++p)
    if (shown(p))
      out.sample("usher_connections_total", {{"protocol", ConnectionCounters::kProtocols[p]}},
                 static_cast<double>(opened[p]));
  out.family("usher_tls_handshakes_total", "counter", "TLS handshakes, by result.");
  out.sample("usher_tls_handshakes_total", {{"result", "ok"}}, static_cast<double>(handshakes_ok));
  out.sample("usher_tls_handshakes_total", {{"result", "failed"}},
             static_cast<double>(handshakes_failed));
  MetricsRegistry::global().write(out);
}

}  // namespace usher::proxy
