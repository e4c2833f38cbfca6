#!/usr/bin/env bash
# Logs through the real binary: the global log to a file in JSON, a site's
# access log in console format, rolled files, level filtering (`debug`), an
# upstream outage logged once however many requests fail, journal mode
# (JOURNAL_STREAM) and new log outputs on reload.
source "$(dirname "$0")/lib.sh"

# count_lines FILE PATTERN: lines of FILE containing PATTERN (0 when absent).
count_lines() { grep -c -F -- "$2" "$1" 2>/dev/null || true; }

start_upstream app || exit 1
APP=$UPSTREAM_PORT
DEAD=$(free_port)  # bound a moment ago and released: nothing listens there
P=$(free_port)
LOGS="$TEST_TMP/logs"
config="$TEST_TMP/Caddyfile"
write_config() {  # write_config GLOBAL_EXTRA
  cat >"$config" <<CONFIG
{
	http_port $P
	admin off
	workers 2
	$1
	log {
		output file $LOGS/usher.log
		format json
	}
}

http://localhost:$P {
	handle /dead* {
		reverse_proxy 127.0.0.1:$DEAD {
			fail_duration 30s
			max_fails 3
		}
	}
	reverse_proxy 127.0.0.1:$APP
	log {
		output file $LOGS/access.log {
			roll_size 2KiB
			roll_keep 2
		}
		format console
	}
}
CONFIG
}

# ---- at INFO: JSON process log, console access log, rolling
write_config ""
start_usher "$config" "$P" || { fail "usher starts"; finish; exit 1; }

code=$(curl -s -o /dev/null -w '%{http_code}' "http://localhost:$P/echo?x=1")
expect_eq "a request through the proxy succeeds" "$code" 200
first=$(head -n 1 "$LOGS/access.log")
case "$first" in
  [0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]\ [0-9][0-9]:*' INFO  access 127.0.0.1 "GET localhost/echo?x=1 HTTP/1.1" 200 '*"upstream 127.0.0.1:$APP")
    pass "the access log line is in console format" ;;
  *) fail "the access log line is in console format" "line: $first" ;;
esac

started=$(grep -F '"msg":"usher started' "$LOGS/usher.log")
if python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["level"]=="info" and d["logger"]=="usher" and d["ts"]>1e9' "$started" 2>/dev/null; then
  pass "the global log is JSON in its file"
else
  fail "the global log is JSON in its file" "line: $started" "file: $(cat "$LOGS/usher.log")"
fi

# 50 requests to a dead upstream: 502 until max_fails, then 503 (out of
# rotation) - and one warning in all.
codes=$(for i in $(seq 1 50); do curl -s -o /dev/null -w '%{http_code}\n' --max-time 5 "http://localhost:$P/dead/$i"; done | sort | uniq -c | tr -s ' ' | tr '\n' ';')
expect_eq "50 requests to a dead upstream fail (3 dials, then out of rotation)" "$codes" " 3 502; 47 503;"
expect_eq "the outage is logged exactly once" "$(count_lines "$LOGS/usher.log" "is down: 3 failures")" 1
expect_eq "no other warning or error per failed request" \
  "$(grep -c -E '"level":"(warn|error)"' "$LOGS/usher.log")" 1
expect_eq "no debug line at INFO" "$(count_lines "$LOGS/usher.log" '"level":"debug"')" 0

# Rolling: 2 KiB files, two old ones kept.
for i in $(seq 1 60); do curl -s -o /dev/null "http://localhost:$P/roll/$i"; done
files=$(cd "$LOGS" && ls access* | sort | tr '\n' ' ')
expect_eq "the access log rolled, keeping roll_keep old files" "$files" "access.1.log access.2.log access.log "
biggest=$(stat -c %s "$LOGS"/access* | sort -n | tail -n 1)
if [ "$biggest" -le 2048 ]; then pass "no access log file exceeds roll_size"; else fail "no access log file exceeds roll_size" "biggest: $biggest"; fi

# ---- reload into `debug`: the new level applies at once
write_config "debug"
kill -HUP "$USHER_PID"
for i in $(seq 1 100); do
  [ "$(count_lines "$LOGS/usher.log" '"msg":"reloaded')" -ge 1 ] && break
  sleep 0.05
done
expect_eq "the reload is logged once" "$(count_lines "$LOGS/usher.log" '"msg":"reloaded')" 1
curl -s -o /dev/null --max-time 5 "http://localhost:$P/dead/after-reload"
wait_until 5 "grep -qF 'GET /dead/after-reload' \"\$LOGS/usher.log\""
expect_eq "with debug, the per-request upstream error is a debug line" \
  "$(grep -F '"level":"debug"' "$LOGS/usher.log" | grep -c -F 'GET /dead/after-reload')" 1
kill "$USHER_PID"
wait "$USHER_PID" 2>/dev/null

# ---- under systemd: no timestamps, syslog priorities for journald
jconfig="$TEST_TMP/journal.Caddyfile"
cat >"$jconfig" <<CONFIG
{
	http_port $P
	admin off
}

http://localhost:$P {
	respond "hi"
	log {
		output stderr
		format console
	}
}
CONFIG
journal="$TEST_TMP/journal.txt"
: >"$journal"
stream=$(stat -c '%d:%i' "$journal")
XDG_DATA_HOME="$TEST_TMP/data" JOURNAL_STREAM=$stream "$USHER_BINARY" run --config "$jconfig" >/dev/null 2>>"$journal" &
JPID=$!
STARTED_PIDS+=("$JPID")
wait_for_port "$P" 10 || fail "usher starts with JOURNAL_STREAM" "$(cat "$journal")"
curl -s -o /dev/null "http://localhost:$P/j"
wait_until 5 "grep -qF 'localhost/j HTTP/1.1' \"\$journal\""
kill "$JPID"
wait "$JPID" 2>/dev/null
expect_contains "the journal gets a priority and no timestamp (JSON: stderr is no terminal)" "$(head -n 1 "$journal")" '<6>{"level":"info","logger":"usher","msg":"usher started'
expect_contains "access lines in the journal carry no timestamp either" "$(cat "$journal")" \
  "<6>INFO  access 127.0.0.1 \"GET localhost/j HTTP/1.1\" 200"
expect_eq "no line in the journal starts with a date" "$(grep -c -E '^(<[0-9]>)?[0-9]{4}/' "$journal")" 0

finish
