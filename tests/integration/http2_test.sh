#!/usr/bin/env bash
# HTTP/2 to clients through the real binary: ALPN, curl/nghttp/h2load, every
# request and response shape through reverse_proxy, flow control with a
# stalled reader (bounded memory), WebSocket over extended CONNECT (RFC 8441),
# rapid-reset, CONTINUATION, SETTINGS and PING floods, h2c prior knowledge,
# `protocols h1`.
source "$(dirname "$0")/lib.sh"

H2CLIENT="$USHER_SOURCE_DIR/tests/integration/h2client.py"
CLIENT="$USHER_SOURCE_DIR/tests/integration/client.py"

# An upstream whose chunked responses carry trailers (for trailers both ways).
python3 "$H2CLIENT" trailer-upstream >"$TEST_TMP/trailers.out" 2>&1 &
STARTED_PIDS+=("$!")
for _ in $(seq 1 100); do
  TRAILERS=$(sed -n 's/^PORT //p' "$TEST_TMP/trailers.out")
  [ -n "$TRAILERS" ] && break
  sleep 0.05
done

start_upstream app || exit 1
APP=$UPSTREAM_PORT
HTTP=$(free_port)
HTTPS=$(free_port)
ACCESS="$TEST_TMP/access.log"
config="$TEST_TMP/Caddyfile"
cat >"$config" <<CONFIG
{
	http_port $HTTP
	https_port $HTTPS
	workers 2
}

localhost {
	log {
		output file $ACCESS
		format json
	}
	respond /hello "hello" 200
	reverse_proxy /trailers* 127.0.0.1:$TRAILERS
	reverse_proxy 127.0.0.1:$APP
}
CONFIG
start_usher "$config" "$HTTPS" || { fail "usher starts"; finish; exit 1; }
root=$(local_root)
URL="https://localhost:$HTTPS"
h2c() { timeout 120 python3 "$H2CLIENT" "$@" --port "$HTTPS" --ca "$root"; }
curl2() { timeout 60 curl -sS --http2 --cacert "$root" "$@"; }

# ---- negotiation and real clients
out=$(curl2 -v -o /dev/null -w '%{http_version}\n' "$URL/hello" 2>&1)
expect_contains "ALPN offers h2 and curl takes it" "$out" "ALPN: server accepted h2"
expect_eq "curl --http2 speaks HTTP/2" "$(echo "$out" | tail -1)" "2"
out=$(openssl s_client -connect "127.0.0.1:$HTTPS" -servername localhost -alpn h2,http/1.1 \
  -CAfile "$root" </dev/null 2>&1)
expect_contains "h2 is preferred over http/1.1" "$out" "ALPN protocol: h2"
out=$(openssl s_client -connect "127.0.0.1:$HTTPS" -servername localhost -alpn http/1.1 \
  -CAfile "$root" </dev/null 2>&1)
expect_contains "an http/1.1-only client still gets http/1.1" "$out" "ALPN protocol: http/1.1"
out=$(timeout 30 nghttp -v "$URL/hello" 2>&1)
expect_contains "nghttp gets the respond body" "$out" "hello"
expect_contains "nghttp sees ENABLE_CONNECT_PROTOCOL" "$out" "SETTINGS_ENABLE_CONNECT_PROTOCOL(0x08):1"
out=$(timeout 60 h2load -n 2000 -c 4 -m 100 "$URL/hello" 2>&1)
expect_contains "h2load: 2000 requests, 100 concurrent streams per connection, all succeed" \
  "$out" "2000 succeeded, 0 failed, 0 errored"

# ---- request and response shapes through reverse_proxy
body=$(curl2 -H 'Cookie: a=1' -H 'Cookie: b=2' "$URL/echo/p?x=1&y=2")
expect_contains "the path reaches the upstream" "$body" '"path": "/echo/p"'
expect_contains "the query reaches the upstream" "$body" '"query": "x=1&y=2"'
expect_contains "cookie crumbs are joined with '; ' (RFC 9113 8.2.3)" "$body" '"cookie": ["a=1; b=2"]'
expect_contains ":authority becomes Host upstream" "$body" "\"host\": [\"localhost:$HTTPS\"]"
expect_contains "X-Forwarded-Proto is https" "$body" '"x-forwarded-proto": ["https"]'
out=$(curl2 -I "$URL/bytes/1000")
expect_contains "HEAD gets the length the GET would have" "$out" "content-length: 1000"
expect_eq "HEAD has no body" "$(curl2 -o - -X HEAD "$URL/bytes/1000" 2>/dev/null | wc -c)" "0"

