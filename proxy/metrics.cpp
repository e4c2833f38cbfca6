#include "proxy/metrics.h"

#include <cmath>
#include <cstdio>

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
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", value);
    out += buf;
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
