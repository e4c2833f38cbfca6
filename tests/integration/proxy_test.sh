#!/usr/bin/env bash
# The proxy engine through the real binary: HTTPS with the local CA, routing,
# reverse_proxy relay, redirects, TLS policy, rejections, reload and shutdown.
source "$(dirname "$0")/lib.sh"

start_upstream app || exit 1
APP=$UPSTREAM_PORT
DEAD=$(free_port)  # nothing listens there: a dead upstream
HTTP=$(free_port)
HTTPS=$(free_port)

config="$TEST_TMP/Caddyfile"
write_config() {
  cat >"$config" <<CONFIG
{
	http_port $HTTP
	https_port $HTTPS
	workers 2
	grace_period 5s
}

localhost {
	respond /hello "$1" 200
	reverse_proxy 127.0.0.1:$APP
}

dead.localhost {
	tls internal
	reverse_proxy 127.0.0.1:$DEAD
}
CONFIG
}
write_config "hello from usher"
start_usher "$config" "$HTTPS" || { fail "usher starts"; finish; exit 1; }
pass "usher starts and listens"
root=$(local_root)
[ -f "$root" ] && pass "the local CA root exists under the data directory" || fail "no local root at $root"

c() { curl -sS --max-time 10 --cacert "$root" "$@"; }

# ---- HTTPS with the local CA
expect_eq "respond over HTTPS" "$(c "https://localhost:$HTTPS/hello")" "hello from usher"
body=$(c "https://localhost:$HTTPS/echo/path?x=1")
expect_contains "proxied to the upstream" "$body" '"path": "/echo/path"'
expect_contains "query passed on" "$body" '"query": "x=1"'
expect_contains "Host passed unchanged" "$body" "\"host\": [\"localhost:$HTTPS\"]"
expect_contains "X-Forwarded-For set" "$body" '"x-forwarded-for": ["127.0.0.1"]'
expect_contains "X-Forwarded-Proto set" "$body" '"x-forwarded-proto": ["https"]'
expect_contains "X-Forwarded-Host set" "$body" "\"x-forwarded-host\": [\"localhost:$HTTPS\"]"
body=$(c -H "X-Forwarded-For: 6.6.6.6" "https://localhost:$HTTPS/echo")
expect_contains "an untrusted client's X-Forwarded-For is replaced" "$body" '"x-forwarded-for": ["127.0.0.1"]'
# Connection-nominated fields exist only in HTTP/1.1.
body=$(c --http1.1 -H "Connection: X-Secret" -H "X-Secret: 1" -H "Keep-Alive: 5" "https://localhost:$HTTPS/echo")
case "$body" in *x-secret*|*keep-alive*) fail "hop-by-hop headers are removed" "$body" ;; *) pass "hop-by-hop headers are removed" ;; esac

# ---- bodies both ways
head -c 10485760 /dev/urandom >"$TEST_TMP/upload.bin"
want="10485760 $(sha256sum "$TEST_TMP/upload.bin" | cut -d' ' -f1)"
expect_eq "a 10 MiB upload arrives intact" "$(c --data-binary @"$TEST_TMP/upload.bin" "https://localhost:$HTTPS/upload")" "$want"
expect_eq "a chunked upload arrives intact" \
  "$(c -H 'Transfer-Encoding: chunked' --data-binary @"$TEST_TMP/upload.bin" "https://localhost:$HTTPS/upload")" "$want"
c -o "$TEST_TMP/down.bin" "https://localhost:$HTTPS/bytes/10485760"
expect_eq "a 10 MiB download arrives intact" "$(stat -c %s "$TEST_TMP/down.bin")" "10485760"
c -o "$TEST_TMP/down2.bin" "https://localhost:$HTTPS/bytes/10485760?chunked=1"
expect_eq "a chunked download arrives intact" "$(cmp "$TEST_TMP/down.bin" "$TEST_TMP/down2.bin" && echo same)" "same"