python3 "$CLIENT" gen $((50 * 1024 * 1024)) "$TEST_TMP/up.sha" >"$TEST_TMP/up.bin"
out=$(curl2 --data-binary @"$TEST_TMP/up.bin" "$URL/upload")
expect_eq "a 50 MiB upload with content-length arrives intact" "$out" \
  "$((50 * 1024 * 1024)) $(cat "$TEST_TMP/up.sha")"
out=$(head -c 3000000 "$TEST_TMP/up.bin" | curl2 -T - -X POST "$URL/upload")
expect_eq "a POST without content-length streams through" "$out" \
  "3000000 $(head -c 3000000 "$TEST_TMP/up.bin" | sha256sum | cut -d' ' -f1)"
out=$(curl2 -v -H 'Expect: 100-continue' --data-binary @"$TEST_TMP/up.bin" "$URL/upload" 2>&1)
expect_contains "Expect: 100-continue gets an interim 100 over h2" "$out" "< HTTP/2 100"
sha=$(curl2 "$URL/bytes/100000000?chunked=1" | sha256sum | cut -d' ' -f1)
expect_eq "a 100 MB chunked download arrives intact" "$sha" \
  "$(python3 "$CLIENT" pattern-sha 100000000)"

out=$(h2c trailers --path /trailers)
expect_contains "request body and trailers reach the upstream" "$out" "got 100000 bytes, 1 trailers"
expect_contains "request trailers are forwarded" "$out" "trailer x-echo-x-checksum:"
expect_contains "response trailers reach the h2 client" "$out" "trailer x-server-trailer: done"

out=$(h2c sse --path "/sse?n=4&gap=1")
echo "$out" | sed 's/^/     sse: /'
first=$(echo "$out" | awk 'NR == 1 { print $1 }')
expect_eq "all 4 events arrive" "$(echo "$out" | grep -c 'event ')" "4"
awk -v f="$first" 'BEGIN { exit !(f < 0.9) }' && pass "the first event arrives at once (${first}s)" ||
  fail "the first event arrives at once" "first event after ${first}s"

# ---- flow control: a reader that grants no window for 5 s, 1 GiB
before=$(rss_kib "$USHER_PID")
out=$(h2c stall --path /bytes/1073741824 --after $((64 * 1024 * 1024)) --stall 5)
echo "$out" | sed 's/^/     stall: /'
expect_contains "1 GiB through a stalled-then-resumed h2 reader: all bytes" "$out" "bytes 1073741824"
expect_contains "1 GiB through a stalled-then-resumed h2 reader: sha256 matches" "$out" \
  "sha256 $(python3 "$CLIENT" pattern-sha 1073741824)"
hwm=$(hwm_kib "$USHER_PID")
[ $((hwm - before)) -lt $((64 * 1024)) ] && pass "usher's memory stays bounded (peak +$((hwm - before)) KiB)" ||
  fail "usher's memory stays bounded" "peak RSS $hwm KiB, $before KiB before"

# ---- WebSocket over extended CONNECT (RFC 8441) through reverse_proxy
out=$(h2c ws --path /ws --count 200)
expect_contains "extended CONNECT is answered with 200" "$out" "status 200"
expect_eq "no 101-only fields leak into the h2 response" "$(echo "$out" | grep -c leaked)" "0"
expect_contains "200 WebSocket messages echo over one h2 stream" "$out" "echoed 200"
expect_contains "the WebSocket close is answered" "$out" "close answered"

# ---- floods close only the offending connection
# PING ACKs a client does not read first fill the socket buffers toward it
# (up to tcp_wmem's maximum) and only then queue up in usher, so the ping
# flood sends twice that many bytes of PINGs (17 bytes each).
pings=$(awk '{ print int($3 / 17) * 2 }' /proc/sys/net/ipv4/tcp_wmem)
for kind in reset continuation settings ping; do
  count=1000
  [ "$kind" = continuation ] && count=200
  [ "$kind" = settings ] && count=40
  [ "$kind" = ping ] && count=$pings
  out=$(h2c flood --kind "$kind" --count "$count")
  echo "$out" | sed "s/^/     $kind: /"
  expect_contains "$kind flood: the flooding connection gets GOAWAY" "$out" "flood goaway"
  expect_eq "$kind flood: the flooding connection is closed" \
    "$(echo "$out" | grep -c 'flood closed True')" "1"
  expect_contains "$kind flood: a connection opened before still works" "$out" "control after 200"
  expect_contains "$kind flood: a new connection works" "$out" "fresh 200"
