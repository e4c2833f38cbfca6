#include "proxy/worker_context.h"

#include "proxy/http2_session.h"
#include "proxy/upstream_h2.h"
#include "proxy/upstream_pool.h"

namespace usher::proxy {

WorkerContext::WorkerContext(asio::io_context& io, int index)
    : io_(io),
      index_(index),
      pools_(std::make_unique<UpstreamPools>(io)),
      h2_pools_(std::make_unique<H2Pools>(io)) {
  connections_.on_sweep([this] {
    pools_->trim_spare_buffers();
    // Freed spare streams are scattered blocks too: glibc keeps their
    // pages until the next heap trim (decision 0019).
    connections_.add_released(trim_spare_http2_streams());
  });
}

// Out of line: UpstreamPools and RouteTable are complete only here.
WorkerContext::~WorkerContext() = default;

void WorkerContext::close_upstream_connections() {
  pools_->close_all();
  h2_pools_->close_all();
}

}  // namespace usher::proxy
