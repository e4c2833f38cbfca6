#!/usr/bin/env python3
"""Deterministic costs of usher, for a machine shared with other work where
req/s are noise: instructions per keep-alive request (callgrind), syscalls
per request (strace -c), idle RSS and RSS per idle keep-alive connection.

    bench/cost.py --usher build/dev/usher                 # everything
    bench/cost.py --usher build/dev/usher --only rss --idle 10000
    bench/cost.py --usher build/rel/usher --only rss --smaps   # idle RSS per mapping

Each figure runs on a fresh usher (one worker) in front of the bench
backend (nginx), with the same config as bench/run. Requests are made by a
Python keep-alive client on one connection, so the count is exact; the
client's own cost is not counted (only usher's process is measured).
"""

import argparse
import os
import re
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


def callgrind(bench, tls, requests, path):
    out = bench.workdir / f"callgrind.{'tls' if tls else 'plain'}.{path.strip('/')}"
    wrapper = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p", "--collect-atstart=yes"]
    server = bench.start(wrapper)
    try:
        c = client(bench, server, tls, path)
        c.run(WARMUP_REQUESTS)
        pid = server.process.pid
        subprocess.run(["callgrind_control", "--zero", str(pid)], check=True, capture_output=True)
        c.run(requests)
        subprocess.run(["callgrind_control", "--dump=measured", str(pid)], check=True,
                       capture_output=True)
        c.close()
    finally:
        bench.stop(server)
    dumps = sorted(bench.workdir.glob(out.name + ".*"))
    measured = [d for d in dumps if b"measured" in d.read_bytes()[:2000]]
    text = measured[0].read_text(errors="replace")
    total = int(re.search(r"^(?:summary|totals): (\d+)", text, re.M).group(1))
    return total / requests, measured[0]


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
    rows = []
    for tls in (True, False):
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
            command = [sys.executable, str(BENCH_DIR / "idle_conns.py"), "--port", str(port),
                       "--count", str(counts), "--path", "/100b",
                       "--expect", str(bench.fixtures.www / "100b"), "--max-hold", "300"]
            if tls:
                command += ["--tls", "--cafile", str(bench.fixtures.cert)]
            opener = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True)
            line = opener.stdout.readline().strip()
            time.sleep(SETTLE_SECONDS)
            held = rss_kib(server)
            opener.stdin.close()
            opener.wait(60)
            rows.append((tls, base, warm, held, line))
        finally:
            bench.stop(server)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--usher", required=True)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--idle", type=int, default=2000, help="idle connections to hold")
    parser.add_argument("--only", choices=["cpu", "syscalls", "rss"], action="append")
    parser.add_argument("--path", default="/100b")
    parser.add_argument("--keep", help="work in this directory and keep it (profiles, logs)")
    parser.add_argument("--smaps", action="store_true",
                        help="with rss: print an idle usher's RSS per mapped file as well")
    args = parser.parse_args()
    only = set(args.only or ["cpu", "syscalls", "rss"])
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
            if "rss" in only and args.smaps:
                rows, total = idle_smaps(bench)
                print(f"idle rss per mapping (KiB, of {total:,.0f} KiB VmRSS): rss anonymous name",
                      flush=True)
                for name, (rss, anon) in sorted(rows.items(), key=lambda kv: -kv[1][0]):
                    if rss:
                        print(f"  {rss:6d} {anon:6d}  {name}", flush=True)
            if "rss" in only:
                for tls, base, warm, held, line in idle_rss(bench, args.idle):
                    name = "https" if tls else "http"
                    print(f"rss {name}: idle {base / 1024:.1f} MiB, after 20 requests "
                          f"{warm / 1024:.1f} MiB, with {line}: {held / 1024:.1f} MiB "
                          f"(+{(held - warm) / 1024:.1f} MiB, "
                          f"{(held - warm) / max(1, args.idle):.2f} KiB per connection)",
                          flush=True)
        finally:
            bench.close()


if __name__ == "__main__":
    main()
