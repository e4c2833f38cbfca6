#pragma once

// Per-worker keep-alive pools of upstream connections (design.md §3). A
// worker's connections live and die on its thread, so nothing here locks.

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/http1_response_parser.h"
#include "proxy/low_water_mark.h"
#include "proxy/stream.h"

namespace usher::proxy {

class UpstreamPool;

/// One connection to an upstream: in use by one exchange, or idle in its
/// pool. It carries a deadline watchdog (one timer per connection, re-armed
/// by a store on each progress) that closes the stream when a wait outlives
/// its deadline, so every upstream wait is bounded without a timer per
/// operation. Always owned by a shared_ptr: timer and watch callbacks hold
/// weak references.
class UpstreamConnection : public std::enable_shared_from_this<UpstreamConnection> {
 public:
  using Clock = std::chrono::steady_clock;

  UpstreamConnection(asio::io_context& io, std::unique_ptr<Stream> stream);
  ~UpstreamConnection();
  UpstreamConnection(const UpstreamConnection&) = delete;
  UpstreamConnection& operator=(const UpstreamConnection&) = delete;

  Stream& stream() { return *stream_; }
  /// Swaps the stream (plain TCP becomes TLS after the connect).
  void replace_stream(std::unique_ptr<Stream> stream) { stream_ = std::move(stream); }

  /// True when the connection came out of a pool (it served a request before).
  bool reused() const { return reused_; }
  void set_reused(bool reused) { reused_ = reused; }

  /// Starts (or extends) the deadline of the current wait; when it passes,
  /// the stream is closed and the wait fails.
  void arm(Clock::duration timeout);
  /// Ends the current deadline.
  void disarm() { deadline_ = Clock::time_point::max(); }
  /// True when the last deadline passed and closed the stream.
  bool timed_out() const { return timed_out_; }

  /// Closes the stream now.
  void close();

  /// How long a pooled connection stays idle before its socket is watched
  /// for the upstream closing it. A connection taken back sooner (steady
  /// traffic) costs no watch at all: arming one is a syscall per request.
  /// Within this window a close is found by the next request (a stale
  /// attempt, retried on a fresh connection).
  static constexpr std::chrono::milliseconds kIdleWatchDelay{100};

 private:
  friend class UpstreamPool;

  void start_timer(Clock::time_point at);
  Clock::time_point next_wakeup() const;
  void on_timer();
  void start_idle(UpstreamPool* pool, Clock::duration idle_timeout);
  void watch_idle();
  void stop_watching();

