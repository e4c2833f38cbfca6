#!/usr/bin/env bash
# The admin API and the client verbs through the real binary: /load (good,
# bad, with a download in flight), /config, /status with active health checks,
# /metrics, the local-only checks, 404/405/413, `usher reload|status|stop`,
# Unix sockets, $USHER_ADMIN, `admin off`, a port in use, a non-loopback
# address. Certificates in /status: admin_acme_test.sh (pebble).
source "$(dirname "$0")/lib.sh"

CLIENT="$USHER_SOURCE_DIR/tests/integration/client.py"
readonly kDownload=$((40 * 1024 * 1024))
start_upstream app || exit 1
APP=$UPSTREAM_PORT
DEAD=$(free_port) # bound and released: nothing listens there
FLAKY=$(free_port)
HTTP=$(free_port)
HTTPS=$(free_port)
ADMIN=$(free_port)
config="$TEST_TMP/Caddyfile"
# write_config VERSION [FILE]: the test's config; VERSION is what /version answers.
write_config() {
  cat >"${2:-$config}" <<CONFIG
{
	http_port $HTTP
	https_port $HTTPS
	admin localhost:$ADMIN
	workers 2
	grace_period 10s
}

localhost {
	respond /version "$1"
	handle /live/* {
		reverse_proxy 127.0.0.1:$APP {
			health_uri /health
			health_interval 200ms
		}
	}
	handle /dead/* {
		reverse_proxy 127.0.0.1:$DEAD {
			health_uri /health
			health_interval 200ms
		}
	}
	handle /flaky/* {
		reverse_proxy 127.0.0.1:$FLAKY {
			fail_duration 30s
			max_fails 1
		}
	}
	reverse_proxy 127.0.0.1:$APP
}
CONFIG
}
write_config one
start_usher "$config" "$HTTPS" || { fail "usher starts"; finish; exit 1; }
root=$(local_root)
url="https://localhost:$HTTPS"
api="http://127.0.0.1:$ADMIN"
c() { curl -sS --max-time 10 --cacert "$root" "$@"; }
a() { curl -sS --max-time 30 "$@"; }
# status_code ARGS...: the HTTP status curl got.
status_code() { curl -s --max-time 30 -o "$TEST_TMP/body" -w '%{http_code}' "$@"; }

# ---- basics and the local-only checks
expect_eq "GET /healthz answers ok" "$(a "$api/healthz")" "ok"
expect_eq "Host: localhost:PORT is accepted" "$(status_code -H "Host: localhost:$ADMIN" "$api/healthz")" 200
expect_eq "a foreign Host (DNS rebinding) is refused" \
  "$(status_code -H "Host: attacker.example:$ADMIN" "$api/healthz")" 403
expect_contains "the refusal says why" "$(cat "$TEST_TMP/body")" "host not allowed"
expect_eq "a foreign Origin is refused" \
  "$(status_code -H "Origin: http://attacker.example" "$api/config")" 403
expect_eq "a foreign Origin cannot load a config" \
  "$(status_code -H "Origin: http://attacker.example" --data-binary @"$config" "$api/load")" 403
expect_eq "a local Origin is accepted" \
  "$(status_code -H "Origin: http://localhost:$ADMIN" "$api/healthz")" 200
expect_eq "an unknown path is 404" "$(status_code "$api/nope")" 404
expect_eq "a wrong method is 405" "$(status_code -X GET "$api/load")" 405
allow=$(curl -s -D - -o /dev/null "$api/load" | tr -d '\r' | sed -n 's/^Allow: //p')
expect_eq "405 names the allowed method" "$allow" "POST"
expect_eq "DELETE /config is 405" "$(status_code -X DELETE "$api/config")" 405
head -c $((5 * 1024 * 1024)) /dev/zero >"$TEST_TMP/big"
expect_eq "a body over 4 MiB is 413" "$(status_code --data-binary @"$TEST_TMP/big" "$api/load")" 413
expect_eq "after the 413 the config is unchanged" "$(c "$url/version")" "one"
expect_contains "GET /config is the running config as YAML" "$(a "$api/config")" "address: localhost:$ADMIN"

# ---- active health in /status, /metrics and `usher status`
status_ok=0
for i in $(seq 1 50); do
  if a "$api/status" | python3 -c '
import json, sys
s = json.load(sys.stdin)
ups = {u["address"]: u for g in s["upstreams"] for u in g["upstreams"]}
dead, live = ups[sys.argv[1]], ups[sys.argv[2]]
sys.exit(0 if not dead["healthy"] and not dead["active_healthy"] and live["healthy"] else 1)
' "127.0.0.1:$DEAD" "127.0.0.1:$APP"; then
    status_ok=1
    break
  fi
  sleep 0.1
done
[ "$status_ok" == 1 ] && pass "/status shows the dead upstream down (active) and the live one up" ||
  fail "/status shows the dead upstream down (active) and the live one up" "$(a "$api/status")"
expect_eq "a request to a dead upstream without active checks fails" "$(c -o /dev/null -w '%{http_code}' "$url/flaky/x")" 502
passive=$(a "$api/status" | python3 -c '
import json, sys
s = json.load(sys.stdin)
u = [u for g in s["upstreams"] for u in g["upstreams"] if u["address"] == sys.argv[1]][0]
print(u["healthy"], u["active_healthy"], u["passive_healthy"])
' "127.0.0.1:$FLAKY")
expect_eq "/status shows an upstream down by passive health (max_fails 1)" "$passive" "False True False"
expect_contains "usher status says why it is down" "$("$USHER_BINARY" status --address "localhost:$ADMIN")" "down (recent failures)"
expect_contains "/status names the config path" "$(a "$api/status")" "\"config_path\":\"$config\""
expect_contains "/status lists the listeners" "$(a "$api/status")" "\"port\":$HTTPS"
a "$api/metrics" >"$TEST_TMP/metrics"
metrics_check=$(python3 - "$TEST_TMP/metrics" "127.0.0.1:$DEAD" "127.0.0.1:$APP" <<'PY'
import re, sys
samples = {}
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if not line or line.startswith("#"):
        continue
    m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)', line)
    if not m:
        print("unparsable line: " + line); sys.exit(0)
    samples[(m.group(1), m.group(2) or "")] = float(m.group(3))
workers = samples.get(("usher_workers", ""))
health = {labels: v for (name, labels), v in samples.items() if name == "usher_upstream_healthy"}
dead = [v for l, v in health.items() if 'upstream="%s"' % sys.argv[2] in l]
live = [v for l, v in health.items() if 'upstream="%s"' % sys.argv[3] in l and 'site="localhost"' in l]
print("workers=%s dead=%s live=%s" % (workers, dead, live))
PY
)
expect_eq "/metrics parses and has usher_workers and usher_upstream_healthy" "$metrics_check" \
  "workers=2.0 dead=[0.0] live=[1.0]"
run_usher status --address "localhost:$ADMIN"
expect_rc "usher status exits 0" 0
expect_contains "usher status shows the dead upstream down and why" "$OUT" "down (active check failing)"
expect_contains "usher status shows the live upstream up" "$(echo "$OUT" | grep "127.0.0.1:$APP" | head -1)" " up "
expect_contains "usher status lists the site" "$OUT" "localhost"
run_usher status --config "$config" --json
expect_rc "usher status --json (address from the config) exits 0" 0
expect_eq "usher status --json prints the status JSON" \
  "$(echo "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["workers"])')" 2

# ---- POST /load: good with a download in flight, then bad
want_sha=$(python3 "$CLIENT" pattern-sha "$kDownload")
(curl -sS --max-time 60 --limit-rate 15M --cacert "$root" "$url/bytes/$kDownload" |
  sha256sum | cut -d' ' -f1 >"$TEST_TMP/download.sha") &
DL_PID=$!
sleep 0.5
write_config two "$TEST_TMP/two.caddy"
expect_eq "POST /load of a good config answers 200" \
  "$(status_code --data-binary @"$TEST_TMP/two.caddy" "$api/load")" 200
expect_eq "the loaded config serves right after the 200" "$(c "$url/version")" "two"
kill -0 "$DL_PID" 2>/dev/null && pass "the download was still running during the reload" ||
  fail "the download was still running during the reload"
wait "$DL_PID"
expect_eq "a download started before /load completes intact" "$(cat "$TEST_TMP/download.sha")" "$want_sha"
expect_contains "a good /load is logged once with the site count" "$(cat "$USHER_LOG")" "(admin API): 1 sites"
printf '{\n\tadmin localhost:%s\n}\n\nlocalhost {\n\trespond /version "bad"\n\treverse_prox nowhere\n}\n' \
  "$ADMIN" >"$TEST_TMP/bad.caddy"
code=$(status_code --data-binary @"$TEST_TMP/bad.caddy" "$api/load")
expect_eq "POST /load of a bad config answers 400" "$code" 400
expect_contains "the 400 names the file and line" "$(cat "$TEST_TMP/body")" "$config:7: unknown directive \`reverse_prox\`"
expect_eq "the 400 body is one error per line" "$(grep -c "^$config:" "$TEST_TMP/body")" "$(wc -l <"$TEST_TMP/body" | tr -d ' ')"
expect_eq "after a rejected /load the old config serves" "$(c "$url/version")" "two"
expect_contains "a rejected /load is logged with its reason" "$(tail -3 "$USHER_LOG")" "still serving the previous config"
write_config yaml "$TEST_TMP/y.caddy"
"$USHER_BINARY" adapt --config "$TEST_TMP/y.caddy" >"$TEST_TMP/y.yaml"
expect_eq "YAML (Content-Type: application/yaml) over /load is applied" \
  "$(status_code -H "Content-Type: application/yaml" --data-binary @"$TEST_TMP/y.yaml" "$api/load")/$(c "$url/version")" "200/yaml"
expect_eq "YAML sent as a Caddyfile is rejected" \
  "$(status_code --data-binary @"$TEST_TMP/y.yaml" "$api/load")" 400
expect_eq "?adapter=yaml reads YAML whatever the Content-Type" \
  "$(status_code -H "Content-Type: text/plain" --data-binary @"$TEST_TMP/y.yaml" "$api/load?adapter=yaml")" 200

# ---- usher reload
write_config three "$TEST_TMP/three.caddy"
run_usher reload --config "$TEST_TMP/three.caddy"
expect_rc "usher reload of a good config exits 0 (address from the config)" 0
expect_eq "usher reload returned after the config applied" "$(c "$url/version")" "three"
run_usher reload --config "$TEST_TMP/bad.caddy"
expect_rc "usher reload of a bad config exits 78" 78
expect_contains "usher reload prints the server's errors" "$ERR" "unknown directive \`reverse_prox\`"
expect_eq "after a rejected usher reload the old config serves" "$(c "$url/version")" "three"
run_usher reload --config "$TEST_TMP/three.caddy" --address "localhost:$(free_port)"
expect_rc "usher reload with nothing listening exits 1" 1
expect_contains "and says what to check" "$ERR" "is usher running? is \`admin\` off?"
# SIGHUP reads the file on disk, not what /load sent last.
write_config five
kill -HUP "$USHER_PID"
for i in $(seq 1 100); do [ "$(c "$url/version")" == "five" ] && break; sleep 0.05; done
expect_eq "SIGHUP after /load reloads the file on disk" "$(c "$url/version")" "five"

# ---- usher stop
run_usher stop --address "localhost:$ADMIN"
expect_rc "usher stop exits 0" 0
wait "$USHER_PID"
expect_eq "usher stop ends the process with exit 0" "$?" 0
expect_contains "the stop is logged" "$(cat "$USHER_LOG")" "stop requested through the admin API"

# ---- admin on a Unix socket
sock="$TEST_TMP/admin.sock-explicit"
sed -i "s|admin localhost:$ADMIN|admin unix/$sock|" "$config"
start_usher "$config" "$HTTPS" || { fail "usher starts with a unix admin socket"; finish; exit 1; }
expect_eq "the admin socket is mode 0600" "$(stat -c %a "$sock")" 600
expect_eq "GET /healthz over the socket" "$(curl -sS --unix-socket "$sock" http://localhost/healthz)" "ok"
expect_eq "a foreign Host is refused over the socket too" \
  "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$sock" -H 'Host: attacker.example' http://localhost/healthz)" 403
write_config six "$TEST_TMP/six.caddy"
run_usher reload --config "$TEST_TMP/six.caddy" --address "unix/$sock"
expect_rc "usher reload --address unix//… exits 0" 0
expect_eq "the socket reload applied" "$(c "$url/version")" "six"
run_usher stop --address "unix/$sock"
wait "$USHER_PID"
[ ! -e "$sock" ] && pass "the socket file is removed on exit" || fail "the socket file is removed on exit"
# A stale socket file (an instance that died) is replaced.
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$sock"
start_usher "$config" "$HTTPS" || { fail "usher starts over a stale socket file"; finish; exit 1; }
expect_eq "a stale socket file is replaced" "$(curl -sS --unix-socket "$sock" http://localhost/healthz)" "ok"
kill "$USHER_PID"
wait "$USHER_PID"

# ---- $USHER_ADMIN
env_sock="$TEST_TMP/env.sock"
sed -i "/admin unix/d" "$config"
USHER_ADMIN="unix/$env_sock" start_usher "$config" "$HTTPS" || { fail "usher starts with USHER_ADMIN"; finish; exit 1; }
[ -S "$env_sock" ] && pass "USHER_ADMIN names the socket when the config has no admin" ||
  fail "USHER_ADMIN names the socket when the config has no admin" "$(cat "$USHER_LOG")"
write_config seven "$TEST_TMP/seven.caddy"
sed -i '/admin localhost/d' "$TEST_TMP/seven.caddy"
OUT=$(USHER_ADMIN="unix/$env_sock" "$USHER_BINARY" reload --config "$TEST_TMP/seven.caddy" 2>"$TEST_TMP/stderr")
RC=$?
ERR=$(cat "$TEST_TMP/stderr")
expect_rc "USHER_ADMIN=… usher reload exits 0" 0
expect_eq "the reload through USHER_ADMIN applied" "$(c "$url/version")" "seven"
kill "$USHER_PID"
wait "$USHER_PID"

# ---- admin off: the port USHER_ADMIN names stays closed
OFF=$(free_port)
sed -i "s|^{|{\n\tadmin off|" "$config"
USHER_ADMIN="localhost:$OFF" start_usher "$config" "$HTTPS" || { fail "usher starts with admin off"; finish; exit 1; }
if (exec 3<>"/dev/tcp/127.0.0.1/$OFF") 2>/dev/null; then
  fail "admin off: nothing listens on the admin port"
else
  pass "admin off: nothing listens on the admin port"
fi
expect_contains "admin off is logged" "$(cat "$USHER_LOG")" "admin API off"
run_usher status --address "localhost:$OFF"
expect_rc "usher status with nothing listening exits 1" 1
kill "$USHER_PID"
wait "$USHER_PID"

# ---- admin port in use; non-loopback address
BUSY=$(free_port)
python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); print("ready", flush=True); time.sleep(30)' "$BUSY" >"$TEST_TMP/busy.out" &
BUSY_PID=$!
STARTED_PIDS+=("$BUSY_PID")
for i in $(seq 1 100); do grep -q ready "$TEST_TMP/busy.out" && break; sleep 0.05; done
sed -i "s|admin off|admin localhost:$BUSY|" "$config"
OUT=$(timeout 20 "$USHER_BINARY" run --config "$config" 2>"$TEST_TMP/stderr")
RC=$?
ERR=$(cat "$TEST_TMP/stderr")
expect_rc "an admin port in use stops usher with exit 1" 1
expect_contains "the error names the address" "$ERR" "cannot listen on 127.0.0.1:$BUSY"
expect_contains "the error says what to do" "$ERR" "\`admin off\`"
sed -i "s|admin localhost:$BUSY|admin 0.0.0.0:2019|" "$config"
run_usher validate --config "$config"
expect_rc "a non-loopback admin address is a config error" 78
expect_contains "with a hint" "$ERR" "is not a loopback address"

finish
