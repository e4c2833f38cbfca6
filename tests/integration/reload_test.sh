#!/usr/bin/env bash
# Reloads through the real binary: SIGHUP while a download runs and a
# WebSocket is open (both carry on; new requests see the new config), bad
# reloads that must leave the running config serving, and SIGTERM letting a
# download in flight finish.
source "$(dirname "$0")/lib.sh"

CLIENT="$USHER_SOURCE_DIR/tests/integration/client.py"
readonly kDownload=$((60 * 1024 * 1024))
start_upstream one || exit 1
ONE=$UPSTREAM_PORT
start_upstream two || exit 1
TWO=$UPSTREAM_PORT
HTTP=$(free_port)
HTTPS=$(free_port)
config="$TEST_TMP/Caddyfile"
# write_config VERSION UPSTREAM_PORT [EXTRA SITE TEXT]
write_config() {
  cat >"$config" <<CONFIG
{
	http_port $HTTP
	https_port $HTTPS
	workers 2
	grace_period 10s
}

localhost {
	respond /version "$1"
	reverse_proxy 127.0.0.1:$2
}
${3:-}
CONFIG
}
write_config one "$ONE"
start_usher "$config" "$HTTPS" || { fail "usher starts"; finish; exit 1; }
root=$(local_root)
url="https://localhost:$HTTPS"
c() { curl -sS --max-time 10 --cacert "$root" "$@"; }
want_sha=$(python3 "$CLIENT" pattern-sha "$kDownload")
wait_for_line() {
  local i
  for i in $(seq 1 $(($3 * 20))); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
wait_for_version() {
  local i
  for i in $(seq 1 100); do
    [ "$(c "$url/version")" == "$1" ] && return 0
    sleep 0.05
  done
  return 1
}
# start_download NAME: 60 MiB at 15 MB/s (about 4s) in the background; sets DL_PID.
start_download() {
  (curl -sS --max-time 60 --limit-rate 15M --cacert "$root" "$url/bytes/$kDownload" |
    tee >(wc -c >"$TEST_TMP/$1.size") | sha256sum | cut -d' ' -f1 >"$TEST_TMP/$1.sha") &
  DL_PID=$!
}

# ---- SIGHUP during a download and an open WebSocket
start_download during-reload
timeout 60 python3 "$CLIENT" ws --port "$HTTPS" --ca "$root" --count 200 \
  --pause-file "$TEST_TMP/ws-go" >"$TEST_TMP/ws.out" 2>&1 &
ws=$!
wait_for_line "$TEST_TMP/ws.out" READY 20 || fail "the WebSocket opens" "$(cat "$TEST_TMP/ws.out")"
write_config two "$TWO"
kill -HUP "$USHER_PID"
wait_for_version two
expect_eq "after SIGHUP new requests see the new config" "$(c "$url/version")" "two"
expect_eq "after SIGHUP new requests go to the new upstream" "$(c "$url/name")" "two"
kill -0 "$DL_PID" 2>/dev/null && pass "the download is still running after the reload" ||
  fail "the download is still running after the reload" "it ended before the reload finished"
touch "$TEST_TMP/ws-go"
wait "$ws"
expect_contains "a WebSocket open across the reload keeps echoing" "$(cat "$TEST_TMP/ws.out")" "echoed 200"
wait "$DL_PID"
expect_eq "a download running across the reload completes intact" \
  "$(cat "$TEST_TMP/during-reload.size" | tr -d ' ') $(cat "$TEST_TMP/during-reload.sha")" "$kDownload $want_sha"

# ---- bad reloads: the running config keeps serving
bad_reload() {
  local name=$1 marker_count
  marker_count=$(grep -c "reload of" "$USHER_LOG")
  kill -HUP "$USHER_PID"
  for i in $(seq 1 100); do
    [ "$(grep -c "reload of" "$USHER_LOG")" -gt "$marker_count" ] && break
    sleep 0.05
  done
  expect_contains "$name: the failure is logged" "$(tail -5 "$USHER_LOG")" "$2"
  expect_contains "$name: the log says the old config still serves" "$(tail -5 "$USHER_LOG")" \
    "still serving the previous config"
  expect_eq "$name: the running config keeps serving" "$(c "$url/version")" "two"
  kill -0 "$USHER_PID" 2>/dev/null && pass "$name: usher keeps running" || fail "$name: usher keeps running"
}
start_download during-bad-reload
echo "localhost { reverse_prox nowhere }" >"$config"
bad_reload "an unknown directive" 'unknown directive `reverse_prox`'
printf 'localhost {\n\trespond "unterminated\n' >"$config"
bad_reload "an unterminated quote" "unterminated quoted string"
write_config three "$ONE" "other.localhost {
	respond {hots}
}"
bad_reload "an unknown placeholder" 'unknown placeholder `{hots}`'
rm -f "$config"
bad_reload "a missing config file" "cannot read config file"
wait "$DL_PID"
expect_eq "a download running across bad reloads completes intact" \
  "$(cat "$TEST_TMP/during-bad-reload.size" | tr -d ' ') $(cat "$TEST_TMP/during-bad-reload.sha")" "$kDownload $want_sha"

# A port that cannot be opened: the new config is refused as a whole.
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True); time.sleep(60)' >"$TEST_TMP/busy.port" &
STARTED_PIDS+=("$!")
wait_for_line "$TEST_TMP/busy.port" "[0-9]" 5
BUSY=$(cat "$TEST_TMP/busy.port")
write_config four "$ONE" "localhost:$BUSY {
	respond busy
}"
bad_reload "a port another process holds" "$BUSY"

# A good reload still works after all the bad ones.
write_config five "$ONE"
kill -HUP "$USHER_PID"
wait_for_version five
expect_eq "a good reload after bad ones is applied" "$(c "$url/version")" "five"

# ---- SIGTERM: the download in flight finishes within grace_period
start_download during-shutdown
for i in $(seq 1 100); do [ -s "$TEST_TMP/during-shutdown.size" ] || sleep 0.01; done
sleep 0.5  # let the download get under way: it is what the shutdown must wait for
kill -TERM "$USHER_PID"
for i in $(seq 1 40); do
  curl -sS --max-time 1 --cacert "$root" -o /dev/null "$url/version" 2>/dev/null || break
  sleep 0.05
done
curl -sS --max-time 2 --cacert "$root" -o /dev/null "$url/version" 2>/dev/null &&
  fail "after SIGTERM new connections are refused" || pass "after SIGTERM new connections are refused"
wait "$DL_PID"
expect_eq "a download in flight at SIGTERM completes intact" \
  "$(cat "$TEST_TMP/during-shutdown.size" | tr -d ' ') $(cat "$TEST_TMP/during-shutdown.sha")" "$kDownload $want_sha"
wait "$USHER_PID"
expect_eq "usher exits 0 after draining" "$?" "0"
finish
