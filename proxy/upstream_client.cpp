#include "proxy/upstream_client.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <asio/error.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>

#include <array>
#include <charconv>
#include <cstring>

#include "core/diagnostic.h"
#include "proxy/coarse_clock.h"
#include "proxy/http1_writer.h"

namespace usher::proxy {

namespace {

using tcp = asio::ip::tcp;

// Request bodies up to this size are read completely before the request is
// sent: they leave with the head in one write, go out with a Content-Length,
// and can be sent again when a pooled connection turns out stale or the
// upstream refuses the connection. Larger bodies stream and commit the attempt.
constexpr size_t kMaxReplayBytes = 16 * 1024;

// The largest response head accepted; the read buffer grows to it only for
// such heads (502 beyond).
constexpr size_t kMaxResponseHeadBytes = 64 * 1024;
// The pooled parser (RelayBuffer::parser) is built with the default limits:
// they must be the ones wanted here.
static_assert(ResponseLimits{}.max_head_bytes == kMaxResponseHeadBytes);
static_assert(ResponseLimits{}.max_header_count == 200);

constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kLastChunk = "0\r\n";

/// A chunk-size line, formatted without allocating.
struct ChunkSizeLine {
  std::array<char, 20> text{};
  size_t size = 0;
  explicit ChunkSizeLine(size_t n) {
    auto [end, ec] = std::to_chars(text.data(), text.data() + 16, n, 16);
    (void)ec;
    end[0] = '\r';
    end[1] = '\n';
    size = static_cast<size_t>(end + 2 - text.data());
  }
  asio::const_buffer buffer() const { return {text.data(), size}; }
};

bool is_ip_literal(std::string_view host) {
  std::error_code ec;
  asio::ip::make_address(std::string(host), ec);
  return !ec;
}

}  // namespace

// ------------------------------------------------------------ UpstreamTls

UpstreamTls::UpstreamTls(const core::HttpTransport& transport)
    : ctx_(SSL_CTX_new(TLS_client_method())),
      server_name_(transport.tls_server_name),
      verify_(!transport.tls_insecure_skip_verify) {
  if (!ctx_)
    throw core::ConfigError("", 0, "creating upstream tls context: " + core::openssl_error_text());
  SSL_CTX_set_min_proto_version(ctx_.get(), TLS1_2_VERSION);
  // Idle pooled connections hold no record buffers.
  SSL_CTX_set_mode(ctx_.get(), SSL_MODE_RELEASE_BUFFERS);
  if (verify_) {
    if (SSL_CTX_set_default_verify_paths(ctx_.get()) != 1)
      throw core::ConfigError("", 0,
                              "loading the system trust store: " + core::openssl_error_text());
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_NONE, nullptr);
  }
  static constexpr unsigned char kAlpn[] = "\x08http/1.1";
  SSL_CTX_set_alpn_protos(ctx_.get(), kAlpn, sizeof kAlpn - 1);
  key_ = "tls:" + server_name_ + (verify_ ? "" : ":insecure");
}

core::SslPtr UpstreamTls::new_ssl(std::string_view host) const {
  const std::string name = server_name_.empty() ? std::string(host) : server_name_;
  core::SslPtr ssl(SSL_new(ctx_.get()));
  if (!ssl) return ssl;
  if (is_ip_literal(name)) {
    // RFC 6066 §3: SNI carries host names only; an address is checked as an IP SAN.
    if (verify_) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), name.c_str());
  } else {
    // SSL_set_tlsext_host_name() spelled out: the macro hides a C-style cast.
    SSL_ctrl(ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(name.c_str()));
    if (verify_) SSL_set1_host(ssl.get(), name.c_str());
  }
  return ssl;
}

// ------------------------------------------------------------ buffers

struct UpstreamClient::FlushClock {
  std::chrono::milliseconds interval;
  std::chrono::steady_clock::time_point last = coarse_now();

  bool due() {
    if (interval.count() < 0) return true;
    if (interval.count() == 0) return false;
    auto now = coarse_now();
    if (now - last < interval) return false;
    last = now;
    return true;
  }
};

UpstreamClient::Buffers::Buffers(UpstreamPools& pools)
    : pools_(pools), relay_(pools.take_buffer()) {}

