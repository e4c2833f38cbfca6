#!/usr/bin/env python3
"""A small upstream server for usher's integration tests.

Listens on 127.0.0.1 (port 0 unless --port), prints "PORT <n>" on stdout once
it accepts connections, and serves:

  /echo...           JSON of what arrived: method, path, query, headers, body length
  /bytes/N           N bytes of a fixed pattern (Content-Length; ?chunked=1 for chunked)
  /upload            reads the whole body, answers its length and SHA-256
  /sse?n=N&gap=S     N server-sent events, S seconds apart
  /slow?delay=S      waits S seconds before the response head
  /status/N          an empty response with status N
  /close-mid-body    promises 1000 bytes, sends 100, closes
  /ws                WebSocket echo (RFC 6455), text and binary frames
  /name              the --name given on the command line (load-balancing tests)
  /health            an empty response with the current health status (--health-status)
  /set-health/N      changes the status /health answers with
  /stats             how many requests arrived so far (not counting /stats)

--unix PATH serves on a Unix socket instead (printing "PORT unix"); --tls CERT
KEY serves HTTPS with that certificate.
"""
import argparse
import base64
import hashlib
import json
import os
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATTERN = bytes(range(256)) * 256  # 64 KiB, repeated for /bytes
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_name_arg = "upstream"
    health_status = 200
    requests_seen = 0
    requests_lock = threading.Lock()

    def log_message(self, fmt, *args):  # quiet: tests read stdout for the port
        pass

    def _body_length(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return None
        return int(self.headers.get("Content-Length", "0"))

    def _read_body(self, sink):
        length = self._body_length()
        if length is not None:
            left = length
            while left > 0:
                data = self.rfile.read(min(left, 65536))
                if not data:
                    break
                sink(data)
                left -= len(data)
            return
        while True:  # chunked
            size_line = self.rfile.readline().strip()
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return
            left = size
            while left > 0:
                data = self.rfile.read(min(left, 65536))
                sink(data)
                left -= len(data)
            self.rfile.readline()

    def _send(self, status, body, content_type="text/plain", extra=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        route = url.path
        if route == "/stats":
            return self._send(200, f"{Handler.requests_seen}\n".encode())
        with Handler.requests_lock:
            Handler.requests_seen += 1
        if route == "/health":
            return self._send(Handler.health_status, b"")
        if route.startswith("/set-health/"):
            Handler.health_status = int(route.split("/")[2])
            return self._send(200, b"")
        if route.startswith("/echo"):
            return self.echo(url)
        if route.startswith("/bytes/"):
            return self.send_bytes(int(route.split("/")[2]), query.get("chunked") == "1")
        if route == "/upload":
            return self.upload()
        if route == "/sse":
            return self.sse(int(query.get("n", "3")), float(query.get("gap", "0.5")))
        if route == "/slow":
            time.sleep(float(query.get("delay", "5")))
            return self._send(200, b"slow\n")
        if route.startswith("/status/"):
            return self._send(int(route.split("/")[2]), b"")
        if route == "/close-mid-body":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"x" * 100)
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if route == "/ws":
            return self.websocket()
        if route == "/name":
            return self._send(200, (Handler.server_name_arg + "\n").encode())
        return self._send(404, b"no such test route\n")

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def echo(self, url):
        received = [0]
        if self.command not in ("GET", "HEAD") or self._body_length() != 0:
            self._read_body(lambda d: received.__setitem__(0, received[0] + len(d)))
        headers = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        body = json.dumps({
            "method": self.command,
            "path": url.path,
            "query": url.query,
            "headers": headers,
            "body_length": received[0],
            "client": self.client_address[0] if self.client_address else "unix",
        }).encode()
        self._send(200, body, "application/json", {"X-Upstream": Handler.server_name_arg})

    def send_bytes(self, n, chunked):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(n))
        self.end_headers()
        if self.command == "HEAD":
            return
        sent = 0
        while sent < n:
            piece = PATTERN[: min(len(PATTERN), n - sent)]
            if chunked:
                self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
            else:
                self.wfile.write(piece)
            sent += len(piece)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def upload(self):
        digest = hashlib.sha256()
        total = [0]

        def sink(data):
            digest.update(data)
            total[0] += len(data)

        self._read_body(sink)
        self._send(200, f"{total[0]} {digest.hexdigest()}\n".encode())

    def sse(self, n, gap):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()  # no length: the body ends when the connection does
        self.close_connection = True
        for i in range(n):
            self.wfile.write(f"data: event {i} at {time.time():.3f}\n\n".encode())
            self.wfile.flush()
            time.sleep(gap)

    def websocket(self):
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        while True:
            frame = read_ws_frame(self.rfile)
            if frame is None:
                return
            opcode, payload = frame
            if opcode == 8:  # close: answer it and stop
                self.wfile.write(bytes([0x88, 0]))
                return
            self.wfile.write(ws_frame(opcode, payload, mask=False))
            self.wfile.flush()


def read_exact(stream, n):
    data = b""
    while len(data) < n:
        piece = stream.read(n - len(data))
        if not piece:
            return None
        data += piece
    return data


def read_ws_frame(stream):
    head = read_exact(stream, 2)
    if head is None:
        return None
    opcode = head[0] & 0x0F
    masked = head[1] & 0x80
    length = head[1] & 0x7F
    if length == 126:
        length = int.from_bytes(read_exact(stream, 2), "big")
    elif length == 127:
        length = int.from_bytes(read_exact(stream, 8), "big")
    mask = read_exact(stream, 4) if masked else b"\0\0\0\0"
    payload = read_exact(stream, length) if length else b""
    if payload is None:
        return None
    return opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_frame(opcode, payload, mask):
    head = bytes([0x80 | opcode])
    bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([bit | 127]) + n.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = b"\x01\x02\x03\x04"
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = 1024

    def get_request(self):
        conn, _ = super().get_request()
        return conn, ("unix", 0)  # handlers expect an (address, port) pair


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--name", default="upstream")
    parser.add_argument("--unix", metavar="PATH")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--health-status", type=int, default=200)
    args = parser.parse_args()
    Handler.server_name_arg = args.name
    Handler.health_status = args.health_status
    if args.unix:
        if os.path.exists(args.unix):
            os.unlink(args.unix)
        server = UnixServer(args.unix, Handler)
        port = "unix"
    else:
        server = Server(("127.0.0.1", args.port), Handler)
        port = server.server_address[1]
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls[0], args.tls[1])
        # The handshake runs in the handler's thread, not in the accept loop.
        server.socket = context.wrap_socket(server.socket, server_side=True,
                                            do_handshake_on_connect=False)
    print(f"PORT {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
