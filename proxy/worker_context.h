#pragma once

#include <asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <memory>

#include "proxy/connection_registry.h"
#include "proxy/metrics.h"

namespace usher::proxy {

class UpstreamPools;
class H2Pools;
class RouteTable;

/// Limits and timeouts of downstream connections (`servers { timeouts }`),
/// with the defaults the proxy engine issue names.
struct ConnectionSettings {
  // Time to receive a whole request head, from its first byte: bounds
  // slowloris-style trickling of headers.
  std::chrono::milliseconds read_header{30'000};
  // Time an idle keep-alive connection may wait for its next request.
  std::chrono::milliseconds idle{300'000};
  // Longest wait for progress while reading a body; a slow but moving upload
  // is never cut off, a stalled one is.
  std::chrono::milliseconds read_body{60'000};
  // Longest wait for progress while writing to the client.
  std::chrono::milliseconds write{60'000};
  // Time a TLS handshake may take.
  std::chrono::milliseconds handshake{10'000};
  // Largest request head (request line and headers): bounds the read buffer (431).
  size_t max_header_bytes = 64 * 1024;
  // HTTP/2 over TLS (ALPN h2) and prior-knowledge h2c on plain listeners
  // (`servers { protocols }`; default h1 h2, as Caddy without h3).
  bool h2 = true;
  bool h2c = false;
};

/// Everything one worker thread owns (design.md §3): its io_context, its
/// current routing snapshot, its live connections and its upstream
/// connection pools. A connection lives its whole life on one worker, so
/// nothing here needs a lock; other threads change it only by posting to io().
class WorkerContext {
 public:
  WorkerContext(asio::io_context& io, int index);
  ~WorkerContext();
  WorkerContext(const WorkerContext&) = delete;
  WorkerContext& operator=(const WorkerContext&) = delete;

  asio::io_context& io() { return io_; }
  int index() const { return index_; }

  /// The routing snapshot new requests use; requests in flight keep theirs.
  const std::shared_ptr<const RouteTable>& routes() const { return routes_; }
  void set_routes(std::shared_ptr<const RouteTable> routes) { routes_ = std::move(routes); }

  const ConnectionSettings& settings() const { return settings_; }
  void set_settings(const ConnectionSettings& settings) { settings_ = settings; }

  ConnectionRegistry& connections() { return connections_; }

  /// This worker's connection and handshake counters (only it writes them;
  /// the metrics scrape reads them). index() is its slot in counter blocks.
  ConnectionCounters& counters() { return counters_; }
  const ConnectionCounters& counters() const { return counters_; }

  /// Set on graceful shutdown: keep-alive ends after the current response.
  bool draining() const { return draining_; }
  void set_draining() { draining_ = true; }

  /// Idle keep-alive connections to upstreams, per upstream address.
  UpstreamPools& upstream_pools() { return *pools_; }
  /// Connections to h2c upstreams, per upstream address (decision 0007).
  H2Pools& h2_pools() { return *h2_pools_; }
  /// Drops every pooled upstream connection (shutdown).
  void close_upstream_connections();

 private:
  asio::io_context& io_;
  int index_;
  std::shared_ptr<const RouteTable> routes_;
  ConnectionSettings settings_;
  ConnectionRegistry connections_;
  ConnectionCounters counters_;
  bool draining_ = false;
  std::unique_ptr<UpstreamPools> pools_;
  std::unique_ptr<H2Pools> h2_pools_;
};

}  // namespace usher::proxy
