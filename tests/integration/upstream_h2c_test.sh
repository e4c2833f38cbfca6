#!/usr/bin/env bash
# reverse_proxy to h2c upstreams (HTTP/2 with prior knowledge) through the
# real binary, against tests/integration/h2c_upstream.py (python3-h2):
# methods, headers both ways, 100 MiB each way, a gRPC-shaped stream over an
# HTTP/1.1 chunked client connection and over HTTP/2 end to end,
# multiplexing, a dying upstream, GOAWAY, active health checks spoken as h2c.
source "$(dirname "$0")/lib.sh"

# start_h2c NAME [ARGS...]: sets H2C_PORT and H2C_PID (and lib.sh's SERVER_OUT).
start_h2c() {
  start_python_server h2c_upstream.py "$@" || return 1
  H2C_PORT=$SERVER_PORT
  H2C_PID=$SERVER_PID
}

start_h2c app || exit 1
APP=$H2C_PORT
start_h2c mux || exit 1
MUX=$H2C_PORT
start_h2c narrow --max-streams 2 || exit 1
NARROW=$H2C_PORT
start_h2c idle || exit 1
IDLE=$H2C_PORT
IDLE_OUT=$SERVER_OUT
start_h2c goaway --goaway-after 1 || exit 1
GOAWAY=$H2C_PORT
KILL=$(free_port)
start_h2c kill --port "$KILL" || exit 1
KILL_PID=$H2C_PID
HEALTH=$(free_port)
HEALTH_FILE="$TEST_TMP/health-status"
start_h2c health --port "$HEALTH" --health-file "$HEALTH_FILE" || exit 1
HEALTH_PID=$H2C_PID
HEALTH_OUT=$SERVER_OUT
HTTP=$(free_port)
HTTPS=$(free_port)
config="$TEST_TMP/Caddyfile"
cat >"$config" <<CONFIG
{
	http_port $HTTP
	https_port $HTTPS
	workers 2
}

h2c.localhost {
	reverse_proxy h2c://127.0.0.1:$APP
}

versions.localhost {
	reverse_proxy 127.0.0.1:$APP {
		transport http {
			versions h2c
		}
	}
}

headers.localhost {
	reverse_proxy h2c://127.0.0.1:$APP {
		header_up X-Up "from-usher"
		header_up -User-Agent
		header_up Host upstream.internal
		header_down -X-Remove-Me
		header_down X-Down "added"
	}
}

mux.localhost {
	reverse_proxy h2c://127.0.0.1:$MUX
}

goaway.localhost {
	reverse_proxy h2c://127.0.0.1:$GOAWAY
}

idle.localhost {
	reverse_proxy h2c://127.0.0.1:$IDLE {
		transport http {
			keepalive 1s
		}
	}
}

narrow.localhost {
	reverse_proxy h2c://127.0.0.1:$NARROW
}

kill.localhost {
	reverse_proxy h2c://127.0.0.1:$KILL
}

health.localhost {
	reverse_proxy h2c://127.0.0.1:$HEALTH {
		health_uri /health?probe=1
		health_interval 200ms
		health_timeout 2s
	}
}

hang.localhost {
	reverse_proxy h2c://127.0.0.1:$APP {
		transport http {
			response_header_timeout 1s
		}
	}
}
CONFIG
start_usher "$config" "$HTTPS" || { fail "usher starts"; finish; exit 1; }
root=$(local_root)

