#include "proxy/upstream_h2_connection.h"

#include <spdlog/spdlog.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

namespace usher::proxy {

namespace {

using Clock = H2Clock;
using asio::ip::tcp;

// Receive window of one stream: the most response bytes one stream holds
// while its client is slower than the upstream. Bounds memory per request.
constexpr int32_t kStreamWindow = 256 * 1024;
// Receive window of a connection, shared by its streams: large enough that
// a few stalled clients do not stall the others on the same connection.
constexpr int32_t kConnectionWindow = 16 * 1024 * 1024;
// Bytes read from the upstream socket per read.
constexpr size_t kReadBufferSize = 16 * 1024;
// nghttp2 output gathered into one socket write at most.
constexpr size_t kMaxWriteBatch = 64 * 1024;
// Streams assumed allowed on a connection before the peer's SETTINGS say
// otherwise (RFC 9113 §6.5.2 recommends at least 100).
constexpr uint32_t kAssumedMaxStreams = 100;
// Connections per upstream and worker: past this many, new streams queue
// on the least loaded one instead of dialing more.
constexpr size_t kMaxConnectionsPerUpstream = 8;
// Bounds on a response header block: memory per stream.
constexpr size_t kMaxHeadBytes = 64 * 1024;
constexpr size_t kMaxHeadFields = 200;

class H2Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "upstream-h2"; }
  std::string message(int value) const override {
    switch (static_cast<h2_errc>(value)) {
      case h2_errc::kStreamReset:
        return "the upstream reset the HTTP/2 stream";
      case h2_errc::kRefused:
        return "the upstream refused the HTTP/2 stream (GOAWAY or REFUSED_STREAM)";
      case h2_errc::kConnectionLost:
        return "the HTTP/2 connection to the upstream closed before the response";
      case h2_errc::kBadResponse:
        return "the upstream sent a malformed HTTP/2 response head";
      case h2_errc::kProtocol:
        return "the upstream broke the HTTP/2 protocol";
    }
    return "upstream HTTP/2 error";
  }
};

}  // namespace

std::error_code make_h2_error(h2_errc e) {
  static const H2Category category;
  return {static_cast<int>(e), category};
}

asio::awaitable<std::error_code> H2Connection::dial(const UpstreamEndpoint& endpoint,
                                                    std::chrono::milliseconds timeout) {
  std::vector<tcp::endpoint> targets;
  std::error_code ec;
  const auto address = asio::ip::make_address(endpoint.host, ec);
  // The dial deadline closes the socket (or cancels the resolver) when it passes.
  auto resolver = std::make_shared<tcp::resolver>(io_);
  auto timed_out_flag = std::make_shared<bool>(false);  // outlives this frame
  const bool& timed_out = *timed_out_flag;
  asio::steady_timer timer(io_, timeout);
  timer.async_wait([resolver, timed_out_flag, self = shared_from_this()](std::error_code e) {
    if (e || !self->connecting_) return;
    *timed_out_flag = true;
    resolver->cancel();
    std::error_code ignored;
    self->socket_.close(ignored);
  });
  if (!ec) {
    targets.emplace_back(address, endpoint.port);
  } else {
    auto [rec, results] =
        co_await resolver->async_resolve(endpoint.host, std::to_string(endpoint.port), kNoThrow);
    if (rec) ec = timed_out ? asio::error::timed_out : rec;
    for (const auto& entry : results)
      targets.push_back(entry.endpoint());
  }
  if (!targets.empty()) ec = asio::error::host_not_found;
  for (const tcp::endpoint& target : targets) {
    if (timed_out) break;
    std::error_code ignored;
    socket_.close(ignored);
    socket_.open(target.protocol(), ec);
    if (ec) continue;
    auto [cec] = co_await socket_.async_connect(target, kNoThrow);
    ec = cec;
    if (!ec) break;
  }
  timer.cancel();
  if (timed_out) ec = asio::error::timed_out;
  connecting_ = false;
  if (!ec) {
    std::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    tcp_ = std::make_unique<TcpStream>(std::move(socket_));
    start();
  } else {
    dial_error_ = ec;
  }
  ready_event_.cancel();
  co_return ec;
}

