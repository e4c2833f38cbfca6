"""The load generators: wrk for HTTP/1.1 keep-alive, h2load for HTTP/2 and
for new TLS connections, each run bounded in time and parsed into numbers.

wrk resumes TLS sessions when it reconnects, so it cannot measure full
handshakes; h2load never calls SSL_set_session, so every connection it opens
is a full handshake (see bench/README.md).
"""

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

# Seconds a load generator may run past its own duration before it is killed;
# covers its connection set-up and the drain of the last requests.
OVERRUN_SECONDS = 15

# A count-bounded run may take this many times its planned duration before
# it is killed (a proxy slower than its warm-up suggested).
SLOW_FACTOR = 3

# A run of h2load in which more than this share of requests failed is an
# error; a few in flight when the duration ends may be reported as failed.
MAX_FAILED_SHARE = 0.001

_UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}
_UNIT_BYTES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


@dataclass
class LoadResult:
    """What one load-generator run measured, or why it failed."""

    values: dict = field(default_factory=dict)
    error: str = ""
    client_cpu: float = 0.0
    wall: float = 0.0
    output: str = ""


def _wait_until(pid, deadline):
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


def run_bounded(command, limit_seconds):
    """Runs command with stdout and stderr captured, killing it after
    limit_seconds; returns (exit status, output, CPU seconds, wall seconds).

    os.wait4 gives the child's own CPU time, which /proc no longer has once
    the process is gone.
    """
    with tempfile.TemporaryFile() as out:
        start = time.monotonic()
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            status, usage = _wait_until(proc.pid, start + limit_seconds)
        except BaseException:
            # Interrupted (ctrl-c): the load generator must not outlive us.
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.kill(proc.pid, signal.SIGKILL)
                os.wait4(proc.pid, 0)
            raise
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - start
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    return proc.returncode, text, usage.ru_utime + usage.ru_stime, wall


def _seconds(number, unit):
    return float(number) * _UNIT_SECONDS[unit]


def parse_wrk(text):
    """Requests/s, p99 latency and transfer rate from `wrk --latency`."""
    values = {}
    match = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if match:
        values["rps"] = float(match.group(1))
    match = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    if match:
        values["p99_ms"] = _seconds(*match.groups()) * 1000
    match = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB|TB)", text)
    if match:
        values["bytes_per_s"] = float(match.group(1)) * _UNIT_BYTES[match.group(2)]
    return values


def wrk_errors(text):
    """Why a wrk run does not count, or "" when every response was fine."""
    problems = []
    match = re.search(r"Socket errors: (.*)", text)
    if match and any(int(n) for n in re.findall(r"\d+", match.group(1))):
        problems.append("socket errors: " + match.group(1).strip())
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if match:
        problems.append(match.group(1) + " non-2xx responses")
    if "rps" not in parse_wrk(text):
        problems.append("no result from wrk")
    return "; ".join(problems)


def parse_h2load(text):
    """Requests/s, request counts and the protocol from h2load's summary."""
    values = {}
    match = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", text)
    if match:
        values["rps"] = float(match.group(1))
    match = re.search(
        r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
        r"(\d+) failed, (\d+) errored",
        text,
    )
    if match:
        keys = ("total", "started", "done", "succeeded", "failed", "errored")
        values.update(zip(keys, (int(n) for n in match.groups())))
    match = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    if match:
        values["non_2xx"] = sum(int(n) for n in match.groups()[1:])
    match = re.search(r"Application protocol: (\S+)", text)
    if match:
        values["protocol"] = match.group(1)
    return values


def h2load_errors(values, protocol):
    """Why an h2load run does not count, or "" when it is clean."""
    if "rps" not in values or "done" not in values:
        return "no result from h2load"
    problems = []
    if values.get("protocol") != protocol:
        problems.append(f"negotiated {values.get('protocol')}, wanted {protocol}")
    if values.get("non_2xx"):
        problems.append(f"{values['non_2xx']} non-2xx responses")
    if values["errored"] or values["failed"] > MAX_FAILED_SHARE * max(values["done"], 1):
        problems.append(f"{values['failed']} failed, {values['errored']} errored")
    if not values["succeeded"]:
        problems.append("no request succeeded")
    return "; ".join(problems)


def run_wrk(url, connections, threads, seconds, pin=()):
    """An HTTP/1.1 keep-alive run of wrk."""
    command = [*pin, "wrk", "--latency", "-t", str(threads), "-c", str(connections)]
    command += ["-d", f"{seconds}s", "--timeout", "5s", url]
    status, text, cpu, wall = run_bounded(command, seconds + OVERRUN_SECONDS)
    error = wrk_errors(text) or (f"wrk exited with {status}" if status else "")
    return LoadResult(parse_wrk(text), error, cpu, wall, text)


def run_h2load(url, connections, streams, threads, seconds, pin=(), extra=(), protocol="h2"):
    """A time-bounded h2load run (-D); `extra` adds flags such as --h1."""
    command = [*pin, "h2load", "-c", str(connections), "-m", str(streams)]
    command += ["-t", str(threads), "-D", str(seconds), *extra, url]
    return _h2load_result(command, seconds + OVERRUN_SECONDS, protocol)


def run_new_tls(url, connections, threads, count, seconds, pin=(), extra=()):
    """count requests, one per connection, each connection a full TLS
    handshake: `Connection: close` makes the proxy close after its response
    and h2load opens a fresh connection without a session to resume.

    h2load's -D mode never finishes when the server closes connections, so
    this run is bounded by count (sized by the caller to last about
    `seconds`) and killed after SLOW_FACTOR times that.
    """
    command = [*pin, "h2load", "--h1", "-H", "Connection: close", "-c", str(connections)]
    command += ["-m", "1", "-t", str(threads), "-n", str(count), *extra, url]
    return _h2load_result(command, SLOW_FACTOR * seconds + OVERRUN_SECONDS, "http/1.1")


def _h2load_result(command, limit_seconds, protocol):
    status, text, cpu, wall = run_bounded(command, limit_seconds)
    values = parse_h2load(text)
    error = h2load_errors(values, protocol) or (f"h2load exited with {status}" if status else "")
    return LoadResult(values, error, cpu, wall, text)
