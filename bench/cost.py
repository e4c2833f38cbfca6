#!/usr/bin/env python3
"""Deterministic costs of usher, for a machine shared with other work where
req/s are noise: instructions per keep-alive request (callgrind), syscalls
per request (strace -c), idle RSS and RSS per idle keep-alive connection,
and the same two per-request costs over HTTP/2 (--only h2).

    bench/cost.py --usher build/dev/usher                 # everything but HTTP/2
    bench/cost.py --usher build/dev/usher --only rss --idle 10000
    bench/cost.py --usher build/rel/usher --only rss --smaps   # idle RSS per mapping
    /usr/bin/python3 bench/cost.py --usher build/rel/usher --only h2 --h2 50x10
    /usr/bin/python3 bench/cost.py --usher build/rel/usher --only h2 \
        --h2-figures cputime --h2-peer h2o

The HTTP/2 figure needs Debian's python3-h2 (hence /usr/bin/python3 when
another python3 comes first on PATH); `--h2-peer h2o` (or haproxy, nginx)
measures a peer the same way (instructions only for haproxy: nginx's worker
is a forked child, and h2o stops answering under valgrind).

Each figure runs on a fresh usher (one worker) in front of the bench
backend (nginx), with the same config as bench/run. Requests are made by a
Python keep-alive client on one connection, so the count is exact; the
client's own cost is not counted (only usher's process is measured).
"""

import argparse
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import fixtures as fixtures_mod  # noqa: E402
import procstat  # noqa: E402
import targets  # noqa: E402

# Requests made before counting, so that pools, caches and buffers are warm.
WARMUP_REQUESTS = 200
# Seconds allowed for one response (valgrind makes usher ~50x slower).
RESPONSE_TIMEOUT = 30
# Seconds the RSS of an idle process is left to settle before it is read:
# more than two of usher's once-a-second sweeps, which trim idle connections.
SETTLE_SECONDS = 2.5


class KeepAliveClient:
    """One HTTP/1.1 keep-alive connection making GET requests in sequence."""

    def __init__(self, port, tls, cafile, path):
        sock = socket.create_connection(("127.0.0.1", port), timeout=RESPONSE_TIMEOUT)
        host = "localhost" if tls else "127.0.0.1"
        if tls:
            context = ssl.create_default_context(cafile=str(cafile))
            context.set_alpn_protocols(["http/1.1"])
            sock = context.wrap_socket(sock, server_hostname="localhost")
        self.sock = sock
        self.request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
        self.buffer = b""

    def _fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise RuntimeError("usher closed the connection")
        self.buffer += data

    def get(self):
        self.sock.sendall(self.request)
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError("unexpected response: " + head[:60].decode(errors="replace"))
        match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        length = int(match.group(1))
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return body

    def run(self, count):
        for _ in range(count):
            self.get()

    def close(self):
        self.sock.close()


class Bench:
    def __init__(self, usher, workdir):
        self.usher = usher
        self.workdir = Path(workdir)
        self.fixtures = fixtures_mod.make_fixtures(self.workdir)
        self.registry = set()
        self.backend = targets.start_backend(
            self.workdir, targets.ALL_CORES, self.fixtures.www, self.registry
        )
        self.count = 0

    def start(self, wrapper=()):
        self.count += 1
        return targets.start_proxy(
            "usher", self.usher, self.workdir, targets.ONE_CORE_UNPINNED, self.fixtures,
            self.backend, self.registry, wrapper=wrapper, label=str(self.count),
        )

    def stop(self, server):
        targets.stop(server, self.registry)

    def close(self):
        targets.stop(self.backend, self.registry)


def client(bench, server, tls, path="/100b"):
    port = server.https_port if tls else server.http_port
    return KeepAliveClient(port, tls, bench.fixtures.cert, path)


def callgrind_wrapper(out):
    """valgrind's command line for a server whose dumps go to `out`.<pid>."""
    return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p",
            "--collect-atstart=yes"]


