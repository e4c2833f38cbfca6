#!/usr/bin/env bash
# Idle connections through the real binary (decision 0015): HTTP/1.1
# keep-alive connections idle past the once-a-second sweep are parked (their
# coroutines end; only the connection object and a socket wait remain) and
# must serve their next request exactly as before, over TLS and plain TCP.
# An idle HTTP/2 connection is trimmed instead, and must also go on serving.
# More than 256 connections are parked at once, so the heap trim that follows
# a batch of parks runs too. The idle timeout of a parked connection is
# covered by timeouts_test.sh.
source "$(dirname "$0")/lib.sh"

CLIENT="$USHER_SOURCE_DIR/tests/integration/client.py"
H2CLIENT_DIR="$USHER_SOURCE_DIR/tests/integration"
# Connections held idle at once: above the 256 parks that trigger a heap trim.
COUNT=300
# Longest wait for the sweep to park them all (it runs once a second; slow
# builds such as ASan take longer to open 300 TLS connections).
PARK_WAIT=30

start_app_and_pick_ports
cat >"$config" <<CONFIG
{
	http_port $HTTP
	https_port $HTTPS
	workers 2
	debug
	auto_https disable_redirects
}

localhost {
	respond /hello "hello" 200
	reverse_proxy 127.0.0.1:$APP
}

http://127.0.0.1:$HTTP {
	respond /hello "hello" 200
}
CONFIG
start_usher "$config" "$HTTPS" || { fail "usher starts"; finish; exit 1; }
root=$(local_root)

# parked_total: the sum of the sweep's "parked N idle connections" lines so far.
parked_total() {
  grep -o 'parked [0-9]* idle connections' "$USHER_LOG" | awk '{ n += $2 } END { print n + 0 }'
}

# keepalive_round_trip NAME ARGS...: COUNT connections each make a request,
# sit idle until the sweep has parked them all, then make a second request on
# the same connection.
keepalive_round_trip() {
  local name=$1
  shift
  local pause="$TEST_TMP/pause.$name" out="$TEST_TMP/keepalive.$name" before parked
  before=$(parked_total)
  timeout 120 python3 "$CLIENT" keepalive --count "$COUNT" --path /hello \
    --pause-file "$pause" "$@" >"$out" &
  local client=$!
  wait_until 60 "grep -q READY '$out'"
  wait_until "$PARK_WAIT" '[ $(($(parked_total) - before)) -ge "$COUNT" ]'
  parked=$(($(parked_total) - before))
  touch "$pause"
  wait "$client"
  sed 's/^/     /' "$out"
  expect_contains "$name: every connection's first request is answered" "$(cat "$out")" \
    "round1 $COUNT"
  if [ "$parked" -ge "$COUNT" ]; then
    pass "$name: the sweep parked the idle connections ($parked)"
  else
    fail "$name: the sweep parked the idle connections" "parked $parked, want at least $COUNT"
  fi
  expect_contains "$name: every parked connection answers its next request" "$(cat "$out")" \
    "round2 $COUNT"
}

keepalive_round_trip "https" --port "$HTTPS" --ca "$root"
keepalive_round_trip "http" --port "$HTTP" --sni "127.0.0.1:$HTTP" --plain

# A parked TLS connection whose next request arrives in pieces, the first
# piece waking it: the head is put together as before. The client waits for
# the go file, which is made once the sweep has logged the park.
before=$(parked_total)
go="$TEST_TMP/go.split"
split_out="$TEST_TMP/split.out"
timeout 60 python3 - "$HTTPS" "$root" "$go" >"$split_out" <<'PY' &
import os, socket, ssl, sys, time
port, ca, go = int(sys.argv[1]), sys.argv[2], sys.argv[3]
context = ssl.create_default_context(cafile=ca)
context.set_alpn_protocols(["http/1.1"])
sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                           server_hostname="localhost")
def response():
    data = b""
    while b"hello" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return "closed"
        data += chunk
    return data.split(b"\r\n", 1)[0].decode()
