#pragma once

// Prometheus text exposition (format 0.0.4) for `GET /metrics` on the admin
// API. Counters live per worker and are summed at scrape time (issue 5:
// nothing on the request path takes a lock); this file only writes the text.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace usher::proxy {

/// A label of one sample: name and (unescaped) value.
using MetricLabel = std::pair<std::string_view, std::string_view>;

/// Builds one exposition. Call family() once per metric name, then its
/// samples; label values are escaped here.
class MetricsWriter {
 public:
  /// `# HELP` and `# TYPE` lines; `type` is counter, gauge or histogram.
  void family(std::string_view name, std::string_view type, std::string_view help);
  /// One sample line: `name{label="value",…} value`.
  void sample(std::string_view name, std::initializer_list<MetricLabel> labels, double value);
  void sample(std::string_view name, const MetricLabel* labels, size_t count, double value);

  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

// ------------------------------------------------------------ counters

/// A counter with one writer thread: the hot path adds with a relaxed load
/// and store (no locked read-modify-write); any thread may read it.
class Counter {
 public:
  void add(uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

/// Slots per counter block: one per worker thread. Server raises it to its
/// worker count before any route table is built; blocks made earlier (unit
/// tests) have at least one slot per core.
size_t worker_slot_count();
void reserve_worker_slots(size_t workers);

// Cache line size on x86-64 and the Cortex-A cores of a Raspberry Pi: slots
// of different workers never share a line, so writers never contend.
inline constexpr size_t kCacheLine = 64;

/// One slot per worker, summed by the scraper. A worker whose index has no
/// slot (more workers than the block was made for) writes a shared overflow
/// slot under a mutex: correct, only slower, and never the case in the
/// binary, where the Server reserves its slots first.
template <class Slot>
class PerWorker {
 public:
  PerWorker() : size_(worker_slot_count()), slots_(new Slot[size_]) {}

  template <class Fn>
  void update(int worker, Fn fn) {
    if (worker >= 0 && static_cast<size_t>(worker) < size_) {
      fn(slots_[static_cast<size_t>(worker)]);
      return;
    }
    std::lock_guard lock(overflow_mutex_);
    fn(overflow_);
  }

  template <class Fn>
  void for_each(Fn fn) const {
    for (size_t i = 0; i < size_; ++i)
      fn(slots_[i]);
    fn(overflow_);
  }

 private:
  size_t size_;
  std::unique_ptr<Slot[]> slots_;
  std::mutex overflow_mutex_;
  Slot overflow_;
};

/// Upper bounds (seconds) of the request duration histogram.
inline constexpr std::array<double, 11> kDurationBuckets = {.005, .01, .025, .05, .1, .25,
                                                            .5,   1,   2.5,  5,   10};

/// Response classes: index 0 is "no response" (aborted or upstream error),
/// 1..9 the first digit of the status.
inline constexpr size_t kStatusClasses = 10;
size_t status_class(int status);

/// Counters of one site (`site` label), one slot per worker.
class SiteMetrics {
 public:
  /// One exchange: `status` 0 when it was aborted before a response.
  void record(int worker, int status, std::chrono::nanoseconds duration, uint64_t request_bytes,
              uint64_t response_bytes);

  struct Totals {
    std::array<uint64_t, kStatusClasses> requests{};
    std::array<uint64_t, kDurationBuckets.size() + 1> buckets{};  // not cumulative; last = +Inf
    uint64_t duration_ns = 0;
    uint64_t request_bytes = 0;
    uint64_t response_bytes = 0;
  };
  Totals totals() const;

 private:
  struct alignas(kCacheLine) Slot {
    std::array<Counter, kStatusClasses> requests;
    std::array<Counter, kDurationBuckets.size() + 1> buckets;
    Counter duration_ns;
    Counter request_bytes;
    Counter response_bytes;
  };
  PerWorker<Slot> slots_;
};

/// Counters of one upstream (`upstream` label: its dial address).
class UpstreamMetrics {
 public:
  /// An attempt that reached the upstream: `status` 0 when no usable
  /// response came back (reset, timeout, malformed head).
  void record_response(int worker, int status);
  /// A connection that could not be made (refused, unreachable, dial timeout).
  void record_connect_failure(int worker);

  struct Totals {
    std::array<uint64_t, kStatusClasses> requests{};
    uint64_t connect_failures = 0;
  };
  Totals totals() const;

 private:
  struct alignas(kCacheLine) Slot {
    std::array<Counter, kStatusClasses> requests;
    Counter connect_failures;
  };
  PerWorker<Slot> slots_;
};

/// Connection counters of one worker (WorkerContext owns one each).
class ConnectionCounters {
 public:
  /// Protocols by ALPN name; an empty or unknown ALPN serves HTTP/1.1.
  static constexpr std::array<std::string_view, 4> kProtocols = {"http/1.1", "h2", "h2c",
                                                                 "acme-tls/1"};
  static size_t protocol_index(std::string_view alpn);

  void opened(size_t protocol) { opened_[protocol].add(); }
  void closed(size_t protocol) { closed_[protocol].add(); }
  void handshake(bool ok) { (ok ? handshakes_ok_ : handshakes_failed_).add(); }

  uint64_t opened_total(size_t protocol) const { return opened_[protocol].get(); }
  uint64_t closed_total(size_t protocol) const { return closed_[protocol].get(); }
  uint64_t handshakes_ok() const { return handshakes_ok_.get(); }
  uint64_t handshakes_failed() const { return handshakes_failed_.get(); }

 private:
  std::array<Counter, kProtocols.size()> opened_;
  std::array<Counter, kProtocols.size()> closed_;
  Counter handshakes_ok_;
  Counter handshakes_failed_;
};

/// Counts one connection as open for its lifetime.
class ConnectionCount {
 public:
  ConnectionCount(ConnectionCounters& counters, std::string_view alpn)
      : counters_(counters), protocol_(ConnectionCounters::protocol_index(alpn)) {
    counters_.opened(protocol_);
  }
  ~ConnectionCount() { counters_.closed(protocol_); }
  ConnectionCount(const ConnectionCount&) = delete;
  ConnectionCount& operator=(const ConnectionCount&) = delete;

 private:
  ConnectionCounters& counters_;
  size_t protocol_;
};

/// Hands out counter blocks by name so that counters survive reloads: a new
/// route table asks for its sites' blocks while the old table still holds
/// them, and gets the same ones (Prometheus counters must not reset). A
/// block is dropped once no route table uses it (the site was removed).
class MetricsRegistry {
 public:
  /// The registry of the process: what `GET /metrics` shows.
  static MetricsRegistry& global();

  std::shared_ptr<SiteMetrics> site(const std::string& name);
  std::shared_ptr<UpstreamMetrics> upstream(const std::string& name);

  /// A config reload's outcome (`usher_config_reloads_total{result}`).
  void note_reload(bool ok) { (ok ? reloads_ok_ : reloads_failed_).fetch_add(1); }

  /// Writes site, upstream, reload and process metrics.
  void write(MetricsWriter& out) const;

 private:
  template <class T>
  static std::vector<std::pair<std::string, std::shared_ptr<T>>> live(
      std::map<std::string, std::weak_ptr<T>>& blocks);

  mutable std::mutex mutex_;  // control plane and scrapes only
  mutable std::map<std::string, std::weak_ptr<SiteMetrics>> sites_;
  mutable std::map<std::string, std::weak_ptr<UpstreamMetrics>> upstreams_;
  std::atomic<uint64_t> reloads_ok_{0};
  std::atomic<uint64_t> reloads_failed_{0};
};

/// The class label of a status class index ("2xx"); `none` for index 0.
std::string_view status_class_label(size_t index, std::string_view none);

/// Writes the process metrics: resident memory and start time (from /proc).
void write_process_metrics(MetricsWriter& out);

}  // namespace usher::proxy
