"""Unit tests of the harness's parsers and table writer (no servers needed):
    python3 -m unittest discover bench
"""

import os
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import load  # noqa: E402
import procstat  # noqa: E402
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


def _figure():
    figure = type("F", (), {"title": "t", "unit": "req/s", "fmt": "{:.0f}", "has_p99": False})()
    figure.value = staticmethod(lambda s: s.values["rps"])
    return figure


def _split_sample(target, rps, user, system, wall=10.0, error="", round_=0):
    """A run whose proxy used `user` and `system` CPU seconds."""
    times = procstat.CpuTimes(user, system)
    return report.Sample(
        target, round_, {"rps": rps}, {"proxy": times.total}, wall, error=error, cpu_split={"proxy": times}
    )


class CpuSplit(unittest.TestCase):
    def test_user_and_system_add_up_to_the_total_used(self):
        before = procstat.CpuSnapshot({"proxy": procstat.CpuTimes(1.0, 2.0)}, 0.0, 0.0)
        after = procstat.CpuSnapshot({"proxy": procstat.CpuTimes(3.5, 6.0)}, 0.0, 0.0)
        split = procstat.cpu_split(before, after)["proxy"]
        self.assertEqual((split.user, split.system), (2.5, 4.0))
        self.assertEqual(procstat.cpu_used(before, after)["proxy"], split.user + split.system)

    def test_splits_a_run_in_the_ratio_of_its_own_tick_samples(self):
        # /proc's difference says all system (its ratio is the process's
        # whole life); the ticks sampled during the run say 3:1 user.
        before = procstat.CpuSnapshot(
            {"proxy": procstat.CpuTimes(1.0, 9.0)}, 0, 0, {"proxy": procstat.CpuTimes(1.0, 8.0)}
        )
        after = procstat.CpuSnapshot(
            {"proxy": procstat.CpuTimes(1.0, 11.0)}, 0, 0, {"proxy": procstat.CpuTimes(2.5, 8.5)}
        )
        split = procstat.cpu_split(before, after)["proxy"]
        self.assertAlmostEqual(split.user, 1.5)
        self.assertAlmostEqual(split.system, 0.5)
        self.assertAlmostEqual(split.total, procstat.cpu_used(before, after)["proxy"])

    def test_falls_back_to_proc_without_usable_tick_samples(self):
        proc = ({"proxy": procstat.CpuTimes(1.0, 2.0)}, {"proxy": procstat.CpuTimes(2.0, 4.0)})
        cases = {
            "no taskstats": (None, None),
            "no tick during the run": (procstat.CpuTimes(1.0, 1.0), procstat.CpuTimes(1.0, 1.0)),
            "a process exited": (procstat.CpuTimes(5.0, 1.0), procstat.CpuTimes(1.0, 2.0)),
        }
        for name, (first, last) in cases.items():
            with self.subTest(name):
                before = procstat.CpuSnapshot(proc[0], 0, 0, {"proxy": first})
                after = procstat.CpuSnapshot(proc[1], 0, 0, {"proxy": last})
                self.assertEqual(procstat.cpu_split(before, after)["proxy"], procstat.CpuTimes(1.0, 2.0))

    def test_reads_tick_samples_of_this_process_from_taskstats(self):
        own = procstat.sampled_times([os.getpid()])
        if own is None:
            self.skipTest(f"taskstats unavailable: {procstat.taskstats_problem}")
        # Burn user time until 0.2 s of it were sampled. The samples are
        # not scaled to the exact run time: on a busy machine they can be
        # half of what os.times() says, so that is not compared.
        deadline, burnt = time.monotonic() + 10, procstat.CpuTimes()
        while burnt.user < 0.2 and time.monotonic() < deadline:
            for _ in range(20):
                sum(range(10000))
            burnt = procstat.sampled_times([os.getpid()]) - own
        self.assertGreaterEqual(burnt.user, 0.2)
        self.assertLess(burnt.system, burnt.user / 4)
        self.assertIn("taskstats", procstat.split_note())

    def test_reads_this_process_user_and_system_time_from_proc(self):
        deadline = os.times().user + 0.3
        while os.times().user < deadline:  # burn user time (the sums, not the syscall)
            sum(range(10000))
        os.stat("/")  # and a little system time
        own, times = procstat.cpu_times([os.getpid()]), os.times()
        tick = 2 / procstat.CLOCK_TICKS  # both are rounded to clock ticks
        self.assertAlmostEqual(own.user, times.user, delta=tick)
        self.assertAlmostEqual(own.system, times.system, delta=tick)
        self.assertGreater(own.user, 0.3 - tick)
        self.assertAlmostEqual(procstat.cpu_seconds([os.getpid()]), own.total, delta=tick)


