#!/usr/bin/env bash
# Long-lived responses through the real binary: a WebSocket echo of 1,000
# messages over TLS, and server-sent events that arrive as they are sent.
source "$(dirname "$0")/lib.sh"

CLIENT="$USHER_SOURCE_DIR/tests/integration/client.py"
start_localhost_proxy
client() { timeout 60 python3 "$CLIENT" "$@" --port "$HTTPS" --ca "$root"; }

# ---- WebSocket
out=$(client ws --count 1000 2>&1)
expect_contains "the WebSocket upgrade is answered with 101" "$out" "upgraded"
expect_contains "1,000 WebSocket messages come back intact" "$out" "echoed 1000"
expect_contains "the WebSocket close is answered" "$out" "close answered"

# Two WebSockets at once on the two workers do not interfere.
client ws --count 300 >"$TEST_TMP/ws1" 2>&1 &
p1=$!
client ws --count 300 >"$TEST_TMP/ws2" 2>&1 &
p2=$!
wait "$p1" "$p2"
expect_contains "two concurrent WebSockets both echo (first)" "$(cat "$TEST_TMP/ws1")" "echoed 300"
expect_contains "two concurrent WebSockets both echo (second)" "$(cat "$TEST_TMP/ws2")" "echoed 300"

# ---- server-sent events: 4 events one second apart; the first must arrive
# long before the upstream finishes.
out=$(client sse --path "/sse?n=4&gap=1" 2>&1)
echo "$out" | sed 's/^/     sse: /'
first=$(echo "$out" | awk 'NR == 1 { print $1 }')
last_event=$(echo "$out" | grep -c 'event ')
end=$(echo "$out" | awk '/ end$/ { print $1 }')
expect_eq "all 4 events arrive" "$last_event" "4"
awk -v f="$first" 'BEGIN { exit !(f < 0.9) }' && pass "the first event arrives at once (${first}s)" ||
  fail "the first event arrives at once" "first event after ${first}s"
awk -v e="$end" 'BEGIN { exit !(e >= 3) }' && pass "the stream ends only when the upstream does (${end}s)" ||
  fail "the stream ends only when the upstream does" "ended after ${end}s"
third=$(echo "$out" | awk '/event 2 / { print $1 }')
awk -v t="$third" 'BEGIN { exit !(t >= 1.8 && t < 2.9) }' && pass "events arrive as they are sent, not batched (third at ${third}s)" ||
  fail "events arrive as they are sent, not batched" "third event at ${third}s"

finish
