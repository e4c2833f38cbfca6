#include "proxy/metrics.h"

#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace usher::proxy {
namespace {

TEST(MetricsWriter, WritesHelpTypeAndSamples) {
  MetricsWriter w;
  w.family("usher_requests_total", "counter", "Requests served.");
  w.sample("usher_requests_total", {{"site", "a.example"}, {"code", "2xx"}}, 3);
  w.sample("usher_requests_total", {}, 0.25);
  EXPECT_EQ(w.text(),
            "# HELP usher_requests_total Requests served.\n"
            "# TYPE usher_requests_total counter\n"
            "usher_requests_total{site=\"a.example\",code=\"2xx\"} 3\n"
            "usher_requests_total 0.25\n");
}

TEST(MetricsWriter, EscapesLabelValuesAndHelp) {
  MetricsWriter w;
  w.family("m", "gauge", "back\\slash\nnewline \"quoted\"");
  w.sample("m", {{"path", "a\"b\\c\nd"}}, 1);
  EXPECT_EQ(w.text(),
            "# HELP m back\\\\slash\\nnewline \"quoted\"\n"
            "# TYPE m gauge\n"
            "m{path=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(MetricsWriter, SpecialValues) {
  MetricsWriter w;
  w.sample("a", {{"le", "+Inf"}}, std::numeric_limits<double>::infinity());
  w.sample("b", {}, std::numeric_limits<double>::quiet_NaN());
  w.sample("c", {}, -2);
  w.sample("d", {}, 1e20);
  w.sample("e", {}, 1795852183.520354);  // a Unix time keeps its fraction of a second
  EXPECT_EQ(w.text(), "a{le=\"+Inf\"} +Inf\nb NaN\nc -2\nd 1e+20\ne 1795852183.520354\n");
}

}  // namespace
}  // namespace usher::proxy

// ------------------------------------------------------------ counters

