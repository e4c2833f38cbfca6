#include "proxy/upstream_h2.h"

#include <nghttp2/nghttp2.h>
#include <spdlog/spdlog.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ip/tcp.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

#include "proxy/stream.h"

namespace usher::proxy {

namespace {

using Clock = std::chrono::steady_clock;
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

/// Why an HTTP/2 exchange failed on the upstream's side.
enum class h2_errc {
  kStreamReset = 1,
  kRefused,
  kConnectionLost,
  kBadResponse,
  kProtocol,
};

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

std::error_code make_h2_error(h2_errc e) {
  static const H2Category category;
  return {static_cast<int>(e), category};
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = lower(c);
  return out;
}

/// RFC 9113 §8.2.2: fields that describe one HTTP/1.1 connection are
/// malformed in HTTP/2. `te` is handled apart (only `trailers` may pass).
bool is_connection_specific(std::string_view name) {
  static constexpr std::array<std::string_view, 7> kFields = {
      "connection", "keep-alive", "proxy-connection", "transfer-encoding",
      "upgrade",    "te",         "http2-settings"};
  for (std::string_view f : kFields)
    if (header_name_equals(name, f)) return true;
  return false;
}

struct SessionDeleter {
  void operator()(nghttp2_session* s) const { nghttp2_session_del(s); }
};
using SessionPtr = std::unique_ptr<nghttp2_session, SessionDeleter>;

}  // namespace

// ------------------------------------------------------------ conversions

bool te_lists_trailers(const Headers& headers) {
  for (const Header& h : headers.fields()) {
    if (!header_name_equals(h.name, "te")) continue;
    std::string_view list = h.value;
    while (!list.empty()) {
      const size_t comma = list.find(',');
      std::string_view item = list.substr(0, comma);
      item = item.substr(0, item.find(';'));
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
        item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t'))
        item.remove_suffix(1);
      if (header_name_equals(item, "trailers")) return true;
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    }
  }
  return false;
}

std::vector<H2Field> h2_request_fields(std::string_view method, std::string_view target,
                                       const Headers& fields, std::string_view fallback_authority,
                                       bool te_trailers) {
  std::vector<H2Field> out;
  out.reserve(fields.size() + 5);
  const std::string* host = fields.find("host");
  out.push_back({":method", std::string(method)});
  out.push_back({":scheme", "http"});
  // RFC 9113 §8.3.1: :authority replaces Host; the Host the proxy would
  // send an HTTP/1.1 upstream (header_up may have changed it) decides.
  out.push_back({":authority", host != nullptr ? *host : std::string(fallback_authority)});
  out.push_back({":path", std::string(target)});
  for (const Header& h : fields.fields()) {
    if (h.name.empty() || h.name.front() == ':') continue;
    if (header_name_equals(h.name, "host") || is_connection_specific(h.name)) continue;
    out.push_back({lowercase(h.name), h.value});
  }
  // RFC 9113 §8.2.2: te may carry only `trailers`, which gRPC requires.
  if (te_trailers) out.push_back({"te", "trailers"});
  return out;
}

std::vector<H2Field> h2_trailer_fields(const Headers& trailers) {
  std::vector<H2Field> out;
  for (const Header& h : trailers.fields()) {
    if (h.name.empty() || h.name.front() == ':' || is_connection_specific(h.name)) continue;
    if (header_name_equals(h.name, "host") || header_name_equals(h.name, "content-length"))
      continue;
    out.push_back({lowercase(h.name), h.value});
  }
  return out;
}

AttemptOutcome h2_outcome(const H2StreamEnd& end) {
  if (end.dial_failed) return AttemptOutcome::kDialFailed;
  if (end.client_failed) return AttemptOutcome::kClientFailed;
  if (end.timed_out) return AttemptOutcome::kTimeout;
  if (end.bad_response) return AttemptOutcome::kBadResponse;
  // Refused streams were never processed (RFC 9113 §8.7); a reused
  // connection that died before saying anything about this stream is the
  // HTTP/2 form of a stale keep-alive connection. Both may go once more,
  // unless body bytes were read from the client and are gone.
  if (end.refused || (end.reused && !end.any_frame))
    return end.body_consumed ? AttemptOutcome::kNotReplayable : AttemptOutcome::kStale;
  return AttemptOutcome::kNoResponse;
}

// ------------------------------------------------------------ one stream

/// The state of one request stream, shared by the handler's coroutine, the
/// body pump and the connection's callbacks (all on one worker thread).
struct H2Stream {
  explicit H2Stream(asio::io_context& io) : wake(io), body_wake(io) {
    wake.expires_at(Clock::time_point::max());
    body_wake.expires_at(Clock::time_point::max());
  }