UpstreamClient::Buffers::~Buffers() {
  pools_.give_buffer(std::move(relay_));
}

UpstreamClient::UpstreamClient(UpstreamPools& pools, const UpstreamTimeouts& timeouts,
                               const PoolSettings& pool_settings, const HttpRequest& request,
                               BodySource& body)
    : pools_(pools),
      timeouts_(timeouts),
      pool_settings_(pool_settings),
      request_(request),
      body_(body),
      buffers_(pools),
      parser_(buffers_.parser()) {}

UpstreamClient::~UpstreamClient() {
  finish_attempt();
}

std::span<const char> UpstreamClient::buffered() const {
  const std::vector<char>& in = buffers_.in();
  return {in.data() + begin_, end_ - begin_};
}

void UpstreamClient::consume(size_t n) {
  begin_ += n;
}

// ------------------------------------------------------------ dialing

asio::awaitable<std::error_code> UpstreamClient::connect(const UpstreamEndpoint& endpoint) {
  std::error_code ec =
      endpoint.unix_path.empty() ? co_await dial_tcp(endpoint) : co_await dial_unix(endpoint);
  if (!ec && endpoint.tls != nullptr) ec = co_await start_tls(endpoint);
  if (ec) connection_.reset();
  co_return ec;
}

asio::awaitable<std::error_code> UpstreamClient::dial_tcp(const UpstreamEndpoint& endpoint) {
  asio::io_context& io = pools_.io();
  std::vector<tcp::endpoint> targets;
  std::error_code ec;
  const auto address = asio::ip::make_address(endpoint.host, ec);
  if (!ec) {
    targets.emplace_back(address, endpoint.port);
  } else {
    // Resolve once per dial. The resolver runs on Asio's resolver thread;
    // the timer cancels it when the dial deadline passes.
    auto resolver = std::make_shared<tcp::resolver>(io);
    asio::steady_timer timer(io, timeouts_.dial);
    timer.async_wait([resolver](std::error_code e) {
      if (!e) resolver->cancel();
    });
    auto [rec, results] =
        co_await resolver->async_resolve(endpoint.host, std::to_string(endpoint.port), kNoThrow);
    timer.cancel();
    if (rec) co_return rec;
    for (const auto& entry : results)
      targets.push_back(entry.endpoint());
  }
  connection_ =
      std::make_shared<UpstreamConnection>(io, std::make_unique<TcpStream>(tcp::socket(io)));
  connection_->arm(timeouts_.dial);
  ec = asio::error::host_not_found;
  for (const tcp::endpoint& target : targets) {
    tcp::socket& socket = connection_->stream().socket();
    std::error_code ignored;
    socket.close(ignored);
    socket.open(target.protocol(), ec);
    if (ec) continue;
    auto [cec] = co_await socket.async_connect(target, kNoThrow);
    ec = cec;
    if (!ec || connection_->timed_out()) break;
  }
  connection_->disarm();
  if (connection_->timed_out()) co_return asio::error::timed_out;
  if (ec) co_return ec;
  std::error_code ignored;
  connection_->stream().socket().set_option(tcp::no_delay(true), ignored);
  co_return std::error_code{};
}

asio::awaitable<std::error_code> UpstreamClient::dial_unix(const UpstreamEndpoint& endpoint) {
  asio::io_context& io = pools_.io();
  asio::local::stream_protocol::socket local(io);
  // A unix-socket connect completes or fails at once (no handshake to wait
  // for), so it needs no deadline.
  auto [ec] = co_await local.async_connect(
      asio::local::stream_protocol::endpoint(endpoint.unix_path), kNoThrow);
  if (ec) co_return ec;
  // The Stream interface is built on a TCP socket object; the descriptor
  // moves over as it is. Reads, writes, waits and shutdown are the same
  // system calls for both families, and no TCP-only option is ever set on it.
  tcp::socket socket(io);
  std::error_code aec;
  socket.assign(tcp::v4(), local.release(), aec);
  if (aec) co_return aec;
  connection_ =
      std::make_shared<UpstreamConnection>(io, std::make_unique<TcpStream>(std::move(socket)));
  co_return std::error_code{};
}

