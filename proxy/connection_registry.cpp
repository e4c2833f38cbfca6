#include "proxy/connection_registry.h"

#include <spdlog/spdlog.h>

#include <asio/this_coro.hpp>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "proxy/stream.h"

namespace usher::proxy {

namespace {

// How often deadlines are checked; bounds how late a timeout fires.
constexpr auto kSweepInterval = std::chrono::seconds(1);
// Idle connections parked or trimmed after which the heap is trimmed. Each
// frees about 3.5 KiB of coroutine frames (HTTP/1.1, parked) or a 16 KiB
// read buffer (HTTP/2); a freed spare HTTP/2 stream counts as one too
// (1.5 to 8 KiB, decision 0019). All are scattered between the long-lived
// TLS objects of their neighbours; glibc keeps such holes resident until
// malloc_trim() hands their whole pages back. Trimming walks the heap, so it
// waits for a megabyte's worth or more and runs at most once a sweep.
constexpr size_t kReleasesBeforeTrim = 256;

// Gives free heap pages back to the kernel (decision 0015).
void trim_heap() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace

void ConnectionRegistry::add(ConnectionEntry& entry) {
  entry.prev = nullptr;
  entry.next = head_;
  if (head_ != nullptr) head_->prev = &entry;
  head_ = &entry;
  ++size_;
}

void ConnectionRegistry::remove(ConnectionEntry& entry) {
  if (entry.prev != nullptr) entry.prev->next = entry.next;
  if (entry.next != nullptr) entry.next->prev = entry.prev;
  if (head_ == &entry) head_ = entry.next;
  entry.prev = entry.next = nullptr;
  --size_;
}

size_t ConnectionRegistry::sweep(ConnectionEntry::Clock::time_point now) {
  size_t closed = 0;
  size_t parked = 0;
  size_t trimmed = 0;
  for (ConnectionEntry* e = head_; e != nullptr; e = e->next) {
    if (e->deadline() < now && !e->timed_out) {
      e->timed_out = true;
      e->stream->close();
      ++closed;
    } else if (e->idle && !e->trimmed) {
      e->trimmed = true;
      if (e->parkable) {
        // The idle wait is the socket's only operation: cancelling it ends
        // the codec's loop, and the connection's owner parks it.
        e->park = true;
        ++parked;
        std::error_code ignored;
        e->stream->socket().cancel(ignored);
      } else if (e->trim != nullptr) {
        e->trim(e->trim_owner);
        ++trimmed;
      }
    }
  }
  released_since_trim_ += parked + trimmed;
  if (parked > 0) spdlog::debug("parked {} idle connections", parked);
  if (trimmed > 0) spdlog::debug("trimmed {} idle connections", trimmed);
  return closed;
}

size_t ConnectionRegistry::close_idle() {
  size_t closed = 0;
  for (ConnectionEntry* e = head_; e != nullptr; e = e->next) {
    if (e->drain) {
      e->drain();
      ++closed;
    } else if (e->idle) {
      e->stream->close();
      ++closed;
    }
  }
  return closed;
}

void ConnectionRegistry::close_all() {
  for (ConnectionEntry* e = head_; e != nullptr; e = e->next)
    e->stream->close();
}

asio::awaitable<void> ConnectionRegistry::run_sweeper() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer_ = &timer;
  while (!stopped_) {
    timer.expires_after(kSweepInterval);
    auto [ec] = co_await timer.async_wait(kNoThrow);
    if (ec || stopped_) break;
    // The frames of the connections parked by the previous sweep are gone
    // by now: their cancelled waits ran in between.
    if (released_since_trim_ >= kReleasesBeforeTrim) {
      released_since_trim_ = 0;
      trim_heap();
    }
    sweep(ConnectionEntry::Clock::now());
    if (on_sweep_) on_sweep_();
  }
  timer_ = nullptr;
}

void ConnectionRegistry::stop() {
  stopped_ = true;
  if (timer_ != nullptr) timer_->cancel();
}

}  // namespace usher::proxy