sock.sendall(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
print("first", response(), flush=True)
while not os.path.exists(go):
    time.sleep(0.05)
sock.sendall(b"GET /hello HTTP/1.1\r\nHo")
time.sleep(0.3)  # the wake-up reads the first piece alone
sock.sendall(b"st: localhost\r\n\r\n")
print("second", response(), flush=True)
PY
split_client=$!
wait_until 10 "grep -q first '$split_out'"
wait_until "$PARK_WAIT" '[ "$(parked_total)" -gt "$before" ]'
if [ "$(parked_total)" -gt "$before" ]; then
  pass "the idle connection was parked before its split request"
else
  fail "the idle connection was parked before its split request" "no park logged"
fi
touch "$go"
wait "$split_client"
out=$(cat "$split_out")
expect_contains "a request split across the wake-up of a parked connection is answered" "$out" \
  "second HTTP/1.1 200 OK"

# ---- HTTP/2: an idle connection is trimmed, not parked, and keeps serving;
# the trim hands back nghttp2's frame buffer, so a large response after an
# idle period (its DATA frames go through that buffer) must arrive intact.
BIG=3000000
want_big=$(python3 "$CLIENT" pattern-sha "$BIG")
# trimmed_total: the sum of the sweep's "trimmed N idle connections" lines.
trimmed_total() {
  grep -o 'trimmed [0-9]* idle connections' "$USHER_LOG" | awk '{ n += $2 } END { print n + 0 }'
}
h2_out="$TEST_TMP/h2.out"
timeout 90 python3 - "$HTTPS" "$root" "$H2CLIENT_DIR" "$BIG" "$TEST_TMP/go.h2" >"$h2_out" <<'PY' &
import hashlib, os, sys, time, types
sys.path.insert(0, sys.argv[3])
import h2client
args = types.SimpleNamespace(port=int(sys.argv[1]), ca=sys.argv[2], host="localhost", plain=False)
c = h2client.Client(args, window=1 << 24)
# Two idle periods, each trimmed by a sweep, with requests after each.
for attempt in range(3):
    sid = c.headers("GET", "/hello")
    status, body, _ = c.response(sid)
    print(f"request {attempt + 1}: {status} {body.decode()}")
    if attempt > 0:
        sid = c.headers("GET", f"/bytes/{sys.argv[4]}")
        status, body, _ = c.response(sid, deadline=50)
        print(f"big {attempt + 1}: {status} {len(body)} {hashlib.sha256(body).hexdigest()}")
    if attempt < 2:
        # Idle until the test saw the sweep trim this connection.
        print(f"idle {attempt + 1}", flush=True)
        while not os.path.exists(f"{sys.argv[5]}.{attempt + 1}"):
            time.sleep(0.05)
PY
h2_client=$!
for round in 1 2; do
  before=$(trimmed_total)
  wait_until 30 "grep -q 'idle $round' '$h2_out'"
  wait_until "$PARK_WAIT" '[ "$(trimmed_total)" -gt "$before" ]'
  if [ "$(trimmed_total)" -gt "$before" ]; then
    pass "h2: the sweep trimmed the idle connection (idle period $round)"
  else
    fail "h2: the sweep trimmed the idle connection (idle period $round)" "no trim logged"
  fi
  touch "$TEST_TMP/go.h2.$round"
done
wait "$h2_client"
out=$(cat "$h2_out")
echo "$out" | sed 's/^/     /'
expect_contains "h2: the first request is answered" "$out" "request 1: 200 hello"
expect_contains "h2: the request after the idle sweep is answered" "$out" "request 2: 200 hello"
expect_contains "h2: the request after a second idle period is answered" "$out" \
  "request 3: 200 hello"
expect_contains "h2: a large response after an idle period arrives intact" "$out" \
  "big 2: 200 $BIG $want_big"
expect_contains "h2: and after a second idle period" "$out" "big 3: 200 $BIG $want_big"

# ---- HTTP/2 spare streams (decision 0019): a burst of concurrent streams
# leaves finished streams for reuse on its worker; once a sweep interval
# passes without them being used, the sweep frees them, and the next burst
# is served as the first one was.
BURST_URL="https://localhost:$HTTPS/hello"
# freed_total: the sum of the sweep's "freed N spare http/2 streams" lines.
freed_total() {
  grep -o 'freed [0-9]* spare http/2 streams' "$USHER_LOG" | awk '{ n += $2 } END { print n + 0 }'
}
# Streams a burst must leave for the sweep to free: its two connections have
# up to 250 streams each in flight, and their HEADERS arrive many to a read.
# The requests above left only a few spares, so this is the burst's.
BURST_SPARES=100
before=$(freed_total)
out=$(timeout 60 h2load -n 1500 -c 2 -m 250 "$BURST_URL" 2>&1)
expect_contains "h2: a burst of 500 concurrent streams succeeds" "$out" \
  "1500 succeeded, 0 failed, 0 errored"
wait_until "$PARK_WAIT" '[ $(($(freed_total) - before)) -ge "$BURST_SPARES" ]'
freed=$(($(freed_total) - before))
if [ "$freed" -ge "$BURST_SPARES" ]; then
  pass "h2: the sweep freed the burst's unused spare streams ($freed)"
else
  fail "h2: the sweep freed the burst's unused spare streams" \
    "freed $freed, want at least $BURST_SPARES"
fi
out=$(timeout 60 h2load -n 1500 -c 2 -m 250 "$BURST_URL" 2>&1)
expect_contains "h2: a second burst after the spares were freed succeeds" "$out" \
  "1500 succeeded, 0 failed, 0 errored"

kill "$USHER_PID"
wait "$USHER_PID" 2>/dev/null
finish