# get HOST [CURL ARGS...]
get() {
  local host=$1
  shift
  curl -sS --max-time 30 --cacert "$root" --resolve "$host:$HTTPS:127.0.0.1" "$@"
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# ---- methods and headers

# Connection-nominated fields exist only in HTTP/1.1: the client speaks it here.
body=$(get h2c.localhost "https://h2c.localhost:$HTTPS/echo?a=1&b=2" --http1.1 \
  -H 'Connection: keep-alive, X-Hop' -H 'X-Hop: secret' -H 'Keep-Alive: timeout=5' \
  -H 'Proxy-Connection: keep-alive' -H 'TE: gzip' -H 'X-Custom: kept')
expect_eq "GET over h2c reaches the upstream as HTTP/2" "$(echo "$body" | json 'd["method"], d["path"], d["scheme"]')" "GET /echo?a=1&b=2 http"
expect_eq ":authority is the Host the client sent" "$(echo "$body" | json 'd["authority"]')" "h2c.localhost:$HTTPS"
names=$(echo "$body" | json '" ".join(sorted(k for k, v in d["headers"]))')
expect_contains "X-Forwarded-For reaches the upstream" "$names" "x-forwarded-for"
expect_contains "X-Forwarded-Proto reaches the upstream" "$names" "x-forwarded-proto"
expect_contains "X-Forwarded-Host reaches the upstream" "$names" "x-forwarded-host"
expect_contains "end-to-end fields reach the upstream" "$names" "x-custom"
bad=""
for h in connection keep-alive proxy-connection transfer-encoding upgrade te host x-hop; do
  case " $names " in *" $h "*) bad="$bad $h" ;; esac
done
expect_eq "no connection-specific field reaches an h2c upstream" "$bad" ""

body=$(get h2c.localhost "https://h2c.localhost:$HTTPS/echo" -H 'TE: trailers')
expect_eq "te: trailers goes upstream when the client asked for trailers" \
  "$(echo "$body" | json '[v for k, v in d["headers"] if k == "te"]')" "['trailers']"

body=$(get h2c.localhost "https://h2c.localhost:$HTTPS/echo" --data-binary 'hello h2c')
expect_eq "POST body reaches the h2c upstream" \
  "$(echo "$body" | json 'd["method"], d["length"], d["body"]')" "POST 9 hello h2c"
expect_eq "POST carries content-length" \
  "$(echo "$body" | json '[v for k, v in d["headers"] if k == "content-length"]')" "['9']"

head=$(get h2c.localhost "https://h2c.localhost:$HTTPS/echo" -I)
expect_contains "HEAD through h2c answers 200" "$head" " 200"
expect_contains "HEAD keeps the upstream's Content-Length" "$(echo "$head" | tr -d '\r' | tr 'A-Z' 'a-z')" "content-length: "

body=$(get versions.localhost "https://versions.localhost:$HTTPS/echo" -X PUT --data-binary 'v')
expect_eq "transport http { versions h2c } speaks HTTP/2" \
  "$(echo "$body" | json 'd["method"], d["scheme"], d["body"]')" "PUT http v"

resp=$(get headers.localhost "https://headers.localhost:$HTTPS/echo" -i)
body=$(echo "$resp" | sed -n '/^{/,$p')
expect_eq "header_up adds a field" "$(echo "$body" | json '[v for k, v in d["headers"] if k == "x-up"]')" "['from-usher']"
expect_eq "header_up removes a field" "$(echo "$body" | json '[v for k, v in d["headers"] if k == "user-agent"]')" "[]"
expect_eq "header_up Host becomes :authority" "$(echo "$body" | json 'd["authority"]')" "upstream.internal"
lower=$(echo "$resp" | tr -d '\r' | tr 'A-Z' 'a-z')
expect_contains "header_down adds a field" "$lower" "x-down: added"
case "$lower" in *x-remove-me*) fail "header_down removes a field" "$lower" ;; *) pass "header_down removes a field" ;; esac
expect_contains "upstream response fields reach the client" "$lower" "x-upstream: app"

# ---- 100 MiB each way

