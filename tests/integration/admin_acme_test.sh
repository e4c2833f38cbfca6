#!/usr/bin/env bash
# Certificates in the admin API's /status, `usher status` and the live view
# of `usher certs`, with a certificate issued by Debian's pebble.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pebble.sh"

pebble_init || { fail "pebble-challtestsrv starts"; finish; exit 1; }
pebble_start || { fail "pebble starts"; finish; exit 1; }
config="$TEST_TMP/Caddyfile"
sock="$TEST_TMP/acme-admin.sock"
cat >"$config" <<CONFIG
{
$(acme_globals)
	admin unix/$sock
}

status.test {
	respond "status"
}
CONFIG
start_usher "$config" "$PEBBLE_TLS_PORT" || { fail "usher starts"; finish; exit 1; }
if wait_for_https status.test status 30; then
  pass "status.test is served with a certificate pebble issued"
else
  fail "status.test is served with a certificate pebble issued" "$(cat "$USHER_LOG")"
fi

# The served certificate's notAfter, as RFC 3339, to compare with /status.
served_not_after=$(openssl s_client -connect "127.0.0.1:$PEBBLE_TLS_PORT" -servername status.test \
  </dev/null 2>/dev/null | openssl x509 -noout -enddate | cut -d= -f2)
want_not_after=$(date -u -d "$served_not_after" +%Y-%m-%dT%H:%M:%SZ)
status=$(curl -sS --max-time 10 --unix-socket "$sock" http://localhost/status)
check=$(python3 - "$status" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
certs = {c["name"]: c for c in s["certificates"]}
c = certs.get("status.test")
if c is None:
    print("no status.test in", list(certs)); sys.exit(0)
print("issuer=%s not_after=%s renewal=%s attempts=%s error=%r" % (
    "127.0.0.1:" in c["issuer"], c["not_after"], c["next_renewal"] is not None,
    c["attempts"], c["last_error"]))
PY
)
expect_eq "/status shows the certificate with issuer, not-after and next renewal" "$check" \
  "issuer=True not_after=$want_not_after renewal=True attempts=0 error=''"

run_usher status --address "unix/$sock"
expect_rc "usher status exits 0" 0
row=$(echo "$OUT" | grep "^status.test")
expect_contains "usher status lists the certificate" "$row" "127.0.0.1:$PEBBLE_PORT"
expect_contains "with its expiry" "$row" "${want_not_after:0:10}"

run_usher certs --config "$config"
expect_rc "usher certs exits 0 while usher runs" 0
expect_contains "usher certs shows the running instance's live view" "$ERR" "live view of the usher at unix/$sock"
expect_contains "usher certs lists the certificate" "$OUT" "status.test"
kill "$USHER_PID"
wait "$USHER_PID"
# The data directory start_usher gave the instance.
XDG_DATA_HOME="$USHER_DATA" run_usher certs --config "$config"
expect_rc "usher certs still works without a running usher" 0
expect_contains "from the data directory" "$OUT" "status.test"
case "$ERR" in
  *"live view"*) fail "without a running usher the view is not live" "$ERR" ;;
  *) pass "without a running usher the view is not live" ;;
esac

finish
