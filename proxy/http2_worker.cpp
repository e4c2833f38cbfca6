// serve_http2 with a worker's route table: kept apart from the session so
// that unit tests and the fuzz target link the codec without the router.

#include "proxy/http2_session.h"
#include "proxy/router.h"

namespace usher::proxy {

namespace {

asio::awaitable<void> serve_with_routes(Exchange& exchange, WorkerContext& worker) {
  // The snapshot current when the stream starts serves it to the end.
  std::shared_ptr<const RouteTable> routes = worker.routes();
  if (routes) {
    co_await routes->serve(exchange, worker);
    co_return;
  }
  ResponseHead head;
  head.status = 503;
  head.content_length = 0;
  ResponseSink& sink = exchange.response();
  if (!co_await sink.write_head(head)) co_await sink.finish(nullptr);
}

}  // namespace

asio::awaitable<void> serve_http2(Stream& stream, const ConnectionInfo& info, WorkerContext& worker,
                                  ConnectionEntry& entry) {
  Http2Environment env;
  env.settings = worker.settings();
  env.handler = [&worker](Exchange& exchange) { return serve_with_routes(exchange, worker); };
  env.draining = [&worker] { return worker.draining(); };
  co_await serve_http2(stream, info, env, entry);
}

}  // namespace usher::proxy
