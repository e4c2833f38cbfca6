#!/usr/bin/env bash
# Many connections through the real binary: 500 concurrent keep-alive
# connections (and what they cost in memory), parallel clients, and 100
# slowloris connections that usher cuts off while normal requests go on.
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
			read_header 3s
			idle 1m
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
url="https://localhost:$HTTPS"
c() { curl -sS --max-time 10 --cacert "$root" "$@"; }
c -o /dev/null "$url/hello"
# wait_for_line FILE TEXT SECONDS
wait_for_line() {
  local i
  for i in $(seq 1 $(($3 * 20))); do
    grep -q "$2" "$1" && return 0
    sleep 0.05
  done
  return 1
}

# ---- 500 keep-alive connections held open at once
rss_before=$(rss_kib "$USHER_PID")
timeout 90 python3 "$CLIENT" keepalive --port "$HTTPS" --ca "$root" --count 500 \
  --path /hello --path2 /echo/second-round --pause-file "$TEST_TMP/go" >"$TEST_TMP/ka.out" 2>&1 &
ka=$!
if wait_for_line "$TEST_TMP/ka.out" READY 60; then
  rss_open=$(rss_kib "$USHER_PID")
  echo "     usher RSS: $rss_before KiB before, $rss_open KiB with 500 keep-alive connections open" \
    "($(((rss_open - rss_before) * 1024 / 500)) bytes per connection)"
  open_fds=$(ls "/proc/$USHER_PID/fd" | wc -l)
  [ "$open_fds" -ge 500 ] && pass "usher holds the 500 connections open ($open_fds descriptors)" ||
    fail "usher holds the 500 connections open" "$open_fds descriptors"
  # While they are open, parallel clients are served.
  parallel=()
  for i in $(seq 1 10); do
    (for j in $(seq 1 10); do c -o /dev/null -w '%{http_code}\n' "$url/echo/parallel-$i-$j"; done) \
      >"$TEST_TMP/par.$i" 2>&1 &
    parallel+=("$!")
  done
  wait "${parallel[@]}"
  expect_eq "100 requests from 10 parallel clients are served meanwhile" \
    "$(cat "$TEST_TMP"/par.* | grep -c '^200$')" "100"
fi
touch "$TEST_TMP/go"
wait "$ka"
cat "$TEST_TMP/ka.out" | grep -v READY | sed 's/^/     /'
expect_contains "500 connections each get their first response" "$(cat "$TEST_TMP/ka.out")" "round1 500"
expect_contains "all 500 connections are still alive for a second, proxied request" \
  "$(cat "$TEST_TMP/ka.out")" "round2 500"
for i in $(seq 1 40); do [ "$(ls "/proc/$USHER_PID/fd" | wc -l)" -lt 100 ] && break; sleep 0.05; done
echo "     usher RSS after the 500 connections closed: $(rss_kib "$USHER_PID") KiB"

# ---- 100 slowloris connections: a header line every 0.5s, never finishing
timeout 60 python3 "$CLIENT" slowloris --port "$HTTPS" --ca "$root" --count 100 --seconds 10 --gap 0.5 \
  >"$TEST_TMP/slow.out" 2>&1 &
slow=$!
wait_for_line "$TEST_TMP/slow.out" opened 30 || fail "the slowloris client connects"
ok=0
total=0
start=$(date +%s)
while [ "$total" -lt 30 ] && [ $(($(date +%s) - start)) -lt 20 ]; do
  total=$((total + 1))
  [ "$(c -o /dev/null -w '%{http_code}' "$url/echo/during-slowloris")" == 200 ] && ok=$((ok + 1))
  sleep 0.1
done
expect_eq "normal requests succeed while 100 slowloris connections are held" "$ok/$total" "$total/$total"
wait "$slow"
out=$(cat "$TEST_TMP/slow.out")
echo "$out" | sed 's/^/     /'
expect_contains "usher closes every slowloris connection" "$out" "closed_by_usher 100 "
longest=$(echo "$out" | awk '/closed_by_usher/ { print $4 }')
awk -v t="$longest" 'BEGIN { exit !(t < 5.5) }' &&
  pass "each slowloris connection lasts no longer than read_header 3s plus a sweep (${longest}s)" ||
  fail "each slowloris connection lasts no longer than read_header 3s plus a sweep" "longest ${longest}s"
finish
