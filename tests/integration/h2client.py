#!/usr/bin/env python3
"""HTTP/2 test clients for usher's integration tests (Debian's python3-h2 4.1,
hyperframe and hpack). They do what curl and nghttp cannot: hold a stream's
window shut, run a WebSocket over extended CONNECT (RFC 8441), flood a
connection with resets or CONTINUATION frames. Every wait has a deadline and
every loop a count; results are simple lines the test script compares.

  get PATH               one GET; prints "status N" and the body length
  trailers               POST with request trailers to a `trailer-upstream`;
                         prints the response body and its trailers
  grpc                   gRPC-shaped stream (h2c_upstream.py's /grpc): --count
                         messages, each sent after the previous one's answer;
                         prints the answers, the fields and the trailers; with
                         --stall-after K stops sending after K and times the end;
                         with --cancel resets the stream after the answers instead
  stall                  GET --path, stops granting window for --stall seconds
                         after --after bytes, then reads on; prints bytes and sha256
  sse                    prints when each server-sent event arrives
  ws                     WebSocket echo over extended CONNECT: --count messages
  flood                  --kind reset|continuation|settings|ping: opens a control connection,
                         floods a second one, then checks the control connection
                         and a fresh one still work
  slowhead               begins a header block and never ends it; prints when
                         the server closes the connection
  trailer-upstream       an HTTP/1.1 upstream whose chunked responses carry
                         trailers echoing the request's trailers
"""
import argparse
import hashlib
import os
import socket
import ssl
import struct
import sys
import threading
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import hpack
from hyperframe.frame import (ContinuationFrame, Frame, GoAwayFrame, HeadersFrame, PingFrame,
                              RstStreamFrame, SettingsFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def connect(args, timeout=10, rcvbuf=None):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        # Set before connecting, so the window offered stays small too.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", args.port))
    if args.plain:
        return sock
    context = ssl.create_default_context(cafile=args.ca)
    context.set_alpn_protocols(["h2"])
    tls = context.wrap_socket(sock, server_hostname=args.host)
    if tls.selected_alpn_protocol() != "h2":
        sys.exit(f"alpn: {tls.selected_alpn_protocol()} instead of h2")
    return tls


class Client:
    """One h2 connection; window updates are explicit (`ack`)."""

    def __init__(self, args, window=65535):
        self.args = args
        self.sock = connect(args)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8"))
        self.conn.local_settings = h2.settings.Settings(
            client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.conn.initiate_connection()
        if window > 65535:
            self.conn.increment_flow_control_window(window - 65535)
        self.flush()
        self.connect_protocol = False

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def events(self, timeout=10):
        self.sock.settimeout(timeout)
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed")
        events = self.conn.receive_data(data)
        for e in events:
            if isinstance(e, h2.events.RemoteSettingsChanged):
                s = e.changed_settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL)
                if s is not None and s.new_value == 1:
                    self.connect_protocol = True
        self.flush()
        return events

    def headers(self, method, path, extra=(), end_stream=True):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", "http" if self.args.plain else "https"),
                (":authority", f"{self.args.host}:{self.args.port}"), (":path", path)]
        self.conn.send_headers(sid, hdrs + list(extra), end_stream=end_stream)
        self.flush()
        return sid

    def response(self, sid, deadline=30, ack=True):
        """Reads one whole response: (status, body, trailers)."""
        status, body, trailers = None, bytearray(), {}
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            for e in self.events(end - time.monotonic()):
                if isinstance(e, h2.events.ResponseReceived) and e.stream_id == sid:
                    status = dict(e.headers)[":status"]
                elif isinstance(e, h2.events.TrailersReceived) and e.stream_id == sid:
                    trailers = dict(e.headers)
                elif isinstance(e, h2.events.DataReceived) and e.stream_id == sid:
                    body += e.data
                    if ack:
                        self.conn.acknowledge_received_data(e.flow_controlled_length, sid)
                elif isinstance(e, h2.events.StreamEnded) and e.stream_id == sid:
                    self.flush()
                    return status, bytes(body), trailers
                elif isinstance(e, h2.events.StreamReset) and e.stream_id == sid:
                    return f"reset {e.error_code}", bytes(body), trailers
            self.flush()
        raise TimeoutError("no complete response")


