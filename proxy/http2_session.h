#pragma once

// HTTP/2 to clients (RFC 9113) over nghttp2, behind the same Exchange
// interface as HTTP/1.1: routing, handlers, retries and logs never know
// which protocol carried a request (design.md §3, decision 0006).

#include <asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>

#include "proxy/connection_registry.h"
#include "proxy/exchange.h"
#include "proxy/stream.h"
#include "proxy/worker_context.h"

namespace usher::proxy {

/// RFC 9113 §3.4: the client connection preface a prior-knowledge h2c
/// connection starts with.
inline constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// ---- Limits (documented in docs/config.md, "HTTP/2")

/// SETTINGS_MAX_CONCURRENT_STREAMS: bounds the handlers one connection runs.
inline constexpr uint32_t kHttp2MaxConcurrentStreams = 250;
/// SETTINGS_HEADER_TABLE_SIZE: the HPACK dynamic table each side keeps.
inline constexpr uint32_t kHttp2HeaderTableSize = 4096;
/// SETTINGS_INITIAL_WINDOW_SIZE: request body bytes a client may send on a
/// stream before the handler reads them; bounds the per-stream input buffer.
inline constexpr int32_t kHttp2StreamWindow = 256 * 1024;
/// The connection-level receive window: bounds input buffered on all
/// streams of one connection together.
inline constexpr int32_t kHttp2ConnectionWindow = 1024 * 1024;
/// Response bytes a stream buffers before its handler waits for the client
/// to take them (flow-control window or a slow socket).
inline constexpr size_t kHttp2StreamOutputLimit = 64 * 1024;
/// Frames the writer gathers before one socket write.
inline constexpr size_t kHttp2OutputBuffer = 64 * 1024;
/// Rapid reset (CVE-2023-44487): client RST_STREAMs allowed in a burst,
/// refilled at kHttp2ResetRate per second; more gets GOAWAY.
inline constexpr uint64_t kHttp2ResetBurst = 250;
inline constexpr uint64_t kHttp2ResetRate = 25;
/// Handlers still running on streams the client already reset also cost
/// memory: beyond this many in total, new streams are refused.
inline constexpr size_t kHttp2MaxHandlers = 2 * kHttp2MaxConcurrentStreams;
/// CONTINUATION flood (CVE-2024-27316 family): frames allowed after one
/// HEADERS frame; the header bytes are bounded by max_header_bytes too.
inline constexpr size_t kHttp2MaxContinuations = 8;
/// SETTINGS flood: entries accepted in one SETTINGS frame.
inline constexpr size_t kHttp2MaxSettingsEntries = 32;
/// SETTINGS/PING flood by a client that does not read: ACK frames queued
/// before the connection is dropped.
inline constexpr size_t kHttp2MaxOutboundAcks = 1000;

/// Serves one exchange; the route table in production, a fake in tests.
using Http2Handler = std::function<asio::awaitable<void>(Exchange&)>;

/// What an HTTP/2 connection needs from its worker, gathered so that unit
/// tests and the fuzz target can run a session without one.
struct Http2Environment {
  ConnectionSettings settings;
  Http2Handler handler;
  std::function<bool()> draining = [] { return false; };
};

/// Serves HTTP/2 on `stream` (after ALPN h2, or a prior-knowledge h2c
/// preface that is still unread): one nghttp2 server session, one handler
/// coroutine per stream. Returns once the session is over and every handler
/// has finished; the caller closes the stream.
asio::awaitable<void> serve_http2(Stream& stream, const ConnectionInfo& info,
                                  const Http2Environment& env, ConnectionEntry& entry);

/// The same, with the worker's route table, settings and drain state.
asio::awaitable<void> serve_http2(Stream& stream, const ConnectionInfo& info, WorkerContext& worker,
                                  ConnectionEntry& entry);

/// Frees this thread's spare HTTP/2 streams (finished streams kept for
/// reuse) and nghttp2 memory blocks that stayed unused since the previous
/// call; returns how many streams. The worker's once-a-second sweep calls it
/// on the worker's thread (decision 0019), so a burst's spares go once the
/// burst is over.
size_t trim_spare_http2_streams();
/// How many spare streams, and free nghttp2 blocks, this thread holds now.
size_t spare_http2_streams();
size_t spare_nghttp2_blocks();

/// Waits for the first bytes of a plain connection and says whether they
/// are the HTTP/2 preface (read nothing: the bytes stay in the socket).
/// False on anything else, including a timeout or a closed connection.
asio::awaitable<bool> peek_http2_preface(TcpStream& stream, ConnectionEntry& entry,
                                         std::chrono::milliseconds timeout);

/// True when `bytes` could be the start of the preface (a prefix of it, or
/// the whole of it followed by more).
bool starts_like_http2_preface(std::span<const char> bytes);

}  // namespace usher::proxy
