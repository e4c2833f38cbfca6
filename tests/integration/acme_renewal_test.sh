#!/usr/bin/env bash
# Renewal through the real binary: pebble issues certificates that live
# RENEW_LIFETIME seconds, so usher renews them (at half the lifetime for
# short-lived certificates, design.md §4) several times while a client keeps
# requesting; every request must succeed and verify against pebble's root.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pebble.sh"

# Certificate lifetime in seconds: renewal at half of it, so with ~4 s per
# order a renewal happens every ~15 s.
RENEW_LIFETIME=30
# How long the client keeps requesting (bounded: the script must stay < 3 min).
WATCH_SECONDS=50
# Renewals wanted in that time (a renewal every ~15 s gives 3; 2 leaves slack).
MIN_RENEWALS=2

pebble_init || { fail "pebble-challtestsrv starts"; finish; exit 1; }
pebble_start "$RENEW_LIFETIME" || { fail "pebble starts"; finish; exit 1; }
config="$TEST_TMP/Caddyfile"
cat >"$config" <<CONFIG
{
$(acme_globals)
}

renew.test {
	respond "renew"
}
CONFIG
start_usher "$config" "$PEBBLE_TLS_PORT" || { fail "usher starts"; finish; exit 1; }
wait_for_https renew.test renew 30 && pass "renew.test gets its first certificate" ||
  { fail "renew.test gets its first certificate" "$(cat "$USHER_LOG")"; finish; exit 1; }

lifetime=$(openssl s_client -connect "127.0.0.1:$PEBBLE_TLS_PORT" -servername renew.test </dev/null 2>/dev/null |
  openssl x509 -noout -startdate -enddate | sed 's/.*=//' | while read -r d; do date -d "$d" +%s; done |
  paste -sd' ' | awk '{ print $2 - $1 }')
echo "     certificate lifetime: ${lifetime}s"
# Pebble 2.4 makes notAfter = notBefore + period - 1 s.
[ "$lifetime" -ge $((RENEW_LIFETIME - 2)) ] && [ "$lifetime" -le "$RENEW_LIFETIME" ] &&
  pass "pebble honours certificateValidityPeriod" ||
  fail "pebble honours certificateValidityPeriod" "lifetime ${lifetime}s, want ~${RENEW_LIFETIME}s"

declare -A seen
ok=0 failed=0 first_failure=""
deadline=$((SECONDS + WATCH_SECONDS))
while [ "$SECONDS" -lt "$deadline" ]; do
  body=$(https_get renew.test)
  if [ "$body" == renew ]; then
    ok=$((ok + 1))
  else
    failed=$((failed + 1))
    [ -z "$first_failure" ] &&
      first_failure=$(curl -sS --max-time 5 --cacert "$PEBBLE_ROOT" \
        --resolve "renew.test:$PEBBLE_TLS_PORT:127.0.0.1" "https://renew.test:$PEBBLE_TLS_PORT/" 2>&1)
  fi
  seen[$(served_serial renew.test)]=1
  sleep 0.2
done
renewals=$((${#seen[@]} - 1))
echo "     $ok requests succeeded, $failed failed; $renewals renewals in ${WATCH_SECONDS}s"
expect_eq "every request during renewals verifies and succeeds" "$failed" 0
[ -n "$first_failure" ] && echo "     first failure: $first_failure"
[ "$renewals" -ge "$MIN_RENEWALS" ] && pass "the certificate is renewed at least $MIN_RENEWALS times" ||
  fail "the certificate is renewed at least $MIN_RENEWALS times" "renewals: $renewals" "$(cat "$USHER_LOG")"
expect_eq "no renewal failed" "$(grep -c 'failed' "$USHER_LOG")" 0
obtained=$(grep -c 'obtained a certificate for renew.test' "$USHER_LOG")
[ "$obtained" -le $((WATCH_SECONDS / (RENEW_LIFETIME / 2) + 2)) ] &&
  pass "renewals happen at half the lifetime, not in a loop" ||
  fail "renewals happen at half the lifetime, not in a loop" "$obtained certificates obtained"

finish
