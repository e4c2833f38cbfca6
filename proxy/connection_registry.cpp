#include "proxy/connection_registry.h"

#include <asio/this_coro.hpp>

#include "proxy/stream.h"

namespace usher::proxy {

namespace {

// How often deadlines are checked; bounds how late a timeout fires.
constexpr auto kSweepInterval = std::chrono::seconds(1);

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
  for (ConnectionEntry* e = head_; e != nullptr; e = e->next) {
    if (e->deadline() < now && !e->timed_out) {
      e->timed_out = true;
      e->stream->close();
      ++closed;
    } else if (e->idle && !e->trimmed && e->trim != nullptr) {
      e->trimmed = true;
      e->trim(e->trim_owner);
    }
  }
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
    sweep(ConnectionEntry::Clock::now());
  }
  timer_ = nullptr;
}

void ConnectionRegistry::stop() {
  stopped_ = true;
  if (timer_ != nullptr) timer_->cancel();
}

}  // namespace usher::proxy