  /// Wakes whoever waits on this stream.
  void notify() {
    wake.cancel();
    body_wake.cancel();
  }
  size_t buffered() const { return data.size() - data_begin; }

  int32_t id = -1;
  asio::steady_timer wake;       // the handler: head, data, end, close
  asio::steady_timer body_wake;  // the body pump: window opened, stream closed
  Clock::time_point last_progress = Clock::now();

  // The response.
  std::vector<Header> block;  // the header block being received
  size_t block_bytes = 0;
  std::vector<std::vector<Header>> interim;  // 1xx heads not yet relayed
  bool head_ready = false;
  std::vector<Header> head;
  std::vector<char> data;  // DATA received, not yet relayed: at most the window
  size_t data_begin = 0;
  Headers trailers;
  bool ended = false;  // END_STREAM received: the response is complete
  bool any_frame = false;
  bool bad_response = false;

  // The request body, one piece at a time.
  std::vector<char> out;
  size_t out_begin = 0;
  bool out_end = false;
  std::vector<H2Field> out_trailers;
  bool deferred = false;  // the data provider waits for resume_data
  bool stop_pump = false;
  bool client_failed = false;

  // How it ended.
  bool closed = false;
  uint32_t error_code = 0;
  bool refused = false;
  bool connection_lost = false;
  bool cancelled = false;  // reset by the proxy: its DATA is dropped
};

// ------------------------------------------------------------ one connection

/// One h2c connection: the nghttp2 client session, a reader coroutine that
/// feeds it frames and a writer coroutine that sends what it produces.
/// Always owned by shared_ptr: the coroutines and the streams' clients
/// keep it alive.
class H2Connection : public std::enable_shared_from_this<H2Connection> {
 public:
  H2Connection(asio::io_context& io, H2Pools* pools, std::string key, const PoolSettings& settings,
               const UpstreamTimeouts& timeouts)
      : io_(io),
        pools_(pools),
        key_(std::move(key)),
        idle_timeout_(settings.idle_timeout),
        write_timeout_(timeouts.write),
        socket_(io),
        write_event_(io),
        ready_event_(io),
        idle_timer_(io),
        write_timer_(io) {
    ready_event_.expires_at(Clock::time_point::max());
  }
  ~H2Connection() = default;

  asio::awaitable<std::error_code> dial(const UpstreamEndpoint& endpoint,
                                        std::chrono::milliseconds timeout);
  /// Waits until a dial in progress ended; true when it connected.
  asio::awaitable<bool> wait_connected();

  bool connecting() const { return connecting_; }
  bool usable() const { return !dead_ && !goaway_; }
  bool has_room() const { return streams_.size() + joining_ < max_streams(); }
  size_t load() const { return streams_.size() + joining_; }
  void join() { ++joining_; }
  void unjoin() { --joining_; }
  const std::error_code& dial_error() const { return dial_error_; }
  bool dead() const { return dead_; }

  int32_t submit(const std::shared_ptr<H2Stream>& stream, const std::vector<H2Field>& fields,
                 bool with_body, std::error_code& error);
  void resume(H2Stream& stream);
  void consume(H2Stream& stream, size_t n);
  void reset(H2Stream& stream);
  /// Marks the connection dead, fails its streams and closes the socket.
  void fail(std::error_code ec);
  void detach() { pools_ = nullptr; }

