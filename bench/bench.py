#!/usr/bin/env python3
"""usher's benchmark against nginx, HAProxy, Caddy and h2o: starts a static
backend and every proxy under identical conditions, checks each one's
answers byte for byte, then measures them round-robin and prints markdown.

Run it through bench/run, which installs the peers and builds usher first.
"""

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import resource
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import load
import procstat
import report
import targets
import verify
from fixtures import BODIES, make_fixtures

BENCH_DIR = Path(__file__).resolve().parent

# Client connections of the request-rate figures (the conditions).
CONNECTIONS = 50
# Concurrent streams per connection in the HTTP/2 figure.
H2_STREAMS = 10
# Connections of the 1 MiB figure: enough to keep a proxy busy, few enough
# that socket buffers, not connection count, dominate.
MIB_CONNECTIONS = 10

# Sizing of the count-bounded handshake runs: the rate assumed before the
# warm-up has measured one, and bounds on the number of connections per run.
FIRST_HANDSHAKE_RATE = 1000
MIN_HANDSHAKES = 500
MAX_HANDSHAKES = 500_000

# Pauses that let a proxy settle: after start-up (lazy initialisation, the
# first upstream connections), after opening or closing many connections.
IDLE_SETTLE_SECONDS = 2
HOLD_SETTLE_SECONDS = 2
CLOSE_SETTLE_SECONDS = 2
# Upper bound for opening all idle connections; Python needs ~1 ms each.
OPEN_ALL_TIMEOUT_SECONDS = 240
# The idle-connection opener gives up holding after this long regardless.
MAX_HOLD_SECONDS = 120

# File descriptors wanted: 10,000 idle connections plus the load tests'.
WANTED_FDS = 65536

# Programs whose versions head the report.
VERSIONED = ("nginx", "haproxy", "caddy", "h2o", "usher", "wrk", "h2load", "openssl")

DEFAULT_BINARIES = {
    "nginx": "nginx",
    "haproxy": "haproxy",
    "caddy": "caddy",
    "h2o": "h2o",
}


@dataclass(frozen=True)
class Settings:
    """How long and how often to measure."""

    rounds: int
    seconds: int
    warmup_seconds: int
    idle_count: int
    idle_wanted: int
    targets: tuple
    usher: str
    usher_wrapper: tuple = ()
    serve: bool = False


@dataclass
class Context:
    """Everything a measurement needs about the running benchmark."""

    mode: targets.Mode
    settings: Settings
    fixtures: object
    backend: targets.Server
    servers: dict = field(default_factory=dict)
    handshake_rates: dict = field(default_factory=dict)


class PidRegistry:
    """PIDs of the servers running now, mirrored into a file that bench/run
    reads to clean up if this process is killed without a chance to."""

    def __init__(self, path):
        self.path, self.pids = Path(path), set()

    def _write(self):
        self.path.write_text("".join(f"{pid}\n" for pid in sorted(self.pids)))

    def add(self, pid):
        self.pids.add(pid)
        self._write()

    def remove(self, pid):
        self.pids.discard(pid)
        self._write()


# ---- the load figures --------------------------------------------------------


def _https_url(server, path):
    # wrk sends the URL's host as SNI, so the IP address works for it.
    return f"https://127.0.0.1:{server.https_port}{path}"


def _h2load_target(server, path):
    # h2load sends no SNI for an IP address; connect to it, but name localhost.
    url = f"https://localhost:{server.https_port}{path}"
    return url, ("--connect-to", f"127.0.0.1:{server.https_port}")


def _run_https_h1(ctx, server, seconds):
    threads, pin = ctx.mode.client_threads(), ctx.mode.helper_pin()
    return load.run_wrk(_https_url(server, "/100b"), CONNECTIONS, threads, seconds, pin)


