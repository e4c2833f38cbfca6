#include "proxy/upstream_pool.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "proxy/coarse_clock.h"

namespace usher::proxy {

namespace {

// Spare relay buffers a worker keeps for good. Above it, spares stay while
// traffic keeps using them (500 HTTP/2 streams in flight take 500 buffers
// at once) and are freed by the worker's once-a-second sweep when they went
// unused since the last one: a burst's memory comes back within seconds,
// steady concurrency above the cap allocates (and zero-fills) no 16 KiB
// buffer per exchange.
constexpr size_t kMaxSpareBuffers = 64;
// Of which grown for large bodies: 256 KiB at most after a burst of downloads.
constexpr size_t kMaxLargeSpareBuffers = 4;

}  // namespace

// ------------------------------------------------------------ UpstreamConnection

UpstreamConnection::UpstreamConnection(asio::io_context& io, std::unique_ptr<Stream> stream)
    : timer_(io), stream_(std::move(stream)) {}

UpstreamConnection::~UpstreamConnection() {
  if (stream_) stream_->close();
}

void UpstreamConnection::arm(Clock::duration timeout) {
  deadline_ = coarse_now() + timeout;
  timed_out_ = false;
  // A later deadline is only a store: the pending wait re-arms itself when it
  // fires early. An earlier one must move the timer.
  if (timer_waiting_ && timer_.expiry() <= deadline_) return;
  start_timer(deadline_);
}

void UpstreamConnection::start_timer(Clock::time_point at) {
  ++timer_generation_;
  timer_waiting_ = true;
  timer_.expires_at(at);
  timer_.async_wait([weak = weak_from_this(), generation = timer_generation_](std::error_code) {
    auto self = weak.lock();
    if (self && self->timer_generation_ == generation) self->on_timer();
  });
}

UpstreamConnection::Clock::time_point UpstreamConnection::next_wakeup() const {
  if (pool_ == nullptr || watching_) return deadline_;
  return std::min(deadline_, idle_since_ + kIdleWatchDelay);
}

void UpstreamConnection::on_timer() {
  timer_waiting_ = false;
  if (deadline_ == Clock::time_point::max()) return;  // disarmed meanwhile
  const Clock::time_point now = Clock::now();
  if (now < deadline_) {
    if (pool_ != nullptr && !watching_ && now >= idle_since_ + kIdleWatchDelay) watch_idle();
    start_timer(next_wakeup());  // progress moved the deadline on, or the watch starts
    return;
  }
  timed_out_ = true;
  deadline_ = Clock::time_point::max();
  if (pool_ != nullptr) {
    pool_->remove(this);  // idle too long; may destroy *this
    return;
  }
  stream_->close();
}

void UpstreamConnection::close() {
  stream_->close();
}

void UpstreamConnection::start_idle(UpstreamPool* pool, Clock::duration idle_timeout) {
  pool_ = pool;
  ++idle_generation_;
  idle_since_ = coarse_now();
  deadline_ = idle_since_ + idle_timeout;
  timed_out_ = false;
  const Clock::time_point wakeup = next_wakeup();
  if (timer_waiting_ && timer_.expiry() <= wakeup) return;  // fires in time, then re-arms
  start_timer(wakeup);
}

void UpstreamConnection::watch_idle() {
  watching_ = true;
  // An idle connection has nothing to read: a byte or an EOF means the
  // upstream closed it (or sent junk), either way it is unusable. A peek is
  // a read operation to asio: a readiness event collected for bytes already
  // read finds nothing to peek and leaves it waiting (async_wait would
  // complete on it, and re-arms the descriptor with an epoll_ctl).
  stream_->socket().async_receive(
      asio::buffer(&idle_peek_, 1), asio::socket_base::message_peek,
      [weak = weak_from_this(), generation = idle_generation_](std::error_code ec, size_t) {
        if (ec == asio::error::operation_aborted) return;  // taken from the pool
        auto self = weak.lock();
        if (self && self->idle_generation_ == generation && self->pool_ != nullptr)
          self->pool_->remove(self.get());
      });
}

void UpstreamConnection::stop_watching() {
  pool_ = nullptr;
  ++idle_generation_;
  disarm();
  if (!std::exchange(watching_, false)) return;  // taken back before the watch began
  std::error_code ignored;
  stream_->socket().cancel(ignored);
}

// ------------------------------------------------------------ UpstreamPool

std::shared_ptr<UpstreamConnection> UpstreamPool::take() {
  if (idle_.empty()) return nullptr;
  std::shared_ptr<UpstreamConnection> connection = std::move(idle_.back());
  idle_.pop_back();
  idle_unused_.note(idle_.size());
  connection->stop_watching();
  connection->set_reused(true);
  return connection;
}

void UpstreamPool::put(std::shared_ptr<UpstreamConnection> connection,
                       const PoolSettings& settings) {
  if (settings.idle_timeout.count() <= 0 || settings.max_idle == 0) return;  // closes it
  connection->start_idle(this, settings.idle_timeout);
  idle_.push_back(std::move(connection));
  // Over the cap the surplus stays until a trim finds it unused: these
  // connections were all busy a moment ago, so keeping them a little
  // longer holds no descriptor that the traffic did not already need.
  if (idle_.size() > settings.max_idle) schedule_trim(settings);
}

void UpstreamPool::schedule_trim(const PoolSettings& settings) {
  trim_to_ = settings.max_idle;
  linger_ = settings.surplus_linger;
  if (trim_scheduled_) return;
  idle_unused_.restart(idle_.size());
  if (linger_.count() <= 0) {
    trim();  // no linger: the oldest go at once
    return;
  }
  start_trim_timer();
}

void UpstreamPool::start_trim_timer() {
  trim_scheduled_ = true;
  trim_timer_.expires_after(linger_);
  trim_timer_.async_wait([this](std::error_code ec) {
    if (ec) return;  // cancelled by clear(), or the pool is gone
    trim_scheduled_ = false;
    trim();
    idle_unused_.restart(idle_.size());
    if (idle_.size() > trim_to_) start_trim_timer();
  });
}

void UpstreamPool::trim() {
  if (idle_.size() <= trim_to_) return;
  // Connections that stayed idle since the last trim were not needed; the
  // rest were, so traffic may need them again right away.
  const size_t unused = std::min(idle_unused_.unused(), idle_.size() - trim_to_);
  std::vector<std::shared_ptr<UpstreamConnection>> doomed(
      std::make_move_iterator(idle_.begin()),
      std::make_move_iterator(idle_.begin() + static_cast<std::ptrdiff_t>(unused)));
  idle_.erase(idle_.begin(), idle_.begin() + static_cast<std::ptrdiff_t>(unused));
  for (auto& connection : doomed) {
    connection->stop_watching();
    connection->close();
  }
}

void UpstreamPool::remove(UpstreamConnection* connection) {
  auto it = std::find_if(idle_.begin(), idle_.end(),
                         [&](const auto& c) { return c.get() == connection; });
  if (it == idle_.end()) return;
  std::shared_ptr<UpstreamConnection> doomed = std::move(*it);
  idle_.erase(it);
  idle_unused_.note(idle_.size());
  doomed->stop_watching();
  doomed->close();
}

void UpstreamPool::clear() {
  for (auto& connection : idle_) {
    connection->stop_watching();
    connection->close();
  }
  idle_.clear();
  trim_timer_.cancel();
  trim_scheduled_ = false;
  idle_unused_.restart(0);
}

// ------------------------------------------------------------ UpstreamPools

std::shared_ptr<UpstreamConnection> UpstreamPools::acquire(const std::string& key) {
  auto it = pools_.find(key);
  return it == pools_.end() ? nullptr : it->second.take();
}

void UpstreamPools::release(const std::string& key, std::shared_ptr<UpstreamConnection> connection,
                            const PoolSettings& settings) {
  connection->disarm();
  pools_.try_emplace(key, io_).first->second.put(std::move(connection), settings);
}

size_t UpstreamPools::idle(const std::string& key) const {
  auto it = pools_.find(key);
  return it == pools_.end() ? 0 : it->second.idle();
}

void UpstreamPools::close_all() {
  for (auto& [key, pool] : pools_)
    pool.clear();
  pools_.clear();
}

RelayBuffer UpstreamPools::take_buffer() {
  if (spare_buffers_.empty()) return RelayBuffer(std::vector<char>(kRelayBufferSize));
  RelayBuffer buffer = std::move(spare_buffers_.back());
  spare_buffers_.pop_back();
  if (buffer.data().size() == kLargeRelayBufferSize) --large_spares_;
  spares_unused_.note(spare_buffers_.size());
  return buffer;
}

void UpstreamPools::give_buffer(RelayBuffer buffer) {
  // Buffers that grew for an unusually large head are not kept.
  const bool large = buffer.data().size() == kLargeRelayBufferSize;
  if (buffer.data().size() != kRelayBufferSize && !large) return;
  if (large && large_spares_ >= kMaxLargeSpareBuffers) return;
  if (buffer.head().capacity() > kRelayBufferSize || buffer.replay().capacity() > kRelayBufferSize)
    return;
  buffer.head().clear();
  buffer.replay().clear();
  if (large) ++large_spares_;
  spare_buffers_.push_back(std::move(buffer));
}

void UpstreamPools::trim_spare_buffers() {
  if (spare_buffers_.size() > kMaxSpareBuffers) {
    // Spares that stayed in the list since the last trim were not needed;
    // the oldest (front) go first, the ones handed out last stay warm.
    const size_t unused =
        std::min(spares_unused_.unused(), spare_buffers_.size() - kMaxSpareBuffers);
    const auto end = spare_buffers_.begin() + static_cast<std::ptrdiff_t>(unused);
    for (auto it = spare_buffers_.begin(); it != end; ++it)
      if (it->data().size() == kLargeRelayBufferSize) --large_spares_;
    spare_buffers_.erase(spare_buffers_.begin(), end);
  }
  spares_unused_.restart(spare_buffers_.size());
}

size_t UpstreamPools::spare_buffers() const {
  return spare_buffers_.size();
}

}  // namespace usher::proxy