# ---- plain HTTP port: redirects
headers=$(curl -sS -o /dev/null -D - --max-time 5 "http://localhost:$HTTP/some/path?q=1")
expect_contains "plain HTTP redirects with 308" "$headers" "308"
expect_contains "the redirect keeps host, port and URI" "$headers" "https://localhost:$HTTPS/some/path?q=1"

# ---- unknown hosts
status=$(c -o /dev/null -w '%{http_code}' -H "Host: nobody.example" "https://localhost:$HTTPS/")
expect_eq "a host no site serves gets 404" "$status" "404"
if openssl s_client -connect "127.0.0.1:$HTTPS" -servername unknown.example </dev/null >"$TEST_TMP/sni" 2>&1; then
  fail "an unknown SNI gets a TLS alert" "$(head -5 "$TEST_TMP/sni")"
else
  expect_contains "an unknown SNI gets a TLS alert" "$(cat "$TEST_TMP/sni")" "alert"
fi

# ---- TLS policy
openssl s_client -connect "127.0.0.1:$HTTPS" -servername localhost -tls1_1 </dev/null >/dev/null 2>&1 &&
  fail "TLS 1.1 is refused" || pass "TLS 1.1 is refused"
out=$(openssl s_client -connect "127.0.0.1:$HTTPS" -servername localhost -tls1_2 -alpn http/1.1 -CAfile "$root" </dev/null 2>&1)
expect_contains "TLS 1.2 works" "$out" "Protocol  : TLSv1.2"
expect_contains "ALPN http/1.1 is negotiated" "$out" "ALPN protocol: http/1.1"
expect_contains "the certificate verifies against the local root" "$out" "Verify return code: 0 (ok)"

# ---- malformed requests are rejected, nothing forwarded
raw() { printf "$1" | timeout 5 openssl s_client -quiet -connect "127.0.0.1:$HTTPS" -servername localhost 2>/dev/null | head -1; }
expect_contains "Content-Length with Transfer-Encoding gets 400" \
  "$(raw 'POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')" "400"
expect_contains "a missing Host gets 400" "$(raw 'GET /echo HTTP/1.1\r\n\r\n')" "400"
expect_contains "obs-fold gets 400" "$(raw 'GET /echo HTTP/1.1\r\nHost: localhost\r\nX: a\r\n b\r\n\r\n')" "400"

# ---- upstream failures
status=$(c -o /dev/null -w '%{http_code}' --resolve "dead.localhost:$HTTPS:127.0.0.1" "https://dead.localhost:$HTTPS/")
expect_eq "a dead upstream gives 502" "$status" "502"

# ---- keep-alive: several requests on one connection
out=$(c -v "https://localhost:$HTTPS/hello" "https://localhost:$HTTPS/hello" 2>&1)
expect_contains "keep-alive reuses the connection" "$out" "Re-using existing connection"

# ---- reload
write_config "hello after reload"
kill -HUP "$USHER_PID"
for i in $(seq 1 50); do
  [ "$(c "https://localhost:$HTTPS/hello")" == "hello after reload" ] && break
  sleep 0.1
done
expect_eq "SIGHUP reloads the config" "$(c "https://localhost:$HTTPS/hello")" "hello after reload"
echo "localhost { reverse_prox nowhere }" >"$config"
kill -HUP "$USHER_PID"
for i in $(seq 1 50); do grep -q "reload of" "$USHER_LOG" && break; sleep 0.1; done
expect_contains "a bad reload is logged with its error" "$(cat "$USHER_LOG")" 'unknown directive `reverse_prox`'
expect_eq "after a bad reload the old config keeps serving" "$(c "https://localhost:$HTTPS/hello")" "hello after reload"

# ---- graceful shutdown
kill -TERM "$USHER_PID"
for i in $(seq 1 100); do kill -0 "$USHER_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$USHER_PID" 2>/dev/null; then
  fail "SIGTERM stops usher"
else
  wait "$USHER_PID"
  expect_eq "SIGTERM stops usher with exit code 0" "$?" "0"
fi

finish