def _run_h2(ctx, server, seconds):
    url, extra = _h2load_target(server, "/100b")
    threads, pin = ctx.mode.client_threads(), ctx.mode.helper_pin()
    return load.run_h2load(url, CONNECTIONS, H2_STREAMS, threads, seconds, pin, extra)


def _run_new_tls(ctx, server, seconds):
    # The run is sized by count; the rate of the previous run (the warm-up
    # first) turns the wanted duration into one.
    rate = ctx.handshake_rates.get(server.name, FIRST_HANDSHAKE_RATE)
    count = min(max(int(rate * seconds), MIN_HANDSHAKES), MAX_HANDSHAKES)
    url, extra = _h2load_target(server, "/100b")
    threads, pin = ctx.mode.client_threads(), ctx.mode.helper_pin()
    result = load.run_new_tls(url, CONNECTIONS, threads, count, seconds, pin, extra)
    if not result.error:
        ctx.handshake_rates[server.name] = result.values["rps"]
    return result


def _run_mib(ctx, server, seconds):
    threads, pin = ctx.mode.client_threads(), ctx.mode.helper_pin()
    return load.run_wrk(_https_url(server, "/1m"), MIB_CONNECTIONS, threads, seconds, pin)


def _run_plain(ctx, server, seconds):
    url = f"http://127.0.0.1:{server.http_port}/100b"
    threads, pin = ctx.mode.client_threads(), ctx.mode.helper_pin()
    return load.run_wrk(url, CONNECTIONS, threads, seconds, pin)


def _rps(sample):
    return sample.values["rps"]


def _mib_per_s(sample):
    return sample.values["rps"] * BODIES["/1m"] / report.MIB


@dataclass(frozen=True)
class Figure:
    """One load figure: how to run it and which number it reports."""

    key: str
    title: str
    unit: str
    run: object
    value: object = _rps
    fmt: str = "{:,.0f}"
    has_p99: bool = False
    needs_h2: bool = False
    # Proxies besides nginx that the per-core figure is also compared with.
    also_versus: tuple = ()


FIGURES = (
    Figure("https_h1", "HTTPS HTTP/1.1 keep-alive", "req/s", _run_https_h1, has_p99=True),
    Figure("h2", "HTTPS HTTP/2 (50 conn × 10 streams)", "req/s", _run_h2, needs_h2=True, also_versus=("h2o",)),
    Figure("new_tls", "new TLS connections (1 request each)", "conn/s", _run_new_tls),
    Figure("mib", "1 MiB body over HTTPS", "MiB/s", _run_mib, _mib_per_s, "{:,.1f}"),
    Figure("plain", "plain HTTP keep-alive", "req/s", _run_plain),
)


# ---- measuring ---------------------------------------------------------------


def _cpu_groups(ctx, server):
    others = [pid for s in ctx.servers.values() if s is not server for pid in s.refresh_pids()]
    return {"proxy": server.refresh_pids(), "backend": ctx.backend.refresh_pids(), "others": others}


def measure(ctx, figure, server, round_index, seconds):
    """One run of a figure against one proxy, with the CPU everyone used."""
    groups = _cpu_groups(ctx, server)
    before = procstat.snapshot(groups)
    result = figure.run(ctx, server, seconds)
    after = procstat.snapshot(groups)
    cpu = procstat.cpu_used(before, after)
    cpu["client"] = result.client_cpu
    ours = sum(cpu.values()) + after.harness - before.harness
    foreign = max(0.0, after.machine - before.machine - ours) / result.wall
    error = result.error
    if server.process.poll() is not None:
        error = f"{server.name} exited with status {server.process.returncode}: {server.log_tail(5)}"
    split = procstat.cpu_split(before, after)
    return report.Sample(server.name, round_index, result.values, cpu, result.wall, foreign, error, split)


def _eligible(ctx, figure):
    return [
        s for s in ctx.servers.values() if s.process.poll() is None and (s.has_h2 or not figure.needs_h2)
    ]