def cmd_get(args):
    c = Client(args)
    sid = c.headers("GET", args.path)
    status, body, _ = c.response(sid)
    print(f"status {status}")
    print(f"length {len(body)}")


def cmd_trailers(args):
    c = Client(args)
    sid = c.headers("POST", args.path, [("te", "trailers")], end_stream=False)
    payload = b"t" * 100000
    sent = 0
    while sent < len(payload):  # respect the server's windows
        room = min(c.conn.local_flow_control_window(sid), c.conn.max_outbound_frame_size)
        if room <= 0:
            c.events()
            continue
        c.conn.send_data(sid, payload[sent:sent + room])
        sent += room
        c.flush()
    c.conn.send_headers(sid, [("x-checksum", hashlib.sha256(payload).hexdigest()[:16])],
                        end_stream=True)
    c.flush()
    status, body, trailers = c.response(sid)
    print(f"status {status}")
    print(body.decode().strip())
    for name, value in sorted(trailers.items()):
        print(f"trailer {name}: {value}")


def grpc_message(payload):
    return struct.pack(">BI", 0, len(payload)) + payload


def cmd_grpc(args):
    """One POST stream whose request messages go one at a time, each after
    the answer to the previous one arrived: the request body is still open
    while the response streams (gRPC's bidirectional shape)."""
    c = Client(args)
    sid = c.headers("POST", args.path, [("content-type", "application/grpc"), ("te", "trailers")],
                    end_stream=False)
    pending, answered, ended, data_frames = b"", 0, False, 0
    end = time.monotonic() + args.deadline

    def on_events(events):
        nonlocal pending, answered, ended, data_frames
        for e in events:
            if isinstance(e, h2.events.ResponseReceived) and e.stream_id == sid:
                for name, value in e.headers:
                    print(f"field {name}: {value}", flush=True)
                if e.stream_ended is not None:
                    print("the response head ends the stream", flush=True)
            elif isinstance(e, h2.events.DataReceived) and e.stream_id == sid:
                data_frames += 1
                c.conn.acknowledge_received_data(e.flow_controlled_length, sid)
                pending += e.data
                while len(pending) >= 5 and len(pending) >= 5 + struct.unpack(">I", pending[1:5])[0]:
                    n = struct.unpack(">I", pending[1:5])[0]
                    reply = pending[5:5 + n].decode()
                    print(f"reply {reply.split(':', 2)[0]}:{reply.split(':', 2)[1]} ({n} bytes)",
                          flush=True)
                    pending = pending[5 + n:]
                    answered += 1
            elif isinstance(e, h2.events.TrailersReceived) and e.stream_id == sid:
                # python3-h2 reports a HEADERS frame after the response
                # head as trailers; it must also end the stream.
                for name, value in e.headers:
                    print(f"trailer {name}: {value}", flush=True)
            elif isinstance(e, h2.events.StreamEnded) and e.stream_id == sid:
                ended = True
            elif isinstance(e, h2.events.StreamReset) and e.stream_id == sid:
                print(f"reset {e.error_code}")
                ended = True
        c.flush()

    stall = args.stall_after is not None
    for i in range(args.stall_after if stall else args.count):
        # Each message in --pieces DATA frames, --gap seconds apart: usher
        # must pass on what it has, not wait for more.
        message = grpc_message(b"msg-%d:" % i + b"x" * args.size)
        step = -(-len(message) // args.pieces)
        for k in range(0, len(message), step):
            if k:
                time.sleep(args.gap)
            piece = message[k:k + step]
            while piece:
                room = min(c.conn.local_flow_control_window(sid), c.conn.max_outbound_frame_size)
                if room <= 0:
                    on_events(c.events(end - time.monotonic()))
                    continue
                c.conn.send_data(sid, piece[:room])
                piece = piece[room:]
                c.flush()
        while answered <= i and not ended and time.monotonic() < end:
            on_events(c.events(end - time.monotonic()))
        if answered <= i:
            print(f"no answer to message {i}")
            return
    if args.cancel:
        # The client gives up (a gRPC cancellation): usher must pass it on.
        c.conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
        c.flush()
        print(f"cancelled after {answered} answers")
        time.sleep(0.2)  # let the RST_STREAM leave before the socket closes
        return
    if stall:
        # The request stays open and silent: usher must give up on it.
        stalled = time.monotonic()
        while not ended and time.monotonic() < end:
            try:
                on_events(c.events(end - time.monotonic()))
            except (OSError, ConnectionError):
                print("connection closed")
                break
        print(f"stalled {'ended' if ended else 'open'} after {time.monotonic() - stalled:.2f}")
        return
    if args.count == 0:
        # The answer comes while the request is still open (trailers-only).
        while not ended and time.monotonic() < end:
            on_events(c.events(end - time.monotonic()))
    print(f"answered {answered} before the request ended", flush=True)
    if not ended:
        c.conn.end_stream(sid)
        c.flush()
    while not ended and time.monotonic() < end:
        on_events(c.events(end - time.monotonic()))
    print(f"data frames {data_frames}")
    print("stream ended" if ended else "timeout")


def cmd_stall(args):
    c = Client(args, window=args.window)
    sid = c.headers("GET", args.path)
    digest, total, unacked = hashlib.sha256(), 0, 0
    status, stall_until, during = None, None, 0
    end = time.monotonic() + args.deadline
    while time.monotonic() < end:
        try:
            events = c.events(0.5)
        except socket.timeout:
            events = []
        for e in events:
            if isinstance(e, h2.events.ResponseReceived):
                status = dict(e.headers)[":status"]
            elif isinstance(e, h2.events.DataReceived):
                digest.update(e.data)
                total += len(e.data)
                unacked += e.flow_controlled_length
                if stall_until is not None and time.monotonic() < stall_until:
                    during += len(e.data)
            elif isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)):
                print(f"status {status}")
                print(f"bytes {total}")
                print(f"sha256 {digest.hexdigest()}")
                print(f"received while stalled {during}")
                if isinstance(e, h2.events.StreamReset):
                    print(f"reset {e.error_code}")
                return
        now = time.monotonic()
        if stall_until is None and total >= args.after:
            # Grant no window for a while, reading on: the window runs out and
            # the server must hold its data (and its memory) back.
            stall_until = now + args.stall
            print(f"stalling at {total}", flush=True)
        if stall_until is not None and now < stall_until:
            continue
        if unacked:
            c.conn.acknowledge_received_data(unacked, sid)
            unacked = 0
            c.flush()
    print(f"timeout after {total} bytes")


