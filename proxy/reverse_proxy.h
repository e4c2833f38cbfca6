#pragma once

#include <memory>

#include "core/config.h"
#include "proxy/handler.h"

namespace usher::proxy {

/// Builds the `reverse_proxy` handler: load balancing, retries, passive and
/// active health, header_up/header_down, streaming relay, upgrades.
std::unique_ptr<RouteHandler> make_reverse_proxy_handler(const core::ReverseProxyHandler& config);

}  // namespace usher::proxy