def run_figure(ctx, figure):
    """Warm-up, then rounds with the proxies interleaved, so that a burst of
    outside load hits every proxy alike; each round starts one proxy later."""
    samples = {name: [] for name in ctx.servers}
    for server in _eligible(ctx, figure):
        figure.run(ctx, server, ctx.settings.warmup_seconds)
    for round_index in range(ctx.settings.rounds):
        order = _eligible(ctx, figure)
        shift = round_index % max(len(order), 1)
        for server in order[shift:] + order[:shift]:
            sample = measure(ctx, figure, server, round_index, ctx.settings.seconds)
            samples[server.name].append(sample)
            _progress(figure, sample)
    return samples


def _progress(figure, sample):
    value = "error: " + sample.error if sample.error else figure.fmt.format(figure.value(sample))
    flag = " (disturbed)" if sample.disturbed() else ""
    print(
        f"  {figure.key:8} {sample.target:8} round {sample.round + 1}: {value} {figure.unit}, "
        f"proxy {sample.cores('proxy') * 100:.0f}% cpu{flag}",
        file=sys.stderr,
        flush=True,
    )


# ---- memory ------------------------------------------------------------------


def _read_line(proc, timeout):
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline().decode().strip() if ready else ""


def idle_connections(ctx, server, scheme):
    """RSS of the proxy while ctx.settings.idle_count keep-alive connections
    are open and idle; returns (rss, rss above before, problem or "")."""
    count = ctx.settings.idle_count
    port = server.https_port if scheme == "https" else server.http_port
    command = [*ctx.mode.helper_pin(), sys.executable, str(BENCH_DIR / "idle_conns.py")]
    command += ["--port", str(port), "--count", str(count), "--max-hold", str(MAX_HOLD_SECONDS)]
    command += ["--expect", str(ctx.fixtures.www / "100b")]
    if scheme == "https":
        command += ["--tls", "--cafile", str(ctx.fixtures.cert)]
    before = procstat.rss_bytes(server.refresh_pids())
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        line = _read_line(proc, OPEN_ALL_TIMEOUT_SECONDS)
        time.sleep(HOLD_SETTLE_SECONDS)
        held = procstat.rss_bytes(server.refresh_pids())
    finally:
        proc.stdin.close()
        try:
            proc.wait(MAX_HOLD_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    time.sleep(CLOSE_SETTLE_SECONDS)
    problem = "" if line == f"open {count} failed 0" else f"opener said `{line or 'nothing'}`"
    return held, held - before, problem


def stripped_size(binary):
    """Size of the binary without symbols, as a package would ship it."""
    with tempfile.TemporaryDirectory() as directory:
        copy = Path(directory) / "binary"
        result = subprocess.run(["strip", "-o", str(copy), binary], capture_output=True)
        return copy.stat().st_size if result.returncode == 0 else Path(binary).stat().st_size


def _start(ctx, name, workdir, registry, label=""):
    wrapper = ctx.settings.usher_wrapper if name == "usher" else ()
    binary = _binary(name, ctx.settings)
    return targets.start_proxy(
        name, binary, workdir, ctx.mode, ctx.fixtures, ctx.backend, registry, wrapper, label
    )


def idle_on_fresh_proxy(ctx, name, scheme, workdir, registry):
    """The idle-connection figure on a newly started instance of a proxy, so
    that memory kept from earlier load does not hide what connections cost."""
    server = _start(ctx, name, workdir, registry, f"-idle-{scheme}")
    try:
        # A few requests first: the first handshake and upstream connection
        # allocate what every later one reuses; that is not per connection.
        verify.check_bodies(server, ctx.fixtures)
        time.sleep(IDLE_SETTLE_SECONDS)
        return idle_connections(ctx, server, scheme)
    finally:
        targets.stop(server, registry)


def measure_memory(ctx, memory, workdir, registry):
    """Peak RSS so far, then the idle-connection figures for every proxy."""
    for name, server in ctx.servers.items():
        memory[name]["peak_rss"] = procstat.peak_rss_bytes(server.refresh_pids())
    for name in ctx.servers:
        for scheme in ("https", "http"):
            try:
                held, delta, problem = idle_on_fresh_proxy(ctx, name, scheme, workdir, registry)
            except (RuntimeError, OSError, verify.VerifyError) as error:
                held = delta = problem = f"error: {error}"[:100]
            shown = problem or f"{held / report.MIB:.1f} MiB, {delta / report.MIB:+.1f} MiB"
            print(f"  idle     {name:8} {scheme}: {shown}", file=sys.stderr)
            memory[name][f"idle_{scheme}_rss"] = problem or held
            memory[name][f"idle_{scheme}_delta"] = problem or delta


# ---- one mode ----------------------------------------------------------------


@dataclass
class ModeResult:
    """Everything measured in one mode."""

    mode: str
    alpn: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)
    memory: dict = field(default_factory=dict)
    samples: dict = field(default_factory=dict)