class CpuPerRequest(unittest.TestCase):
    def test_divides_user_and_system_time_by_the_requests_served(self):
        # 40,000 req/s over 10 s: 400,000 requests on 2.4 s user, 5.6 s system.
        split = report.cpu_per_request(_split_sample("usher", 40000.0, 2.4, 5.6))
        self.assertAlmostEqual(split.user, 6.0)
        self.assertAlmostEqual(split.system, 14.0)
        self.assertAlmostEqual(split.total, 20.0)

    def test_total_is_one_over_the_per_core_figure(self):
        sample = _split_sample("usher", 30000.0, 1.5, 3.5, wall=9.0)
        per_core = report.figure_rows(_figure(), {"usher": [sample]})[1].values["usher"]
        self.assertAlmostEqual(report.cpu_per_request(sample).total, 1e6 / per_core)

    def test_takes_the_median_round_whole(self):
        samples = [
            _split_sample("usher", 10000.0, 0.5, 0.5),  # 10 µs
            _split_sample("usher", 10000.0, 1.0, 2.0),  # 30 µs
            _split_sample("usher", 10000.0, 0.4, 1.6),  # 20 µs: the median
        ]
        split = report.median_round_per_request(samples)
        self.assertAlmostEqual(split.user, 4.0)
        self.assertAlmostEqual(split.system, 16.0)

    def test_row_shows_user_plus_system_and_the_ratio_to_nginx_on_the_total(self):
        samples = {
            "nginx": [_split_sample("nginx", 40000.0, 2.4, 5.6)],  # 6 + 14 = 20 µs
            "usher": [_split_sample("usher", 40000.0, 2.0, 6.0)],  # 5 + 15 = 20 µs
            "caddy": [_split_sample("caddy", 20000.0, 4.0, 4.0)],  # 20 + 20 = 40 µs
        }
        row = report.cpu_per_request_row(_figure(), samples)
        text = report.table([row], ["nginx", "usher", "caddy"])
        self.assertIn(
            "| t ↓ | 6.0 + 14.0 = 20.0 (1.00×) | 5.0 + 15.0 = 20.0 (1.00×) | 20.0 + 20.0 = 40.0 (2.00×) |",
            text,
        )

    def test_a_failed_run_shows_a_dash_and_is_left_out_of_the_median(self):
        failed = _split_sample("usher", 40000.0, 9.0, 9.0, error="no result from wrk")
        self.assertIsNone(report.cpu_per_request(failed))
        samples = {
            "nginx": [_split_sample("nginx", 40000.0, 2.4, 5.6), failed],
            "usher": [failed],
        }
        row = report.cpu_per_request_row(_figure(), samples)
        self.assertIn("| 6.0 + 14.0 = 20.0 (1.00×) | — |", report.table([row], ["nginx", "usher"]))
        results = report.cpu_per_request_json(samples)
        self.assertIsNone(results["usher"])
        self.assertAlmostEqual(results["nginx"]["total_us"], 20.0)

    def test_a_run_without_a_cpu_split_or_rate_shows_a_dash(self):
        no_split = report.Sample("usher", 0, {"rps": 1000.0}, {"proxy": 1.0}, 10.0)
        no_rate = _split_sample("usher", 0.0, 1.0, 1.0)
        for sample in (no_split, no_rate):
            with self.subTest(sample=sample):
                row = report.cpu_per_request_row(_figure(), {"usher": [sample]})
                self.assertEqual(row.notes["usher"], "—")

    def test_json_gives_each_part_and_the_ratio_to_nginx(self):
        samples = {
            "nginx": [_split_sample("nginx", 40000.0, 2.4, 5.6)],
            "usher": [_split_sample("usher", 40000.0, 2.0, 10.0)],
        }
        usher = report.cpu_per_request_json(samples)["usher"]
        self.assertAlmostEqual(usher["user_us"], 5.0)
        self.assertAlmostEqual(usher["system_us"], 25.0)
        self.assertAlmostEqual(usher["total_us"], 30.0)
        self.assertAlmostEqual(usher["ratio_to_nginx"], 1.5)


class ConfigTemplates(unittest.TestCase):
    def test_fails_on_a_placeholder_left_without_value(self):
        with self.assertRaisesRegex(ValueError, "@BACKEND_PORT@"):
            targets.render("usher.Caddyfile", Path("/dev/null"), {"HTTP_PORT": 1})


if __name__ == "__main__":
    unittest.main()
