#include "proxy/load_balancer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/diagnostic.h"

namespace usher::proxy {
namespace {

using namespace std::chrono_literals;
using Clock = LoadBalancer::Clock;

const std::vector<std::string> kThree = {"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"};

LoadBalancer make(std::string policy, std::string arg = {}, std::string secret = {},
                  core::PassiveHealthCheck passive = {}) {
  core::LoadBalancing config;
  config.policy = std::move(policy);
  config.policy_arg = std::move(arg);
  config.policy_secret = std::move(secret);
  return LoadBalancer(config, passive, kThree);
}

// Designated initialisers would warn about the fields they leave out.
SelectionInput with_ip(std::string_view ip) {
  SelectionInput in;
  in.remote_ip = ip;
  return in;
}
SelectionInput with_uri(std::string_view uri) {
  SelectionInput in;
  in.uri = uri;
  return in;
}
SelectionInput with_headers(const Headers* headers) {
  SelectionInput in;
  in.headers = headers;
  return in;
}
SelectionInput with_tried(uint64_t tried) {
  SelectionInput in;
  in.tried = tried;
  return in;
}

size_t pick(const LoadBalancer& lb, const SelectionInput& input = {}) {
  auto selection = lb.select(input);
  EXPECT_TRUE(selection.has_value());
  return selection ? selection->index : 99;
}

TEST(LoadBalancer, RoundRobinVisitsEveryUpstreamInTurn) {
  LoadBalancer lb = make("round_robin");
  std::vector<size_t> order;
  for (int i = 0; i < 6; ++i)
    order.push_back(pick(lb));
  EXPECT_EQ(order, (std::vector<size_t>{0, 1, 2, 0, 1, 2}));
}

TEST(LoadBalancer, FirstPicksTheFirstAvailableUpstream) {
  LoadBalancer lb = make("first");
  EXPECT_EQ(pick(lb), 0u);
  lb.health(0).set_active_healthy(false);
  EXPECT_EQ(pick(lb), 1u);
}

TEST(LoadBalancer, RandomReachesEveryUpstream) {
  LoadBalancer lb = make("random");
  std::set<size_t> seen;
  for (int i = 0; i < 200; ++i)
    seen.insert(pick(lb));
  EXPECT_EQ(seen.size(), 3u);
}

TEST(LoadBalancer, LeastConnPicksTheUpstreamWithFewestRequestsInFlight) {
  LoadBalancer lb = make("least_conn");
  lb.health(0).begin_request();
  lb.health(1).begin_request();
  lb.health(1).begin_request();
  EXPECT_EQ(pick(lb), 2u);
  lb.health(2).begin_request();
  lb.health(2).begin_request();
  EXPECT_EQ(pick(lb), 0u);
}

TEST(LoadBalancer, HashPoliciesAreStableForTheSameKey) {
  Headers headers;
  headers.add("X-Session", "abc");
  struct Case {
    std::string policy;
    std::string arg;
    SelectionInput input;
  };
  const std::vector<Case> cases = {
      {"ip_hash", "", with_ip("192.0.2.7")},
      {"uri_hash", "", with_uri("/a/b?c")},
      {"header", "X-Session", with_headers(&headers)},
  };
  for (const Case& c : cases) {
    LoadBalancer lb = make(c.policy, c.arg);
    const size_t first = pick(lb, c.input);
    for (int i = 0; i < 20; ++i)
      EXPECT_EQ(pick(lb, c.input), first) << c.policy;
  }
}

TEST(LoadBalancer, HashingSpreadsDifferentKeys) {
  LoadBalancer lb = make("uri_hash");
  std::set<size_t> seen;
  for (int i = 0; i < 100; ++i) {
    std::string uri = "/item/" + std::to_string(i);
    seen.insert(pick(lb, with_uri(uri)));
  }
  EXPECT_EQ(seen.size(), 3u);
}

TEST(LoadBalancer, HashingMovesOnlyTheKeysOfADownUpstream) {
  LoadBalancer lb = make("uri_hash");
  std::map<std::string, size_t> before;
  for (int i = 0; i < 60; ++i) {
    std::string uri = "/k" + std::to_string(i);
    before[uri] = pick(lb, with_uri(uri));
  }
  lb.health(1).set_active_healthy(false);
  for (const auto& [uri, index] : before) {
    const size_t now = pick(lb, with_uri(uri));
    if (index != 1) {
      EXPECT_EQ(now, index) << uri;
    }
    EXPECT_NE(now, 1u);
  }
}

TEST(LoadBalancer, CookiePolicySetsAStickyCookieAndHonoursIt) {
  LoadBalancer lb = make("cookie", "", "s3cret");
  SelectionInput over_tls;
  over_tls.tls = true;
  auto first = lb.select(over_tls);
  ASSERT_TRUE(first);
  const std::string value = LoadBalancer::cookie_hash("s3cret", kThree[first->index]);
  EXPECT_EQ(first->set_cookie, "lb=" + value + "; Path=/; HttpOnly; Secure; SameSite=None");

  Headers headers;
  headers.add("Cookie", "other=1; lb=" + value);
  for (int i = 0; i < 10; ++i) {
    auto again = lb.select(with_headers(&headers));
    ASSERT_TRUE(again);
    EXPECT_EQ(again->index, first->index);
    EXPECT_TRUE(again->set_cookie.empty());
  }
}

TEST(LoadBalancer, CookieHashIsHmacSha256InHex) {
  // RFC 4231 test case 2.
  EXPECT_EQ(LoadBalancer::cookie_hash("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(LoadBalancer, PrefersUpstreamsNotTriedByThisRequest) {
  LoadBalancer lb = make("first");
  EXPECT_EQ(pick(lb, with_tried(0b001)), 1u);
  EXPECT_EQ(pick(lb, with_tried(0b011)), 2u);
  // Every one tried: any available one will do.
  EXPECT_EQ(pick(lb, with_tried(0b111)), 0u);
}

TEST(LoadBalancer, ReturnsNothingWhenEveryUpstreamIsDown) {
  LoadBalancer lb = make("round_robin");
  for (size_t i = 0; i < 3; ++i)
    lb.health(i).set_active_healthy(false);
  EXPECT_FALSE(lb.select({}).has_value());
}

TEST(LoadBalancer, RejectsUnknownPolicies) {
  EXPECT_THROW(make("weighted_round_robin"), core::ConfigError);
}

TEST(LoadBalancer, MatchesUnhealthyStatusByCodeOrClass) {
  core::PassiveHealthCheck passive;
  passive.unhealthy_status = {5, 404};
  LoadBalancer lb = make("random", "", "", passive);
  EXPECT_TRUE(lb.is_unhealthy_status(503));
  EXPECT_TRUE(lb.is_unhealthy_status(404));
  EXPECT_FALSE(lb.is_unhealthy_status(403));
  EXPECT_FALSE(lb.is_unhealthy_status(200));
}

TEST(UpstreamHealth, GoesDownAfterMaxFailsWithinFailDurationAndRecovers) {
  UpstreamHealth health(2, 10s);
  const auto t0 = Clock::now();
  EXPECT_TRUE(health.passive_healthy(t0));
  health.record_failure(t0);
  EXPECT_TRUE(health.passive_healthy(t0));
  health.record_failure(t0 + 1s);
  EXPECT_FALSE(health.passive_healthy(t0 + 2s));
  // The first failure is forgotten 10 s after it happened.
  EXPECT_TRUE(health.passive_healthy(t0 + 10s + 1ms));
}

TEST(UpstreamHealth, ReportsGoingDownOnceAndAgainOnlyAfterRecovering) {
  UpstreamHealth health(2, 10s);
  const auto t0 = Clock::now();
  EXPECT_FALSE(health.record_failure(t0));       // 1 of max_fails 2
  EXPECT_TRUE(health.record_failure(t0));        // the transition: log it
  EXPECT_FALSE(health.record_failure(t0 + 1s));  // still down: nothing new
  EXPECT_FALSE(health.record_failure(t0 + 2s));
  EXPECT_TRUE(health.passive_healthy(t0 + 20s));  // back (logged once here)
  EXPECT_FALSE(health.record_failure(t0 + 21s));
  EXPECT_TRUE(health.record_failure(t0 + 21s));  // a new outage is a new transition
}

TEST(UpstreamHealth, ReportsOneTransitionWhenManyThreadsFailAtOnce) {
  UpstreamHealth health(3, 60s);
  const auto t0 = Clock::now();
  std::atomic<int> transitions{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i)
        if (health.record_failure(t0)) transitions.fetch_add(1);
    });
  for (auto& thread : threads)
    thread.join();
  EXPECT_EQ(transitions.load(), 1);
}

TEST(UpstreamHealth, IgnoresFailuresWhenPassiveChecksAreOff) {
  UpstreamHealth health(1, 0s);
  const auto t0 = Clock::now();
  health.record_failure(t0);
  EXPECT_TRUE(health.passive_healthy(t0));
}

TEST(UpstreamHealth, ReportsActiveHealthChangesOnce) {
  UpstreamHealth health(1, 0s);
  EXPECT_TRUE(health.set_active_healthy(false));
  EXPECT_FALSE(health.set_active_healthy(false));
  EXPECT_FALSE(health.available(Clock::now()));
  EXPECT_TRUE(health.set_active_healthy(true));
}

}  // namespace
}  // namespace usher::proxy
