"""Checks made before any measurement: every proxy returns every body byte
for byte, forwards X-Forwarded-For/-Proto, accepts TLS 1.2 and 1.3 and offers
HTTP/2 by ALPN exactly when it serves it.

A proxy that fails a check is left out of the measurements, with the reason
in the report: a fast wrong answer is not a result.
"""

import http.client
import socket
import ssl
import subprocess

from fixtures import BODIES

# Every wait on a proxy here is short: they all answer on loopback.
TIMEOUT_SECONDS = 10

# The name every TLS client of the harness sends as SNI.
SERVER_NAME = "localhost"


class VerifyError(Exception):
    """A check failed; the message says which and how."""


def tls_context(cafile, version=None, alpn=None):
    """A client context that trusts only the benchmark certificate."""
    context = ssl.create_default_context(cafile=str(cafile))
    if version:
        context.minimum_version = context.maximum_version = version
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


class _LoopbackHttps(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1 with SNI `localhost`, whatever localhost resolves to."""

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=SERVER_NAME)


def _get(port, path, context):
    if context:
        connection = _LoopbackHttps(SERVER_NAME, port, timeout=TIMEOUT_SECONDS, context=context)
    else:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def _check_response(what, status, headers, body, expected, scheme):
    if status != 200:
        raise VerifyError(f"{what}: status {status}")
    if body != expected:
        raise VerifyError(f"{what}: body differs ({len(body)} bytes, expected {len(expected)})")
    forwarded_for = headers.get("X-Seen-Forwarded-For", "")
    if "127.0.0.1" not in forwarded_for:
        raise VerifyError(f"{what}: backend saw X-Forwarded-For `{forwarded_for}`")
    proto = headers.get("X-Seen-Forwarded-Proto", "")
    if proto != scheme:
        raise VerifyError(f"{what}: backend saw X-Forwarded-Proto `{proto}`, expected `{scheme}`")


def check_bodies(server, fixtures):
    """Every body over HTTPS (HTTP/1.1) and plain HTTP, byte for byte."""
    context = tls_context(fixtures.cert, alpn=["http/1.1"])
    for path in BODIES:
        expected = fixtures.body(path)
        for scheme, port, ctx in (("https", server.https_port, context), ("http", server.http_port, None)):
            what = f"{server.name} {scheme} GET {path}"
            try:
                _check_response(what, *_get(port, path, ctx), expected, scheme)
            except (OSError, http.client.HTTPException) as error:
                raise VerifyError(f"{what}: {error}") from error


def _handshake(port, context):
    with socket.create_connection(("127.0.0.1", port), TIMEOUT_SECONDS) as sock:
        with context.wrap_socket(sock, server_hostname=SERVER_NAME) as tls:
            return tls.version(), tls.selected_alpn_protocol()


def check_tls(server, fixtures):
    """TLS 1.2 and 1.3 both work; returns the ALPN choice when h2 is offered."""
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        try:
            _handshake(server.https_port, tls_context(fixtures.cert, version))
        except OSError as error:
            raise VerifyError(f"{server.name}: {version.name} handshake: {error}") from error
    _, chosen = _handshake(server.https_port, tls_context(fixtures.cert, alpn=["h2", "http/1.1"]))
    if (chosen == "h2") != server.has_h2:
        raise VerifyError(f"{server.name}: ALPN chose `{chosen}` when offered h2 and http/1.1")
    return chosen or "none"


def check_h2_bodies(server, fixtures):
    """Every body over HTTP/2 (nghttp), byte for byte."""
    for path in BODIES:
        url = f"https://127.0.0.1:{server.https_port}{path}"
        result = subprocess.run(["nghttp", url], capture_output=True, timeout=TIMEOUT_SECONDS)
        if result.returncode or result.stdout != fixtures.body(path):
            detail = result.stderr.decode(errors="replace").strip()[-200:]
            raise VerifyError(f"{server.name} h2 GET {path}: body differs or failed {detail}")


def check_backend(backend, fixtures):
    """The backend itself serves the bodies (it sees no proxy headers)."""
    for path in BODIES:
        status, _, body = _get(backend.http_port, path, None)
        if status != 200 or body != fixtures.body(path):
            raise VerifyError(f"backend GET {path}: status {status}, {len(body)} bytes")


def verify(server, fixtures):
    """All checks for one proxy; returns the ALPN protocol it chose."""
    check_bodies(server, fixtures)
    chosen = check_tls(server, fixtures)
    if server.has_h2:
        check_h2_bodies(server, fixtures)
    return chosen