def cmd_sse(args):
    c = Client(args)
    start = time.monotonic()
    sid = c.headers("GET", args.path)
    end = start + args.deadline
    while time.monotonic() < end:
        for e in c.events():
            if isinstance(e, h2.events.DataReceived):
                c.conn.acknowledge_received_data(e.flow_controlled_length, sid)
                for line in e.data.decode().splitlines():
                    if line.startswith("data: "):
                        print(f"{time.monotonic() - start:.2f} {line[6:]}")
            elif isinstance(e, h2.events.StreamEnded):
                print(f"{time.monotonic() - start:.2f} end")
                return
        c.flush()


def ws_frame(opcode, payload):
    mask = os.urandom(4)
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def parse_ws_frames(buffer):
    """Unmasked server frames: yields (opcode, payload), returns the rest."""
    frames = []
    while len(buffer) >= 2:
        n = buffer[1] & 0x7F
        offset = 2
        if n == 126:
            if len(buffer) < 4:
                break
            n, offset = struct.unpack("!H", buffer[2:4])[0], 4
        elif n == 127:
            if len(buffer) < 10:
                break
            n, offset = struct.unpack("!Q", buffer[2:10])[0], 10
        if len(buffer) < offset + n:
            break
        frames.append((buffer[0] & 0x0F, bytes(buffer[offset:offset + n])))
        buffer = buffer[offset + n:]
    return frames, buffer