n=$((100 * 1024 * 1024))
want=$(python3 -c "
import sys; sys.path.insert(0, '$USHER_SOURCE_DIR/tests/integration')
import hashlib, h2c_upstream as u
h = hashlib.sha256(); o = 0
while o < $n:
    k = min(1 << 20, $n - o); h.update(u.pattern_bytes(o, k)); o += k
print(h.hexdigest())")
got=$(timeout 120 curl -sS --max-time 120 --cacert "$root" --resolve "h2c.localhost:$HTTPS:127.0.0.1" \
  "https://h2c.localhost:$HTTPS/download?n=$n" | sha256sum | cut -d' ' -f1)
expect_eq "100 MiB download through h2c arrives intact (sha256)" "$got" "$want"

head -c "$n" /dev/urandom >"$TEST_TMP/upload.bin"
want=$(sha256sum "$TEST_TMP/upload.bin" | cut -d' ' -f1)
body=$(timeout 120 curl -sS --max-time 120 --cacert "$root" --resolve "h2c.localhost:$HTTPS:127.0.0.1" \
  -H 'Transfer-Encoding: chunked' -T - "https://h2c.localhost:$HTTPS/echo" <"$TEST_TMP/upload.bin")
expect_eq "100 MiB chunked upload through h2c arrives intact (sha256)" \
  "$(echo "$body" | json 'd["length"], d["sha256"]')" "$n $want"
rm -f "$TEST_TMP/upload.bin"

# ---- gRPC-shaped streaming over an HTTP/1.1 chunked client connection

cat >"$TEST_TMP/grpc_client.py" <<'PY'
import socket, ssl, struct, sys
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
raw = socket.create_connection(("127.0.0.1", port), timeout=10)
s = ctx.wrap_socket(raw, server_hostname="h2c.localhost")
r = s.makefile("rb")
s.sendall(b"POST /grpc/test.Echo/Chat HTTP/1.1\r\nHost: h2c.localhost\r\n"
          b"Content-Type: application/grpc\r\nTE: trailers\r\nTransfer-Encoding: chunked\r\n\r\n")
def send(msg):
    frame = struct.pack(">BI", 0, len(msg)) + msg
    s.sendall(b"%x\r\n" % len(frame) + frame + b"\r\n")
def chunk():
    size = int(r.readline().split(b";")[0], 16)
    if size == 0:
        return None
    data = r.read(size)
    r.readline()
    return data
send(b"msg-0")
status = r.readline()
print("status", status.decode().split()[1])
while r.readline() not in (b"\r\n", b""):
    pass
buf = b""
for i in range(5):
    if i > 0:
        send(b"msg-%d" % i)  # only after the previous answer arrived
    while len(buf) < 5 or len(buf) < 5 + struct.unpack(">I", buf[1:5])[0]:
        data = chunk()
        if data is None:
            sys.exit("response ended early")
        buf += data
    n = struct.unpack(">I", buf[1:5])[0]
    print("reply", buf[5:5 + n].decode())
    buf = buf[5 + n:]
s.sendall(b"0\r\n\r\n")
while chunk() is not None:
    pass
while True:
    line = r.readline()
    if line in (b"\r\n", b""):
        break
    print("trailer", line.decode().strip().lower())
PY
out=$(timeout 30 python3 "$TEST_TMP/grpc_client.py" "$HTTPS" "$root" 2>&1)
expect_contains "gRPC-shaped exchange: 200" "$out" "status 200"
expect_contains "each request message is answered before the next is sent (first)" "$out" "reply echo:msg-0"
expect_contains "each request message is answered before the next is sent (last)" "$out" "reply echo:msg-4"
expect_contains "the upstream's trailers reach the client as chunked trailers" "$out" "trailer grpc-status: 0"

# ---- gRPC end to end over HTTP/2: an h2 client over TLS, an h2c upstream.
# 5 messages of 100 kB, each in 3 DATA frames 0.2s apart (beyond one
# flow-control window), each sent only after the previous one's answer.
out=$(timeout 60 python3 "$USHER_SOURCE_DIR/tests/integration/h2client.py" grpc --port "$HTTPS" \
  --ca "$root" --host h2c.localhost --path /grpc/test.Echo/Chat --count 5 --pieces 3 --gap 0.2 \
  --size 100000 --deadline 30 2>&1)
echo "$out" | sed 's/^/     grpc over h2: /'
expect_contains "gRPC over h2 end to end: 200" "$out" "field :status: 200"
expect_contains "gRPC over h2: te: trailers reaches the h2c upstream" "$out" "field x-seen-te: trailers"
expect_contains "gRPC over h2: the first message is answered while the request streams" "$out" \
  "reply echo:msg-0 (100011 bytes)"
expect_contains "gRPC over h2: every message is answered before the request ends" "$out" \
  "answered 5 before the request ended"
expect_contains "gRPC over h2: grpc-status 0 reaches the client as HTTP/2 trailers" "$out" \
  "trailer grpc-status: 0"
expect_contains "gRPC over h2: the trailers end the stream" "$out" "stream ended"
# gRPC's trailers-only answer (an immediate error) must stay one HEADERS frame
# ending the stream: a head followed by an empty DATA frame that ends it
# reads, to a gRPC client, as a stream that ended without trailers.
out=$(timeout 60 python3 "$USHER_SOURCE_DIR/tests/integration/h2client.py" grpc --port "$HTTPS" \
  --ca "$root" --host h2c.localhost --path /grpc-unimplemented/test.Echo/Chat --count 0 \
  --deadline 30 2>&1)
echo "$out" | sed 's/^/     trailers-only: /'
expect_contains "gRPC trailers-only over h2: grpc-status 12 in the head" "$out" "field grpc-status: 12"
expect_contains "gRPC trailers-only over h2: the head ends the stream" "$out" \
  "the response head ends the stream"
expect_contains "gRPC trailers-only over h2: no DATA frame follows" "$out" "data frames 0"
# A gRPC cancellation (RST_STREAM CANCEL mid-stream) reaches the upstream.
resets() { get h2c.localhost "https://h2c.localhost:$HTTPS/stats" | json 'd["resets"]'; }
before=$(resets)
out=$(timeout 60 python3 "$USHER_SOURCE_DIR/tests/integration/h2client.py" grpc --port "$HTTPS" \
  --ca "$root" --host h2c.localhost --path /grpc/test.Echo/Chat --count 2 --cancel --deadline 30 2>&1)
expect_contains "gRPC over h2: the client cancels after two answers" "$out" "cancelled after 2 answers"
after=$before
for _ in $(seq 1 20); do
  after=$(resets)
  [ "$after" -gt "$before" ] && break
  sleep 0.1
done
expect_eq "gRPC over h2: the cancellation resets the upstream stream" "$((after - before))" "1"

# ---- multiplexing: 200 requests over a handful of upstream connections

stats() { get mux.localhost "https://mux.localhost:$HTTPS/stats"; }
before=$(stats)
codes=$(seq 1 200 | timeout 120 xargs -P 50 -I{} curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 \
  --cacert "$root" --resolve "mux.localhost:$HTTPS:127.0.0.1" "https://mux.localhost:$HTTPS/echo?i={}")
expect_eq "200 concurrent requests through h2c all answer 200" "$(echo "$codes" | grep -c '^200$')" "200"
after=$(stats)
conns=$(echo "$after" | json 'd["connections"]')
streams=$(( $(echo "$after" | json 'd["streams"]') - $(echo "$before" | json 'd["streams"]') ))
expect_eq "the upstream saw all 200 requests (and the stats one) as streams" "$streams" "201"
if [ "$conns" -le 4 ]; then
  pass "200 concurrent requests shared $conns upstream TCP connections (2 workers)"
else
  fail "200 concurrent requests share a handful of upstream connections" "$conns connections"
fi

# An upstream allowing 2 streams per connection: more connections open, up
# to the cap per worker, and every request is served.
for i in 1 2 3 4; do get narrow.localhost "https://narrow.localhost:$HTTPS/echo" -o /dev/null; done
codes=$(seq 1 60 | timeout 120 xargs -P 20 -I{} curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 \
  --cacert "$root" --resolve "narrow.localhost:$HTTPS:127.0.0.1" "https://narrow.localhost:$HTTPS/download?n=200000")
expect_eq "60 requests to an upstream allowing 2 streams per connection all answer 200" \
  "$(echo "$codes" | grep -c '^200$')" "60"
conns=$(get narrow.localhost "https://narrow.localhost:$HTTPS/stats" | json 'd["connections"]')
if [ "$conns" -gt 2 ] && [ "$conns" -le 16 ]; then
  pass "SETTINGS_MAX_CONCURRENT_STREAMS 2 opened more connections ($conns, at most 8 per worker)"
else
  fail "a full connection makes usher open another" "$conns connections"
fi

# ---- GOAWAY: streams the upstream refused go again on a new connection

codes=""
for i in $(seq 1 6); do
  codes="$codes$(get goaway.localhost "https://goaway.localhost:$HTTPS/echo?i=$i" -o /dev/null -w '%{http_code}') "
done
expect_eq "requests refused by GOAWAY are retried on a new connection" "$codes" "200 200 200 200 200 200 "
# The upstream serves one stream per connection, so every request after the
# first on a connection was refused by GOAWAY and went again on a new one.
stats=$(get goaway.localhost "https://goaway.localhost:$HTTPS/stats")
expect_eq "the GOAWAY upstream served each stream on its own connection" \
  "$(echo "$stats" | json 'd["streams"] == 7 and d["connections"] >= 7')" "True"

body=$(get goaway.localhost "https://goaway.localhost:$HTTPS/echo" --data-binary 'small body')
expect_eq "a small POST body refused by GOAWAY goes again whole" "$(echo "$body" | json 'd["body"]')" "small body"

# ---- timeouts

code=$(get hang.localhost "https://hang.localhost:$HTTPS/hang" -o /dev/null -w '%{http_code}')
expect_eq "an h2c upstream that never answers gives 504 after response_header_timeout" "$code" "504"

# ---- idle connections end with GOAWAY after keepalive

code=$(get idle.localhost "https://idle.localhost:$HTTPS/echo" -o /dev/null -w '%{http_code}')
expect_eq "idle site serves" "$code" "200"
for i in $(seq 1 50); do
  grep -q "GOAWAY from client error=0" "$IDLE_OUT" && break
  sleep 0.1
done
expect_contains "an h2c connection idle for keepalive is closed with GOAWAY (NO_ERROR)" \
  "$(cat "$IDLE_OUT")" "GOAWAY from client error=0"

# ---- slow clients hold back the upstream (flow control), not usher's memory

rss_before=$(rss_kib "$USHER_PID")
slow=()
for i in 1 2 3 4; do
  get h2c.localhost "https://h2c.localhost:$HTTPS/download?n=$n" --limit-rate 100K -o /dev/null 2>/dev/null &
  slow+=($!)
done
sleep 3
rss_during=$(rss_kib "$USHER_PID")
kill "${slow[@]}" 2>/dev/null
wait "${slow[@]}" 2>/dev/null
growth=$((rss_during - rss_before))
if [ "$growth" -lt 16384 ]; then
  pass "4 slow clients of 100 MiB downloads grew usher by $growth KiB (< 16 MiB)"
else
  fail "slow clients do not grow usher's memory" "grew by $growth KiB"
fi

# ---- the upstream dies mid-run, then comes back

code=$(get kill.localhost "https://kill.localhost:$HTTPS/echo" -o /dev/null -w '%{http_code}')
expect_eq "kill upstream serves before it dies" "$code" "200"
get kill.localhost "https://kill.localhost:$HTTPS/download?n=$n" --limit-rate 2M \
  -o "$TEST_TMP/partial" 2>/dev/null &
dl=$!
sleep 1
kill -9 "$KILL_PID"
wait "$KILL_PID" 2>/dev/null
wait "$dl"
rc=$?
[ "$rc" -ne 0 ] && pass "an h2c upstream dying mid-body gives the client an error (curl exit $rc)" ||
  fail "an h2c upstream dying mid-body gives the client an error" "curl exited 0"
code=$(get kill.localhost "https://kill.localhost:$HTTPS/echo" -o /dev/null -w '%{http_code}')
expect_eq "a dead h2c upstream answers 502" "$code" "502"
start_h2c kill --port "$KILL" || exit 1
code=$(get kill.localhost "https://kill.localhost:$HTTPS/echo" -o /dev/null -w '%{http_code}')
expect_eq "the first request after the upstream restarted succeeds" "$code" "200"

# ---- active health checks speak h2c to an h2c upstream (an HTTP/1.1 GET
# would be a protocol error to it and take it out of rotation)

health_checks() { grep -c '^HEALTH ' "$HEALTH_OUT"; }
wait_until 10 '[ "$(health_checks)" -ge 3 ]'
n=$(health_checks)
if [ "$n" -ge 3 ]; then
  pass "the h2c upstream received $n health checks"
else
  fail "the h2c upstream receives health checks every health_interval" "$n seen in 10s"
fi
expect_contains "health checks reach the h2c upstream as HTTP/2 GETs with path, authority and user agent" \
  "$(grep '^HEALTH ' "$HEALTH_OUT" | head -1)" \
  "HEALTH HTTP/2 GET /health?probe=1 authority=127.0.0.1:$HEALTH user-agent=usher-health-check"
code=$(get health.localhost "https://health.localhost:$HTTPS/echo" -o /dev/null -w '%{http_code}')
expect_eq "an h2c upstream with health checks on serves requests (200, not 503)" "$code" "200"
case "$(cat "$USHER_LOG")" in
  *"127.0.0.1:$HEALTH failed its health check"*) fail "a healthy h2c upstream passes its checks" "$(grep 'health check' "$USHER_LOG")" ;;
  *) pass "a healthy h2c upstream passes its checks" ;;