asio::awaitable<std::error_code> UpstreamClient::start_tls(const UpstreamEndpoint& endpoint) {
  core::SslPtr ssl = endpoint.tls->new_ssl(endpoint.host);
  if (!ssl) co_return std::error_code(asio::error::no_memory);
  auto tls = std::make_unique<TlsStream>(std::move(connection_->stream().socket()), std::move(ssl));
  TlsStream* raw = tls.get();
  connection_->replace_stream(std::move(tls));
  connection_->arm(timeouts_.dial);
  std::error_code ec = co_await raw->client_handshake();
  connection_->disarm();
  if (connection_->timed_out()) co_return asio::error::timed_out;
  co_return ec;
}

// ------------------------------------------------------------ the request

asio::awaitable<AttemptOutcome> UpstreamClient::attempt(const UpstreamEndpoint& endpoint,
                                                        ResponseSink& sink, bool fresh) {
  finish_attempt();
  endpoint_ = &endpoint;
  error_ = {};
  begin_ = end_ = 0;
  response_done_ = reusable_ = request_sent_ = false;
  if (body_committed()) co_return AttemptOutcome::kNotReplayable;
  // A pooled connection is taken here rather than in connect(): most
  // attempts get one, and a coroutine call costs a frame allocation.
  if (!fresh) connection_ = pools_.acquire(endpoint.pool_key);
  if (!connection_) {
    if (std::error_code ec = co_await connect(endpoint)) {
      error_ = ec;
      co_return AttemptOutcome::kDialFailed;
    }
  }
  const AttemptOutcome sent = co_await send_request();
  if (sent == AttemptOutcome::kClientFailed || sent == AttemptOutcome::kNotReplayable)
    co_return sent;
  const std::error_code send_error = error_;
  // Even when sending failed, the upstream may have answered first (an
  // early 413 before it closed): that answer is the one to relay.
  const AttemptOutcome got = co_await read_response_head(sink);
  if (got == AttemptOutcome::kResponse || sent == AttemptOutcome::kResponse) co_return got;
  error_ = send_error;
  co_return sent;
}

void UpstreamClient::append_framing(bool chunked) {
  std::string& out = head();
  chunked_request_ = chunked;
  if (chunked) {
    append_header("Transfer-Encoding", "chunked", out);
  } else if (request_.has_body || request_.content_length) {
    const uint64_t length = body_complete_ && replayable_ && !request_.content_length
                                ? buffers_.replay().size()
                                : request_.content_length.value_or(0);
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, length);
    (void)ec;
    append_header("Content-Length", std::string_view(digits, static_cast<size_t>(end - digits)),
                  out);
  }
  out.append(kCrlf);
}

/// Reads the body into replay() while it stays small, so that it can go out
/// with the head and be sent again.
asio::awaitable<std::error_code> UpstreamClient::read_body_start() {
  body_started_ = true;
  std::string& replay = buffers_.replay();
  replay.clear();
  while (true) {
    BodySource::Chunk chunk;
    if (std::error_code ec = co_await body_.read(chunk)) co_return ec;
    if (replay.size() + chunk.data.size() > kMaxReplayBytes) {
      // Too large to hold: from here on the body streams.
      replayable_ = false;
      pending_ = chunk.data;
      body_complete_ = chunk.end;
      co_return std::error_code{};
    }
    replay.append(chunk.data.data(), chunk.data.size());
    if (chunk.end) {
      body_complete_ = true;
      co_return std::error_code{};
    }
  }
}