def cmd_ws(args):
    c = Client(args)
    end = time.monotonic() + 10
    while not c.connect_protocol and time.monotonic() < end:
        c.events()
    if not c.connect_protocol:
        sys.exit("server did not send SETTINGS_ENABLE_CONNECT_PROTOCOL=1")
    print("connect protocol enabled")
    sid = c.conn.get_next_available_stream_id()
    c.conn.send_headers(sid, [(":method", "CONNECT"), (":protocol", "websocket"),
                              (":scheme", "https"), (":path", args.path),
                              (":authority", f"{args.host}:{args.port}"),
                              ("sec-websocket-version", "13")])
    c.flush()
    status, buffer, echoed = None, b"", 0
    sent = 0
    end = time.monotonic() + args.deadline
    while time.monotonic() < end and echoed < args.count:
        if status == "200" and sent == echoed:
            c.conn.send_data(sid, ws_frame(1, f"message {sent}".encode()))
            c.flush()
            sent += 1
        for e in c.events():
            if isinstance(e, h2.events.ResponseReceived):
                headers = dict(e.headers)
                status = headers[":status"]
                print(f"status {status}")
                if status != "200":
                    return
                if "sec-websocket-accept" in headers or "upgrade" in headers:
                    print("101 fields leaked into the h2 response")
            elif isinstance(e, h2.events.DataReceived):
                c.conn.acknowledge_received_data(e.flow_controlled_length, sid)
                frames, buffer = parse_ws_frames(buffer + e.data)
                for opcode, payload in frames:
                    if payload == f"message {echoed}".encode():
                        echoed += 1
            elif isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)):
                print(f"stream ended early: {e}")
                return
        c.flush()
    print(f"echoed {echoed}")
    c.conn.send_data(sid, ws_frame(8, b""))
    c.flush()
    end = time.monotonic() + 10
    while time.monotonic() < end:
        for e in c.events():
            if isinstance(e, h2.events.DataReceived):
                frames, buffer = parse_ws_frames(buffer + e.data)
                if any(op == 8 for op, _ in frames):
                    print("close answered")
                    return


def raw_connect(args, rcvbuf=None):
    sock = connect(args, rcvbuf=rcvbuf)
    sock.sendall(PREFACE + SettingsFrame(0).serialize())
    return sock


def read_until_closed(sock, deadline):
    """Reads frames until the server closes; returns the GOAWAY error code."""
    buffer, code = b"", None
    end = time.monotonic() + deadline
    sock.settimeout(1)
    while time.monotonic() < end:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionError, ssl.SSLError):
            break
        if not data:
            break
        buffer += data
        while len(buffer) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(buffer[:9]))
            if len(buffer) < 9 + length:
                break
            frame.parse_body(memoryview(buffer[9:9 + length]))
            buffer = buffer[9 + length:]
            if isinstance(frame, GoAwayFrame):
                code = frame.error_code
    else:
        return code, False
    return code, True


def request_block(encoder, args, path="/echo"):
    return encoder.encode([(":method", "GET"), (":scheme", "http" if args.plain else "https"),
                           (":authority", f"{args.host}:{args.port}"), (":path", path)])


def flood_reset(args, sock):
    encoder = hpack.Encoder()
    out = bytearray()
    for i in range(args.count):
        sid = 1 + 2 * i
        h = HeadersFrame(sid, request_block(encoder, args))
        h.flags.add("END_HEADERS")
        h.flags.add("END_STREAM")
        out += h.serialize() + RstStreamFrame(sid, error_code=8).serialize()
    try:
        sock.sendall(bytes(out))
    except (ConnectionError, ssl.SSLError):
        pass


def flood_continuation(args, sock):
    encoder = hpack.Encoder()
    block = request_block(encoder, args)
    h = HeadersFrame(1, block)  # no END_HEADERS: CONTINUATION frames follow
    try:
        sock.sendall(h.serialize())
        filler = encoder.encode([("x-filler", "f" * 1000)])
        for _ in range(args.count):
            sock.sendall(ContinuationFrame(1, filler).serialize())
    except (ConnectionError, ssl.SSLError):
        pass


def flood_settings(args, sock):
    # More entries in one SETTINGS frame than the server accepts (32).
    payload = b"".join(struct.pack("!HL", 0x4, 65535) for _ in range(args.count))
    header = struct.pack("!L", len(payload))[1:] + bytes([0x4, 0]) + struct.pack("!L", 0)
    try:
        sock.sendall(header + payload)
    except (ConnectionError, ssl.SSLError):
        pass


