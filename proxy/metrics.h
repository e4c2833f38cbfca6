#pragma once

// Prometheus text exposition (format 0.0.4) for `GET /metrics` on the admin
// API. Counters live per worker and are summed at scrape time (issue 5:
// nothing on the request path takes a lock); this file only writes the text.

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

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

}  // namespace usher::proxy
