#pragma once

// Active health checks (`health_uri` …): a GET to every upstream on a timer,
// in the upstreams' protocol (HTTP/1.1, or HTTP/2 for h2c upstreams), run on
// one background thread shared by every handler that has them, so that no
// check ever delays a request. Results land in the handler's LoadBalancer
// (atomics), which the workers read.

#include <memory>
#include <vector>

#include "core/config.h"
#include "proxy/load_balancer.h"
#include "proxy/upstream_client.h"

namespace usher::proxy {

class HealthCheckRunner;

/// The active checks of one reverse_proxy handler; they run from
/// construction until destruction. The shared runner thread starts with the
/// first such object and stops when the last one is gone.
class HealthChecks {
 public:
  /// `endpoints[i]` is checked and its verdict written to `lb->health(i)`.
  /// `h2c`: the upstreams speak HTTP/2 with prior knowledge only, so the
  /// check does too (an HTTP/1.1 GET would fail and mark them down).
  HealthChecks(const core::ActiveHealthCheck& config, std::shared_ptr<const LoadBalancer> lb,
               std::shared_ptr<const std::vector<UpstreamEndpoint>> endpoints, bool h2c = false);
  ~HealthChecks();
  HealthChecks(const HealthChecks&) = delete;
  HealthChecks& operator=(const HealthChecks&) = delete;

  struct State;

 private:
  std::shared_ptr<HealthCheckRunner> runner_;
  std::shared_ptr<State> state_;
};

/// Whether `status` satisfies health_status: a class digit (2 = 2xx) or an
/// exact code.
bool health_status_matches(int status, core::StatusMatch expected);

}  // namespace usher::proxy
