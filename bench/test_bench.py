"""Unit tests of the harness's parsers and table writer (no servers needed):
    python3 -m unittest discover bench
"""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import load  # noqa: E402
import report  # noqa: E402
import targets  # noqa: E402

WRK_OUTPUT = """Running 10s test @ https://127.0.0.1:8443/100b
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.21ms  300.00us  12.00ms   90.00%
    Req/Sec    41.00k     1.00k   43.00k    70.00%
  Latency Distribution
     50%    1.10ms
     75%    1.30ms
     90%    1.60ms
     99%  850.00us
  410000 requests in 10.00s, 80.00MB read
Requests/sec:  41000.50
Transfer/sec:      8.00MB
"""

H2LOAD_OUTPUT = """finished in 10.00s, 52345.60 req/s, 5.00MB/s
requests: 523456 total, 523456 started, 523456 done, 523450 succeeded, 6 failed, 0 errored, 0 timeout
status codes: 523450 2xx, 0 3xx, 0 4xx, 0 5xx
Application protocol: h2
"""


class WrkParser(unittest.TestCase):
    def test_reads_rate_latency_and_transfer(self):
        values = load.parse_wrk(WRK_OUTPUT)
        self.assertEqual(values["rps"], 41000.5)
        self.assertAlmostEqual(values["p99_ms"], 0.85)
        self.assertEqual(values["bytes_per_s"], 8 * 1024 * 1024)

    def test_converts_every_latency_unit_to_milliseconds(self):
        cases = [("850.00us", 0.85), ("2.50ms", 2.5), ("1.20s", 1200.0), ("1.00m", 60000.0)]
        for text, expected in cases:
            with self.subTest(text=text):
                output = WRK_OUTPUT.replace("850.00us", text)
                self.assertAlmostEqual(load.parse_wrk(output)["p99_ms"], expected)

    def test_accepts_a_clean_run(self):
        self.assertEqual(load.wrk_errors(WRK_OUTPUT), "")

    def test_rejects_socket_errors_and_bad_statuses(self):
        cases = [
            ("  Socket errors: connect 0, read 3, write 0, timeout 0\n", "socket errors"),
            ("  Non-2xx or 3xx responses: 12\n", "12 non-2xx responses"),
        ]
        for line, expected in cases:
            with self.subTest(line=line):
                self.assertIn(expected, load.wrk_errors(WRK_OUTPUT + line))

    def test_ignores_socket_error_line_with_only_zeros(self):
        line = "  Socket errors: connect 0, read 0, write 0, timeout 0\n"
        self.assertEqual(load.wrk_errors(WRK_OUTPUT + line), "")

    def test_reports_a_run_without_result(self):
        self.assertEqual(load.wrk_errors("unable to connect"), "no result from wrk")


class H2loadParser(unittest.TestCase):
    def test_reads_rate_counts_and_protocol(self):
        values = load.parse_h2load(H2LOAD_OUTPUT)
        self.assertEqual(values["rps"], 52345.6)
        self.assertEqual(values["succeeded"], 523450)
        self.assertEqual(values["failed"], 6)
        self.assertEqual(values["non_2xx"], 0)
        self.assertEqual(values["protocol"], "h2")

    def test_tolerates_a_few_requests_cut_off_at_the_end(self):
        self.assertEqual(load.h2load_errors(load.parse_h2load(H2LOAD_OUTPUT), "h2"), "")

    def test_rejects_the_wrong_protocol(self):
        values = load.parse_h2load(H2LOAD_OUTPUT)
        self.assertIn("negotiated h2, wanted http/1.1", load.h2load_errors(values, "http/1.1"))

    def test_rejects_many_failures_and_bad_statuses(self):
        failing = H2LOAD_OUTPUT.replace("6 failed", "9000 failed").replace("0 4xx", "7 4xx")
        errors = load.h2load_errors(load.parse_h2load(failing), "h2")
        self.assertIn("9000 failed", errors)
        self.assertIn("7 non-2xx", errors)


class ReportTable(unittest.TestCase):
    def test_shows_each_value_with_its_ratio_to_nginx(self):
        row = report.Row("HTTPS, req/s", {"nginx": 40000.0, "usher": 44000.0})
        text = report.table([row], ["nginx", "usher"])
        self.assertIn("| HTTPS, req/s | 40,000 (1.00×) | 44,000 (1.10×) |", text)

    def test_flags_disturbed_cells_and_marks_lower_is_better(self):
        row = report.Row("idle RSS, MiB", {"nginx": 4.0, "usher": 2.0}, "{:.1f}", True, {"usher"})
        text = report.table([row], ["nginx", "usher"])
        self.assertIn("| idle RSS, MiB ↓ | 4.0 (1.00×) | 2.0 (0.50×) ⚠ |", text)

    def test_prints_a_dash_for_a_figure_not_measured(self):
        row = report.Row("HTTP/2, req/s", {"nginx": 1.0})
        self.assertIn("| 1 (1.00×) | — |", report.table([row], ["nginx", "usher"]))

    def test_per_core_figure_divides_by_the_share_of_a_core_used(self):
        figure = type("F", (), {"title": "t", "unit": "req/s", "fmt": "{:.0f}", "has_p99": False})()
        figure.value = staticmethod(lambda s: s.values["rps"])
        sample = report.Sample("usher", 0, {"rps": 30000.0}, {"proxy": 5.0}, wall=10.0)
        main, per_core = report.figure_rows(figure, {"usher": [sample]})
        self.assertEqual(main.values["usher"], 30000.0)
        self.assertEqual(per_core.values["usher"], 60000.0)

    def test_h2_figure_adds_a_per_core_row_with_ratios_to_h2o(self):
        figure = type("F", (), {"title": "t", "unit": "req/s", "fmt": "{:.0f}", "has_p99": False})()
        figure.value = staticmethod(lambda s: s.values["rps"])
        figure.also_versus = ("h2o",)
        samples = {
            name: [report.Sample(name, 0, {"rps": rps}, {"proxy": 10.0}, wall=10.0)]
            for name, rps in (("nginx", 40000.0), ("h2o", 50000.0), ("usher", 55000.0))
        }
        rows = report.figure_rows(figure, samples)
        self.assertEqual([r.title for r in rows][-1], "… per proxy core, ratio to h2o")
        text = report.table(rows, ["nginx", "h2o", "usher"])
        self.assertIn("| 40000 (0.80×) | 50000 (1.00×) | 55000 (1.10×) |", text)
        self.assertIn("| 55000 (1.38×) |", text)  # the row before: ratio to nginx

    def test_flags_a_run_with_foreign_load_above_the_limit(self):
        self.assertTrue(report.Sample("x", 0, foreign=report.FOREIGN_LOAD_LIMIT * 2).disturbed())
        self.assertFalse(report.Sample("x", 0, foreign=report.FOREIGN_LOAD_LIMIT / 2).disturbed())


class ConfigTemplates(unittest.TestCase):
    def test_fails_on_a_placeholder_left_without_value(self):
        with self.assertRaisesRegex(ValueError, "@BACKEND_PORT@"):
            targets.render("usher.Caddyfile", Path("/dev/null"), {"HTTP_PORT": 1})


if __name__ == "__main__":
    unittest.main()