asio::awaitable<bool> H2Connection::wait_connected() {
  while (connecting_)
    co_await ready_event_.async_wait(kNoThrow);
  co_return !dead_ && tcp_ != nullptr;
}

void H2Connection::start() {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close);
  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  // WINDOW_UPDATE only for bytes the client's sink accepted: a slow client
  // stops its stream instead of growing our buffers.
  nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_option_set_peer_max_concurrent_streams(option, kAssumedMaxStreams);
  nghttp2_session* session = nullptr;
  nghttp2_session_client_new2(&session, callbacks, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  session_.reset(session);
  // RFC 9113 §3.4: the client preface is SETTINGS, sent without waiting.
  const std::array<nghttp2_settings_entry, 2> settings = {{
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kStreamWindow)},
  }};
  nghttp2_submit_settings(session_.get(), NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  nghttp2_session_set_local_window_size(session_.get(), NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
  auto self = shared_from_this();
  asio::co_spawn(io_, reader(self), asio::detached);
  asio::co_spawn(io_, writer(self), asio::detached);
}

uint32_t H2Connection::max_streams() const {
  if (!session_ || !settings_received_) return kAssumedMaxStreams;
  return nghttp2_session_get_remote_settings(session_.get(),
                                             NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

asio::awaitable<void> H2Connection::reader(std::shared_ptr<H2Connection> /*keep_alive*/) {
  std::vector<char> buffer(kReadBufferSize);
  while (!dead_) {
    size_t n = 0;
    std::error_code ec = co_await tcp_->read_some(buffer, n);
    if (dead_) break;
    if (ec || n == 0) {
      fail(ec ? ec : asio::error::eof);
      break;
    }
    const ssize_t used = nghttp2_session_mem_recv(
        session_.get(), reinterpret_cast<const uint8_t*>(buffer.data()), n);
    if (used < 0) {
      spdlog::debug("reverse_proxy: h2c upstream {}: {}", key_,
                    nghttp2_strerror(static_cast<int>(used)));
      fail(make_h2_error(h2_errc::kProtocol));
      break;
    }
    signal_write();
  }
}

asio::awaitable<void> H2Connection::writer(std::shared_ptr<H2Connection> /*keep_alive*/) {
  while (!dead_) {
    if (std::error_code ec = co_await flush()) {
      fail(ec);
      break;
    }
    if (dead_) break;
    if (nghttp2_session_want_read(session_.get()) == 0 &&
        nghttp2_session_want_write(session_.get()) == 0) {
      // GOAWAY exchanged and every stream done: the session is over.
      fail(make_h2_error(h2_errc::kConnectionLost));
      break;
    }
    write_event_.expires_at(Clock::time_point::max());
    co_await write_event_.async_wait(kNoThrow);
  }
}

asio::awaitable<std::error_code> H2Connection::flush() {
  for (;;) {
    out_.clear();
    while (out_.size() < kMaxWriteBatch) {
      const uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_.get(), &data);
      if (n < 0) co_return make_h2_error(h2_errc::kProtocol);
      if (n == 0) break;
      out_.insert(out_.end(), data, data + n);
    }
    if (out_.empty()) co_return std::error_code{};
    // A write that makes no progress within the write timeout ends the
    // connection: its streams fail instead of waiting forever.
    write_timer_.expires_after(write_timeout_);
    write_timer_.async_wait([weak = weak_from_this()](std::error_code e) {
      if (auto self = weak.lock(); self && !e) self->fail(asio::error::timed_out);
    });
    std::error_code ec = co_await tcp_->write(
        std::span<const char>(reinterpret_cast<const char*>(out_.data()), out_.size()));
    write_timer_.cancel();
    if (ec) co_return ec;
    if (dead_) co_return std::error_code{};
  }
}

H2Stream* H2Connection::stream_of(int32_t id) {
  return static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(session_.get(), id));
}

int32_t H2Connection::submit(const std::shared_ptr<H2Stream>& stream,
                             const std::vector<H2Field>& fields, bool with_body,
                             std::error_code& error) {
  if (dead_ || goaway_) {
    error = make_h2_error(h2_errc::kRefused);
    return -1;
  }
  std::vector<nghttp2_nv> nva;
  nva.reserve(fields.size());
  for (const H2Field& f : fields) {
    nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(f.name.data())),
                   reinterpret_cast<uint8_t*>(const_cast<char*>(f.value.data())), f.name.size(),
                   f.value.size(), NGHTTP2_NV_FLAG_NONE});
  }
  nghttp2_data_provider provider{};
  provider.source.ptr = stream.get();
  provider.read_callback = read_body;
  const int32_t id = nghttp2_submit_request(session_.get(), nullptr, nva.data(), nva.size(),
                                            with_body ? &provider : nullptr, stream.get());
  if (id < 0) {
    spdlog::debug("reverse_proxy: h2c upstream {}: submitting a request: {}", key_,
                  nghttp2_strerror(id));
    error = make_h2_error(h2_errc::kRefused);
    return -1;
  }
  stream->id = id;
  streams_.emplace(id, stream);
  ++idle_generation_;  // the connection is busy: no idle close
  signal_write();
  return id;
}

