#!/usr/bin/env bash
# Sites and certificates through the real binary: two sites on one port told
# apart by SNI, a site with its own certificate files (tls CERT KEY), the
# HTTP→HTTPS 308 to a non-443 https_port, and `usher reverse-proxy`.
source "$(dirname "$0")/lib.sh"

start_upstream app || exit 1
APP=$UPSTREAM_PORT
HTTP=$(free_port)
HTTPS=$(free_port)

# A certificate of our own for files.test, made here.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=files.test" -addext "subjectAltName=DNS:files.test" \
  -keyout "$TEST_TMP/files.key" -out "$TEST_TMP/files.crt" >/dev/null 2>&1 ||
  fail "openssl makes a self-signed certificate"

config="$TEST_TMP/Caddyfile"
cat >"$config" <<CONFIG
{
	http_port $HTTP
	https_port $HTTPS
	workers 2
}

a.localhost {
	respond "site a"
}

b.localhost {
	respond "site b"
}

files.test {
	tls $TEST_TMP/files.crt $TEST_TMP/files.key
	reverse_proxy 127.0.0.1:$APP
}
CONFIG
start_usher "$config" "$HTTPS" || { fail "usher starts"; finish; exit 1; }
root=$(local_root)
at() { curl -sS --max-time 10 --resolve "$1:$HTTPS:127.0.0.1" "${@:2}"; }
subject_of() {
  openssl s_client -connect "127.0.0.1:$HTTPS" -servername "$1" </dev/null 2>/dev/null |
    openssl x509 -noout -ext subjectAltName 2>/dev/null | tail -1 | tr -d ' '
}

# ---- two sites, one port, chosen by SNI
expect_eq "SNI a.localhost reaches site a" "$(at a.localhost --cacert "$root" "https://a.localhost:$HTTPS/")" "site a"
expect_eq "SNI b.localhost reaches site b" "$(at b.localhost --cacert "$root" "https://b.localhost:$HTTPS/")" "site b"
expect_eq "a.localhost gets a certificate for a.localhost" "$(subject_of a.localhost)" "DNS:a.localhost"
expect_eq "b.localhost gets a certificate for b.localhost" "$(subject_of b.localhost)" "DNS:b.localhost"

# ---- tls CERT KEY: our own files, verified against our own certificate
body=$(at files.test --cacert "$TEST_TMP/files.crt" "https://files.test:$HTTPS/echo/own-cert")
expect_contains "a site with tls CERT KEY serves with that certificate" "$body" '"path": "/echo/own-cert"'
expect_eq "the certificate served for files.test is the configured one" \
  "$(openssl s_client -connect "127.0.0.1:$HTTPS" -servername files.test </dev/null 2>/dev/null |
    openssl x509 -noout -fingerprint -sha256)" \
  "$(openssl x509 -in "$TEST_TMP/files.crt" -noout -fingerprint -sha256)"
at files.test --cacert "$root" -o /dev/null "https://files.test:$HTTPS/" 2>/dev/null &&
  fail "the files.test certificate does not come from the local CA" ||
  pass "the files.test certificate does not come from the local CA"

# ---- plain HTTP → HTTPS: 308 to the non-443 https_port, method and body kept
headers=$(curl -sS -o /dev/null -D - --max-time 5 -X POST --data x "http://a.localhost:$HTTP/p/q?r=1" \
  --resolve "a.localhost:$HTTP:127.0.0.1")
expect_contains "plain HTTP gets 308 (a POST too)" "$headers" "HTTP/1.1 308"
expect_contains "the redirect names https_port $HTTPS" "$headers" "Location: https://a.localhost:$HTTPS/p/q?r=1"
out=$(curl -sS -L --max-time 10 --cacert "$TEST_TMP/files.crt" --resolve "files.test:$HTTP:127.0.0.1" \
  --resolve "files.test:$HTTPS:127.0.0.1" -X POST --data hello "http://files.test:$HTTP/upload")
expect_eq "following the 308 re-sends the POST body to HTTPS" "$out" "5 $(printf hello | sha256sum | cut -d' ' -f1)"

kill -TERM "$USHER_PID"
wait "$USHER_PID"

# ---- usher reverse-proxy --from ... --to ...
RP=$(free_port)
XDG_DATA_HOME="$USHER_DATA" "$USHER_BINARY" reverse-proxy --from "http://127.0.0.1:$RP" \
  --to "127.0.0.1:$APP" >"$TEST_TMP/rp-plain.log" 2>&1 &
STARTED_PIDS+=("$!")
rp_plain=$!
wait_for_port "$RP" || fail "reverse-proxy listens on its plain --from port" "$(cat "$TEST_TMP/rp-plain.log")"
expect_contains "reverse-proxy --from http://127.0.0.1:PORT proxies" \
  "$(curl -sS --max-time 5 "http://127.0.0.1:$RP/echo/rp")" '"path": "/echo/rp"'
kill -TERM "$rp_plain"
wait "$rp_plain"
expect_eq "reverse-proxy stops cleanly on SIGTERM" "$?" "0"

# HTTPS --from also opens the default http_port (80) for redirects, which needs root.
if [ "$(id -u)" -eq 0 ]; then
  RP=$(free_port)
  XDG_DATA_HOME="$USHER_DATA" "$USHER_BINARY" reverse-proxy --from "localhost:$RP" \
    --to "127.0.0.1:$APP" >"$TEST_TMP/rp.log" 2>&1 &
  STARTED_PIDS+=("$!")
  wait_for_port "$RP" || fail "reverse-proxy listens on its --from port" "$(cat "$TEST_TMP/rp.log")"
  expect_contains "reverse-proxy --from localhost:PORT serves HTTPS with the local CA" \
    "$(curl -sS --max-time 5 --cacert "$root" "https://localhost:$RP/echo/rp-tls")" '"path": "/echo/rp-tls"'
  expect_contains "reverse-proxy prints a curl line with its own port" "$(cat "$TEST_TMP/rp.log")" \
    "https://localhost:$RP/"
else
  echo "     (not root: skipping reverse-proxy over HTTPS, which opens port 80)"
fi
finish