def _binary(name, settings):
    return settings.usher if name == "usher" else shutil.which(DEFAULT_BINARIES[name])


def start_and_verify(ctx, result, workdir, registry):
    """Starts every proxy and keeps those that pass every check."""
    for name in ctx.settings.targets:
        try:
            server = _start(ctx, name, workdir, registry)
            ctx.servers[name] = server
            result.alpn[name] = verify.verify(server, ctx.fixtures)
        except (RuntimeError, verify.VerifyError, OSError) as error:
            result.failed[name] = str(error)
            print(f"  {name} left out: {error}", file=sys.stderr)
            if name in ctx.servers:
                targets.stop(ctx.servers.pop(name), registry)


def serve(ctx):
    """--serve: prints how to reach every started proxy, then waits for
    ctrl-c, so that a profiler can be attached while load runs by hand."""
    pin = " ".join(ctx.mode.helper_pin())
    for server in ctx.servers.values():
        print(f"{server.name}: PID {server.process.pid}, directory {server.directory}")
        print(f"  {pin} wrk --latency -t1 -c{CONNECTIONS} -d10s {_https_url(server, '/100b')}")
        print(f"  {pin} wrk -t1 -c{CONNECTIONS} -d10s http://127.0.0.1:{server.http_port}/100b")
    print("ctrl-c stops everything", flush=True)
    signal.pause()


def run_mode(mode, settings, fixtures, workdir, registry):
    """Starts everything, measures every figure, stops everything."""
    print(f"== {mode.name}", file=sys.stderr)
    result = ModeResult(mode.name)
    backend = targets.start_backend(workdir, mode, fixtures.www, registry)
    ctx = Context(mode, settings, fixtures, backend)
    try:
        verify.check_backend(backend, fixtures)
        start_and_verify(ctx, result, workdir, registry)
        if settings.serve:
            serve(ctx)
        time.sleep(IDLE_SETTLE_SECONDS)
        for name, server in ctx.servers.items():
            rss = procstat.rss_bytes(server.refresh_pids())
            result.memory[name] = {"idle_rss": rss, "binary": stripped_size(server.binary)}
        for figure in FIGURES:
            result.samples[figure.key] = run_figure(ctx, figure)
        measure_memory(ctx, result.memory, workdir, registry)
    finally:
        for server in [*ctx.servers.values(), backend]:
            targets.stop(server, registry)
    return result


# ---- the report --------------------------------------------------------------


def _version(command):
    """The first version number a program prints about itself."""
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    match = re.search(r"\d+\.\d+(\.\d+)?", out.stdout + out.stderr)
    return match.group(0) if match else "?"