namespace usher::proxy {
namespace {

using std::chrono::milliseconds;

// The value of the sample line starting with `prefix` (name and labels).
double sample_value(const std::string& text, const std::string& prefix) {
  const size_t at = text.find("\n" + prefix + " ");
  if (at == std::string::npos) return -1;
  const size_t start = at + 1 + prefix.size() + 1;
  return std::stod(text.substr(start, text.find('\n', start) - start));
}

std::string render(const MetricsRegistry& registry) {
  MetricsWriter w;
  registry.write(w);
  return "\n" + w.text();
}

TEST(SiteMetrics, SumsTheSlotsOfEveryWorker) {
  reserve_worker_slots(4);
  SiteMetrics site;
  site.record(0, 200, milliseconds(1), 10, 100);
  site.record(1, 204, milliseconds(1), 0, 0);
  site.record(3, 503, milliseconds(1), 5, 7);
  // A worker index past the block's slots lands in the shared overflow slot.
  site.record(100000, 0, milliseconds(1), 1, 0);
  const SiteMetrics::Totals t = site.totals();
  EXPECT_EQ(t.requests[2], 2u);
  EXPECT_EQ(t.requests[5], 1u);
  EXPECT_EQ(t.requests[0], 1u);  // aborted
  EXPECT_EQ(t.request_bytes, 16u);
  EXPECT_EQ(t.response_bytes, 107u);
}

TEST(SiteMetrics, CountsFromManyThreadsWithoutLosingAny) {
  reserve_worker_slots(4);
  SiteMetrics site;
  constexpr int kPerThread = 100000;
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w)
    threads.emplace_back([&site, w] {
      for (int i = 0; i < kPerThread; ++i)
        site.record(w, 200, milliseconds(0), 1, 1);
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(site.totals().requests[2], 4u * kPerThread);
  EXPECT_EQ(site.totals().response_bytes, 4u * kPerThread);
}

TEST(MetricsRegistry, WritesCumulativeHistogramBucketsWithSumAndCount) {
  MetricsRegistry registry;
  auto site = registry.site("a.example");
  site->record(0, 200, milliseconds(3), 0, 0);      // <= 0.005
  site->record(0, 200, milliseconds(30), 0, 0);     // <= 0.05
  site->record(0, 200, milliseconds(700), 0, 0);    // <= 1
  site->record(0, 200, milliseconds(20000), 0, 0);  // +Inf only
  const std::string text = render(registry);
  const std::string bucket = "usher_http_request_duration_seconds_bucket{site=\"a.example\",le=";
  EXPECT_EQ(sample_value(text, bucket + "\"0.005\"}"), 1);
  EXPECT_EQ(sample_value(text, bucket + "\"0.01\"}"), 1);
  EXPECT_EQ(sample_value(text, bucket + "\"0.05\"}"), 2);
  EXPECT_EQ(sample_value(text, bucket + "\"0.5\"}"), 2);
  EXPECT_EQ(sample_value(text, bucket + "\"1\"}"), 3);
  EXPECT_EQ(sample_value(text, bucket + "\"10\"}"), 3);
  EXPECT_EQ(sample_value(text, bucket + "\"+Inf\"}"), 4);
  EXPECT_EQ(sample_value(text, "usher_http_request_duration_seconds_count{site=\"a.example\"}"), 4);
  EXPECT_NEAR(sample_value(text, "usher_http_request_duration_seconds_sum{site=\"a.example\"}"),
              20.733, 1e-9);
  EXPECT_NE(text.find("# TYPE usher_http_request_duration_seconds histogram\n"), std::string::npos);
}

TEST(MetricsRegistry, WritesStatusClassesAndEscapesSiteNames) {
  MetricsRegistry registry;
  auto site = registry.site("we\"ird\\site");
  site->record(0, 404, milliseconds(1), 0, 0);
  site->record(0, 0, milliseconds(1), 0, 0);
  const std::string text = render(registry);
  const std::string prefix = "usher_http_requests_total{site=\"we\\\"ird\\\\site\",code_class=";
  EXPECT_EQ(sample_value(text, prefix + "\"4xx\"}"), 1);
  EXPECT_EQ(sample_value(text, prefix + "\"2xx\"}"), 0);
  EXPECT_EQ(sample_value(text, prefix + "\"aborted\"}"), 1);
  EXPECT_EQ(text.find("\"6xx\""), std::string::npos);  // only classes that occur past 5xx
}

TEST(MetricsRegistry, HandsOutTheSameBlockWhileItIsInUseAndDropsItAfter) {
  MetricsRegistry registry;
  auto first = registry.site("a");
  first->record(0, 200, milliseconds(1), 0, 0);
  auto again = registry.site("a");
  EXPECT_EQ(first, again);
  first.reset();
  again.reset();
  EXPECT_EQ(render(registry).find("site=\"a\""), std::string::npos);
  EXPECT_EQ(registry.site("a")->totals().requests[2], 0u);
}

TEST(MetricsRegistry, CountsUpstreamResponsesAndConnectFailures) {
  MetricsRegistry registry;
  auto up = registry.upstream("127.0.0.1:9");
  up->record_response(0, 502);
  up->record_response(1, 0);
  up->record_connect_failure(0);
  up->record_connect_failure(1);
  const std::string text = render(registry);
  EXPECT_EQ(sample_value(
                text, "usher_upstream_requests_total{upstream=\"127.0.0.1:9\",code_class=\"5xx\"}"),
            1);
  EXPECT_EQ(
      sample_value(text,
                   "usher_upstream_requests_total{upstream=\"127.0.0.1:9\",code_class=\"error\"}"),
      1);
  EXPECT_EQ(sample_value(text, "usher_upstream_connect_failures_total{upstream=\"127.0.0.1:9\"}"),
            2);
}

TEST(MetricsRegistry, CountsReloadsAndWritesProcessMetrics) {
  MetricsRegistry registry;
  registry.note_reload(true);
  registry.note_reload(false);
  registry.note_reload(true);
  const std::string text = render(registry);
  EXPECT_EQ(sample_value(text, "usher_config_reloads_total{result=\"ok\"}"), 2);
  EXPECT_EQ(sample_value(text, "usher_config_reloads_total{result=\"failed\"}"), 1);
  EXPECT_GT(sample_value(text, "usher_process_resident_memory_bytes"), 1024 * 1024);
  const double start = sample_value(text, "usher_process_start_time_seconds");
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_GT(start, now - 3600);  // this test process started within the hour
  EXPECT_LE(start, now + 1);
}

TEST(ConnectionCounters, MapsAlpnToProtocolsAndCountsOpenConnections) {
  ConnectionCounters counters;
  {
    ConnectionCount a(counters, "");
    ConnectionCount b(counters, "h2");
    EXPECT_EQ(counters.opened_total(0) - counters.closed_total(0), 1u);
    EXPECT_EQ(counters.opened_total(1) - counters.closed_total(1), 1u);
  }
  EXPECT_EQ(counters.opened_total(0), 1u);
  EXPECT_EQ(counters.closed_total(1), 1u);
  EXPECT_EQ(ConnectionCounters::protocol_index("http/1.1"), 0u);
  EXPECT_EQ(ConnectionCounters::protocol_index("something-else"), 0u);
  EXPECT_EQ(ConnectionCounters::protocol_index("acme-tls/1"), 3u);
}

}  // namespace
}  // namespace usher::proxy
