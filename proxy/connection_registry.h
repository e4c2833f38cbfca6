#pragma once

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>

#include "proxy/coarse_clock.h"

namespace usher::proxy {

class Stream;

/// A live downstream connection as the registry sees it: its stream, the
/// deadlines of the network waits it is in, and whether it sits idle between
/// requests. Intrusively linked so that adding and removing cost nothing.
///
/// Reads and writes have a deadline each because they can be in progress at
/// the same time: a request body still uploading while its response streams
/// back (gRPC over HTTP/1.1, an upstream answering early). With one slot,
/// every response write cleared the deadline of the pending body read, and a
/// client that stalled its upload was never timed out.
struct ConnectionEntry {
  using Clock = std::chrono::steady_clock;

  Stream* stream = nullptr;
  // max = no such wait in progress. The read slot also serves the waits that
  // are neither (TLS handshake, HTTP/2 preface, idle keep-alive).
  Clock::time_point read_deadline = Clock::time_point::max();
  Clock::time_point write_deadline = Clock::time_point::max();
  bool idle = false;       // between requests: may be closed at once on shutdown
  bool timed_out = false;  // the sweep closed it because a deadline passed
  // Set by codecs that end gracefully on their own (HTTP/2 sends GOAWAY and
  // lets open streams finish): close_idle() calls it instead of closing.
  std::function<void()> drain;

  // Gives back what an idle connection can rebuild for its next request
  // (buffers kept warm between requests). The sweep calls it once per idle
  // period, so a busy connection keeps its buffers and one that sits idle
  // costs little. Null when the protocol has nothing to give back.
  void (*trim)(void* owner) = nullptr;
  void* trim_owner = nullptr;
  bool trimmed = false;  // trim ran during the current idle period

  // Set by the owner of a connection that can park it (HTTP/1.1 in
  // server.cpp): instead of trimming, the sweep sets `park` and cancels the
  // idle wait, the codec returns, and the connection waits for its next
  // request with no coroutine frame at all (decision 0015).
  bool parkable = false;
  bool park = false;  // the sweep asked the idle wait to end so the connection parks

  /// Arms the deadline of the next read (or of a handshake).
  void read_expires_after(Clock::duration d) { read_deadline = coarse_now() + d; }
  void clear_read_deadline() { read_deadline = Clock::time_point::max(); }
  /// Arms the deadline of the next write.
  void write_expires_after(Clock::duration d) { write_deadline = coarse_now() + d; }
  void clear_write_deadline() { write_deadline = Clock::time_point::max(); }
  /// A wait that is the connection's only one (handshake, preface): the read slot.
  void expires_after(Clock::duration d) { read_expires_after(d); }
  /// Ends every wait's deadline.
  void clear_deadline() {
    clear_read_deadline();
    clear_write_deadline();
  }
  /// The earlier of the two: when the sweep closes the connection.
  Clock::time_point deadline() const { return std::min(read_deadline, write_deadline); }

  ConnectionEntry* prev = nullptr;
  ConnectionEntry* next = nullptr;
};

/// Every live connection of one worker. Instead of one timer per connection
/// and per wait, a sweep once per second closes the connections whose wait
/// outlived its deadline: re-arming a deadline is a store, not a timer-queue
/// operation (the same idea as nginx's and h2o's coarse timers). Deadlines
/// are therefore precise to about a second, which is all timeouts measured in
/// seconds need.
class ConnectionRegistry {
 public:
  void add(ConnectionEntry& entry);
  void remove(ConnectionEntry& entry);

  /// Closes connections whose deadline is before `now` and trims (or asks
  /// to park) idle ones; returns how many were closed.
  size_t sweep(ConnectionEntry::Clock::time_point now);
  /// Closes every idle connection (graceful shutdown); returns how many.
  size_t close_idle();
  /// Closes every connection (end of the grace period).
  void close_all();

  size_t size() const { return size_; }

  /// Sweeps once a second until `stop()`; run on the worker's executor.
  asio::awaitable<void> run_sweeper();
  /// Also run by every sweep (the worker's other once-a-second upkeep).
  void on_sweep(std::function<void()> hook) { on_sweep_ = std::move(hook); }
  /// Counts blocks of a few KiB that the worker freed elsewhere (spare
  /// HTTP/2 streams) toward the heap trim, as parked connections count.
  void add_released(size_t count) { released_since_trim_ += count; }
  void stop();

 private:
  ConnectionEntry* head_ = nullptr;
  size_t size_ = 0;
  bool stopped_ = false;
  asio::steady_timer* timer_ = nullptr;
  size_t released_since_trim_ = 0;  // idle connections parked or trimmed
  std::function<void()> on_sweep_;
};

}  // namespace usher::proxy
