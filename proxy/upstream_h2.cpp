#include "proxy/upstream_h2.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

#include "proxy/stream.h"
#include "proxy/upstream_h2_connection.h"

namespace usher::proxy {

namespace {

using Clock = H2Clock;

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
