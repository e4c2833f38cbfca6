#pragma once

// Choosing an upstream (lb_policy) and the health state that choice reads.
// One LoadBalancer exists per reverse_proxy handler and is shared by every
// worker: its state is atomics only, so the request path takes no lock.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "proxy/exchange.h"

namespace usher::proxy {

/// Health and load of one upstream, shared across workers.
///
/// Passive health keeps the times of the last `max_fails` failures in a ring
/// of atomics: the upstream is down while all of them lie within
/// fail_duration, which is exactly "max_fails failures within fail_duration"
/// without a lock or a timer to forget old failures.
class UpstreamHealth {
 public:
  using Clock = std::chrono::steady_clock;

  UpstreamHealth(size_t fail_slots, std::chrono::milliseconds fail_duration);

  /// Remembers a failed request (dial error, timeout, unhealthy status).
  /// True when this failure took the upstream out of rotation: exactly one
  /// caller sees the transition, however many workers fail at once, so the
  /// outage is logged once.
  bool record_failure(Clock::time_point now);
  /// False while max_fails failures lie within fail_duration. The first
  /// check that finds an upstream back after an outage logs it (once), under
  /// `name`: recovery has no event of its own, time simply passes.
  bool passive_healthy(Clock::time_point now) const;
  void set_name(std::string name) { name_ = std::move(name); }

  /// The verdict of active health checks; true until a check fails.
  bool active_healthy() const { return active_healthy_.load(std::memory_order_relaxed); }
  /// Sets the active verdict; returns whether it changed (to log changes once).
  bool set_active_healthy(bool healthy);

  /// Requests in flight to this upstream, for least_conn.
  int in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  void begin_request() { in_flight_.fetch_add(1, std::memory_order_relaxed); }
  void end_request() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }

  bool available(Clock::time_point now) const { return active_healthy() && passive_healthy(now); }

 private:
  bool window_has_room(Clock::time_point now) const;

  std::unique_ptr<std::atomic<int64_t>[]> fail_times_;  // ms since clock epoch + 1; 0 = none
  size_t fail_slots_;
  int64_t fail_duration_ms_;
  std::atomic<uint64_t> next_slot_{0};
  std::atomic<bool> active_healthy_{true};
  // Set by the failure that took the upstream down, cleared by the first
  // check that finds it back; read (relaxed) only while checks pass.
  mutable std::atomic<bool> passive_down_{false};
  std::string name_;
  std::atomic<int> in_flight_{0};
};

/// What a policy may look at in a request.
struct SelectionInput {
  std::string_view remote_ip;        // ip_hash: the direct peer's address
  std::string_view uri;              // uri_hash: path and query
  const Headers* headers = nullptr;  // header and cookie policies
  bool tls = false;                  // cookie policy: Secure cookies over HTTPS
  uint64_t tried = 0;                // bit i: upstream i already failed this request
};

/// The chosen upstream, and the sticky cookie to set when the cookie policy
/// picked a new one (empty otherwise).
struct Selection {
  size_t index = 0;
  std::string set_cookie;
};

/// The lb_policy of one reverse_proxy handler over its upstreams.
class LoadBalancer {
 public:
  using Clock = UpstreamHealth::Clock;

  /// `names` are the upstreams as Caddy spells their dial addresses
  /// (`host:port`, `unix//path`): hashes and cookies are computed over
  /// them, so that sticky cookies stay valid when a Caddy config moves over.
  /// Throws core::ConfigError for a policy usher does not implement.
  LoadBalancer(const core::LoadBalancing& config, const core::PassiveHealthCheck& passive,
               std::vector<std::string> names);

  /// Picks an available upstream, preferring ones not yet tried by this
  /// request; nullopt when every upstream is down.
  std::optional<Selection> select(const SelectionInput& input,
                                  Clock::time_point now = Clock::now()) const;

  /// Records a failure of upstream `i`; when it takes the upstream out of
  /// rotation, logs that once with `reason()` (called only then: the
  /// message costs an allocation the common path does not pay).
  template <class Reason>
  void record_failure(size_t i, Clock::time_point now, Reason reason) const {
    if (health(i).record_failure(now)) log_down(i, reason());
  }

  size_t size() const { return names_.size(); }
  const std::string& name(size_t i) const { return names_[i]; }
  UpstreamHealth& health(size_t i) const { return *health_[i]; }

  /// Whether a response with `status` counts as a passive-health failure.
  bool is_unhealthy_status(int status) const;
  /// Whether passive health checks are on (fail_duration > 0).
  bool passive_enabled() const { return passive_.fail_duration.count() > 0; }

  /// HMAC-SHA256 of `name` keyed with `secret`, lowercase hex: the value of
  /// the sticky cookie, as Caddy computes it.
  static std::string cookie_hash(std::string_view secret, std::string_view name);

  struct Policy;

 private:
  friend struct PolicyFunctions;

  void log_down(size_t i, const std::string& reason) const;

  const Policy* policy_ = nullptr;
  std::string policy_arg_;
  core::PassiveHealthCheck passive_;
  std::vector<std::string> names_;
  std::vector<uint64_t> name_hashes_;       // hash state after each name (rendezvous)
  std::vector<std::string> cookie_values_;  // cookie policy: per upstream
  std::vector<std::unique_ptr<UpstreamHealth>> health_;
  mutable std::atomic<uint64_t> round_robin_{0};
};

}  // namespace usher::proxy