def callgrind_measure(bench, server, out, warm_up, measure):
    """Instructions per request of `server` (started under callgrind_wrapper
    (out)): warm_up() runs uncounted, the counters are zeroed, measure()
    makes the requests it returns the count of, and the dump taken right
    after holds only those. Stops the server."""
    try:
        warm_up()
        pid = str(server.process.pid)
        subprocess.run(["callgrind_control", "--zero", pid], check=True, capture_output=True)
        made = measure()
        subprocess.run(["callgrind_control", "--dump=measured", pid], check=True,
                       capture_output=True)
    finally:
        bench.stop(server)
    dumps = sorted(bench.workdir.glob(out.name + ".*"))
    measured = [d for d in dumps if b"measured" in d.read_bytes()[:2000]]
    text = measured[0].read_text(errors="replace")
    total = int(re.search(r"^(?:summary|totals): (\d+)", text, re.M).group(1))
    return total / made, measured[0]


def callgrind(bench, tls, requests, path):
    out = bench.workdir / f"callgrind.{'tls' if tls else 'plain'}.{path.strip('/')}"
    server = bench.start(callgrind_wrapper(out))
    c = None

    def warm_up():
        nonlocal c
        c = client(bench, server, tls, path)
        c.run(WARMUP_REQUESTS)

    def measure():
        c.run(requests)
        return requests

    try:
        return callgrind_measure(bench, server, out, warm_up, measure)
    finally:
        if c is not None:
            c.close()


def syscalls(bench, tls, requests, path):
    server = bench.start()
    try:
        c = client(bench, server, tls, path)
        c.run(WARMUP_REQUESTS)
        log = bench.workdir / f"strace.{'tls' if tls else 'plain'}"
        tracer = subprocess.Popen(
            ["strace", "-c", "-f", "-o", str(log), "-p", str(server.process.pid)],
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)  # strace attaches to every thread
        c.run(requests)
        tracer.send_signal(signal.SIGINT)
        tracer.wait(30)
        c.close()
    finally:
        bench.stop(server)
    text = log.read_text()
    total = re.search(r"^-+\s.*\n100\.00\s+\S+\s+\S+\s+(\d+)", text, re.M)
    calls = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[-1].isidentifier() and parts[0][0].isdigit() \
                and parts[-1] != "total":
            calls[parts[-1]] = int(parts[3])
    return int(total.group(1)) / requests, {k: v / requests for k, v in calls.items()}


def rss_kib(server):
    return procstat.rss_bytes(server.refresh_pids()) / 1024


def smaps_by_file(pid):
    """Resident KiB of one process per mapped file (all of its mappings
    summed), anonymous and stack mappings by their kernel names: where an
    idle process's RSS comes from. Returns {name: (rss, anonymous)}."""
    totals = {}
    current = None
    with open(f"/proc/{pid}/smaps", encoding="ascii", errors="replace") as f:
        for line in f:
            fields = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+$", fields[0]):
                name = fields[5] if len(fields) > 5 else "[anonymous]"
                current = totals.setdefault(os.path.basename(name), [0, 0])
            elif fields[0] == "Rss:":
                current[0] += int(fields[1])
            elif fields[0] == "Anonymous:":
                current[1] += int(fields[1])
    return {name: tuple(v) for name, v in totals.items()}


def idle_smaps(bench):
    """The idle RSS of a fresh usher (after settling), per mapping."""
    server = bench.start()
    try:
        time.sleep(SETTLE_SECONDS)
        pids = server.refresh_pids()
        rows = {}
        for pid in pids:
            for name, (rss, anon) in smaps_by_file(pid).items():
                old = rows.get(name, (0, 0))
                rows[name] = (old[0] + rss, old[1] + anon)
        return rows, rss_kib(server)
    finally:
        bench.stop(server)