done
echo "$out" | grep -q "flood goaway None" && fail "the flood GOAWAY carries an error code"
# nghttp2's cap on queued ACKs (kHttp2MaxOutboundAcks) is what ended the ping
# flood: ENHANCE_YOUR_CALM (11), not a write timeout or a reset.
expect_contains "ping flood: the GOAWAY says ENHANCE_YOUR_CALM" "$out" "flood goaway 11"

# ---- access log
wait_until 5 "grep -qF '\"proto\":\"HTTP/2.0\"' \"\$ACCESS\""
expect_contains "the access log says HTTP/2.0" "$(cat "$ACCESS")" '"proto":"HTTP/2.0"'

# ---- graceful stop: an h2 request in flight finishes, the client sees GOAWAY
timeout 30 curl -sS --http2 --cacert "$root" -o "$TEST_TMP/slow.out" -w '%{http_code}' \
  "$URL/slow?delay=2" >"$TEST_TMP/slow.code" 2>&1 &
slow=$!
sleep 0.5
kill -TERM "$USHER_PID"
wait "$slow"
expect_eq "a slow h2 request in flight at SIGTERM completes" "$(cat "$TEST_TMP/slow.code")" "200"
wait "$USHER_PID"
expect_eq "usher stops with exit code 0" "$?" "0"

# ---- protocols h1 h2c: prior-knowledge h2c on the plain port
cat >"$config" <<CONFIG
{
	http_port $HTTP
	https_port $HTTPS
	workers 1
	servers {
		protocols h1 h2c
		timeouts {
			read_header 2s
			write 2s
		}
	}
}

http://localhost:$HTTP {
	reverse_proxy /bytes/* 127.0.0.1:$APP
	respond / "plain $HTTP"
}
https://localhost {
	respond "tls"
}
CONFIG
start_usher "$config" "$HTTP" || { fail "usher starts with protocols h1 h2c"; finish; exit 1; }
out=$(timeout 10 curl -sS --http2-prior-knowledge -w ' %{http_version}' "http://localhost:$HTTP/")
expect_eq "curl --http2-prior-knowledge gets h2c on the plain port" "$out" "plain $HTTP 2"
out=$(timeout 10 curl -sS -w ' %{http_version}' "http://localhost:$HTTP/")
expect_eq "HTTP/1.1 still works on that port" "$out" "plain $HTTP 1.1"
out=$(timeout 30 python3 "$H2CLIENT" slowhead --plain --port "$HTTP" --deadline 15)
case "$out" in
  "closed True after "[2-4].*) pass "an h2 header block that never ends is cut off after read_header ($out)" ;;
  *) fail "an h2 header block that never ends is cut off after read_header" "$out" ;;
esac
out=$(timeout 10 curl -sS --http2 --cacert "$(local_root)" -w ' %{http_version}' "https://localhost:$HTTPS/")
expect_eq "without h2 in protocols, ALPN falls back to http/1.1" "$out" "tls 1.1"
# A client that stops granting window: after `write` (2s) without progress the
# stream is reset (CANCEL = 8), and the connection is left to the client.
out=$(timeout 60 python3 "$H2CLIENT" stall --plain --port "$HTTP" --path /bytes/1000000000 \
  --after 1000000 --stall 8 --deadline 30)
echo "$out" | sed 's/^/     zero-window: /'
expect_contains "a stream whose window stays shut past the write timeout is reset" "$out" "reset 8"
kill -TERM "$USHER_PID"
wait "$USHER_PID"

# ---- by default h2c is off: the preface is not HTTP/1.1 either
sed -i '/servers {/,/^\t}$/d' "$config"
start_usher "$config" "$HTTP" || { fail "usher starts"; finish; exit 1; }
out=$(timeout 10 curl -sS --http2-prior-knowledge -w ' %{http_version}' "http://localhost:$HTTP/" 2>&1)
case "$out" in
  *" 2") fail "without h2c in protocols, prior knowledge is not served as h2" "$out" ;;
  *) pass "without h2c in protocols, prior knowledge is not served as h2" ;;
esac
out=$(timeout 10 curl -sS --http2 --cacert "$(local_root)" -w ' %{http_version}' "https://localhost:$HTTPS/")
expect_eq "by default ALPN gives h2" "$out" "tls 2"

finish
