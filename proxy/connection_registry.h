#pragma once

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <functional>

namespace usher::proxy {

class Stream;

/// A live downstream connection as the registry sees it: its stream, the
/// deadline of the network wait it is in, and whether it sits idle between
/// requests. Intrusively linked so that adding and removing cost nothing.
struct ConnectionEntry {
  using Clock = std::chrono::steady_clock;

  Stream* stream = nullptr;
  Clock::time_point deadline = Clock::time_point::max();  // max = no wait in progress
  bool idle = false;       // between requests: may be closed at once on shutdown
  bool timed_out = false;  // the sweep closed it because its deadline passed
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

  /// Arms the deadline for the next wait.
  void expires_after(Clock::duration d) { deadline = Clock::now() + d; }
  void clear_deadline() { deadline = Clock::time_point::max(); }

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

  /// Closes connections whose deadline is before `now` and trims idle
  /// ones; returns how many were closed.
  size_t sweep(ConnectionEntry::Clock::time_point now);
  /// Closes every idle connection (graceful shutdown); returns how many.
  size_t close_idle();
  /// Closes every connection (end of the grace period).
  void close_all();

  size_t size() const { return size_; }

  /// Sweeps once a second until `stop()`; run on the worker's executor.
  asio::awaitable<void> run_sweeper();
  void stop();

 private:
  ConnectionEntry* head_ = nullptr;
  size_t size_ = 0;
  bool stopped_ = false;
  asio::steady_timer* timer_ = nullptr;
};

}  // namespace usher::proxy
