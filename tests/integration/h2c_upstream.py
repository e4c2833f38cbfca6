#!/usr/bin/python3
"""An h2c (HTTP/2 with prior knowledge, cleartext) upstream for the
integration tests, on Debian's python3-h2. One thread per connection, each
driving its own h2 state machine; prints `PORT n` once listening.

Endpoints:
  /echo...         JSON: method, path, headers, body length, sha256, first 4 KiB, trailers
  /download?n=N    N bytes of a fixed pattern (Content-Length set)
  /grpc            gRPC-shaped: every length-prefixed message is answered with
                   "echo:<message>" as soon as it arrives; trailers grpc-status: 0;
                   the response field x-seen-te says the request's te field
  /grpc-unimplemented  gRPC trailers-only answer (grpc-status 12) at once, while
                   the request is still open
  /stats           JSON: connections accepted, streams seen, streams the client reset
  /hang            never answers
  /health...       an active health check: answers with the status written in
                   --health-file (200 when it is absent or empty) and prints
                   `HEALTH HTTP/2 <method> <path> authority=<a> user-agent=<ua>`
Prints `GOAWAY from client error=N` when the client ends a connection.
Options:
  --goaway-after N  after N streams on a connection, refuse the next one with
                    GOAWAY (last-stream-id = the last one served) and close
  --health-file F   where /health reads the status to answer with
"""

import argparse
import hashlib
import json
import socket
import struct
import sys
import threading
from urllib.parse import parse_qs, urlsplit

import h2.config
import h2.connection
import h2.events
import h2.settings

PATTERN = bytes(range(256)) * 256  # 64 KiB
STATS = {"connections": 0, "streams": 0, "resets": 0}
STATS_LOCK = threading.Lock()


def pattern_bytes(offset, n):
    """n bytes of the repeating pattern starting at offset."""
    out = bytearray()
    while n > 0:
        start = offset % len(PATTERN)
        piece = PATTERN[start:start + n]
        out += piece
        offset += len(piece)
        n -= len(piece)
    return bytes(out)


class Stream:
    def __init__(self, stream_id, headers):
        self.id = stream_id
        self.headers = headers
        self.pseudo = {k: v for k, v in headers if k.startswith(":")}
        self.hash = hashlib.sha256()
        self.length = 0
        self.first = bytearray()
        self.trailers = []
        self.pending = bytearray()  # gRPC bytes not yet a whole message
        # Outgoing body: bytes queued, or a download still producing.
        self.out = bytearray()
        self.download_left = 0
        self.download_offset = 0
        self.finish_after_out = False
        self.trailers_after_out = None


