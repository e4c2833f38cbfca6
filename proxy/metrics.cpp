#include "proxy/metrics.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <thread>

namespace usher::proxy {

namespace {

// Label values escape backslash, double quote and newline; HELP text
// escapes backslash and newline (exposition format 0.0.4).
void append_escaped(std::string& out, std::string_view value, bool quote) {
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

void append_value(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else if (value == std::floor(value) && std::fabs(value) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", value);
    out += buf;
  } else {
    // The shortest text that reads back as the same double: %.9g would
    // round a Unix time in seconds to tens of seconds.
    char buf[32];
    const auto result = std::to_chars(buf, buf + sizeof buf, value);
    out.append(buf, result.ptr);
  }
}

}  // namespace

void MetricsWriter::family(std::string_view name, std::string_view type, std::string_view help) {
  text_ += "# HELP ";
  text_ += name;
  text_ += ' ';
  append_escaped(text_, help, false);
  text_ += "\n# TYPE ";
  text_ += name;
  text_ += ' ';
  text_ += type;
  text_ += '\n';
}

void MetricsWriter::sample(std::string_view name, std::initializer_list<MetricLabel> labels,
                           double value) {
  sample(name, labels.begin(), labels.size(), value);
}

void MetricsWriter::sample(std::string_view name, const MetricLabel* labels, size_t count,
                           double value) {
  text_ += name;
  if (count > 0) {
    text_ += '{';
    for (size_t i = 0; i < count; ++i) {
      if (i > 0) text_ += ',';
      text_ += labels[i].first;
      text_ += "=\"";
      append_escaped(text_, labels[i].second, true);
      text_ += '"';
    }
    text_ += '}';
  }
  text_ += ' ';
  append_value(text_, value);
  text_ += '\n';
}

}  // namespace usher::proxy

// ------------------------------------------------------------ counters

namespace usher::proxy {

namespace {

std::atomic<size_t>& slot_count() {
  static std::atomic<size_t> count{std::max(1u, std::thread::hardware_concurrency())};
  return count;
}

constexpr std::array<std::string_view, kStatusClasses> kClassLabels = {
    "", "1xx", "2xx", "3xx", "4xx", "5xx", "6xx", "7xx", "8xx", "9xx"};

// `le` labels of kDurationBuckets, as Prometheus clients spell them.
constexpr std::array<std::string_view, kDurationBuckets.size()> kBucketLabels = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10"};

size_t bucket_index(std::chrono::nanoseconds duration) {
  const double seconds = std::chrono::duration<double>(duration).count();
  size_t i = 0;
  while (i < kDurationBuckets.size() && seconds > kDurationBuckets[i])
    ++i;
  return i;
}

}  // namespace

size_t worker_slot_count() {
  return slot_count().load(std::memory_order_relaxed);
}

void reserve_worker_slots(size_t workers) {
  size_t current = slot_count().load();
  while (workers > current && !slot_count().compare_exchange_weak(current, workers)) {
  }
}

size_t status_class(int status) {
  return status >= 100 && status <= 999 ? static_cast<size_t>(status / 100) : 0;
}

std::string_view status_class_label(size_t index, std::string_view none) {
  return index == 0 || index >= kStatusClasses ? none : kClassLabels[index];
}

// ------------------------------------------------------------ SiteMetrics

void SiteMetrics::record(int worker, int status, std::chrono::nanoseconds duration,
                         uint64_t request_bytes, uint64_t response_bytes) {
  const size_t cls = status_class(status);
  const size_t bucket = bucket_index(duration);
  const auto ns = static_cast<uint64_t>(std::max<int64_t>(duration.count(), 0));
  slots_.update(worker, [&](Slot& s) {
    s.requests[cls].add();
    s.buckets[bucket].add();
    s.duration_ns.add(ns);
    s.request_bytes.add(request_bytes);
    s.response_bytes.add(response_bytes);
  });
}

SiteMetrics::Totals SiteMetrics::totals() const {
  Totals t;
  slots_.for_each([&](const Slot& s) {
    for (size_t i = 0; i < kStatusClasses; ++i)
      t.requests[i] += s.requests[i].get();
    for (size_t i = 0; i < t.buckets.size(); ++i)
      t.buckets[i] += s.buckets[i].get();
    t.duration_ns += s.duration_ns.get();
    t.request_bytes += s.request_bytes.get();
    t.response_bytes += s.response_bytes.get();
  });
  return t;
}

// ------------------------------------------------------------ UpstreamMetrics

void UpstreamMetrics::record_response(int worker, int status) {
  const size_t cls = status_class(status);
  slots_.update(worker, [&](Slot& s) { s.requests[cls].add(); });
}

void UpstreamMetrics::record_connect_failure(int worker) {
  slots_.update(worker, [](Slot& s) { s.connect_failures.add(); });
}

UpstreamMetrics::Totals UpstreamMetrics::totals() const {
  Totals t;
  slots_.for_each([&](const Slot& s) {
    for (size_t i = 0; i < kStatusClasses; ++i)
      t.requests[i] += s.requests[i].get();
    t.connect_failures += s.connect_failures.get();
  });
  return t;
}

// ------------------------------------------------------------ ConnectionCounters

size_t ConnectionCounters::protocol_index(std::string_view alpn) {
  for (size_t i = 1; i < kProtocols.size(); ++i)
    if (kProtocols[i] == alpn) return i;
  return 0;
}

// ------------------------------------------------------------ MetricsRegistry

MetricsRegistry& MetricsRegistry::global() {
  static MetricsRegistry registry;
  return registry;
}

namespace {

template <class T>
std::shared_ptr<T> find_or_make(std::map<std::string, std::weak_ptr<T>>& blocks,
                                const std::string& name) {
  std::weak_ptr<T>& entry = blocks[name];
  std::shared_ptr<T> block = entry.lock();
  if (!block) {
    block = std::make_shared<T>();
    entry = block;
  }
  return block;
}

}  // namespace

std::shared_ptr<SiteMetrics> MetricsRegistry::site(const std::string& name) {
  std::lock_guard lock(mutex_);
  return find_or_make(sites_, name);
}

std::shared_ptr<UpstreamMetrics> MetricsRegistry::upstream(const std::string& name) {
  std::lock_guard lock(mutex_);
  return find_or_make(upstreams_, name);
}

template <class T>
std::vector<std::pair<std::string, std::shared_ptr<T>>> MetricsRegistry::live(
    std::map<std::string, std::weak_ptr<T>>& blocks) {
  std::vector<std::pair<std::string, std::shared_ptr<T>>> out;
  for (auto it = blocks.begin(); it != blocks.end();) {
    if (auto block = it->second.lock()) {
      out.emplace_back(it->first, std::move(block));
      ++it;
    } else {
      it = blocks.erase(it);  // its site or upstream is gone from the config
    }
  }
  return out;
}

namespace {

void write_sites(MetricsWriter& out,
                 const std::vector<std::pair<std::string, std::shared_ptr<SiteMetrics>>>& sites) {
  std::vector<std::pair<std::string_view, SiteMetrics::Totals>> totals;
  for (const auto& [name, block] : sites)
    totals.emplace_back(name, block->totals());

  out.family("usher_http_requests_total", "counter",
             "Requests served, by site and status class (aborted: no response was sent).");
  for (const auto& [site, t] : totals) {
    for (size_t c = 0; c < kStatusClasses; ++c) {
      if (c > 5 && t.requests[c] == 0) continue;  // 6xx-9xx only when a site sends them
      out.sample("usher_http_requests_total",
                 {{"site", site}, {"code_class", status_class_label(c, "aborted")}},
                 static_cast<double>(t.requests[c]));
    }
  }

  out.family("usher_http_request_duration_seconds", "histogram",
             "Time from the request head to the end of the response, by site.");
  for (const auto& [site, t] : totals) {
    uint64_t cumulative = 0;
    for (size_t b = 0; b < kDurationBuckets.size(); ++b) {
      cumulative += t.buckets[b];
      out.sample("usher_http_request_duration_seconds_bucket",
                 {{"site", site}, {"le", kBucketLabels[b]}}, static_cast<double>(cumulative));
    }
    cumulative += t.buckets.back();
    out.sample("usher_http_request_duration_seconds_bucket", {{"site", site}, {"le", "+Inf"}},
               static_cast<double>(cumulative));
    out.sample("usher_http_request_duration_seconds_sum", {{"site", site}},
               static_cast<double>(t.duration_ns) / 1e9);
    out.sample("usher_http_request_duration_seconds_count", {{"site", site}},
               static_cast<double>(cumulative));
  }

  out.family("usher_http_request_bytes_total", "counter", "Request body bytes read, by site.");
  for (const auto& [site, t] : totals)
    out.sample("usher_http_request_bytes_total", {{"site", site}},
               static_cast<double>(t.request_bytes));
  out.family("usher_http_response_bytes_total", "counter", "Response body bytes written, by site.");
  for (const auto& [site, t] : totals)
    out.sample("usher_http_response_bytes_total", {{"site", site}},
               static_cast<double>(t.response_bytes));
}

void write_upstreams(
    MetricsWriter& out,
    const std::vector<std::pair<std::string, std::shared_ptr<UpstreamMetrics>>>& upstreams) {
  std::vector<std::pair<std::string_view, UpstreamMetrics::Totals>> totals;
  for (const auto& [name, block] : upstreams)
    totals.emplace_back(name, block->totals());
  out.family("usher_upstream_requests_total", "counter",
             "Requests sent to an upstream, by status class (error: no usable response).");
  for (const auto& [upstream, t] : totals) {
    for (size_t c = 0; c < kStatusClasses; ++c) {
      if (c > 5 && t.requests[c] == 0) continue;
      out.sample("usher_upstream_requests_total",
                 {{"upstream", upstream}, {"code_class", status_class_label(c, "error")}},
                 static_cast<double>(t.requests[c]));
    }
  }
  out.family("usher_upstream_connect_failures_total", "counter",
             "Connections to an upstream that could not be made (refused, unreachable, timeout).");
  for (const auto& [upstream, t] : totals)
    out.sample("usher_upstream_connect_failures_total", {{"upstream", upstream}},
               static_cast<double>(t.connect_failures));
}

}  // namespace

void MetricsRegistry::write(MetricsWriter& out) const {
  std::vector<std::pair<std::string, std::shared_ptr<SiteMetrics>>> sites;
  std::vector<std::pair<std::string, std::shared_ptr<UpstreamMetrics>>> upstreams;
  {
    std::lock_guard lock(mutex_);
    sites = live(sites_);
    upstreams = live(upstreams_);
  }
  write_sites(out, sites);
  write_upstreams(out, upstreams);
  out.family("usher_config_reloads_total", "counter", "Config reloads, by result.");
  out.sample("usher_config_reloads_total", {{"result", "ok"}},
             static_cast<double>(reloads_ok_.load()));
  out.sample("usher_config_reloads_total", {{"result", "failed"}},
             static_cast<double>(reloads_failed_.load()));
  write_process_metrics(out);
}

// ------------------------------------------------------------ process

namespace {

// /proc/self/statm: sizes in pages; the second field is the resident set.
double resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

// Taken during static initialisation, before main(): the start of the
// process to within milliseconds. Derived from /proc/self/stat instead, the
// boot time's whole seconds and clock adjustments since boot can put the
// start a second or more off, even after "now".
const double kStartTime =
    std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();

}  // namespace

void write_process_metrics(MetricsWriter& out) {
  out.family("usher_process_resident_memory_bytes", "gauge", "Resident memory of the process.");
  out.sample("usher_process_resident_memory_bytes", {}, resident_bytes());
  out.family("usher_process_start_time_seconds", "gauge",
             "Start time of the process since the Unix epoch.");
  out.sample("usher_process_start_time_seconds", {}, kStartTime);
}

}  // namespace usher::proxy