def idle_rss(bench, counts):
    """RSS per idle connection: HTTP/1.1 over TLS, plain HTTP/1.1, and h2
    over TLS (browsers keep idle h2 connections open)."""
    rows = []
    for name in ("https", "http", "h2"):
        tls = name != "http"
        server = bench.start()
        try:
            time.sleep(SETTLE_SECONDS)
            base = rss_kib(server)
            c = client(bench, server, tls)
            c.run(20)
            c.close()
            time.sleep(SETTLE_SECONDS)
            warm = rss_kib(server)
            port = server.https_port if tls else server.http_port
            # The h2 opener needs Debian's python3-h2, hence /usr/bin/python3.
            opener = [sys.executable, str(BENCH_DIR / "idle_conns.py")] if name != "h2" else \
                ["/usr/bin/python3", str(BENCH_DIR / "idle_h2_conns.py")]
            command = [*opener, "--port", str(port),
                       "--count", str(counts), "--path", "/100b",
                       "--expect", str(bench.fixtures.www / "100b"), "--max-hold", "300"]
            if name == "https":
                command += ["--tls", "--cafile", str(bench.fixtures.cert)]
            elif name == "h2":
                command += ["--cafile", str(bench.fixtures.cert)]
            opener = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True)
            line = opener.stdout.readline().strip()
            time.sleep(SETTLE_SECONDS)
            held = rss_kib(server)
            opener.stdin.close()
            opener.wait(60)
            rows.append((name, base, warm, held, line))
        finally:
            bench.stop(server)
    return rows


# ---------------------------------------------------------------- HTTP/2

# h2load's figure in bench/run: 50 connections, 10 streams in flight on each.
H2_SHAPE = "50x10"
# HTTP/2 requests made before counting (per connection, on top of the
# handshake): HPACK tables, pools and buffers are then warm.
H2_WARMUP_ROUNDS = 4


