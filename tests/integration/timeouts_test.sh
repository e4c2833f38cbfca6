#!/usr/bin/env bash
# servers { timeouts } through the real binary: a stalled head and an idle
# keep-alive connection are closed in time; a body that keeps moving is never
# cut off however long it takes in total, and a stalled one is.
source "$(dirname "$0")/lib.sh"

CLIENT="$USHER_SOURCE_DIR/tests/integration/client.py"
start_upstream app || exit 1
APP=$UPSTREAM_PORT
HTTP=$(free_port)
HTTPS=$(free_port)
config="$TEST_TMP/Caddyfile"
cat >"$config" <<CONFIG
{
	http_port $HTTP
	https_port $HTTPS
	workers 2
	servers {
		timeouts {
			read_header 2s
			read_body 3s
			idle 2s
		}
	}
}

localhost {
	respond /hello "hello" 200
	reverse_proxy 127.0.0.1:$APP
}
CONFIG
start_usher "$config" "$HTTPS" || { fail "usher starts"; finish; exit 1; }
root=$(local_root)
client() { timeout 30 python3 "$CLIENT" "$@" --port "$HTTPS" --ca "$root"; }
# within NAME SECONDS LOW HIGH: LOW <= SECONDS < HIGH. The sweep that enforces
# deadlines runs every second, so a 2s timeout fires between 2s and about 3s;
# HIGH leaves room for a loaded machine.
within() {
  if awk -v s="$2" -v lo="$3" -v hi="$4" 'BEGIN { exit !(s >= lo && s < hi) }'; then
    pass "$1 (${2}s)"
  else
    fail "$1" "after ${2}s, want ${3}s to ${4}s"
  fi
}

# ---- read_header: a head that stops arriving
read -r state secs first < <(client hold --data 'GET /hello HTTP/1.1\r\nHost: localhost\r\n' --max 10)
expect_eq "a stalled request head is closed" "$state" "closed"
within "the stalled head is closed after read_header 2s" "$secs" 1.9 4.5
read -r state secs first < <(client hold --data 'GET /hello HTTP/1.1\r\nHost: local' --max 10)
expect_eq "a head stalled mid-line is closed too" "$state" "closed"

# ---- idle: a keep-alive connection with nothing more to ask
read -r state secs first < <(client hold --data 'GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n' --max 10)
expect_eq "the request before the idle time is answered" "$first" "HTTP/1.1 200 OK"
expect_eq "an idle keep-alive connection is closed" "$state" "closed"
within "the idle connection is closed after idle 2s" "$secs" 1.9 4.5
# A connection opened and never used is idle too.
read -r state secs first < <(client hold --max 10)
expect_eq "a connection that never sends a byte is closed" "$state" "closed"

# ---- read_body: 12 pieces 0.5s apart take 5.5s in total, longer than
# read_body 3s, but never stall for 3s: the upload must go through.
out=$(client trickle --path /upload --pieces 12 --piece-size 500 --gap 0.5)
echo "$out" | sed 's/^/     /'
expect_contains "a slow but moving upload is answered with 200" "$out" "HTTP/1.1 200"
expect_contains "the slow upload arrives whole" "$out" "6000 $(head -c 6000 /dev/zero | tr '\0' x | sha256sum | cut -d' ' -f1)"

# A body that stops: 100 of 1000 bytes, then nothing.
body100=$(head -c 100 /dev/zero | tr '\0' x)
read -r state secs first < <(client hold --max 10 \
  --data "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n$body100")
expect_eq "a stalled upload is cut off" "$state" "closed"
within "the stalled upload is cut off after read_body 3s" "$secs" 2.9 5.5
case "$first" in
  "HTTP/1.1 2"*) fail "a stalled upload never gets a success status" "got: $first" ;;
  *) pass "a stalled upload never gets a success status (${first})" ;;
esac
# The same for a chunked body that stops between chunks.
read -r state secs first < <(client hold --max 10 \
  --data 'POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n')
expect_eq "a stalled chunked upload is cut off" "$state" "closed"
within "the stalled chunked upload is cut off after read_body 3s" "$secs" 2.9 5.5

# usher still serves after all that.
expect_eq "usher serves normally afterwards" \
  "$(curl -sS --max-time 5 --cacert "$root" "https://localhost:$HTTPS/hello")" "hello"
finish
