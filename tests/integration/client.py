#!/usr/bin/env python3
"""Test clients for usher's integration tests (Python standard library only).

Each subcommand drives usher over TLS (or plain TCP with --plain) the way curl
cannot: raw bytes, timing, many connections, WebSocket frames. Every wait has
a deadline; every loop a count. Results go to stdout as simple lines the test
scripts compare.

  gen N SHA_FILE         N bytes of deterministic data to stdout; their SHA-256 to SHA_FILE
  pattern-sha N          the SHA-256 of the first N bytes upstream.py's /bytes serves
  raw                    sends bytes, prints everything received until close or --timeout
  hostile DIR            sends every file listed in DIR/EXPECTED, prints "file got want closed|open"
  hold                   sends bytes, then reports when (and whether) usher closes the connection
  trickle                uploads a body in pieces with pauses, prints the response
  grpc                   gRPC-shaped chunked upload whose answers stream back while it
                         goes on; can stall the upload halfway and time usher's close
  ws                     WebSocket echo: --count messages, optionally pausing halfway
  sse                    prints when each server-sent event arrives
  slowloris              holds --count connections sending a head one line at a time
  keepalive              opens --count keep-alive connections, two rounds of requests
"""
import argparse
import base64
import hashlib
import os
import random
import selectors
import socket
import ssl
import struct
import sys
import time

PATTERN = bytes(range(256)) * 256  # the same 64 KiB upstream.py repeats for /bytes
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
GEN_BLOCK = 1 << 20


def connect(args, timeout=10):
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=timeout)
    if args.plain:
        return sock
    context = ssl.create_default_context(cafile=args.ca) if args.ca else ssl._create_unverified_context()
    context.set_alpn_protocols(["http/1.1"])
    return context.wrap_socket(sock, server_hostname=args.sni)


def unescape(text):
    return text.encode("latin-1").decode("unicode_escape").encode("latin-1")


def recv_until_close(sock, deadline):
    """Everything received until the peer closes (True) or the deadline (False)."""
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, False
        sock.settimeout(left)
        try:
            piece = sock.recv(65536)
        except socket.timeout:
            return data, False
        except (ConnectionError, ssl.SSLError):
            return data, True
        if not piece:
            return data, True
        data += piece