void H2Connection::resume(H2Stream& stream) {
  if (dead_ || stream.closed) return;
  if (stream.deferred) {
    stream.deferred = false;
    nghttp2_session_resume_data(session_.get(), stream.id);
  }
  signal_write();
}

void H2Connection::consume(H2Stream& stream, size_t n) {
  if (dead_ || n == 0) return;
  // A closed stream has no window left to open; the connection's still counts.
  if (stream.closed)
    nghttp2_session_consume_connection(session_.get(), n);
  else
    nghttp2_session_consume(session_.get(), stream.id, n);
  signal_write();
}

void H2Connection::reset(H2Stream& stream) {
  const size_t unconsumed = stream.buffered();
  stream.data.clear();
  stream.data_begin = 0;
  consume(stream, unconsumed);
  stream.cancelled = true;
  if (dead_ || stream.closed || stream.id < 0) return;
  nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, stream.id, NGHTTP2_CANCEL);
  signal_write();
}

void H2Connection::fail(std::error_code ec) {
  if (dead_) return;
  dead_ = true;
  spdlog::debug("reverse_proxy: h2c connection to {} closed: {}", key_, ec.message());
  leave_pool();
  std::error_code ignored;
  socket_.close(ignored);
  if (tcp_) tcp_->close();
  for (auto& [id, stream] : streams_) {
    stream->closed = true;
    stream->connection_lost = true;
    stream->notify();
  }
  streams_.clear();
  write_event_.cancel();
  ready_event_.cancel();
  idle_timer_.cancel();
  write_timer_.cancel();
}

void H2Connection::leave_pool() {
  if (pools_ != nullptr) pools_->remove(key_, this);
  pools_ = nullptr;
}

void H2Connection::arm_idle() {
  if (dead_) return;
  const uint64_t generation = ++idle_generation_;
  // keepalive 0 turns reuse off: the connection ends with its last stream.
  idle_timer_.expires_after(idle_timeout_);
  idle_timer_.async_wait([weak = weak_from_this(), generation](std::error_code e) {
    auto self = weak.lock();
    if (!self || e || self->idle_generation_ != generation || !self->streams_.empty()) return;
    // RFC 9113 §6.8: GOAWAY first, so the upstream knows nothing was lost.
    self->goaway_ = true;
    self->leave_pool();
    nghttp2_session_terminate_session(self->session_.get(), NGHTTP2_NO_ERROR);
    self->signal_write();
  });
}