asio::awaitable<AttemptOutcome> UpstreamClient::send_request() {
  const bool reused = connection_->reused();
  auto upstream_failed = [&](std::error_code ec) {
    error_ = ec;
    return reused ? AttemptOutcome::kStale : AttemptOutcome::kNoResponse;
  };
  if (request_.has_body && !body_started_ && !request_.expect_continue) {
    if (std::error_code ec = co_await read_body_start()) {
      error_ = ec;
      co_return AttemptOutcome::kClientFailed;
    }
  }
  const bool whole_body_held = !request_.has_body || (body_complete_ && replayable_);
  const bool chunked = request_.has_body && !request_.content_length &&
                       (!whole_body_held || !body_.trailers().fields().empty());
  append_framing(chunked);
  const std::string& replay = buffers_.replay();
  ChunkSizeLine size_line(replay.size());
  std::array<asio::const_buffer, 4> buffers{
      asio::const_buffer(head().data(), head().size()),
      asio::const_buffer(size_line.text.data(), chunked && !replay.empty() ? size_line.size : 0),
      asio::const_buffer(replay.data(), request_.has_body ? replay.size() : 0),
      asio::const_buffer(kCrlf.data(), chunked && !replay.empty() ? kCrlf.size() : 0)};
  // write_upstream() spelled out, and what the socket takes at once written
  // without a coroutine call: each costs a frame, once per request.
  connection_->arm(timeouts_.write);
  std::error_code write_error;
  const size_t done = connection_->stream().write_now(buffers, write_error);
  if (!write_error && done < asio::buffer_size(buffers)) {
    std::vector<asio::const_buffer> storage;
    write_error = co_await connection_->stream().write(skip_written(buffers, done, storage));
  }
  if (std::error_code ec = written(write_error)) co_return upstream_failed(ec);
  if (request_.has_body && !(whole_body_held && !chunked)) {
    bool client_failed = false;
    if (std::error_code ec = co_await stream_request_body(client_failed)) {
      if (client_failed) {
        error_ = ec;
        co_return AttemptOutcome::kClientFailed;
      }
      co_return upstream_failed(ec);
    }
  }
  request_sent_ = true;
  co_return AttemptOutcome::kResponse;
}

asio::awaitable<std::error_code> UpstreamClient::stream_request_body(bool& client_failed) {
  if (!body_started_) replayable_ = false;  // 100-continue: the body streams from the start
  body_started_ = true;
  auto write_piece = [this](std::span<const char> data) -> asio::awaitable<std::error_code> {
    if (data.empty()) co_return std::error_code{};
    ChunkSizeLine size_line(data.size());
    std::array<asio::const_buffer, 3> buffers{
        asio::const_buffer(size_line.text.data(), chunked_request_ ? size_line.size : 0),
        asio::const_buffer(data.data(), data.size()),
        asio::const_buffer(kCrlf.data(), chunked_request_ ? kCrlf.size() : 0)};
    co_return co_await write_upstream(buffers);
  };
  if (std::error_code ec = co_await write_piece(pending_)) co_return ec;
  pending_ = {};
  while (!body_complete_) {
    BodySource::Chunk chunk;
    if (std::error_code ec = co_await body_.read(chunk)) {
      client_failed = true;
      co_return ec;
    }
    body_complete_ = chunk.end;
    if (std::error_code ec = co_await write_piece(chunk.data)) co_return ec;
  }
  if (!chunked_request_) co_return std::error_code{};
  std::string& tail = head();
  tail.assign(kLastChunk);
  for (const Header& t : body_.trailers().fields())
    append_header(t.name, t.value, tail);
  tail.append(kCrlf);
  asio::const_buffer buffer(tail.data(), tail.size());
  co_return co_await write_upstream(std::span<const asio::const_buffer>(&buffer, 1));
}

asio::awaitable<std::error_code> UpstreamClient::write_upstream(
    std::span<const asio::const_buffer> buffers) {
  connection_->arm(timeouts_.write);
  co_return written(co_await connection_->stream().write(buffers));
}

std::error_code UpstreamClient::written(std::error_code ec) {
  connection_->disarm();
  return connection_->timed_out() ? std::error_code(asio::error::timed_out) : ec;
}

// ------------------------------------------------------------ the response head

