"""Starting and stopping the proxies under test and the static backend.

Each proxy gets its config rendered from bench/configs/ into its own
directory, two free loopback ports (HTTPS and plain HTTP) and, in one-core
mode, a single worker pinned to CPU 0. Only processes started here are ever
stopped, by the PID this module got when it started them.
"""

import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import procstat

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

# How long a server may take to open its ports after being started.
START_TIMEOUT_SECONDS = 15
# The same under valgrind, which starts a program tens of times slower.
WRAPPED_START_TIMEOUT_SECONDS = 120
# How long a server may take to exit after SIGTERM before it is killed.
STOP_TIMEOUT_SECONDS = 5

# CPUs of one-core mode: the proxy alone on the first, everything else on the
# second.
PROXY_CPU = "0"
HELPER_CPU = "1"

# Connections HAProxy may hold: the 10,000 idle ones plus the load tests'.
HAPROXY_MAXCONN = 30000
# File descriptors left for HAProxy's listeners, pollers and logs.
FD_RESERVE = 1000

_PLACEHOLDER = re.compile(r"@[A-Z_]+@")


@dataclass
class Mode:
    """How the processes share the CPUs during one half of the benchmark."""

    name: str
    one_core: bool

    def proxy_pin(self):
        return ["taskset", "-c", PROXY_CPU] if self.one_core else []

    def helper_pin(self):
        return ["taskset", "-c", HELPER_CPU] if self.one_core else []

    def client_threads(self):
        return 1 if self.one_core else max(os.cpu_count() or 1, 1)


ONE_CORE = Mode("one core", True)
ALL_CORES = Mode("all cores", False)