class Connection:
    def __init__(self, sock, args):
        self.sock = sock
        self.args = args
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=config)
        self.streams = {}
        self.served = 0
        self.last_served = 0
        self.closing = False

    def run(self):
        self.conn.initiate_connection()
        self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20,
                                   h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS:
                                       self.args.max_streams})
        self.conn.increment_flow_control_window(1 << 24)
        self.flush()
        while not self.closing:
            try:
                data = self.sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            try:
                events = self.conn.receive_data(data)
            except Exception as e:  # protocol error: report and end the connection
                print(f"protocol error: {e!r}", file=sys.stderr, flush=True)
                self.flush()
                break
            for event in events:
                self.handle(event)
            self.send_pending()
            self.flush()
        self.sock.close()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def handle(self, event):
        if isinstance(event, h2.events.RequestReceived):
            self.on_request(event)
        elif isinstance(event, h2.events.DataReceived):
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            s = self.streams.get(event.stream_id)
            if s is not None:
                self.on_data(s, event.data)
        elif isinstance(event, h2.events.TrailersReceived):
            s = self.streams.get(event.stream_id)
            if s is not None:
                s.trailers = list(event.headers)
        elif isinstance(event, h2.events.StreamEnded):
            s = self.streams.get(event.stream_id)
            if s is not None:
                self.on_end(s)
        elif isinstance(event, h2.events.StreamReset):
            with STATS_LOCK:
                STATS["resets"] += 1
            self.streams.pop(event.stream_id, None)
        elif isinstance(event, h2.events.ConnectionTerminated):
            # The proxy closing an idle connection says so first (RFC 9113 §6.8).
            print(f"GOAWAY from client error={int(event.error_code)}", flush=True)

    def on_request(self, event):
        if self.args.goaway_after and self.served >= self.args.goaway_after:
            # Refuse: RFC 9113 §6.8, streams above last_stream_id were not processed.
            self.conn.close_connection(last_stream_id=self.last_served)
            self.flush()
            self.closing = True
            return
        self.served += 1
        self.last_served = event.stream_id
        with STATS_LOCK:
            STATS["streams"] += 1
        s = Stream(event.stream_id, list(event.headers))
        self.streams[event.stream_id] = s
        path = s.pseudo.get(":path", "")
        if path.startswith("/grpc-unimplemented"):
            # gRPC's trailers-only answer: one HEADERS frame that ends the
            # stream while the request may still be open.
            self.conn.send_headers(s.id, [(":status", "200"), ("content-type", "application/grpc"),
                                          ("grpc-status", "12"), ("grpc-message", "unimplemented")],
                                   end_stream=True)
            self.streams.pop(s.id, None)
            return
        if path.startswith("/grpc"):
            te = ",".join(v for k, v in s.headers if k == "te") or "none"
            self.conn.send_headers(s.id, [(":status", "200"), ("content-type", "application/grpc"),
                                          ("x-seen-te", te)])

    def on_data(self, s, data):
        s.length += len(data)
        s.hash.update(data)
        if len(s.first) < 4096:
            s.first += data[:4096 - len(s.first)]
        if s.pseudo.get(":path", "").startswith("/grpc"):
            s.pending += data
            while len(s.pending) >= 5:
                flag, n = struct.unpack(">BI", bytes(s.pending[:5]))
                if len(s.pending) < 5 + n:
                    break
                message = bytes(s.pending[5:5 + n])
                del s.pending[:5 + n]
                reply = b"echo:" + message
                s.out += struct.pack(">BI", 0, len(reply)) + reply

    def on_end(self, s):
        path = s.pseudo.get(":path", "")
        method = s.pseudo.get(":method", "")
        if path.startswith("/grpc"):
            s.finish_after_out = True
            s.trailers_after_out = [("grpc-status", "0"), ("grpc-message", "ok")]
            return
        if path.startswith("/hang"):
            return  # the proxy's response_header_timeout has to end this one
        if path.startswith("/download"):
            n = int(parse_qs(urlsplit(path).query).get("n", ["0"])[0])
            self.conn.send_headers(s.id, [(":status", "200"), ("content-length", str(n)),
                                          ("content-type", "application/octet-stream")],
                                   end_stream=(method == "HEAD" or n == 0))
            if method != "HEAD" and n > 0:
                s.download_left = n
                s.finish_after_out = True
            else:
                self.streams.pop(s.id, None)
            return
        if path.startswith("/health"):
            self.on_health(s, method, path)
            return
        if path.startswith("/stats"):
            with STATS_LOCK:
                body = json.dumps(STATS).encode()
        else:
            body = json.dumps({
                "method": method,
                "path": path,
                "authority": s.pseudo.get(":authority"),
                "scheme": s.pseudo.get(":scheme"),
                "headers": [[k, v] for k, v in s.headers if not k.startswith(":")],
                "length": s.length,
                "sha256": s.hash.hexdigest(),
                "body": s.first.decode("latin-1"),
                "trailers": s.trailers,
                "upstream": self.args.name,
            }).encode()
        headers = [(":status", "200"), ("content-type", "application/json"),
                   ("content-length", str(len(body))), ("x-upstream", self.args.name),
                   ("x-remove-me", "1")]
        if method == "HEAD":
            self.conn.send_headers(s.id, headers, end_stream=True)
            self.streams.pop(s.id, None)
            return
        self.conn.send_headers(s.id, headers)
        s.out += body
        s.finish_after_out = True

    def on_health(self, s, method, path):
        # Only an HTTP/2 request gets this far: an HTTP/1.1 one is a protocol
        # error on this prior-knowledge server (the connection just closes).
        fields = dict(s.headers)
        print(f"HEALTH HTTP/2 {method} {path} authority={fields.get(':authority')} "
              f"user-agent={fields.get('user-agent')}", flush=True)
        status = "200"
        if self.args.health_file:
            try:
                with open(self.args.health_file) as f:
                    status = f.read().strip() or "200"
            except FileNotFoundError:
                pass
        self.conn.send_headers(s.id, [(":status", status), ("content-length", "0")],
                               end_stream=True)
        self.streams.pop(s.id, None)

    def send_pending(self):
        """Sends queued bodies as far as the flow-control windows allow."""
        for s in list(self.streams.values()):
            while True:
                if not s.out and s.download_left > 0:
                    n = min(s.download_left, 64 * 1024)
                    s.out += pattern_bytes(s.download_offset, n)
                    s.download_offset += n
                    s.download_left -= n
                if not s.out:
                    break
                window = self.conn.local_flow_control_window(s.id)
                n = min(window, self.conn.max_outbound_frame_size, len(s.out))
                if n <= 0:
                    break
                self.conn.send_data(s.id, bytes(s.out[:n]))
                del s.out[:n]
                self.flush()
            if not s.out and s.download_left == 0 and s.finish_after_out:
                if s.trailers_after_out:
                    self.conn.send_headers(s.id, s.trailers_after_out, end_stream=True)
                else:
                    self.conn.end_stream(s.id)
                self.streams.pop(s.id, None)


def serve(sock, args):
    with STATS_LOCK:
        STATS["connections"] += 1
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        Connection(sock, args).run()
    except (BrokenPipeError, ConnectionResetError):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--name", default="h2c")
    parser.add_argument("--goaway-after", type=int, default=0)
    parser.add_argument("--max-streams", type=int, default=100)
    parser.add_argument("--health-file", default="")
    args = parser.parse_args()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(1024)
    print(f"PORT {listener.getsockname()[1]}", flush=True)
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=serve, args=(sock, args), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