def flood_ping(args, sock):
    # PINGs sent without reading the ACKs: once the socket buffers toward this
    # client are full, the ACKs queue up inside the server, which must cap
    # them (nghttp2's max outbound ack) rather than grow. Sending stops when
    # the server stops reading (a send that blocks for a second) or closes.
    sock.settimeout(1)
    batch = b"".join(PingFrame(0, opaque_data=struct.pack("!Q", i)).serialize()
                     for i in range(1000))
    sent = 0
    try:
        for _ in range(args.count // 1000):
            sock.sendall(batch)
            sent += 1000
    except OSError:  # timeouts and resets alike: the server stopped taking them
        pass
    print(f"pings sent {sent}")


def cmd_flood(args):
    control = Client(args)
    status, _, _ = control.response(control.headers("GET", "/echo"))
    print(f"control before {status}")
    sock = raw_connect(args, rcvbuf=4096 if args.kind == "ping" else None)
    {"reset": flood_reset, "ping": flood_ping, "continuation": flood_continuation,
     "settings": flood_settings}[args.kind](args, sock)
    code, closed = read_until_closed(sock, 15)
    print(f"flood goaway {code}")
    print(f"flood closed {closed}")
    status, _, _ = control.response(control.headers("GET", "/echo"))
    print(f"control after {status}")
    fresh = Client(args)
    status, _, _ = fresh.response(fresh.headers("GET", "/echo"))
    print(f"fresh {status}")


def cmd_slowhead(args):
    """A header block that never ends: the server must close after read_header."""
    sock = raw_connect(args)
    h = HeadersFrame(1, request_block(hpack.Encoder(), args))  # no END_HEADERS
    sock.sendall(h.serialize())
    start = time.monotonic()
    code, closed = read_until_closed(sock, args.deadline)
    print(f"closed {closed} after {time.monotonic() - start:.1f}s")


def cmd_trailer_upstream(args):
    """HTTP/1.1, one request per connection: reads a chunked (or sized) body
    and its trailers, answers chunked with trailers naming what it got."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    print(f"PORT {server.getsockname()[1]}", flush=True)

    def serve(conn):
        with conn:
            f = conn.makefile("rb")
            lines = []
            while True:
                line = f.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                lines.append(line.decode().strip())
            headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
            body, trailers = 0, []
            if headers.get("transfer-encoding", "").lower() == "chunked":
                while True:
                    size = int(f.readline().split(b";")[0], 16)
                    if size == 0:
                        while True:
                            line = f.readline()
                            if line in (b"\r\n", b"\n", b""):
                                break
                            trailers.append(line.decode().strip())
                        break
                    body += len(f.read(size))
                    f.readline()
            else:
                body = len(f.read(int(headers.get("content-length", "0"))))
            text = f"got {body} bytes, {len(trailers)} trailers\n".encode()
            out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-echo\r\n"
            out += b"Connection: close\r\n\r\n"
            out += b"%x\r\n" % len(text) + text + b"\r\n0\r\n"
            for t in trailers:
                out += f"x-echo-{t.split(':', 1)[0].strip()}: {t.split(':', 1)[1].strip()}\r\n".encode()
            out += b"x-server-trailer: done\r\n\r\n"
            conn.sendall(out)

    for _ in range(1000):
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("command")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="localhost")
    p.add_argument("--ca")
    p.add_argument("--plain", action="store_true")
    p.add_argument("--path", default="/echo")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--kind", default="reset")
    p.add_argument("--window", type=int, default=4 << 20)
    p.add_argument("--after", type=int, default=64 << 20)
    p.add_argument("--stall", type=float, default=5)
    p.add_argument("--deadline", type=float, default=120)
    p.add_argument("--pieces", type=int, default=1)
    p.add_argument("--stall-after", type=int)
    p.add_argument("--cancel", action="store_true")
    p.add_argument("--size", type=int, default=0)
    p.add_argument("--gap", type=float, default=0)
    args = p.parse_args()
    commands = {"get": cmd_get, "trailers": cmd_trailers, "grpc": cmd_grpc, "stall": cmd_stall, "ws": cmd_ws, "sse": cmd_sse,
                "flood": cmd_flood, "slowhead": cmd_slowhead, "trailer-upstream": cmd_trailer_upstream}
    commands[args.command](args)


if __name__ == "__main__":
    main()