class H2Client:
    """`connections` TLS connections speaking HTTP/2 (ALPN h2) with python3-h2,
    each keeping `streams` GET requests in flight: a batch of `streams`
    HEADERS frames leaves in one write, the next batch once all of them are
    answered (as h2load -m refills, minus its timing). Every body is checked,
    so the request count is exact and every request did succeed."""

    def __init__(self, port, cafile, path, expect, connections, streams):
        import h2.config  # noqa: PLC0415 (python3-h2 only where this figure runs)
        import h2.connection  # noqa: PLC0415

        self.path, self.expect, self.streams = path, expect, streams
        context = ssl.create_default_context(cafile=str(cafile))
        context.set_alpn_protocols(["h2"])
        self.conns = []
        for _ in range(connections):
            raw = socket.create_connection(("127.0.0.1", port), timeout=RESPONSE_TIMEOUT)
            sock = context.wrap_socket(raw, server_hostname="localhost")
            if sock.selected_alpn_protocol() != "h2":
                raise RuntimeError(f"ALPN picked {sock.selected_alpn_protocol()!r}, not h2")
            conn = h2.connection.H2Connection(
                h2.config.H2Configuration(client_side=True, header_encoding=None))
            conn.initiate_connection()
            # A large connection window: WINDOW_UPDATEs to usher stay rare.
            conn.increment_flow_control_window(1 << 24)
            sock.sendall(conn.data_to_send())
            self.conns.append((sock, conn))
        self.authority = f"localhost:{port}".encode()

    def _send_batch(self, sock, conn, count, open_streams):
        headers = [(b":method", b"GET"), (b":scheme", b"https"),
                   (b":authority", self.authority), (b":path", self.path.encode())]
        for _ in range(count):
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, headers, end_stream=True)
            open_streams[sid] = [None, b""]
        sock.sendall(conn.data_to_send())

    def _receive(self, sock, conn, open_streams):
        import h2.events  # noqa: PLC0415

        data = sock.recv(1 << 20)
        if not data:
            raise RuntimeError("usher closed the HTTP/2 connection")
        finished = 0
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                open_streams[event.stream_id][0] = dict(event.headers).get(b":status")
            elif isinstance(event, h2.events.DataReceived):
                open_streams[event.stream_id][1] += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                status, body = open_streams.pop(event.stream_id)
                if status != b"200" or body != self.expect:
                    raise RuntimeError(f"stream {event.stream_id}: status {status!r}, "
                                       f"{len(body)} body bytes, not 200 with the file")
                finished += 1
            elif isinstance(event, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                raise RuntimeError(f"usher ended a stream or the connection: {event}")
        pending = conn.data_to_send()
        if pending:
            sock.sendall(pending)
        return finished

    def run(self, rounds):
        """Makes rounds x connections x streams requests; returns the count."""
        import select  # noqa: PLC0415

        done = 0
        for _ in range(rounds):
            state = {}
            for sock, conn in self.conns:
                state[sock] = (conn, {})
                self._send_batch(sock, conn, self.streams, state[sock][1])
            waiting = {sock for sock in state}
            while waiting:
                # TLS may hold decrypted bytes that select() cannot see.
                ready = [s for s in waiting if s.pending()]
                if not ready:
                    ready, _, _ = select.select(list(waiting), [], [], RESPONSE_TIMEOUT)
                    if not ready:
                        raise RuntimeError("no HTTP/2 response within the timeout")
                for sock in ready:
                    conn, open_streams = state[sock]
                    done += self._receive(sock, conn, open_streams)
                    if not open_streams:
                        waiting.discard(sock)
        return done

    def close(self):
        for sock, conn in self.conns:
            conn.close_connection()
            try:
                sock.sendall(conn.data_to_send())
            except OSError:
                pass
            sock.close()


def parse_shape(text):
    connections, _, streams = text.partition("x")
    return int(connections), int(streams)


def h2_client(bench, port, shape, path):
    connections, streams = parse_shape(shape)
    return H2Client(port, bench.fixtures.cert, path, bench.fixtures.body(path),
                    connections, streams)


def h2_rounds(shape, requests):
    connections, streams = parse_shape(shape)
    return max(1, requests // (connections * streams))


def start_peer(bench, peer, wrapper=()):
    """A peer proxy (h2o, haproxy, nginx) with its bench/run config, one
    worker, in front of the same backend."""
    return targets.start_proxy(peer, shutil.which(peer), bench.workdir,
                               targets.ONE_CORE_UNPINNED, bench.fixtures, bench.backend,
                               bench.registry, wrapper=wrapper, label="-cost")


def h2_callgrind(bench, shape, requests, path, peer=None):
    """Instructions per HTTP/2 request in usher (one worker), or in a peer
    that runs as one process (haproxy), handshakes and warm-up excluded."""
    out = bench.workdir / f"callgrind.h2.{peer or 'usher'}.{shape}"
    wrapper = callgrind_wrapper(out)
    server = bench.start(wrapper) if peer is None else start_peer(bench, peer, wrapper)
    c = None

    def warm_up():
        nonlocal c
        c = h2_client(bench, server.https_port, shape, path)
        c.run(H2_WARMUP_ROUNDS)

    try:
        return callgrind_measure(bench, server, out, warm_up,
                                 lambda: c.run(h2_rounds(shape, requests)))
    finally:
        if c is not None:
            c.close()


def strace_counts(log):
    """(total calls, {syscall: calls}) from an `strace -c` summary."""
    text = log.read_text()
    total = re.search(r"^-+\s.*\n100\.00\s+\S+\s+\S+\s+(\d+)", text, re.M)
    calls = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[-1].isidentifier() and parts[0][0].isdigit() \
                and parts[-1] != "total":
            calls[parts[-1]] = int(parts[3])
    return int(total.group(1)), calls


def h2_syscalls_of(bench, server, shape, requests, path, label):
    """Syscalls per HTTP/2 request of every process of `server` (usher or a
    peer), counted with strace -c -f over the measured rounds only."""
    c = h2_client(bench, server.https_port, shape, path)
    c.run(H2_WARMUP_ROUNDS)
    log = bench.workdir / f"strace.h2.{label}"
    command = ["strace", "-c", "-f", "-o", str(log)]
    for pid in server.refresh_pids():
        command += ["-p", str(pid)]
    tracer = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # strace attaches to every thread
    made = c.run(h2_rounds(shape, requests))
    tracer.send_signal(signal.SIGINT)
    tracer.wait(30)
    c.close()
    total, calls = strace_counts(log)
    return total / made, {k: v / made for k, v in calls.items()}


def h2_syscalls(bench, shape, requests, path, peer=None):
    server = bench.start() if peer is None else start_peer(bench, peer)
    try:
        return h2_syscalls_of(bench, server, shape, requests, path, peer or "usher")
    finally:
        bench.stop(server)


# Rounds of the CPU-time figure; each proxy is loaded once per round, in
# turn, so that outside load hits every one alike.
H2_CPU_ROUNDS = 3
# Seconds one h2load run may take before it is stopped.
H2LOAD_TIMEOUT = 120


def h2load(server, shape, requests, path):
    connections, streams = parse_shape(shape)
    url = f"https://localhost:{server.https_port}{path}"
    command = ["timeout", str(H2LOAD_TIMEOUT), "h2load", "-n", str(requests),
               "-c", str(connections), "-m", str(streams), url]
    result = subprocess.run(command, capture_output=True, text=True)
    done = re.search(r"^requests: .* (\d+) succeeded, (\d+) failed", result.stdout, re.M)
    if result.returncode != 0 or not done or int(done.group(1)) != requests:
        raise RuntimeError(f"h2load against {server.name}: {result.stdout[-300:]}")


def h2_cpu_time(bench, shape, requests, path, peer=None):
    """CPU time (user + system, every thread) per HTTP/2 request made by
    h2load, for usher and a peer in alternation. Not an exact count like
    the others: steadier than req/s (it does not depend on how much of a
    core the proxy got), but it still swings when other work fills both
    cores; compare proxies of one run only, and look at the rounds."""
    servers = [bench.start()] + ([start_peer(bench, peer)] if peer else [])
    try:
        samples = {server.name: [] for server in servers}
        for _ in range(H2_CPU_ROUNDS):
            for server in servers:
                h2load(server, shape, requests // 10, path)  # warm-up
                pids = server.refresh_pids()
                before = procstat.cpu_seconds(pids)
                h2load(server, shape, requests, path)
                samples[server.name].append((procstat.cpu_seconds(pids) - before) / requests)
        return samples
    finally:
        for server in servers:
            bench.stop(server)


def print_h2(bench, args):
    if "cputime" in args.h2_figures:
        samples = h2_cpu_time(bench, args.h2, args.h2_load_requests, args.path, args.h2_peer)
        for name, values in samples.items():
            shown = ", ".join(f"{v * 1e6:.1f}" for v in values)
            print(f"cpu time per request, h2load {args.h2} {args.path} ({name}): "
                  f"{sorted(values)[len(values) // 2] * 1e6:.1f} us (rounds: {shown})", flush=True)
    # nginx forks its worker out of valgrind's sight; h2o stops answering
    # under valgrind (seen with Debian's h2o 2.2.5).
    if "cpu" in args.h2_figures and args.h2_peer in ("nginx", "h2o"):
        print(f"instructions per request, h2 ({args.h2_peer}): not measured under valgrind",
              flush=True)
    elif "cpu" in args.h2_figures:
        ir, _ = h2_callgrind(bench, args.h2, args.requests, args.path, args.h2_peer)
        print(f"instructions per request, h2 {args.h2} {args.path} ({args.h2_peer or 'usher'}): "
              f"{ir:,.0f}", flush=True)
    if "syscalls" in args.h2_figures:
        per, calls = h2_syscalls(bench, args.h2, args.requests, args.path, args.h2_peer)
        top = ", ".join(f"{k} {v:.3f}" for k, v in
                        sorted(calls.items(), key=lambda kv: -kv[1])[:10])
        print(f"syscalls per request, h2 {args.h2} ({args.h2_peer or 'usher'}): {per:.3f} "
              f"({top})", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--usher", required=True)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--idle", type=int, default=2000, help="idle connections to hold")
    parser.add_argument("--only", choices=["cpu", "syscalls", "rss", "h2"], action="append")
    parser.add_argument("--h2", default=H2_SHAPE, metavar="CxM",
                        help="HTTP/2 figure: C connections with M streams in flight each")
    parser.add_argument("--h2-figures", default="cpu,syscalls",
                        help="which HTTP/2 figures (comma-separated): cpu, syscalls, cputime "
                        "(CPU time per request under h2load, usher and --h2-peer in turn)")
    parser.add_argument("--h2-load-requests", type=int, default=60000,
                        help="requests per h2load run of the cputime figure")
    parser.add_argument("--h2-peer", choices=["h2o", "haproxy", "nginx"],
                        help="measure that proxy instead of usher (instructions: haproxy "
                        "only)")
    parser.add_argument("--path", default="/100b")
    parser.add_argument("--keep", help="work in this directory and keep it (profiles, logs)")
    parser.add_argument("--smaps", action="store_true",
                        help="with rss: print an idle usher's RSS per mapped file as well")
    args = parser.parse_args()
    # HTTP/2 only when asked for: it needs python3-h2, which another python3
    # on PATH may lack.
    only = set(args.only or ["cpu", "syscalls", "rss"])
    args.h2_figures = set(args.h2_figures.split(","))
    targets.ONE_CORE_UNPINNED = targets.Mode("one worker", True)
    targets.ONE_CORE_UNPINNED.proxy_pin = lambda: []
    with tempfile.TemporaryDirectory(prefix="usher-cost-") as tmp:
        workdir = args.keep or tmp
        os.makedirs(workdir, exist_ok=True)
        os.chmod(workdir, 0o755)  # nginx's workers (www-data when run as root) read the bodies
        bench = Bench(os.path.abspath(args.usher), workdir)
        try:
            if "cpu" in only:
                for tls in (True, False):
                    ir, _ = callgrind(bench, tls, args.requests, args.path)
                    print(f"instructions per request, {'https' if tls else 'http'} "
                          f"{args.path}: {ir:,.0f}", flush=True)
            if "syscalls" in only:
                for tls in (True, False):
                    per, calls = syscalls(bench, tls, args.requests, args.path)
                    top = ", ".join(f"{k} {v:.2f}" for k, v in
                                    sorted(calls.items(), key=lambda kv: -kv[1])[:10])
                    print(f"syscalls per request, {'https' if tls else 'http'}: {per:.2f} "
                          f"({top})", flush=True)
            if "h2" in only:
                print_h2(bench, args)
            if "rss" in only and args.smaps:
                rows, total = idle_smaps(bench)
                print(f"idle rss per mapping (KiB, of {total:,.0f} KiB VmRSS): rss anonymous name",
                      flush=True)
                for name, (rss, anon) in sorted(rows.items(), key=lambda kv: -kv[1][0]):
                    if rss:
                        print(f"  {rss:6d} {anon:6d}  {name}", flush=True)
            if "rss" in only:
                for name, base, warm, held, line in idle_rss(bench, args.idle):
                    print(f"rss {name}: idle {base / 1024:.1f} MiB, after 20 requests "
                          f"{warm / 1024:.1f} MiB, with {line}: {held / 1024:.1f} MiB "
                          f"(+{(held - warm) / 1024:.1f} MiB, "
                          f"{(held - warm) / max(1, args.idle):.2f} KiB per connection)",
                          flush=True)
        finally:
            bench.close()


if __name__ == "__main__":
    main()