void H2Connection::on_goaway(int32_t last_stream_id) {
  goaway_ = true;
  leave_pool();
  // RFC 9113 §6.8: streams above last_stream_id were not processed.
  for (auto& [id, stream] : streams_) {
    if (id > last_stream_id) {
      stream->refused = true;
      stream->notify();
    }
  }
}

int H2Connection::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<H2Connection*>(user);
  if (H2Stream* stream = self->stream_of(frame->hd.stream_id)) {
    stream->block.clear();
    stream->block_bytes = 0;
    stream->any_frame = true;
  }
  return 0;
}

int H2Connection::on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                            size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                            void* user) {
  auto* self = static_cast<H2Connection*>(user);
  H2Stream* stream = self->stream_of(frame->hd.stream_id);
  if (stream == nullptr) return 0;
  stream->block_bytes += namelen + valuelen + 4;
  if (stream->block_bytes > kMaxHeadBytes || stream->block.size() >= kMaxHeadFields) {
    stream->bad_response = true;
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets this stream only
  }
  stream->block.push_back({std::string(reinterpret_cast<const char*>(name), namelen),
                           std::string(reinterpret_cast<const char*>(value), valuelen)});
  return 0;
}

void H2Connection::on_headers_done(H2Stream& stream, const nghttp2_frame& frame) {
  if (stream.head_ready) {
    // A second block after the final head carries trailers (RFC 9113 §8.1).
    for (Header& h : stream.block)
      if (!h.name.empty() && h.name.front() != ':') stream.trailers.add(h.name, h.value);
  } else {
    int status = 0;
    for (const Header& h : stream.block)
      if (h.name == ":status")
        std::from_chars(h.value.data(), h.value.data() + h.value.size(), status);
    if (status >= 100 && status < 200 && status != 101 &&
        (frame.hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) {
      stream.interim.push_back(std::move(stream.block));
    } else {
      stream.head = std::move(stream.block);
      stream.head_ready = true;
    }
  }
  stream.block.clear();
}

int H2Connection::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<H2Connection*>(user);
  switch (frame->hd.type) {
    case NGHTTP2_SETTINGS:
      if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) self->settings_received_ = true;
      return 0;
    case NGHTTP2_GOAWAY:
      self->on_goaway(frame->goaway.last_stream_id);
      return 0;
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA:
      break;
    default:
      return 0;
  }
  H2Stream* stream = self->stream_of(frame->hd.stream_id);
  if (stream == nullptr) return 0;
  if (frame->hd.type == NGHTTP2_HEADERS) self->on_headers_done(*stream, *frame);
  if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) stream->ended = true;
  stream->wake.cancel();
  return 0;
}

int H2Connection::on_data_chunk(nghttp2_session* session, uint8_t, int32_t id, const uint8_t* data,
                                size_t len, void* user) {
  auto* self = static_cast<H2Connection*>(user);
  H2Stream* stream = self->stream_of(id);
  if (stream == nullptr || stream->cancelled) {
    // Nobody reads it: give the window back at once.
    nghttp2_session_consume(session, id, len);
    return 0;
  }
  stream->any_frame = true;
  stream->data.insert(stream->data.end(), data, data + len);
  stream->wake.cancel();
  return 0;
}

int H2Connection::on_stream_close(nghttp2_session*, int32_t id, uint32_t error_code, void* user) {
  auto* self = static_cast<H2Connection*>(user);
  auto it = self->streams_.find(id);
  if (it == self->streams_.end()) return 0;
  std::shared_ptr<H2Stream> stream = std::move(it->second);
  self->streams_.erase(it);
  stream->closed = true;
  stream->error_code = error_code;
  if (error_code == NGHTTP2_REFUSED_STREAM) stream->refused = true;
  stream->notify();
  if (self->streams_.empty()) {
    if (self->goaway_)
      self->signal_write();  // the writer ends the session once all is sent
    else
      self->arm_idle();
  }
  return 0;
}