@dataclass
class Server:
    """A running server started by this harness."""

    name: str
    binary: str
    has_h2: bool
    directory: Path
    https_port: int = 0
    http_port: int = 0
    process: subprocess.Popen = None
    pids: list = field(default_factory=list)

    def refresh_pids(self):
        """Re-reads the process tree (nginx forks its workers after start)."""
        if self.process and self.process.poll() is None:
            self.pids = procstat.process_tree(self.process.pid)
        return self.pids

    def log_tail(self, lines=20):
        path = self.directory / "output.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def free_ports(count):
    """count distinct TCP ports on 127.0.0.1 that nothing listens on now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def render(template_name, destination, values):
    """Writes bench/configs/<template_name> with every @NAME@ replaced."""
    text = (CONFIG_DIR / template_name).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", str(value))
    # Comments may mention the placeholder syntax itself.
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    left = _PLACEHOLDER.findall(code)
    if left:
        raise ValueError(f"{template_name}: no value for {', '.join(sorted(set(left)))}")
    destination.write_text(text)
    return destination


def _port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_ready(server, timeout):
    deadline = time.monotonic() + timeout
    ports = [p for p in (server.https_port, server.http_port) if p]
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited at start:\n{server.log_tail()}")
        if all(_port_open(port) for port in ports):
            server.refresh_pids()
            return
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} did not open its ports in time:\n{server.log_tail()}")


def launch(server, command, env=None, registry=None, timeout=START_TIMEOUT_SECONDS):
    """Starts a server, waits for its ports and records its PID."""
    log = open(server.directory / "output.log", "wb")
    # restore_signals=False keeps SIGPIPE ignored, as Python set it and as
    # systemd starts every service (IgnoreSIGPIPE=yes); see bench/README.md.
    server.process = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        restore_signals=False,
    )
    log.close()
    if registry is not None:
        registry.add(server.process.pid)
    _wait_ready(server, timeout)
    return server


def stop(server, registry=None):
    """SIGTERM, then SIGKILL for whatever of its process tree is left."""
    if not server.process:
        return
    tree = server.refresh_pids() or [server.process.pid]
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            pass
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    server.process.wait()
    if registry is not None:
        registry.remove(server.process.pid)


def _prepare_dir(workdir, name):
    directory = workdir / name
    shutil.rmtree(directory, ignore_errors=True)
    (directory / "tmp").mkdir(parents=True)
    (directory / "data").mkdir()
    return directory


def start_backend(workdir, mode, www, registry):
    """nginx serving the three bodies on a free loopback port."""
    server = Server("backend", shutil.which("nginx"), False, _prepare_dir(workdir, "backend"))
    (server.http_port,) = free_ports(1)
    conf = render(
        "backend.nginx.conf",
        server.directory / "nginx.conf",
        {
            "WORKERS": 1 if mode.one_core else "auto",
            "DIR": server.directory,
            "PORT": server.http_port,
            "WWW": www,
        },
    )
    command = [*mode.helper_pin(), server.binary, "-p", str(server.directory), "-c", str(conf)]
    command += ["-e", str(server.directory / "error.log")]
    return launch(server, command, registry=registry)


def _common_values(server, fixtures, backend):
    return {
        "DIR": server.directory,
        "HTTPS_PORT": server.https_port,
        "HTTP_PORT": server.http_port,
        "BACKEND_PORT": backend.http_port,
        "CERT": fixtures.cert,
        "KEY": fixtures.key,
        "CERT_AND_KEY": fixtures.cert_and_key,
    }


def _nginx_command(server, mode, values):
    values["WORKERS"] = 1 if mode.one_core else "auto"
    conf = render("nginx.conf", server.directory / "nginx.conf", values)
    command = [server.binary, "-p", str(server.directory), "-c", str(conf)]
    return command + ["-e", str(server.directory / "error.log")], None


def max_connections():
    """Connections every proxy can hold under the open-file limit: HAProxy
    reserves two descriptors per connection and refuses to start when that
    exceeds the hard limit, even for connections that would need one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return min(HAPROXY_MAXCONN, (max(soft, hard) - FD_RESERVE) // 2)


def _haproxy_command(server, mode, values):
    values["NBTHREAD"] = "nbthread 1" if mode.one_core else ""
    values["MAXCONN"] = max_connections()
    conf = render("haproxy.cfg", server.directory / "haproxy.cfg", values)
    # -db: stay in the foreground as one process, so that its PID is ours.
    return [server.binary, "-db", "-f", str(conf)], None


def _private_env(server):
    env = dict(os.environ)
    env["HOME"] = str(server.directory)
    env["XDG_DATA_HOME"] = str(server.directory / "data")
    env["XDG_CONFIG_HOME"] = str(server.directory / "data")
    return env


def _caddy_command(server, mode, values):
    conf = render("caddy.Caddyfile", server.directory / "Caddyfile", values)
    env = _private_env(server)
    if mode.one_core:
        env["GOMAXPROCS"] = "1"
    return [server.binary, "run", "--adapter", "caddyfile", "--config", str(conf)], env


def _usher_command(server, mode, values):
    values["WORKERS_LINE"] = "workers 1" if mode.one_core else ""
    conf = render("usher.Caddyfile", server.directory / "Caddyfile", values)
    return [server.binary, "run", "--config", str(conf)], _private_env(server)


def _h2o_command(server, mode, values):
    values["NUM_THREADS"] = "num-threads: 1" if mode.one_core else ""
    conf = render("h2o.conf", server.directory / "h2o.conf", values)
    return [server.binary, "-c", str(conf)], _private_env(server)


# name -> (how to build its command line, whether it serves HTTP/2).
PROXIES = {
    "nginx": (_nginx_command, True),
    "haproxy": (_haproxy_command, True),
    "caddy": (_caddy_command, True),
    "h2o": (_h2o_command, True),
    "usher": (_usher_command, True),
}


def start_proxy(name, binary, workdir, mode, fixtures, backend, registry, wrapper=(), label=""):
    """Starts one proxy in front of the backend, under `wrapper` (a profiler
    such as valgrind) when one is given; `label` names a second instance's
    directory."""
    build_command, has_h2 = PROXIES[name]
    server = Server(name, binary, has_h2, _prepare_dir(workdir, name + label))
    server.https_port, server.http_port = free_ports(2)
    command, env = build_command(server, mode, _common_values(server, fixtures, backend))
    timeout = WRAPPED_START_TIMEOUT_SECONDS if wrapper else START_TIMEOUT_SECONDS
    return launch(server, [*mode.proxy_pin(), *wrapper, *command], env, registry, timeout)