 private:
  uint32_t max_streams() const;
  void start();
  void signal_write() { write_event_.cancel(); }
  void leave_pool();
  void arm_idle();
  asio::awaitable<void> reader(std::shared_ptr<H2Connection> self);
  asio::awaitable<void> writer(std::shared_ptr<H2Connection> self);
  asio::awaitable<std::error_code> flush();
  H2Stream* stream_of(int32_t id);

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                       size_t namelen, const uint8_t* value, size_t valuelen, uint8_t flags,
                       void* user);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_data_chunk(nghttp2_session*, uint8_t flags, int32_t id, const uint8_t* data,
                           size_t len, void* user);
  static int on_stream_close(nghttp2_session*, int32_t id, uint32_t error_code, void* user);
  static ssize_t read_body(nghttp2_session*, int32_t id, uint8_t* buf, size_t length,
                           uint32_t* flags, nghttp2_data_source* source, void* user);
  void on_headers_done(H2Stream& stream, const nghttp2_frame& frame);
  void on_goaway(int32_t last_stream_id);

  asio::io_context& io_;
  H2Pools* pools_;
  std::string key_;
  std::chrono::milliseconds idle_timeout_;
  std::chrono::milliseconds write_timeout_;
  std::unique_ptr<Stream> tcp_;
  tcp::socket socket_;  // until the dial completes, then moved into tcp_
  SessionPtr session_;
  std::unordered_map<int32_t, std::shared_ptr<H2Stream>> streams_;
  asio::steady_timer write_event_;
  asio::steady_timer ready_event_;
  asio::steady_timer idle_timer_;
  asio::steady_timer write_timer_;
  std::vector<uint8_t> out_;
  std::error_code dial_error_;
  size_t joining_ = 0;  // clients that chose this connection and have not submitted yet
  uint64_t idle_generation_ = 0;
  bool connecting_ = true;
  bool settings_received_ = false;
  bool goaway_ = false;
  bool dead_ = false;
};

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

// ------------------------------------------------------------ one request

H2UpstreamClient::H2UpstreamClient(H2Pools& pools, const UpstreamTimeouts& timeouts,
                                   const PoolSettings& pool_settings, const HttpRequest& request,
                                   BodySource& body)
    : pools_(pools),
      timeouts_(timeouts),
      pool_settings_(pool_settings),
      request_(request),
      body_(body) {}

H2UpstreamClient::~H2UpstreamClient() {
  // finish_attempt() ran on every path; this only drops what is left.
  if (stream_ && connection_ && !stream_->closed) connection_->reset(*stream_);
}

asio::awaitable<AttemptOutcome> H2UpstreamClient::attempt(const UpstreamEndpoint& endpoint,
                                                          ResponseSink& sink, bool fresh) {
  co_await finish_attempt();
  error_.clear();
  head_fields_.clear();
  view_ = ResponseHeadView{};
  if (std::error_code ec = co_await pools_.acquire(endpoint, timeouts_, pool_settings_, fresh,
                                                   connection_, reused_)) {
    error_ = ec;
    co_return AttemptOutcome::kDialFailed;
  }
  stream_ = std::make_shared<H2Stream>(pools_.io());
  const std::string target = request_.query.empty() ? request_.path : request_.uri();
  std::vector<H2Field> nv = h2_request_fields(request_.method, target, fields_, request_.authority,
                                              te_lists_trailers(request_.headers));
  if (request_.content_length && request_.has_body)
    nv.push_back({"content-length", std::to_string(*request_.content_length)});
  const bool with_body = request_.has_body;
  std::error_code ec;
  if (connection_->submit(stream_, nv, with_body, ec) < 0) {
    error_ = ec;
    co_return AttemptOutcome::kStale;  // nothing was sent
  }
  if (with_body) {
    pump_running_ = true;
    asio::co_spawn(pools_.io(), pump_body(stream_), asio::detached);
  }
  const AttemptOutcome outcome = co_await await_head(sink);
  if (outcome != AttemptOutcome::kResponse) co_await finish_attempt();
  co_return outcome;
}

