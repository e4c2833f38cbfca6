#pragma once

#include <asio/io_context.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "proxy/site_plan.h"
#include "proxy/worker_context.h"

namespace usher::proxy {

class MetricsWriter;
class RouteTable;
class TlsServerContext;

/// What a server serves: routes, TLS contexts and connection settings,
/// published together to every worker.
struct ServerSnapshot {
  std::shared_ptr<const RouteTable> routes;
  std::shared_ptr<const TlsServerContext> tls;  // null when no listener uses TLS
  ConnectionSettings settings;
  std::vector<ListenerPlan> listeners;
};

/// The data plane (design.md §3): N worker threads, each with its own
/// io_context and its own SO_REUSEPORT listening sockets, so that a
/// connection lives its whole life on one thread and the request path takes
/// no lock. Control calls (start, publish, stop) come from one other thread.
class Server {
 public:
  /// `workers` threads; 0 means one per core.
  explicit Server(int workers);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Opens the listeners of `snapshot` and starts the workers. Throws
  /// std::runtime_error naming the address when a port cannot be bound
  /// (in use, or below 1024 without CAP_NET_BIND_SERVICE), having opened
  /// nothing.
  void start(const ServerSnapshot& snapshot);

  /// Publishes a new snapshot: listeners that stay are kept, new ones are
  /// opened (first, so that a bind failure changes nothing), removed ones are
  /// closed; connections in flight finish on the snapshot they started with.
  /// Returns once every worker routes new requests with the new snapshot.
  void publish(const ServerSnapshot& snapshot);

  /// Publishes new TLS contexts only (a certificate was issued or renewed).
  void publish_tls(std::shared_ptr<const TlsServerContext> tls);

  /// Graceful shutdown: stop accepting, close idle connections, let requests
  /// in flight finish for up to `grace`, then close the rest and join the
  /// worker threads.
  void stop(std::chrono::milliseconds grace);

  /// The ports actually bound, in listener order (tests bind port 0).
  std::vector<uint16_t> bound_ports() const;
  int worker_count() const { return static_cast<int>(workers_.size()); }

  /// Writes the data plane's metrics (per-worker counters summed at scrape
  /// time). Called from the admin API's thread.
  void write_metrics(MetricsWriter& out) const;

 private:
  struct Worker;
  struct Listener;

  void open_listener(const ListenerPlan& plan);
  void close_listener(Listener& listener);
  /// Hands `snapshot` to every worker; with `wait`, returns only once each
  /// worker has taken it (so that a reload's 200 means new requests see it).
  void post_snapshot(const ServerSnapshot& snapshot, bool wait);

  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  mutable std::mutex mutex_;  // control calls only; never taken on the data path
  bool started_ = false;
};

}  // namespace usher::proxy