esac

# health_count PATTERN: how often the usher log says PATTERN about this upstream.
health_count() { grep -c "upstream 127.0.0.1:$HEALTH $1" "$USHER_LOG"; }
echo 503 >"$HEALTH_FILE"
wait_until 10 '[ "$(health_count "failed its health check")" -ge 1 ]'
expect_contains "a 503 health answer takes the h2c upstream out of rotation (logged)" "$(cat "$USHER_LOG")" \
  "upstream 127.0.0.1:$HEALTH failed its health check (GET /health?probe=1): status 503; taken out of rotation"
code=$(get health.localhost "https://health.localhost:$HTTPS/echo" -o /dev/null -w '%{http_code}')
expect_eq "an h2c upstream out of rotation gets no requests (503)" "$code" "503"
rm -f "$HEALTH_FILE"
wait_until 10 '[ "$(health_count "is healthy again")" -ge 1 ]'
expect_eq "the h2c upstream comes back once its check passes (logged)" "$(health_count "is healthy again")" "1"
code=$(get health.localhost "https://health.localhost:$HTTPS/echo" -o /dev/null -w '%{http_code}')
expect_eq "the h2c upstream serves again after it recovered" "$code" "200"

# Stopped: the check's dial fails; restarted on the same port: back again.
kill "$HEALTH_PID"
wait "$HEALTH_PID" 2>/dev/null
wait_until 10 '[ "$(health_count "failed its health check")" -ge 2 ]'
expect_contains "a stopped h2c upstream is taken out of rotation by its check" \
  "$(grep "upstream 127.0.0.1:$HEALTH failed its health check" "$USHER_LOG" | tail -1)" \
  "(GET /health?probe=1): Connection refused; taken out of rotation"
start_h2c health --port "$HEALTH" --health-file "$HEALTH_FILE" || exit 1
wait_until 10 '[ "$(health_count "is healthy again")" -ge 2 ]'
expect_eq "a restarted h2c upstream comes back into rotation" "$(health_count "is healthy again")" "2"
code=$(get health.localhost "https://health.localhost:$HTTPS/echo" -o /dev/null -w '%{http_code}')
expect_eq "the restarted h2c upstream serves" "$code" "200"

# ---- upgrades are refused with a clear log line

code=$(get h2c.localhost "https://h2c.localhost:$HTTPS/ws" --http1.1 -o /dev/null -w '%{http_code}' \
  -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
  -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==')
expect_eq "a WebSocket upgrade to an h2c upstream answers 502" "$code" "502"
expect_contains "the refused upgrade is logged" "$(cat "$USHER_LOG")" "upgrade refused: the upstreams of this route speak h2c"

finish
