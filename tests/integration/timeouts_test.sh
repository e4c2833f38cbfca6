#!/usr/bin/env bash
# servers { timeouts } through the real binary: a stalled head and an idle
# keep-alive connection are closed in time; a body that keeps moving is never
# cut off however long it takes in total, and a stalled one is, also while
# its response streams back at the same time (gRPC-shaped, h2c upstream).
source "$(dirname "$0")/lib.sh"

CLIENT="$USHER_SOURCE_DIR/tests/integration/client.py"
start_upstream app || exit 1
APP=$UPSTREAM_PORT
# An h2c upstream that answers each request message as it arrives, while the
# request body is still streaming in.
start_python_server h2c_upstream.py grpc || { fail "the h2c upstream starts"; finish; exit 1; }
H2C=$SERVER_PORT
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
			read_body 2s
			idle 2s
		}
	}
}

localhost {
	respond /hello "hello" 200
	reverse_proxy /grpc/* h2c://127.0.0.1:$H2C
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
# read_body 2s, but never stall for 2s: the upload must go through.
out=$(client trickle --path /upload --pieces 12 --piece-size 500 --gap 0.5)
echo "$out" | sed 's/^/     /'
expect_contains "a slow but moving upload is answered with 200" "$out" "HTTP/1.1 200"
expect_contains "the slow upload arrives whole" "$out" "6000 $(head -c 6000 /dev/zero | tr '\0' x | sha256sum | cut -d' ' -f1)"

# A body that stops: 100 of 1000 bytes, then nothing.
body100=$(head -c 100 /dev/zero | tr '\0' x)
read -r state secs first < <(client hold --max 10 \
  --data "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n$body100")
expect_eq "a stalled upload is cut off" "$state" "closed"
within "the stalled upload is cut off after read_body 2s" "$secs" 1.9 4.5
case "$first" in
  "HTTP/1.1 2"*) fail "a stalled upload never gets a success status" "got: $first" ;;
  *) pass "a stalled upload never gets a success status (${first})" ;;
esac
# The same for a chunked body that stops between chunks.
read -r state secs first < <(client hold --max 10 \
  --data 'POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n')
expect_eq "a stalled chunked upload is cut off" "$state" "closed"
within "the stalled chunked upload is cut off after read_body 2s" "$secs" 1.9 4.5

# ---- read_body while the response streams: the upload and its answers
# overlap (gRPC-shaped); writing the answers must not hide a stalled upload.
out=$(client grpc --stall-after 2 --max 15)
echo "$out" | sed 's/^/     /'
expect_contains "streamed upload: the response starts before the upload ends" "$out" "status 200"
expect_contains "streamed upload: each message is answered while the upload goes on" "$out" "reply echo:msg-1"
read -r _ state secs < <(echo "$out" | grep '^stalled')
expect_eq "an upload stalled while its response streams is cut off" "$state" "closed"
within "the stalled streamed upload is cut off after read_body 2s" "${secs:-99}" 1.9 4.5
# 6 messages 0.8s apart: 4s in total, twice read_body, each gap well under it.
out=$(client grpc --messages 6 --gap 0.8)
echo "$out" | sed 's/^/     /'
expect_contains "a slow but moving streamed upload is answered to the end" "$out" "reply echo:msg-5"
expect_contains "the slow streamed upload ends with grpc-status 0" "$out" "trailer grpc-status: 0"
# The same over HTTP/2: each stream watches its own body, and a stalled one
# is reset (CANCEL = 8) while the connection stays.
out=$(timeout 30 python3 "$USHER_SOURCE_DIR/tests/integration/h2client.py" grpc --port "$HTTPS" \
  --ca "$root" --path /grpc/test.Echo/Chat --stall-after 2 --deadline 15 2>&1)
echo "$out" | sed 's/^/     h2: /'
expect_contains "h2: the stalled stream's messages were answered first" "$out" "reply echo:msg-1"
expect_contains "h2: an upload stalled while its response streams is reset" "$out" "reset 8"
read -r _ _ _ secs < <(echo "$out" | grep '^stalled')
within "h2: the stalled stream is reset after read_body 2s" "${secs:-99}" 1.9 4.5

# usher still serves after all that.
expect_eq "usher serves normally afterwards" \
  "$(curl -sS --max-time 5 --cacert "$root" "https://localhost:$HTTPS/hello")" "hello"
finish
