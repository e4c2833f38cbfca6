#include "proxy/metrics.h"

#include <gtest/gtest.h>

#include <limits>

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
  EXPECT_EQ(w.text(), "a{le=\"+Inf\"} +Inf\nb NaN\nc -2\nd 1e+20\n");
}

}  // namespace
}  // namespace usher::proxy