asio::awaitable<std::error_code> UpstreamClient::read_more(size_t& n) {
  std::vector<char>& in = buffers_.in();
  if (begin_ == end_) begin_ = end_ = 0;
  if (end_ == in.size()) {
    if (begin_ > 0) {
      std::memmove(in.data(), in.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    } else {
      // Only a large response head gets here: grow towards its limit.
      in.resize(std::min(in.size() * 2, kMaxResponseHeadBytes));
    }
  }
  n = 0;
  std::error_code ec = co_await connection_->stream().read_some(
      std::span<char>(in.data() + end_, in.size() - end_), n);
  end_ += n;
  if (connection_->timed_out()) co_return asio::error::timed_out;
  if (!ec && n == 0) ec = asio::error::eof;
  co_return ec;
}

void UpstreamClient::grow_for_large_body() {
  // A read that filled the buffer says the body is large. HTTP/2 streams
  // copy what they are given into their own bounded output, so theirs stay
  // at the small size.
  std::vector<char>& in = buffers_.in();
  if (end_ < in.size() || in.size() >= UpstreamPools::kLargeRelayBufferSize) return;
  if (request_.version_major >= 2) return;
  in.resize(UpstreamPools::kLargeRelayBufferSize);  // keeps [begin_, end_)
}

asio::awaitable<AttemptOutcome> UpstreamClient::read_response_head(ResponseSink& sink) {
  connection_->arm(timeouts_.response_header.value_or(timeouts_.read));
  bool received = false;
  while (true) {
    parser_.reset(request_.method == "HEAD");
    std::error_code parse_error;
    ParseStatus status = parser_.parse(buffered(), parse_error);
    while (status == ParseStatus::kNeedMore) {
      size_t n = 0;
      std::error_code ec = co_await read_more(n);
      received = received || n > 0;
      if (ec) {
        connection_->disarm();
        error_ = ec;
        if (ec == asio::error::timed_out) co_return AttemptOutcome::kTimeout;
        if (!received && connection_->reused()) co_return AttemptOutcome::kStale;
        error_ = upstream_errc::kClosedBeforeResponse;
        co_return AttemptOutcome::kNoResponse;
      }
      status = parser_.parse(buffered(), parse_error);
    }
    if (status == ParseStatus::kError) {
      connection_->disarm();
      error_ = parse_error;
      co_return AttemptOutcome::kBadResponse;
    }
    const ResponseHeadView& head = parser_.head();
    if (head.status >= 200 || head.status == 101) break;
    // 1xx: relay it (except 100, answered to the client by the body
    // source itself) and read on for the final response.
    if (head.status != 100) {
      ResponseHead interim;
      interim.status = head.status;
      interim.reason.assign(head.reason);
      for (const HeaderField& f : head.headers)
        interim.headers.add(f.name, f.value);
      if (std::error_code ec = co_await sink.write_interim(interim)) {
        connection_->disarm();
        error_ = ec;
        co_return AttemptOutcome::kClientFailed;
      }
    }
    consume(head.head_bytes);
  }
  connection_->disarm();
  consume(parser_.head().head_bytes);
  if (parser_.head().status == 101 && !request_.upgrade) {
    error_ = upstream_errc::kUnexpectedSwitch;
    co_return AttemptOutcome::kBadResponse;
  }
  co_return AttemptOutcome::kResponse;
}

// ------------------------------------------------------------ the response body

asio::awaitable<std::error_code> UpstreamClient::relay_body(
    ResponseSink& sink, std::chrono::milliseconds flush_interval) {
  FlushClock flush{flush_interval};
  std::error_code ec;
  switch (parser_.head().framing) {
    case ResponseFraming::kNone:
      break;
    case ResponseFraming::kContentLength:
      if (end_ - begin_ >= parser_.head().content_length && parser_.head().content_length > 0) {
        // A small body arrives with its head: written without the relay
        // loop's coroutine frame.
        const auto length = static_cast<size_t>(parser_.head().content_length);
        const std::span<const char> body = buffered().first(length);
        consume(length);
        ec = co_await sink.write_body(body, flush.due());
      } else {
        ec = co_await relay_length(sink, flush);
      }
      break;
    case ResponseFraming::kChunked:
      ec = co_await relay_chunked(sink, flush);
      break;
    case ResponseFraming::kUntilClose:
      ec = co_await relay_until_close(sink, flush);
      break;
  }
  if (ec) co_return ec;
  response_done_ = true;
  reusable_ = parser_.head().keep_alive && request_sent_ && begin_ == end_;
  if (parser_.head().framing != ResponseFraming::kChunked) co_return co_await sink.finish(nullptr);
  if (chunked_.trailers().empty()) co_return co_await sink.finish(nullptr);
  Headers trailers;
  for (const TrailerField& t : chunked_.trailers())
    trailers.add(t.name, t.value);
  co_return co_await sink.finish(&trailers);
}

asio::awaitable<std::error_code> UpstreamClient::relay_length(ResponseSink& sink,
                                                              FlushClock& flush) {
  uint64_t remaining = parser_.head().content_length;
  while (remaining > 0) {
    if (begin_ == end_) {
      size_t n = 0;
      connection_->arm(timeouts_.read);
      std::error_code ec = co_await read_more(n);
      connection_->disarm();
      if (ec) co_return ec == asio::error::eof ? upstream_errc::kClosedMidBody : ec;
      grow_for_large_body();
    }
    const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining, end_ - begin_));
    const std::span<const char> piece = buffered().first(take);
    consume(take);
    remaining -= take;
    if (std::error_code ec = co_await sink.write_body(piece, flush.due())) co_return ec;
  }
  co_return std::error_code{};
}