asio::awaitable<void> H2UpstreamClient::pump_body(std::shared_ptr<H2Stream> stream) {
  std::shared_ptr<H2Connection> connection = connection_;
  if (!replay_.empty() || body_complete_) {
    // Another attempt: what an earlier one read from the client goes first.
    stream->out.assign(replay_.begin(), replay_.end());
    stream->out_end = body_complete_;
    if (body_complete_) stream->out_trailers = h2_trailer_fields(body_.trailers());
    connection->resume(*stream);
  }
  for (;;) {
    // One piece at a time: the next is read from the client only once the
    // upstream's window took the previous one (back-pressure to the client).
    const Clock::time_point deadline = Clock::now() + timeouts_.write;
    while (!stream->out.empty() && !stream->closed && !stream->stop_pump) {
      if (Clock::now() >= deadline) {
        error_ = asio::error::timed_out;
        connection->reset(*stream);
        break;
      }
      stream->body_wake.expires_at(deadline);
      co_await stream->body_wake.async_wait(kNoThrow);
    }
    if (stream->out_end || stream->closed || stream->stop_pump || stream->cancelled) break;
    BodySource::Chunk chunk;
    if (std::error_code ec = co_await body_.read(chunk)) {
      stream->client_failed = true;
      error_ = ec;
      connection->reset(*stream);
      break;
    }
    keep_for_replay(chunk);
    stream->last_progress = Clock::now();
    if (stream->closed || stream->cancelled) break;
    stream->out.assign(chunk.data.begin(), chunk.data.end());
    stream->out_begin = 0;
    if (chunk.end) {
      stream->out_end = true;
      stream->out_trailers = h2_trailer_fields(body_.trailers());
    }
    connection->resume(*stream);
  }
  pump_running_ = false;
  stream->wake.cancel();
}

void H2UpstreamClient::keep_for_replay(const BodySource::Chunk& chunk) {
  if (chunk.end) body_complete_ = true;
  if (chunk.data.empty()) return;
  body_started_ = true;
  if (!replayable_) return;
  if (replay_.size() + chunk.data.size() > kMaxReplayBytes) {
    replayable_ = false;  // too large to keep: this body can go out only once
    std::string().swap(replay_);
    return;
  }
  replay_.append(chunk.data.data(), chunk.data.size());
}

AttemptOutcome H2UpstreamClient::end_without_response() {
  H2StreamEnd end;
  end.refused = stream_->refused;
  end.any_frame = stream_->any_frame;
  end.reused = reused_;
  end.body_consumed = body_committed();
  end.client_failed = stream_->client_failed;
  end.bad_response = stream_->bad_response;
  const AttemptOutcome outcome = h2_outcome(end);
  if (outcome == AttemptOutcome::kClientFailed) return outcome;  // error_ came from the body
  if (stream_->bad_response)
    error_ = make_h2_error(h2_errc::kBadResponse);
  else if (stream_->refused)
    error_ = make_h2_error(h2_errc::kRefused);
  else if (stream_->connection_lost)
    error_ = make_h2_error(h2_errc::kConnectionLost);
  else
    error_ = make_h2_error(h2_errc::kStreamReset);
  return outcome;
}

asio::awaitable<AttemptOutcome> H2UpstreamClient::await_head(ResponseSink& sink) {
  const auto timeout = timeouts_.response_header.value_or(timeouts_.read);
  for (;;) {
    H2Stream& s = *stream_;
    while (!s.interim.empty()) {
      std::vector<Header> block = std::move(s.interim.front());
      s.interim.erase(s.interim.begin());
      ResponseHead interim;
      for (Header& h : block) {
        if (h.name == ":status")
          std::from_chars(h.value.data(), h.value.data() + h.value.size(), interim.status);
        else if (!h.name.empty() && h.name.front() != ':')
          interim.headers.fields().push_back(std::move(h));
      }
      // 100 Continue is the body source's business, as for HTTP/1.1.
      if (interim.status == 100) continue;
      if (co_await sink.write_interim(interim)) {
        connection_->reset(s);
        co_return AttemptOutcome::kClientFailed;
      }
    }
    if (s.head_ready) {
      if (!build_view()) {
        error_ = make_h2_error(h2_errc::kBadResponse);
        connection_->reset(s);
        co_return AttemptOutcome::kBadResponse;
      }
      co_return AttemptOutcome::kResponse;
    }
    if (s.refused || s.closed) co_return end_without_response();
    if (s.client_failed) {
      connection_->reset(s);
      co_return AttemptOutcome::kClientFailed;
    }
    // The head is due `timeout` after the request (its body included) went out.
    const Clock::time_point deadline = s.last_progress + timeout;
    if (Clock::now() >= deadline) {
      error_ = asio::error::timed_out;
      connection_->reset(s);
      co_return AttemptOutcome::kTimeout;
    }
    s.wake.expires_at(deadline);
    co_await s.wake.async_wait(kNoThrow);
  }
}