def environment(settings):
    """Date, machine and versions, for the report's header."""
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
        platform.machine(),
    )
    return {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "machine": f"{cpu}, {os.cpu_count()} CPUs, Linux {platform.release()}",
        "nginx": _version(["nginx", "-v"]),
        "haproxy": _version(["haproxy", "-v"]),
        "caddy": _version(["caddy", "version"]),
        "h2o": _version(["h2o", "--version"]),
        "usher": _version([settings.usher, "version"]),
        "wrk": _version(["wrk", "-v"]),
        "h2load": _version(["h2load", "--version"]),
        "openssl": _version(["openssl", "version"]),
    }


def mode_markdown(result, mode, settings):
    """The tables of one mode."""
    names = list(settings.targets)
    rows, cpu_rows, per_request_rows, all_samples = [], [], [], []
    for figure in FIGURES:
        samples = {n: result.samples.get(figure.key, {}).get(n, []) for n in names}
        rows += report.figure_rows(figure, samples)
        cpu_rows.append(report.cpu_row(figure, samples))
        per_request_rows.append(report.cpu_per_request_row(figure, samples))
        all_samples.append((figure, [s for n in names for s in samples[n]]))
    memory = dict(result.memory, idle_count=settings.idle_count)
    rows += report.memory_rows(memory, names)
    pinning = (
        "every proxy has one worker, pinned to CPU 0; backend and load generator on CPU 1"
        if mode.one_core
        else "every proxy with its default worker count, nothing pinned"
    )
    parts = [f"## {mode.name.capitalize()}", "", pinning + ".", "", report.table(rows, names), ""]
    parts += ["CPU used in the median round, % of one core (proxy / backend / load generator):", ""]
    parts += [report.table(cpu_rows, names), ""]
    parts += [
        "Proxy CPU per request in the median round, µs, user + system = total; the total from "
        f"/proc/<pid>/stat, the split {procstat.split_note()}:",
        "",
    ]
    parts += [report.table(per_request_rows, names), ""]
    parts += ["ALPN answer to `h2, http/1.1`: " + ", ".join(f"{n} {a}" for n, a in result.alpn.items())]
    parts += _problem_lines(result, all_samples)
    return "\n".join(parts) + "\n"


def _problem_lines(result, all_samples):
    lines = []
    if result.failed:
        lines += ["", "Left out (failed to start or a check):", ""]
        lines += [f"- {name}: {why}" for name, why in result.failed.items()]
    disturbed = report.disturbed_lines(all_samples)
    if disturbed:
        lines += ["", "⚠ Runs disturbed by load from outside the benchmark:", ""] + disturbed
    errors = report.error_lines(all_samples)
    if errors:
        lines += ["", "Failed runs:", ""] + errors
    return lines


def markdown(results, settings, env):
    """The whole report."""
    head = [
        "# Benchmark: usher against nginx, HAProxy, Caddy and h2o",
        "",
        f"{env['date']}; {env['machine']}.",
        "",
        "Versions: "
        + ", ".join(f"{k} {env[k]}" for k in VERSIONED)
        + ".",
        "",
        f"Each figure is the median of {settings.rounds} rounds of {settings.seconds} s after a "
        f"{settings.warmup_seconds} s warm-up, proxies interleaved round-robin. In parentheses: the "
        "ratio to nginx in the same run. ↓ marks figures where lower is better. ⚠ marks a figure "
        f"with a round during which other processes used more than "
        f"{report.FOREIGN_LOAD_LIMIT * 100:.0f}% of a core.",
        "",
    ]
    if settings.idle_count < settings.idle_wanted:
        head += [
            f"Idle connections: {settings.idle_count:,} instead of {settings.idle_wanted:,}, the most "
            "HAProxy accepts under this machine's open-file limit (it reserves two descriptors per "
            "connection).",
            "",
        ]
    body = [mode_markdown(r, m, settings) for m, r in results]
    return "\n".join(head) + "\n" + "\n".join(body)


# ---- main --------------------------------------------------------------------