asio::awaitable<std::error_code> UpstreamClient::relay_chunked(ResponseSink& sink,
                                                               FlushClock& flush) {
  chunked_.reset();
  while (true) {
    if (begin_ == end_) {
      size_t n = 0;
      connection_->arm(timeouts_.read);
      std::error_code ec = co_await read_more(n);
      connection_->disarm();
      if (ec) co_return ec == asio::error::eof ? upstream_errc::kClosedMidBody : ec;
      grow_for_large_body();
    }
    // Decoding never moves bytes: the data view stays valid until the next read.
    ChunkedDecoder::Step step = chunked_.decode(buffered());
    if (step.error) co_return upstream_errc::kInvalidChunkedBody;
    consume(step.consumed);
    if (!step.data.empty()) {
      if (std::error_code ec = co_await sink.write_body(step.data, flush.due())) co_return ec;
    }
    if (step.done) co_return std::error_code{};
  }
}

asio::awaitable<std::error_code> UpstreamClient::relay_until_close(ResponseSink& sink,
                                                                   FlushClock& flush) {
  while (true) {
    if (begin_ != end_) {
      const std::span<const char> piece = buffered();
      consume(piece.size());
      if (std::error_code ec = co_await sink.write_body(piece, flush.due())) co_return ec;
    }
    size_t n = 0;
    connection_->arm(timeouts_.read);
    std::error_code ec = co_await read_more(n);
    connection_->disarm();
    if (ec == asio::error::eof) co_return std::error_code{};  // the body ends here
    if (ec) co_return ec;
    grow_for_large_body();
  }
}

// ------------------------------------------------------------ upgrades

asio::awaitable<void> UpstreamClient::tunnel(UpgradedStream& client) {
  // Bytes the upstream sent right after its 101 belong to the client.
  if (begin_ != end_) {
    const std::span<const char> early = buffered();
    consume(early.size());
    if (co_await client.write(early)) co_return;
  }
  RelayBuffer upward = pools_.take_buffer();
  {
    using namespace asio::experimental::awaitable_operators;
    co_await (pump_to_client(client) || pump_to_upstream(client, upward.span()));
  }
  pools_.give_buffer(std::move(upward));
  response_done_ = false;  // the connection is spent
}

asio::awaitable<void> UpstreamClient::pump_to_client(UpgradedStream& client) {
  while (true) {
    begin_ = end_ = 0;
    size_t n = 0;
    connection_->arm(timeouts_.tunnel_idle);
    if (co_await read_more(n)) co_return;
    if (co_await client.write(buffered())) co_return;
  }
}

asio::awaitable<void> UpstreamClient::pump_to_upstream(UpgradedStream& client,
                                                       std::span<char> buffer) {
  while (true) {
    size_t n = 0;
    std::error_code ec = co_await client.read_some(buffer, n);
    if (ec || n == 0) co_return;
    connection_->arm(timeouts_.tunnel_idle);  // traffic either way keeps the tunnel up
    asio::const_buffer out(buffer.data(), n);
    if (co_await connection_->stream().write(std::span<const asio::const_buffer>(&out, 1)))
      co_return;
  }
}

// ------------------------------------------------------------ the end

void UpstreamClient::finish_attempt() {
  if (!connection_) return;
  if (reusable_ && response_done_ && endpoint_ != nullptr) {
    pools_.release(endpoint_->pool_key, std::move(connection_), pool_settings_);
  } else {
    connection_->close();
  }
  connection_.reset();
  reusable_ = response_done_ = false;
}

}  // namespace usher::proxy
