#pragma once

// The connection half of the h2c client (decision 0007): one nghttp2 client
// session per connection and the per-request stream state it shares with
// H2UpstreamClient. Internal to proxy/upstream_h2*.cpp.

#include <nghttp2/nghttp2.h>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "proxy/exchange.h"
#include "proxy/stream.h"
#include "proxy/upstream_h2.h"

namespace usher::proxy {

using H2Clock = std::chrono::steady_clock;

/// Why an HTTP/2 exchange failed on the upstream's side.
enum class h2_errc {
  kStreamReset = 1,
  kRefused,
  kConnectionLost,
  kBadResponse,
  kProtocol,
};

/// An error code of the h2c client's own category ("upstream-h2").
std::error_code make_h2_error(h2_errc e);

// ------------------------------------------------------------ one stream

/// The state of one request stream, shared by the handler's coroutine, the
/// body pump and the connection's callbacks (all on one worker thread).
struct H2Stream {
  explicit H2Stream(asio::io_context& io) : wake(io), body_wake(io) {
    wake.expires_at(H2Clock::time_point::max());
    body_wake.expires_at(H2Clock::time_point::max());
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
  H2Clock::time_point last_progress = H2Clock::now();

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

struct SessionDeleter {
  void operator()(nghttp2_session* s) const { nghttp2_session_del(s); }
};
using SessionPtr = std::unique_ptr<nghttp2_session, SessionDeleter>;

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
    ready_event_.expires_at(H2Clock::time_point::max());
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
  asio::ip::tcp::socket socket_;  // until the dial completes, then moved into tcp_
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

}  // namespace usher::proxy