ssize_t H2Connection::read_body(nghttp2_session* session, int32_t id, uint8_t* buf, size_t length,
                                uint32_t* flags, nghttp2_data_source* source, void*) {
  auto* stream = static_cast<H2Stream*>(source->ptr);
  const size_t available = stream->out.size() - stream->out_begin;
  if (available == 0 && !stream->out_end) {
    stream->deferred = true;  // the pump resumes it with the next piece
    return NGHTTP2_ERR_DEFERRED;
  }
  const size_t n = std::min(available, length);
  if (n > 0) std::memcpy(buf, stream->out.data() + stream->out_begin, n);
  stream->out_begin += n;
  if (stream->out_begin == stream->out.size()) {
    stream->out.clear();
    stream->out_begin = 0;
    stream->last_progress = Clock::now();
    stream->body_wake.cancel();  // the pump may read the next piece
    if (stream->out_end) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (!stream->out_trailers.empty()) {
        // Request trailers (gRPC clients send none, others may): the body's
        // last DATA leaves the stream open for the trailing HEADERS.
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        std::vector<nghttp2_nv> nva;
        for (const H2Field& f : stream->out_trailers) {
          nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(f.name.data())),
                         reinterpret_cast<uint8_t*>(const_cast<char*>(f.value.data())),
                         f.name.size(), f.value.size(), NGHTTP2_NV_FLAG_NONE});
        }
        nghttp2_submit_trailer(session, id, nva.data(), nva.size());
      }
    }
  }
  return static_cast<ssize_t>(n);
}

// ------------------------------------------------------------ the pools

asio::awaitable<std::error_code> H2Pools::acquire(const UpstreamEndpoint& endpoint,
                                                  const UpstreamTimeouts& timeouts,
                                                  const PoolSettings& settings, bool fresh,
                                                  std::shared_ptr<H2Connection>& out,
                                                  bool& reused) {
  out.reset();
  reused = false;
  std::vector<std::shared_ptr<H2Connection>>& set = sets_[endpoint.pool_key];
  std::shared_ptr<H2Connection> chosen;
  if (!fresh) {
    for (const auto& c : set) {
      if (c->usable() && c->has_room()) {
        chosen = c;
        break;
      }
    }
    if (!chosen && set.size() >= kMaxConnectionsPerUpstream) {
      // Enough connections: queue on the least loaded one (nghttp2 holds
      // streams past the peer's limit until others close).
      for (const auto& c : set)
        if (c->usable() && (!chosen || c->load() < chosen->load())) chosen = c;
    }
  }
  if (chosen) {
    const bool was_connected = !chosen->connecting();
    chosen->join();
    const bool ok = co_await chosen->wait_connected();
    chosen->unjoin();
    if (!ok) co_return chosen->dial_error() ? chosen->dial_error() : asio::error::connection_reset;
    out = std::move(chosen);
    reused = was_connected;
    co_return std::error_code{};
  }
  auto connection =
      std::make_shared<H2Connection>(io_, this, endpoint.pool_key, settings, timeouts);
  set.push_back(connection);
  connection->join();
  const std::error_code ec = co_await connection->dial(endpoint, timeouts.dial);
  connection->unjoin();
  if (ec) {
    connection->fail(ec);
    co_return ec;
  }
  out = std::move(connection);
  co_return std::error_code{};
}

size_t H2Pools::connections(const std::string& key) const {
  auto it = sets_.find(key);
  return it == sets_.end() ? 0 : it->second.size();
}

void H2Pools::remove(const std::string& key, const H2Connection* connection) {
  auto it = sets_.find(key);
  if (it == sets_.end()) return;
  auto& set = it->second;
  set.erase(
      std::remove_if(set.begin(), set.end(), [&](const auto& c) { return c.get() == connection; }),
      set.end());
}

void H2Pools::close_all() {
  auto sets = std::move(sets_);
  sets_.clear();
  for (auto& [key, set] : sets) {
    for (auto& c : set) {
      c->detach();
      c->fail(asio::error::operation_aborted);
    }
  }
}

}  // namespace usher::proxy
