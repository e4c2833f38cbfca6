#!/usr/bin/env bash
# HTTP/1.1 behaviour through the real binary: Expect: 100-continue, HEAD,
# pipelined requests answered in order, request_body max_size → 413, and the
# JSON access log (one line per request, no secrets in it).
source "$(dirname "$0")/lib.sh"

CLIENT="$USHER_SOURCE_DIR/tests/integration/client.py"
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
	request_body /upload {
		max_size 1MB
	}
	respond /hello "hello" 200
	reverse_proxy 127.0.0.1:$APP
}
CONFIG
start_usher "$config" "$HTTPS" || { fail "usher starts"; finish; exit 1; }
root=$(local_root)
# This script is about HTTP/1.1: curl would otherwise negotiate h2.
c() { curl -sS --http1.1 --max-time 10 --cacert "$root" "$@"; }
raw() { timeout 20 python3 "$CLIENT" raw --port "$HTTPS" --ca "$root" --data "$1"; }
url="https://localhost:$HTTPS"
sha_of() { sha256sum "$1" | cut -d' ' -f1; }

head -c 500000 /dev/urandom >"$TEST_TMP/500k"
head -c 2000000 /dev/urandom >"$TEST_TMP/2m"

# ---- Expect: 100-continue
out=$(c -v -H 'Expect: 100-continue' --data-binary @"$TEST_TMP/500k" "$url/upload" 2>&1)
expect_contains "Expect: 100-continue gets 100 Continue" "$out" "HTTP/1.1 100 Continue"
expect_contains "the body sent after 100 Continue arrives intact" "$out" "500000 $(sha_of "$TEST_TMP/500k")"
out=$(c -v -H 'Expect: 100-continue' --data-binary @"$TEST_TMP/2m" "$url/upload" 2>&1)
expect_contains "a body announced over max_size gets 413" "$out" "HTTP/1.1 413"
case "$out" in
  *"100 Continue"*) fail "a body refused at its head gets no 100 Continue" ;;
  *) pass "a body refused at its head gets no 100 Continue" ;;
esac

# ---- request_body max_size
expect_eq "a body under max_size passes" \
  "$(c --data-binary @"$TEST_TMP/500k" "$url/upload")" "500000 $(sha_of "$TEST_TMP/500k")"
expect_eq "a Content-Length over max_size gets 413" \
  "$(c -o /dev/null -w '%{http_code}' -H 'Expect:' --data-binary @"$TEST_TMP/2m" "$url/upload")" "413"
expect_eq "a chunked body growing over max_size gets 413" \
  "$(c -o /dev/null -w '%{http_code}' -H 'Expect:' -H 'Transfer-Encoding: chunked' --data-binary @"$TEST_TMP/2m" "$url/upload")" "413"
expect_eq "max_size applies only where its matcher matches" \
  "$(c -o /dev/null -w '%{http_code}' --data-binary @"$TEST_TMP/2m" "$url/echo")" "200"

# ---- HEAD: the head a GET would get, no body (the next response follows at once)
out=$(raw 'HEAD /bytes/1000 HTTP/1.1\r\nHost: localhost\r\n\r\nGET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
expect_contains "HEAD of a proxied resource keeps its Content-Length" "$out" "Content-Length: 1000"
expect_eq "HEAD gets no body: the next response follows the blank line" \
  "$(echo "$out" | tr -d '\r' | awk '/^$/ { getline; print; exit }')" "HTTP/1.1 200 OK"
expect_eq "HEAD and the request after it get two responses" "$(echo "$out" | grep -c '^HTTP/1.1 200')" "2"
out=$(c -I "$url/hello")
expect_contains "HEAD of respond gets 200" "$out" "HTTP/1.1 200"
expect_contains "HEAD of respond announces the body length" "$(echo "$out" | tr -d '\r' | tr 'A-Z' 'a-z')" "content-length: 5"

# ---- pipelining: four requests in one write, answered in order (bodies end
# without a newline, so each response head follows the previous body directly)
out=$(raw 'GET /echo/first HTTP/1.1\r\nHost: localhost\r\n\r\nPOST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhelloGET /hello HTTP/1.1\r\nHost: localhost\r\n\r\nGET /echo/last HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
order=$(echo "$out" | grep -oE '"path": "/echo/[a-z]+"|^5 [0-9a-f]{8}|^hello' | tr '\n' ' ')
expect_eq "pipelined requests are answered in order" "$order" \
  "\"path\": \"/echo/first\" 5 $(printf hello | sha256sum | cut -c1-8) hello \"path\": \"/echo/last\" "
expect_eq "four pipelined requests get four responses" "$(echo "$out" | grep -o 'HTTP/1.1 200' | wc -l)" "4"
expect_contains "the connection closes after Connection: close" "$out" "<closed>"

# ---- access log
before=$(wc -l <"$ACCESS" 2>/dev/null || echo 0)
c -o /dev/null -H 'Cookie: session=cookie-secret-42' -H 'Authorization: Bearer token-secret-42' "$url/echo/logged?q=1"
c -o /dev/null -H 'Cookie: session=cookie-secret-42' "$url/hello"
c -o /dev/null -u 'user:password-secret-42' "$url/status/404"
for i in $(seq 1 50); do [ "$(wc -l <"$ACCESS")" -ge $((before + 3)) ] && break; sleep 0.1; done
expect_eq "one access log line per request" "$(($(wc -l <"$ACCESS") - before))" "3"
check=$(tail -3 "$ACCESS" | python3 -c '
import json, sys
want = ["ts", "remote_ip", "method", "host", "uri", "status", "size", "duration"]
for line in sys.stdin:
    entry = json.loads(line)
    missing = [k for k in want if k not in entry]
    print(entry["method"], entry["uri"], entry["status"], entry["size"], entry["remote_ip"], entry["host"],
          "missing:" + ",".join(missing) if missing else "complete")
' 2>&1)
echo "$check" | sed 's/^/     log: /'
expect_contains "the access log is JSON with every field (proxied)" "$check" "GET /echo/logged?q=1 200"
expect_contains "the access log records respond" "$check" "GET /hello 200 5 127.0.0.1 localhost complete"
expect_contains "the access log records the upstream's status" "$check" "GET /status/404 404 0 127.0.0.1 localhost complete"
expect_eq "every access log line has every field" "$(echo "$check" | grep -c 'complete$')" "3"
if grep -qE 'secret-42|cGFzc3dvcmQ|dXNlcjpwYXNzd29yZC1zZWNyZXQtNDI' "$ACCESS"; then
  fail "no Cookie or Authorization value appears in the access log" "$(grep -E 'secret-42' "$ACCESS")"
else
  pass "no Cookie or Authorization value appears in the access log"
fi
finish
