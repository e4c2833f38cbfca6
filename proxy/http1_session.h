#pragma once

#include <asio/awaitable.hpp>

#include "proxy/connection_registry.h"
#include "proxy/exchange.h"
#include "proxy/stream.h"
#include "proxy/worker_context.h"

namespace usher::proxy {

/// Serves HTTP/1.1 (and 1.0) on one connection: reads a request head with
/// the strict parser, hands the router an exchange whose body and response
/// stream through this connection, and loops while keep-alive holds.
/// Pipelined requests are answered in order, because one exchange runs at a
/// time. Every network wait has a deadline (ConnectionSettings).
///
/// Returns false when the connection is done; the caller closes the stream.
/// Returns true when it sat idle and the sweep asked to park it
/// (ConnectionEntry::parkable): nothing is buffered, and the caller calls
/// serve_http1 again once the stream is readable.
asio::awaitable<bool> serve_http1(Stream& stream, const ConnectionInfo& info, WorkerContext& worker,
                                  ConnectionEntry& entry);

}  // namespace usher::proxy