  asio::steady_timer timer_;
  std::unique_ptr<Stream> stream_;
  Clock::time_point deadline_ = Clock::time_point::max();
  Clock::time_point idle_since_;   // when it went back to its pool
  uint64_t timer_generation_ = 0;  // ignores callbacks of superseded waits
  uint64_t idle_generation_ = 0;   // ignores callbacks of a finished idle period
  UpstreamPool* pool_ = nullptr;   // set while idle in a pool
  bool timer_waiting_ = false;
  bool timed_out_ = false;
  bool reused_ = false;
  bool watching_ = false;  // the idle peek is pending
  char idle_peek_ = 0;     // where the idle watch peeks
};

/// How a pool keeps connections: from the handler's `transport http`.
struct PoolSettings {
  // Idle connections kept per upstream once a burst is over. Bounds file
  // descriptors held for an upstream that had a burst. More may be idle for
  // a moment: see surplus_linger.
  size_t max_idle = 32;
  // How long an idle connection is kept; 0 = keep-alive off (close after use).
  std::chrono::milliseconds idle_timeout{120'000};
  // Idle connections beyond max_idle are closed only when none of them was
  // needed for this long. Under sustained concurrency above max_idle (an
  // HTTP/2 client with many streams in flight), closing the surplus at once
  // made the next requests dial new connections: dial and close per request.
  std::chrono::milliseconds surplus_linger{1'000};
};

/// The idle connections to one upstream address (with its TLS settings).
class UpstreamPool {
 public:
  explicit UpstreamPool(asio::io_context& io) : trim_timer_(io) {}
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  /// The most recently used idle connection, or null.
  std::shared_ptr<UpstreamConnection> take();
  /// Keeps `connection` for reuse (or closes it when keep-alive is off).
  void put(std::shared_ptr<UpstreamConnection> connection, const PoolSettings& settings);
  /// Drops `connection` (closed by the upstream, idle too long).
  void remove(UpstreamConnection* connection);
  size_t idle() const { return idle_.size(); }
  void clear();

 private:
  void schedule_trim(const PoolSettings& settings);
  void start_trim_timer();
  void trim();

  std::vector<std::shared_ptr<UpstreamConnection>> idle_;  // oldest first
  // The surplus trim: every surplus_linger while more than max_idle are
  // idle, the connections that stayed idle the whole time (the fewest idle
  // at any moment since the last trim; take() hands out the newest, so they
  // are the oldest) are closed, down to max_idle.
  asio::steady_timer trim_timer_;
  LowWaterMark idle_unused_;  // idle_ since the last trim
  size_t trim_to_ = 0;        // the max_idle of the last put over it
  std::chrono::milliseconds linger_{0};
  bool trim_scheduled_ = false;
};

/// The reusable buffers of one exchange's relay: the read buffer, the
/// request head being built, the small request body kept for a retry, and
/// the response parser (whose header vector keeps its capacity). Taken from
/// the worker's spares and given back, so steady traffic allocates none.
class RelayBuffer {
 public:
  RelayBuffer() = default;
  explicit RelayBuffer(std::vector<char> data) : data_(std::move(data)) {}
  std::vector<char>& data() { return data_; }
  const std::vector<char>& data() const { return data_; }
  std::span<char> span() { return {data_.data(), data_.size()}; }
  std::string& head() { return head_; }
  std::string& replay() { return replay_; }
  /// Heap-held so that moving the buffer in and out of the spares keeps
  /// the address the upstream client refers to.
  Http1ResponseParser& parser() {
    if (!parser_) parser_ = std::make_unique<Http1ResponseParser>();
    return *parser_;
  }

 private:
  std::vector<char> data_;
  std::string head_;
  std::string replay_;
  std::unique_ptr<Http1ResponseParser> parser_;
};

/// Every upstream pool of one worker, by key (address and TLS settings),
/// and the worker's spare relay buffers.
class UpstreamPools {
 public:
  /// Bytes of a relay buffer: one read from the upstream or the client.
  static constexpr size_t kRelayBufferSize = 16 * 1024;
  /// A relay buffer grown for a large response body: a quarter of the
  /// reads (syscalls) per MiB relayed, each written on as four full TLS
  /// records. Only a few such buffers are kept as spares.
  static constexpr size_t kLargeRelayBufferSize = 64 * 1024;

  explicit UpstreamPools(asio::io_context& io) : io_(io) {}
  ~UpstreamPools() { close_all(); }

  asio::io_context& io() { return io_; }

  /// An idle connection for `key`, marked reused; null when none is idle.
  std::shared_ptr<UpstreamConnection> acquire(const std::string& key);
  /// Returns a connection that finished an exchange cleanly.
  void release(const std::string& key, std::shared_ptr<UpstreamConnection> connection,
               const PoolSettings& settings);
  /// Idle connections for `key`.
  size_t idle(const std::string& key) const;
  /// Closes every idle connection (shutdown).
  void close_all();

  /// A buffer of kRelayBufferSize bytes or more.
  RelayBuffer take_buffer();
  /// Gives a buffer back for the next exchange.
  void give_buffer(RelayBuffer buffer);
  /// Frees the spares above the cap that nobody took since the last call;
  /// the worker's sweep calls it once a second.
  void trim_spare_buffers();
  /// Spare buffers held now (tests).
  size_t spare_buffers() const;

 private:
  asio::io_context& io_;
  std::unordered_map<std::string, UpstreamPool> pools_;
  std::vector<RelayBuffer> spare_buffers_;
  size_t large_spares_ = 0;     // spares of kLargeRelayBufferSize
  LowWaterMark spares_unused_;  // spare_buffers_ since the last trim
};

}  // namespace usher::proxy