class ResponseReader:
    """Reads HTTP/1.1 responses (Content-Length, chunked or none) from a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def _more(self):
        piece = self.sock.recv(65536)
        if not piece:
            raise ConnectionError("connection closed mid-response")
        self.buffer += piece

    def _line(self):
        while b"\r\n" not in self.buffer:
            self._more()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buffer) < n:
            self._more()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read(self, head_request=False):
        """(status, headers dict lower-case, body); skips 1xx interim responses."""
        while True:
            status = int(self._line().split(b" ")[1])
            headers = {}
            while True:
                line = self._line()
                if not line:
                    break
                name, value = line.split(b":", 1)
                headers[name.decode().lower()] = value.decode().strip()
            if status >= 200:
                break
        if head_request or status in (204, 304):
            return status, headers, b""
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    return status, headers, body
                body += self._exact(size)
                self._line()
        return status, headers, self._exact(int(headers.get("content-length", "0")))


# ------------------------------------------------------------------ data


def cmd_gen(args):
    base = random.Random(20261128).randbytes(GEN_BLOCK)
    digest = hashlib.sha256()
    out = sys.stdout.buffer
    left = args.n
    index = 0
    while left > 0:
        # The block index leads each block, so a lost or repeated block changes the digest.
        block = (index.to_bytes(8, "big") + base[8:])[: min(GEN_BLOCK, left)]
        digest.update(block)
        out.write(block)
        left -= len(block)
        index += 1
    out.flush()
    with open(args.sha_file, "w") as f:
        f.write(digest.hexdigest() + "\n")


def cmd_pattern_sha(args):
    digest = hashlib.sha256()
    left = args.n
    while left > 0:
        piece = PATTERN[: min(len(PATTERN), left)]
        digest.update(piece)
        left -= len(piece)
    print(digest.hexdigest())


# ------------------------------------------------------------------ raw requests


def cmd_raw(args):
    data = open(args.file, "rb").read() if args.file else unescape(args.data)
    sock = connect(args)
    sock.sendall(data)
    received, closed = recv_until_close(sock, time.monotonic() + args.timeout)
    sys.stdout.write(received.decode("latin-1"))
    print("\n<closed>" if closed else "\n<open>")


def cmd_hostile(args):
    lines = open(args.expected or os.path.join(args.dir, "EXPECTED")).read().splitlines()
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        name, _, want = line.split()
        data = open(os.path.join(args.dir, name), "rb").read()
        try:
            sock = connect(args)
            sock.sendall(data)
            received, closed = recv_until_close(sock, time.monotonic() + args.timeout)
            sock.close()
        except (OSError, ssl.SSLError) as e:
            received, closed = f"error {e}".encode(), True
        first = received.split(b"\r\n", 1)[0].split(b" ")
        got = first[1].decode("latin-1") if len(first) > 1 else "none"
        print(name, got, want, "closed" if closed else "open")


def cmd_hold(args):
    """Sends --data, then waits for usher to close; prints "closed S FIRST" or "open S FIRST"."""
    sock = connect(args)
    start = time.monotonic()
    if args.data:
        sock.sendall(unescape(args.data))
    received, closed = recv_until_close(sock, start + args.max)
    first = received.split(b"\r\n", 1)[0].decode("latin-1") or "-"
    print("closed" if closed else "open", f"{time.monotonic() - start:.2f}", first)


def cmd_trickle(args):
    """Sends a head with Content-Length, then the body in --pieces, --gap seconds apart."""
    sock = connect(args)
    total = args.pieces * args.piece_size
    sock.sendall(f"POST {args.path} HTTP/1.1\r\nHost: {args.sni}\r\nContent-Length: {total}\r\n"
                 f"Connection: close\r\n\r\n".encode())
    start = last = time.monotonic()
    longest_gap = 0.0
    sent = 0
    try:
        for i in range(args.pieces):
            if i:
                time.sleep(args.gap)
            sock.sendall(b"x" * args.piece_size)
            now = time.monotonic()
            longest_gap = max(longest_gap, now - last)
            last = now
            sent += args.piece_size
    except (ConnectionError, ssl.SSLError):
        pass
    received, closed = recv_until_close(sock, time.monotonic() + 10)
    lines = received.decode("latin-1").split("\r\n")
    print(f"sent {sent} in {time.monotonic() - start:.2f}s, longest gap {longest_gap:.2f}s")
    print(lines[0] if lines[0] else "no response")
    print(lines[-1])


def grpc_send(sock, message):
    """One length-prefixed gRPC message as one chunk."""
    frame = struct.pack(">BI", 0, len(message)) + message
    sock.sendall(b"%x\r\n" % len(frame) + frame + b"\r\n")


def grpc_reply(reader, pending):
    """Reads chunks until one whole gRPC message is there: (message, rest),
    or (None, rest) when the response body ended first."""
    while len(pending) < 5 or len(pending) < 5 + struct.unpack(">I", pending[1:5])[0]:
        size = int(reader._line().split(b";")[0], 16)
        if size == 0:
            return None, pending
        pending += reader._exact(size)
        reader._line()
    n = struct.unpack(">I", pending[1:5])[0]
    return pending[5:5 + n], pending[5 + n:]


def cmd_grpc(args):
    """Streams --messages gRPC messages in one chunked POST, each sent --gap
    seconds after the answer to the previous one arrived (answers stream back
    while the upload goes on). With --stall-after K the upload stops after K
    answered messages (instead of --messages), without ending, and the time until usher closes the
    connection is printed ("stalled closed S" or "stalled open S"); else the
    body ends and the response trailers are printed."""
    sock = connect(args)
    sock.sendall(f"POST {args.path} HTTP/1.1\r\nHost: {args.sni}\r\n"
                 f"Content-Type: application/grpc\r\nTE: trailers\r\n"
                 f"Transfer-Encoding: chunked\r\n\r\n".encode())
    reader = ResponseReader(sock)
    start = time.monotonic()
    longest_gap, last = 0.0, start
    pending = b""
    stall = args.stall_after is not None
    for i in range(args.stall_after if stall else args.messages):
        if i > 0:
            time.sleep(args.gap)
        grpc_send(sock, b"msg-%d" % i)
        now = time.monotonic()
        longest_gap, last = max(longest_gap, now - last), now
        if i == 0:
            status = int(reader._line().split(b" ")[1])
            while reader._line():
                pass
            print(f"status {status}", flush=True)
        reply, pending = grpc_reply(reader, pending)
        if reply is None:
            print(f"response ended before the answer to message {i}")
            return 1
        print(f"reply {reply.decode()}", flush=True)
    if stall:
        stalled = time.monotonic()
        _, closed = recv_until_close(sock, stalled + args.max)
        print("stalled", "closed" if closed else "open", f"{time.monotonic() - stalled:.2f}")
        return 0
    sock.sendall(b"0\r\n\r\n")
    reply, pending = grpc_reply(reader, pending)
    if reply is not None:
        print(f"unexpected message after the upload ended: {reply!r}")
    while True:
        line = reader._line()
        if not line:
            break
        print("trailer", line.decode().strip().lower())
    print(f"done in {time.monotonic() - start:.2f}s, longest gap {longest_gap:.2f}s")
    return 0


# ------------------------------------------------------------------ WebSocket


def ws_frame(opcode, payload):
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


class FrameReader:
    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def exact(self, n):
        while len(self.buffer) < n:
            piece = self.sock.recv(65536)
            if not piece:
                raise ConnectionError("connection closed mid-frame")
            self.buffer += piece
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def frame(self):
        head = self.exact(2)
        length = head[1] & 0x7F
        if length == 126:
            length = int.from_bytes(self.exact(2), "big")
        elif length == 127:
            length = int.from_bytes(self.exact(8), "big")
        return head[0] & 0x0F, self.exact(length)


def ws_payload(i):
    """Message i: text mostly, binary and the two extended lengths now and then."""
    if i % 100 == 50:
        return 2, bytes(range(256)) * 300  # 76,800 bytes: the 64-bit length form
    if i % 10 == 5:
        return 2, os.urandom(200 + i)  # the 16-bit length form
    return 1, f"message {i}".encode()


def cmd_ws(args):
    sock = connect(args)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET {args.path} HTTP/1.1\r\nHost: {args.sni}\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 f"Sec-WebSocket-Version: 13\r\n\r\n".encode())
    reader = FrameReader(sock)
    head = b""
    while b"\r\n\r\n" not in head:
        head += reader.exact(1)
    want = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
    if b" 101 " not in head.split(b"\r\n")[0] or want.encode() not in head:
        print("handshake failed:", head.decode("latin-1").split("\r\n")[0])
        return 1
    print("upgraded", flush=True)
    echoed = 0
    for i in range(args.count):
        if args.pause_file and i == args.count // 2:
            print("READY", flush=True)
            deadline = time.monotonic() + 30
            while not os.path.exists(args.pause_file) and time.monotonic() < deadline:
                time.sleep(0.05)
        opcode, payload = ws_payload(i)
        sock.sendall(ws_frame(opcode, payload))
        got_opcode, got = reader.frame()
        if (got_opcode, got) != (opcode, payload):
            print(f"message {i} came back wrong (opcode {got_opcode}, {len(got)} bytes)")
            return 1
        echoed += 1
    sock.sendall(ws_frame(8, b""))
    close_opcode, _ = reader.frame()
    print(f"echoed {echoed}")
    print("close answered" if close_opcode == 8 else f"close got opcode {close_opcode}")
    return 0


# ------------------------------------------------------------------ server-sent events


def cmd_sse(args):
    sock = connect(args)
    start = time.monotonic()
    sock.sendall(f"GET {args.path} HTTP/1.1\r\nHost: {args.sni}\r\nAccept: text/event-stream\r\n"
                 f"Connection: close\r\n\r\n".encode())
    sock.settimeout(30)
    pending = b""
    while True:
        piece = sock.recv(65536)
        if not piece:
            break
        pending += piece
        while b"data: " in pending and b"\n" in pending.split(b"data: ", 1)[1]:
            before, after = pending.split(b"data: ", 1)
            line, pending = after.split(b"\n", 1)
            print(f"{time.monotonic() - start:.2f} {line.decode()}", flush=True)
    print(f"{time.monotonic() - start:.2f} end")


# ------------------------------------------------------------------ many connections


def cmd_slowloris(args):
    """Holds --count connections that send one header line every --gap seconds
    for --seconds; prints how many usher closed and how long the longest lived."""
    sel = selectors.DefaultSelector()
    conns = []
    for i in range(args.count):
        sock = connect(args)
        sock.sendall(f"GET /slow-{i} HTTP/1.1\r\nHost: {args.sni}\r\n".encode())
        sock.setblocking(False)
        conns.append({"sock": sock, "opened": time.monotonic(), "closed": None})
        sel.register(sock, selectors.EVENT_READ, conns[-1])
    print(f"opened {len(conns)}", flush=True)
    end = time.monotonic() + args.seconds
    next_send = time.monotonic() + args.gap
    while time.monotonic() < end and any(c["closed"] is None for c in conns):
        for key, _ in sel.select(timeout=min(0.1, max(0, end - time.monotonic()))):
            conn = key.data
            try:
                if conn["sock"].recv(65536):
                    continue  # a response (408 or similar) before the close
            except (ssl.SSLWantReadError, BlockingIOError):
                continue
            except (OSError, ssl.SSLError):
                pass
            conn["closed"] = time.monotonic()
            sel.unregister(conn["sock"])
        if time.monotonic() >= next_send:
            next_send += args.gap
            for conn in conns:
                if conn["closed"] is None:
                    try:
                        conn["sock"].send(b"X-Slow: a\r\n")
                    except (ssl.SSLWantWriteError, BlockingIOError):
                        pass
                    except (OSError, ssl.SSLError):
                        conn["closed"] = time.monotonic()
                        sel.unregister(conn["sock"])
    closed = [c["closed"] - c["opened"] for c in conns if c["closed"] is not None]
    print(f"closed_by_usher {len(closed)} longest {max(closed, default=0):.2f}")


def cmd_keepalive(args):
    """Opens --count connections, sends a request on each and keeps them open;
    after --pause-file appears, sends a second request on each."""
    conns = []
    for _ in range(args.count):
        conns.append(connect(args))
    print(f"connected {len(conns)}", flush=True)

    def round_of(path):
        ok = 0
        for sock in conns:
            try:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {args.sni}\r\n\r\n".encode())
            except OSError:
                pass
        for sock in conns:
            try:
                status, headers, _ = ResponseReader(sock).read()
                if status == 200 and headers.get("connection") != "close":
                    ok += 1
            except (OSError, ValueError, IndexError):
                pass
        return ok

    print(f"round1 {round_of(args.path)}", flush=True)
    print("READY", flush=True)
    deadline = time.monotonic() + 60
    while args.pause_file and not os.path.exists(args.pause_file) and time.monotonic() < deadline:
        time.sleep(0.05)
    print(f"round2 {round_of(args.path2 or args.path)}", flush=True)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)

    def with_target(p):
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--sni", default="localhost")
        p.add_argument("--ca")
        p.add_argument("--plain", action="store_true", help="plain TCP instead of TLS")
        return p

    p = sub.add_parser("gen")
    p.add_argument("n", type=int)
    p.add_argument("sha_file")
    p = sub.add_parser("pattern-sha")
    p.add_argument("n", type=int)
    p = with_target(sub.add_parser("raw"))
    p.add_argument("--data")
    p.add_argument("--file")
    p.add_argument("--timeout", type=float, default=5)
    p = with_target(sub.add_parser("hostile"))
    p.add_argument("dir")
    p.add_argument("--expected", help="the list to send instead of DIR/EXPECTED")
    p.add_argument("--timeout", type=float, default=5)
    p = with_target(sub.add_parser("hold"))
    p.add_argument("--data", default="")
    p.add_argument("--max", type=float, default=10)
    p = with_target(sub.add_parser("trickle"))
    p.add_argument("--path", default="/upload")
    p.add_argument("--pieces", type=int, default=5)
    p.add_argument("--piece-size", type=int, default=1000)
    p.add_argument("--gap", type=float, default=1)
    p = with_target(sub.add_parser("grpc"))
    p.add_argument("--path", default="/grpc/test.Echo/Chat")
    p.add_argument("--messages", type=int, default=5)
    p.add_argument("--gap", type=float, default=0)
    p.add_argument("--stall-after", type=int)
    p.add_argument("--max", type=float, default=10)
    p = with_target(sub.add_parser("ws"))
    p.add_argument("--path", default="/ws")
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--pause-file")
    p = with_target(sub.add_parser("sse"))
    p.add_argument("--path", required=True)
    p = with_target(sub.add_parser("slowloris"))
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--gap", type=float, default=0.5)
    p = with_target(sub.add_parser("keepalive"))
    p.add_argument("--count", type=int, default=500)
    p.add_argument("--path", default="/hello")
    p.add_argument("--path2")
    p.add_argument("--pause-file")
    args = parser.parse_args()
    handler = globals()["cmd_" + args.command.replace("-", "_")]
    return handler(args) or 0


if __name__ == "__main__":
    sys.exit(main())