bool H2UpstreamClient::build_view() {
  head_fields_ = std::move(stream_->head);
  view_ = ResponseHeadView{};
  for (const Header& h : head_fields_) {
    if (h.name == ":status") {
      const auto [p, ec] =
          std::from_chars(h.value.data(), h.value.data() + h.value.size(), view_.status);
      if (ec != std::errc() || p != h.value.data() + h.value.size() || h.value.size() != 3)
        return false;
      continue;
    }
    if (!h.name.empty() && h.name.front() == ':') continue;
    if (h.name == "content-length") {
      uint64_t length = 0;
      const auto [p, ec] = std::from_chars(h.value.data(), h.value.data() + h.value.size(), length);
      if (ec != std::errc() || p != h.value.data() + h.value.size()) return false;
      if (view_.has_content_length && view_.content_length != length) return false;
      view_.has_content_length = true;
      view_.content_length = length;
    }
    view_.headers.push_back({h.name, h.value});
  }
  // HTTP/2 has no 101 (RFC 9113 §8.6) and every final status is 2xx to 5xx.
  if (view_.status < 200 || view_.status > 599) return false;
  const bool no_body = request_.method == "HEAD" || view_.status == 204 || view_.status == 304;
  if (no_body)
    view_.framing = ResponseFraming::kNone;
  else if (view_.has_content_length)
    view_.framing = ResponseFraming::kContentLength;
  else
    view_.framing = ResponseFraming::kUntilClose;  // END_STREAM ends it
  return true;
}

asio::awaitable<std::error_code> H2UpstreamClient::relay_body(
    ResponseSink& sink, std::chrono::milliseconds flush_interval) {
  H2Stream& s = *stream_;
  relay_.resize(UpstreamPools::kRelayBufferSize);
  Clock::time_point last_flush = Clock::now();
  Clock::time_point deadline = Clock::now() + timeouts_.read;
  for (;;) {
    if (const size_t available = s.buffered(); available > 0) {
      const size_t n = std::min(available, relay_.size());
      // Copied out: DATA arriving while the sink waits may move s.data.
      std::memcpy(relay_.data(), s.data.data() + s.data_begin, n);
      s.data_begin += n;
      if (s.data_begin == s.data.size()) {
        s.data.clear();
        s.data_begin = 0;
      }
      const auto now = Clock::now();
      bool flush = flush_interval.count() < 0;
      if (flush_interval.count() > 0 && now - last_flush >= flush_interval) {
        flush = true;
        last_flush = now;
      }
      if (std::error_code ec = co_await sink.write_body({relay_.data(), n}, flush)) {
        error_ = ec;
        connection_->reset(s);
        co_return ec;
      }
      // Only now may the upstream send more (WINDOW_UPDATE).
      connection_->consume(s, n);
      deadline = Clock::now() + timeouts_.read;
      continue;
    }
    if (s.ended) co_return co_await sink.finish(s.trailers.size() > 0 ? &s.trailers : nullptr);
    if (s.closed) {
      error_ = make_h2_error(s.connection_lost ? h2_errc::kConnectionLost : h2_errc::kStreamReset);
      co_return error_;
    }
    if (Clock::now() >= deadline) {
      error_ = asio::error::timed_out;
      connection_->reset(s);
      co_return error_;
    }
    s.wake.expires_at(deadline);
    co_await s.wake.async_wait(kNoThrow);
  }
}

asio::awaitable<void> H2UpstreamClient::finish_attempt() {
  if (!stream_) co_return;
  H2Stream& s = *stream_;
  // A response that ended while the request body still flows (the upstream
  // answered early) or a stream given up on: reset, so the upstream stops.
  if (!s.closed && (!s.ended || pump_running_)) connection_->reset(s);
  s.stop_pump = true;
  s.body_wake.cancel();
  // The pump may be inside the client's body read; it must let go of the
  // body source before this request's handler returns.
  while (pump_running_) {
    s.wake.expires_at(Clock::time_point::max());
    co_await s.wake.async_wait(kNoThrow);
  }
  if (const size_t left = s.buffered(); left > 0 && connection_) {
    s.data.clear();
    s.data_begin = 0;
    connection_->consume(s, left);
  }
  stream_.reset();
  connection_.reset();
}

}  // namespace usher::proxy
