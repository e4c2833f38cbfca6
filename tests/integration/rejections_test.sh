#!/usr/bin/env bash
# Every rejection rule through the real binary: each hostile request of
# tests/proxy/testdata/hostile (the parser's own table, EXPECTED) is sent raw
# to usher, over plain HTTP and over TLS, and must get exactly the listed
# status and a closed connection; a request refused at its head never reaches
# the upstream.
source "$(dirname "$0")/lib.sh"

CLIENT="$USHER_SOURCE_DIR/tests/integration/client.py"
HOSTILE="$USHER_SOURCE_DIR/tests/proxy/testdata/hostile"
start_upstream app || exit 1
APP=$UPSTREAM_PORT
HTTP=$(free_port)
HTTPS=$(free_port)
PLAIN=$(free_port)
SMALL=$(free_port)
config="$TEST_TMP/Caddyfile"
cat >"$config" <<CONFIG
{
	http_port $HTTP
	https_port $HTTPS
	workers 2
}

:$PLAIN {
	reverse_proxy 127.0.0.1:$APP
}

example.com {
	tls internal
	reverse_proxy 127.0.0.1:$APP
}
CONFIG
start_usher "$config" "$HTTPS" || { fail "usher starts"; finish; exit 1; }
wait_for_port "$PLAIN" || fail "usher listens on the plain port"
root=$(local_root)
upstream_requests() { curl -sS --max-time 5 "http://127.0.0.1:$APP/stats"; }

# Head-level rules first (nothing may reach the upstream), then the chunked
# body rules (the head may be forwarded; the body must not be completed).
grep -E '^[a-z]' "$HOSTILE/EXPECTED" | grep -Ev '^(chunk_|zero_chunk_)' >"$TEST_TMP/head.list"
grep -E '^(chunk_|zero_chunk_)' "$HOSTILE/EXPECTED" >"$TEST_TMP/body.list"

# check_outcomes LABEL: reads "file got want closed|open" lines from stdin.
check_outcomes() {
  local label=$1 file got want closed n=0
  while read -r file got want closed; do
    n=$((n + 1))
    if [ "$got" == "$want" ] && [ "$closed" == "closed" ]; then
      pass "$label: ${file%.txt} gets $want and the connection closes"
    else
      fail "$label: ${file%.txt} gets $want and the connection closes" "got status $got, connection $closed"
    fi
  done
  [ "$n" -gt 0 ] || fail "$label: hostile requests were sent"
}

for transport in plain tls; do
  if [ "$transport" == plain ]; then
    target=(--port "$PLAIN" --plain)
  else
    target=(--port "$HTTPS" --sni example.com --ca "$root")
  fi
  before=$(upstream_requests)
  python3 "$CLIENT" hostile "$HOSTILE" --expected "$TEST_TMP/head.list" "${target[@]}" \
    >"$TEST_TMP/head.$transport"
  check_outcomes "$transport" <"$TEST_TMP/head.$transport"
  expect_eq "$transport: no request refused at its head reaches the upstream" "$(upstream_requests)" "$before"
  python3 "$CLIENT" hostile "$HOSTILE" --expected "$TEST_TMP/body.list" "${target[@]}" \
    >"$TEST_TMP/body.$transport"
  check_outcomes "$transport" <"$TEST_TMP/body.$transport"
done

# A request smuggled behind a refused one is never answered: one response only.
out=$(python3 "$CLIENT" raw --port "$PLAIN" --plain \
  --data 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /echo/smuggled HTTP/1.1\r\nHost: a\r\n\r\n')
expect_eq "a request smuggled behind a refused one gets no response" "$(echo "$out" | grep -c '^HTTP/1.1')" "1"

# The head size limit follows servers { max_header_size }.
cat >"$config" <<CONFIG
{
	http_port $HTTP
	https_port $HTTPS
	workers 2
	servers {
		max_header_size 4KiB
	}
}

:$PLAIN {
	reverse_proxy 127.0.0.1:$APP
}
CONFIG
kill -HUP "$USHER_PID"
big=$(head -c 5000 /dev/zero | tr '\0' a)
small=$(head -c 3000 /dev/zero | tr '\0' a)
for i in $(seq 1 50); do
  status=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -H "X-Big: $big" "http://127.0.0.1:$PLAIN/echo")
  [ "$status" == 431 ] && break
  sleep 0.1
done
expect_eq "a head over max_header_size 4KiB gets 431" "$status" "431"
expect_eq "a head under max_header_size is served" \
  "$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -H "X-Big: $small" "http://127.0.0.1:$PLAIN/echo")" "200"

finish