def raise_fd_limit():
    """Lets the proxies (which inherit it) and the opener hold 10,000
    connections: raises the hard limit when allowed, else the soft one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(WANTED_FDS, soft), max(WANTED_FDS, hard)))
        return
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def parse_args(argv):
    parser = argparse.ArgumentParser(description="usher against nginx, HAProxy, Caddy and h2o")
    parser.add_argument("--mode", choices=("one-core", "all-cores", "both"), default="one-core")
    parser.add_argument("--quick", action="store_true", help="2 s rounds, 2,000 idle connections")
    parser.add_argument("--rounds", type=int, help="rounds per figure (default 3)")
    parser.add_argument("--duration", type=int, help="seconds per round (default 10, quick 2)")
    parser.add_argument("--idle-connections", type=int, help="default 10000, quick 2000")
    parser.add_argument("--targets", default="nginx,haproxy,caddy,h2o,usher")
    parser.add_argument("--usher", required=True, help="the usher binary")
    parser.add_argument("--output", help="also write the markdown here")
    parser.add_argument("--pid-file", help="where to list running servers' PIDs")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--serve", action="store_true", help="start and check the proxies, print how to load them, wait"
    )
    parser.add_argument(
        "--usher-wrapper", default="", help="command line to run usher under, e.g. valgrind --tool=callgrind"
    )
    return parser.parse_args(argv)


def settings_from(args):
    targets_ = tuple(t for t in args.targets.split(",") if t)
    unknown = [t for t in targets_ if t not in targets.PROXIES]
    if unknown or "nginx" not in targets_:
        sys.exit(f"bench: targets must include nginx and be among {', '.join(targets.PROXIES)}")
    idle_wanted = args.idle_connections or (2000 if args.quick else 10000)
    return Settings(
        rounds=max(args.rounds or 3, 1),
        seconds=args.duration or (2 if args.quick else 10),
        warmup_seconds=1 if args.quick else 2,
        # Every proxy gets the same count, so it is capped by what all can hold.
        idle_count=min(idle_wanted, targets.max_connections()),
        idle_wanted=idle_wanted,
        targets=targets_,
        usher=str(Path(args.usher).resolve()),
        usher_wrapper=tuple(shlex.split(args.usher_wrapper)),
        serve=args.serve,
    )


def modes_from(args):
    return {"one-core": [targets.ONE_CORE], "all-cores": [targets.ALL_CORES]}.get(
        args.mode, [targets.ONE_CORE, targets.ALL_CORES]
    )


def main(argv):
    args = parse_args(argv)
    raise_fd_limit()
    settings = settings_from(args)
    if os.cpu_count() < 2 and args.mode != "all-cores":
        sys.exit("bench: one-core mode needs two CPUs (proxy on one, load on the other)")
    # SIGTERM unwinds like ctrl-c, through the finally blocks that stop servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="usher-bench."))
    workdir.chmod(0o755)  # nginx workers run as nobody when started as root
    registry = PidRegistry(args.pid_file or workdir / "pids")
    results = []
    try:
        fixtures = make_fixtures(workdir)
        env = environment(settings)
        for mode in modes_from(args):
            results.append((mode, run_mode(mode, settings, fixtures, workdir, registry)))
            # Written after each mode, so that a failure later keeps this one.
            write_results(args.output, markdown(results, settings, env), results)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(markdown(results, settings, env))
    return 0


def write_results(path, text, results):
    """The markdown and every raw sample (JSON) beside it."""
    if not path:
        return
    Path(path).write_text(text)
    raw = {r.mode: asdict(r) for _, r in results}
    for _, r in results:
        raw[r.mode]["proxy_cpu_per_request_us"] = {
            key: report.cpu_per_request_json(samples) for key, samples in r.samples.items()
        }
        raw[r.mode]["cpu_split_source"] = procstat.split_note()
    Path(path).with_suffix(".json").write_text(json.dumps(raw, indent=1, default=str))


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        # Every server was stopped on the way out (finally blocks).
        print("bench: interrupted", file=sys.stderr)
        sys.exit(130)
