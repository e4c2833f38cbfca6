#include "proxy/http1_session.h"

#include <asio/error.hpp>
#include <asio/socket_base.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "proxy/chunked_decoder.h"
#include "proxy/coarse_clock.h"
#include "proxy/http1_parser.h"
#include "proxy/http1_writer.h"
#include "proxy/http_date.h"
#include "proxy/router.h"

namespace usher::proxy {

namespace {

// The read buffer starts at this size and grows up to the head limit; it is
// released while the connection waits idle, so that 10,000 idle keep-alive
// connections hold no read buffers.
constexpr size_t kInitialReadBuffer = 8 * 1024;
// Bytes read from the socket in one go while streaming a body.
constexpr size_t kBodyReadChunk = 16 * 1024;
// After a response, an unread request body up to this size is read and
// dropped so the connection can be kept alive; a larger one closes it
// (cheaper than reading what nobody wants).
constexpr uint64_t kMaxDrainBytes = 256 * 1024;
// After a response that left the request body unread, the client may still be
// sending it; closing at once would answer its bytes with a reset that can
// destroy the response before the client reads it (RFC 9112 §9.6). Its
// bytes are read and dropped for at most this long.
constexpr auto kLingerTime = std::chrono::seconds(2);

/// The connection's input: bytes [begin_, end_) of data_ are unread. The
/// storage is allocated uninitialised: zero-filling 8 KiB for every request
/// (std::vector's resize) was the single largest cost of a small request.
class ReadBuffer {
 public:
  std::span<const char> readable() const { return {data_.get() + begin_, end_ - begin_}; }
  size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  void consume(size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  /// Room for at least `min` more bytes at the end, moving unread bytes to
  /// the front first; grows up to `max_total`. Empty span when full.
  std::span<char> prepare(size_t min, size_t max_total) {
    if (begin_ > 0) {
      std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (capacity_ - end_ < min) {
      size_t wanted = std::max(capacity_ * 2, std::max(kInitialReadBuffer, end_ + min));
      grow(std::min(wanted, std::max(max_total, end_ + min)));
    }
    return {data_.get() + end_, capacity_ - end_};
  }
  void commit(size_t n) { end_ += n; }
  /// Frees the memory when nothing is buffered (idle connections).
  void release_if_empty() {
    if (!empty()) return;
    data_.reset();
    capacity_ = 0;
  }

 private:
  void grow(size_t capacity) {
    if (capacity <= capacity_) return;
    std::unique_ptr<char[]> bigger(new char[capacity]);  // default-initialised: no memset
    if (end_ > 0) std::memcpy(bigger.get(), data_.get(), end_);
    data_ = std::move(bigger);
    capacity_ = capacity;
  }

  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
};

/// One HTTP/1.1 connection and its current exchange. The exchange's body
/// source, response sink and upgraded stream are all this object, because
/// on HTTP/1.1 they are all the same connection.
class Http1Connection final : public Exchange,
                              public BodySource,
                              public ResponseSink,
                              public UpgradedStream {
 public:
  Http1Connection(Stream& stream, const ConnectionInfo& info, WorkerContext& worker,
                  ConnectionEntry& entry)
      : stream_(stream),
        info_(info),
        worker_(worker),
        entry_(entry),
        parser_(Limits{.max_head_bytes = worker.settings().max_header_bytes}) {
    entry_.trim = [](void* self) { static_cast<Http1Connection*>(self)->release_idle_memory(); };
    entry_.trim_owner = this;
  }
  ~Http1Connection() override {
    entry_.trim = nullptr;
    entry_.trim_owner = nullptr;
  }
  Http1Connection(const Http1Connection&) = delete;
  Http1Connection& operator=(const Http1Connection&) = delete;

  /// True when the connection went idle and the sweep asked to park it.
  asio::awaitable<bool> run();

  // Exchange
  HttpRequest& request() override { return request_; }
  const ConnectionInfo& connection() const override { return info_; }
  BodySource& body() override { return *this; }
  ResponseSink& response() override { return *this; }
  UpgradedStream* upgraded_stream() override { return upgraded_ ? this : nullptr; }
  void close_after() override { keep_alive_ = false; }

  // BodySource
  asio::awaitable<std::error_code> read(Chunk& chunk) override;
  const Headers& trailers() const override { return trailers_; }
  asio::awaitable<std::error_code> send_continue() override;

  // ResponseSink
  asio::awaitable<std::error_code> write_interim(const ResponseHead& head) override;
  asio::awaitable<std::error_code> write_head(const ResponseHead& head) override;
  asio::awaitable<std::error_code> write_body(std::span<const char> data, bool flush) override;
  asio::awaitable<std::error_code> finish(const Headers* trailers) override;
  void abort() override {
    aborted_ = true;
    keep_alive_ = false;
  }
  bool head_written() const override { return head_written_; }
  uint64_t body_bytes() const override { return body_bytes_; }

  // UpgradedStream
  asio::awaitable<std::error_code> read_some(std::span<char> buffer, size_t& n) override;
  asio::awaitable<std::error_code> write(std::span<const char> data) override;
  asio::awaitable<void> shutdown_send() override { co_await stream_.shutdown(); }

 private:
  enum class HeadOutcome { kRequest, kClosed, kRejected };

  asio::awaitable<HeadOutcome> read_head();
  asio::awaitable<std::error_code> fill(size_t min, size_t max_total,
                                        std::chrono::milliseconds timeout);
  // The first read after the idle wait said bytes are there: no wait, so
  // no deadline and no coroutine frame. False when it must wait after all.
  bool fill_now(size_t max_total, std::error_code& ec);
  void start_request();
  void release_idle_memory();
  asio::awaitable<void> reject(const std::error_code& error, int status);
  asio::awaitable<std::error_code> send(std::span<const asio::const_buffer> buffers);
  // Ends a write's deadline; a failed write ends the exchange.
  std::error_code sent(std::error_code ec);
  asio::awaitable<bool> finish_exchange();
  asio::awaitable<bool> drain_body();
  asio::awaitable<void> linger();
  void append_framing_headers(const ResponseHead& head);

  Stream& stream_;
  const ConnectionInfo& info_;
  WorkerContext& worker_;
  ConnectionEntry& entry_;
  ReadBuffer in_;
  Http1RequestParser parser_;
  ChunkedDecoder chunked_;

  // The current request.
  HttpRequest request_;
  Headers trailers_;
  BodyKind body_kind_ = BodyKind::kNone;
  uint64_t body_remaining_ = 0;  // content-length bytes not yet read
  bool body_done_ = true;
  std::error_code body_error_;  // the request body broke its framing (chunked decoder)
  bool continue_sent_ = false;
  bool head_request_ = false;
  bool http10_ = false;
  bool keep_alive_ = true;
  uint64_t requests_ = 0;  // served on this connection
  bool readable_ = false;  // the idle wait just ended: bytes are there

  // The current response.
  std::string out_;  // head and framing waiting to be written; reused
  bool head_written_ = false;
  bool head_sent_ = false;
  bool finished_ = false;
  bool aborted_ = false;
  bool chunked_out_ = false;
  bool no_body_ = false;
  bool upgraded_ = false;
  uint64_t body_bytes_ = 0;
};

// ------------------------------------------------------------ connection loop

asio::awaitable<bool> Http1Connection::run() {
  while (true) {
    if (in_.empty()) {
      // Idle between requests: hold no buffer while waiting for the next
      // one. The wait is here rather than in read_head() so that an idle
      // connection holds one coroutine frame less.
      in_.release_if_empty();
      entry_.idle = true;
      entry_.trimmed = false;
      entry_.read_expires_after(worker_.settings().idle);
      std::error_code ec = co_await stream_.wait_readable();
      entry_.idle = false;
      // The sweep cancelled the wait so that the caller parks the connection
      // without this frame (decision 0015). A wait that had already
      // finished when the sweep came goes on as usual.
      if (std::exchange(entry_.park, false) && ec == asio::error::operation_aborted) co_return true;
      if (ec || entry_.timed_out || worker_.draining()) break;
      readable_ = true;
    }
    HeadOutcome outcome = co_await read_head();
    if (outcome != HeadOutcome::kRequest) break;
    // A second request says the client keeps this connection busy: from now
    // on its buffers stay between requests (release_idle_memory() frees them
    // when it idles). A connection used once frees them as it goes, so that
    // thousands of them leave no freed buffers scattered through the heap.
    if (++requests_ == 2) stream_.keep_buffers(true);
    start_request();
    entry_.clear_read_deadline();
    std::shared_ptr<const RouteTable> routes = worker_.routes();
    if (routes) {
      co_await routes->serve(*this, worker_);
    } else {
      ResponseHead head;
      head.status = 503;
      co_await write_head(head);
      co_await finish(nullptr);
    }
    if (upgraded_) break;  // the tunnel ran inside serve(); the connection is spent
    if (!co_await finish_exchange()) {
      // A client still waiting for 100 Continue sends nothing more: no linger.
      const bool client_sends = !request_.expect_continue || continue_sent_;
      if (!body_done_ && finished_ && !aborted_ && client_sends) co_await linger();
      break;
    }
  }
  co_return false;
}

asio::awaitable<void> Http1Connection::linger() {
  entry_.read_expires_after(kLingerTime);  // the registry's sweep closes the stream then
  std::array<char, kBodyReadChunk> scratch;
  size_t n = 0;
  while (!entry_.timed_out && !co_await stream_.read_some(scratch, n)) {
  }
  entry_.clear_read_deadline();
}

asio::awaitable<std::error_code> Http1Connection::fill(size_t min, size_t max_total,
                                                       std::chrono::milliseconds timeout) {
  std::span<char> space = in_.prepare(min, max_total);
  if (space.empty()) co_return std::error_code(http_errc::kHeadTooLarge);
  // Its own slot: a response write going on meanwhile (the response streams
  // while the body uploads) must not clear this read's deadline.
  entry_.read_expires_after(timeout);
  size_t n = 0;
  std::error_code ec = co_await stream_.read_some(space, n);
  entry_.clear_read_deadline();
  if (entry_.timed_out) co_return std::error_code(asio::error::timed_out);
  in_.commit(n);
  co_return ec;
}

bool Http1Connection::fill_now(size_t max_total, std::error_code& ec) {
  std::span<char> space = in_.prepare(1, max_total);
  if (space.empty()) return false;  // fill() reports the full buffer
  size_t n = 0;
  if (!stream_.read_now(space, n, ec)) return false;
  in_.commit(n);
  return true;
}

asio::awaitable<Http1Connection::HeadOutcome> Http1Connection::read_head() {
  const auto& settings = worker_.settings();
  parser_.reset();
  // From the first byte on, the whole head must arrive within read_header.
  auto head_deadline = coarse_now() + settings.read_header;
  while (true) {
    ParseResult result = parser_.parse(in_.readable());
    if (result.status == ParseStatus::kComplete) co_return HeadOutcome::kRequest;
    if (result.status == ParseStatus::kError) {
      co_await reject(result.error, result.status_code);
      co_return HeadOutcome::kRejected;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(head_deadline - coarse_now());
    if (left.count() <= 0) co_return HeadOutcome::kClosed;
    std::error_code ec;
    if (!(std::exchange(readable_, false) && fill_now(settings.max_header_bytes, ec)))
      ec = co_await fill(1, settings.max_header_bytes, left);
    if (ec == std::error_code(http_errc::kHeadTooLarge)) {
      co_await reject(ec, 431);
      co_return HeadOutcome::kRejected;
    }
    if (ec) co_return HeadOutcome::kClosed;  // closed, reset or timed out mid-head
  }
}

/// Frees the previous request's strings, the response head buffer and the
/// stream's write buffer of a connection waiting idle; the registry's sweep
/// calls it, so 10,000 idle keep-alive connections hold none of them while
/// a busy connection keeps reusing them.
void Http1Connection::release_idle_memory() {
  request_ = HttpRequest{};
  trailers_ = Headers{};
  std::string().swap(out_);
  parser_ = Http1RequestParser(Limits{.max_head_bytes = worker_.settings().max_header_bytes});
  stream_.trim();
}

/// Copies the parsed head into the exchange's request, reusing its capacity.
void Http1Connection::start_request() {
  const RequestHead& head = parser_.head();
  request_.method.assign(head.method);
  request_.scheme = info_.tls ? "https" : "http";
  request_.authority.assign(head.host);
  // Host without port, lower case, IPv6 without brackets.
  std::string_view host = head.host;
  if (!host.empty() && host.front() == '[') {
    host = host.substr(
        1, host.find(']') == std::string_view::npos ? host.size() - 1 : host.find(']') - 1);
  } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  request_.host.assign(host);
  std::transform(request_.host.begin(), request_.host.end(), request_.host.begin(),
                 [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; });
  std::string_view target = head.path;
  auto question = target.find('?');
  request_.path.assign(target.substr(0, question));
  request_.query.assign(question == std::string_view::npos ? std::string_view()
                                                           : target.substr(question + 1));
  http10_ = head.version == HttpVersion::kHttp10;
  request_.version_major = 1;
  request_.version_minor = http10_ ? 0 : 1;
  auto& fields = request_.headers.fields();
  fields.resize(head.headers.size());
  for (size_t i = 0; i < head.headers.size(); ++i) {
    fields[i].name.assign(head.headers[i].name);
    fields[i].value.assign(head.headers[i].value);
  }
  body_kind_ = head.body_kind;
  body_remaining_ = head.body_kind == BodyKind::kContentLength ? head.content_length : 0;
  request_.content_length = head.body_kind == BodyKind::kContentLength
                                ? std::optional<uint64_t>(head.content_length)
                                : std::nullopt;
  request_.has_body = head.body_kind == BodyKind::kChunked ||
                      (head.body_kind == BodyKind::kContentLength && head.content_length > 0);
  request_.expect_continue = head.expect_continue;
  request_.upgrade = head.wants_upgrade;
  request_.protocol.clear();
  body_done_ = !request_.has_body;
  chunked_.reset();
  body_error_.clear();
  trailers_.clear();
  continue_sent_ = false;
  head_request_ = request_.method == "HEAD";
  keep_alive_ = head.keep_alive && !worker_.draining();
  in_.consume(head.head_bytes);

  out_.clear();
  head_written_ = head_sent_ = finished_ = aborted_ = chunked_out_ = no_body_ = upgraded_ = false;
  body_bytes_ = 0;
}

/// Answers a request the parser refused, then the connection closes: nothing
/// of an ambiguous request is ever forwarded (design.md §6).
asio::awaitable<void> Http1Connection::reject(const std::error_code& error, int status) {
  std::string body = "usher: " + std::string(reason_phrase(status)) + ": " + error.message() + "\n";
  ResponseHead head;
  head.status = status;
  head.headers.add("Content-Type", "text/plain; charset=utf-8");
  head.content_length = body.size();
  keep_alive_ = false;
  head_request_ = false;
  http10_ = false;
  out_.clear();
  head_written_ = head_sent_ = finished_ = false;
  co_await write_head(head);
  co_await write_body(body, false);
  co_await finish(nullptr);
}

/// Ends the exchange: completes or aborts the response, reads what is left
/// of the request body, and says whether the connection can serve another
/// request.
asio::awaitable<bool> Http1Connection::finish_exchange() {
  if (aborted_) {
    // A handler gives up on a broken body like on a vanished client, but this
    // client is still there and must learn why (design.md §6: malformed
    // HTTP gets a 4xx), unless a response had already begun.
    if (body_error_ && !head_written_) co_await reject(body_error_, http_status(body_error_));
    co_return false;
  }
  if (!head_written_) {
    // The routes ended without a response: answer rather than hang.
    ResponseHead head;
    head.status = 500;
    head.content_length = 0;
    keep_alive_ = false;
    co_await write_head(head);
  }
  if (!finished_) {
    // A handler that wrote a head but no end: the client must not mistake
    // what it got for a complete response.
    if (chunked_out_ || !no_body_) co_return false;
    if (co_await finish(nullptr)) co_return false;
  }
  if (!keep_alive_) co_return false;
  co_return co_await drain_body();
}

asio::awaitable<bool> Http1Connection::drain_body() {
  if (body_done_) co_return true;
  if (body_kind_ == BodyKind::kContentLength && body_remaining_ > kMaxDrainBytes) co_return false;
  if (request_.expect_continue && !continue_sent_) co_return false;  // client waits; don't
  uint64_t drained = 0;
  while (!body_done_) {
    Chunk chunk;
    if (co_await read(chunk)) co_return false;
    drained += chunk.data.size();
    if (drained > kMaxDrainBytes) co_return false;
  }
  co_return true;
}

// ------------------------------------------------------------ request body

asio::awaitable<std::error_code> Http1Connection::send_continue() {
  if (continue_sent_ || !request_.expect_continue || head_written_ || http10_)
    co_return std::error_code{};
  continue_sent_ = true;
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  asio::const_buffer buffer(kContinue.data(), kContinue.size());
  co_return co_await send(std::span<const asio::const_buffer>(&buffer, 1));
}

asio::awaitable<std::error_code> Http1Connection::read(Chunk& chunk) {
  chunk = Chunk{};
  if (body_done_) {
    chunk.end = true;
    co_return std::error_code{};
  }
  if (auto ec = co_await send_continue()) co_return ec;
  const auto& settings = worker_.settings();
  while (true) {
    if (body_kind_ == BodyKind::kContentLength) {
      if (!in_.empty()) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(body_remaining_, in_.size()));
        chunk.data = in_.readable().first(n);
        in_.consume(n);  // the view stays valid: consume() never moves bytes
        body_remaining_ -= n;
        body_done_ = chunk.end = body_remaining_ == 0;
        co_return std::error_code{};
      }
    } else if (!in_.empty()) {
      ChunkedDecoder::Step step = chunked_.decode(in_.readable());
      if (step.error) {
        body_error_ = step.error;
        keep_alive_ = false;
        co_return step.error;
      }
      in_.consume(step.consumed);
      if (step.done) {
        for (const auto& t : chunked_.trailers())
          trailers_.add(t.name, t.value);
        body_done_ = chunk.end = true;
      }
      chunk.data = step.data;
      if (!chunk.data.empty() || chunk.end) co_return std::error_code{};
    }
    // Need more bytes: a body read waits at most read_body without progress.
    if (auto ec = co_await fill(kBodyReadChunk, kBodyReadChunk * 2, settings.read_body)) {
      keep_alive_ = false;
      co_return ec == asio::error::eof ? std::error_code(asio::error::connection_aborted) : ec;
    }
  }
}

// ------------------------------------------------------------ response

asio::awaitable<std::error_code> Http1Connection::send(
    std::span<const asio::const_buffer> buffers) {
  entry_.write_expires_after(worker_.settings().write);
  co_return sent(co_await stream_.write(buffers));
}

std::error_code Http1Connection::sent(std::error_code ec) {
  entry_.clear_write_deadline();
  if (ec) {
    aborted_ = true;
    keep_alive_ = false;
  }
  return ec;
}

asio::awaitable<std::error_code> Http1Connection::write_interim(const ResponseHead& head) {
  // HTTP/1.0 clients do not understand 1xx (RFC 9110 §15.2).
  if (http10_ || head_written_ || head.status == 101) co_return std::error_code{};
  std::string interim;
  append_response_head(head, interim);
  interim.append("\r\n");
  asio::const_buffer buffer(interim.data(), interim.size());
  co_return co_await send(std::span<const asio::const_buffer>(&buffer, 1));
}

void Http1Connection::append_framing_headers(const ResponseHead& head) {
  no_body_ = head_request_ || status_has_no_body(head.status);
  if (head.status == 101) {
    upgraded_ = true;
    no_body_ = true;
    return;
  }
  if (head.content_length) {
    // HEAD responses carry the length the GET would have (RFC 9110 §9.3.2).
    if (head.status != 204 && head.status != 304 && head.status >= 200)
      append_header("Content-Length", std::to_string(*head.content_length), out_);
  } else if (!no_body_) {
    if (http10_) {
      keep_alive_ = false;  // the body ends when the connection does
    } else {
      chunked_out_ = true;
      append_header("Transfer-Encoding", "chunked", out_);
    }
  }
  if (!keep_alive_) {
    append_header("Connection", "close", out_);
  } else if (http10_) {
    append_header("Connection", "keep-alive", out_);
  }
}

asio::awaitable<std::error_code> Http1Connection::write_head(const ResponseHead& head) {
  if (head_written_) co_return std::error_code(asio::error::already_started);
  head_written_ = true;
  if (worker_.draining()) keep_alive_ = false;
  // An unread request body decides here whether keep-alive can go on: a
  // client still waiting for 100-continue will not send it, and a large one
  // is not worth reading (drain_body reads the rest of a small one).
  if (!body_done_ && head.status != 101) {
    if (request_.expect_continue && !continue_sent_) keep_alive_ = false;
    if (body_kind_ == BodyKind::kContentLength && body_remaining_ > kMaxDrainBytes)
      keep_alive_ = false;
  }
  out_.clear();
  append_response_head(head, out_);
  if (!head.headers.contains("Date")) append_header("Date", http_date_now(), out_);
  append_framing_headers(head);
  out_.append("\r\n");
  // A tunnel can idle for hours without a trim: its buffers go when empty.
  if (head.status == 101) stream_.keep_buffers(false);
  if (no_body_ || head.status == 101) {
    // Nothing follows the head (or the tunnel starts): send it now.
    head_sent_ = true;
    asio::const_buffer buffer(out_.data(), out_.size());
    co_return co_await send(std::span<const asio::const_buffer>(&buffer, 1));
  }
  co_return std::error_code{};  // sent together with the first body bytes
}

asio::awaitable<std::error_code> Http1Connection::write_body(std::span<const char> data,
                                                             bool flush) {
  (void)flush;  // every piece is written at once; there is no output coalescing to defeat
  if (!head_written_ || finished_) co_return std::error_code(asio::error::operation_aborted);
  body_bytes_ += data.size();
  if (no_body_ || data.empty()) co_return std::error_code{};
  if (head_sent_) out_.clear();  // else out_ holds the head: it leaves with these bytes
  head_sent_ = true;
  if (chunked_out_) append_chunk_size(data.size(), out_);
  static constexpr std::string_view kCrlf = "\r\n";
  std::array<asio::const_buffer, 3> buffers{
      asio::const_buffer(out_.data(), out_.size()), asio::const_buffer(data.data(), data.size()),
      asio::const_buffer(kCrlf.data(), chunked_out_ ? kCrlf.size() : 0)};
  // send() spelled out, and what the socket takes at once written without
  // a coroutine call: each costs a frame, once per body piece.
  entry_.write_expires_after(worker_.settings().write);
  std::error_code ec;
  const size_t done = stream_.write_now(buffers, ec);
  if (!ec && done < asio::buffer_size(buffers)) {
    std::vector<asio::const_buffer> storage;
    ec = co_await stream_.write(skip_written(buffers, done, storage));
  }
  co_return sent(ec);
}

asio::awaitable<std::error_code> Http1Connection::finish(const Headers* trailers) {
  if (finished_) co_return std::error_code{};
  finished_ = true;
  if (head_sent_) out_.clear();
  if (chunked_out_) {
    out_.append("0\r\n");
    if (trailers != nullptr)
      for (const auto& t : trailers->fields())
        append_header(t.name, t.value, out_);
    out_.append("\r\n");
  }
  head_sent_ = true;
  if (out_.empty()) co_return std::error_code{};
  asio::const_buffer buffer(out_.data(), out_.size());
  co_return co_await send(std::span<const asio::const_buffer>(&buffer, 1));
}

// ------------------------------------------------------------ upgraded stream

asio::awaitable<std::error_code> Http1Connection::read_some(std::span<char> buffer, size_t& n) {
  // Bytes the client sent right after the upgrade request come first.
  if (!in_.empty()) {
    n = std::min(buffer.size(), in_.size());
    std::memcpy(buffer.data(), in_.readable().data(), n);
    in_.consume(n);
    co_return std::error_code{};
  }
  co_return co_await stream_.read_some(buffer, n);
}

asio::awaitable<std::error_code> Http1Connection::write(std::span<const char> data) {
  asio::const_buffer buffer(data.data(), data.size());
  co_return co_await stream_.write(std::span<const asio::const_buffer>(&buffer, 1));
}

}  // namespace

asio::awaitable<bool> serve_http1(Stream& stream, const ConnectionInfo& info, WorkerContext& worker,
                                  ConnectionEntry& entry) {
  Http1Connection connection(stream, info, worker, entry);
  co_return co_await connection.run();
}

}  // namespace usher::proxy
