#!/usr/bin/env bash
# ACME when things go wrong, through the real binary against pebble: a CA
# that rejects half the nonces, a CA that is down when usher starts (the
# other sites are served meanwhile; the certificate comes once it is back),
# and a CA that requires External Account Binding.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pebble.sh"

# The manager retries a failed order after 1 min (acme/certificate_manager.cpp
# kRetryTable); a little more covers the order itself.
RETRY_WAIT_SECONDS=80

pebble_init || { fail "pebble-challtestsrv starts"; finish; exit 1; }
config="$TEST_TMP/Caddyfile"
stop_usher() {
  kill "$USHER_PID" 2>/dev/null
  wait "$USHER_PID" 2>/dev/null
}
# fresh_data: a new CA forgets accounts; each part starts with an empty data dir.
fresh_data() { rm -rf "$TEST_TMP/data"; }
# cert_line NAME: the line of `usher certs` for NAME (empty while usher has
# recorded nothing for it).
cert_line() {
  XDG_DATA_HOME="$USHER_DATA" run_usher certs --config "$config"
  awk -v n="$1" '$1 == n' <<<"$OUT"
}
# wait_for_retry NAME: waits (5 s at most) until NAME shows a failed attempt.
wait_for_retry() {
  for _ in $(seq 1 50); do
    case "$(cert_line "$1")" in *"(retry "*) return 0 ;; esac
    sleep 0.1
  done
  return 1
}

# ---- half the nonces rejected: badNonce is retried, every order completes
PEBBLE_ENV="PEBBLE_WFE_NONCEREJECT=50" pebble_start || { fail "pebble starts"; finish; exit 1; }
cat >"$config" <<CONFIG
{
$(acme_globals)
}

n1.test {
	respond "n1"
}

n2.test {
	respond "n2"
}

n3.test {
	respond "n3"
}
CONFIG
start_usher "$config" "$PEBBLE_TLS_PORT" || { fail "usher starts"; finish; exit 1; }
for name in n1 n2 n3; do
  wait_for_https "$name.test" "$name" 20 && pass "$name.test is issued although pebble rejects half the nonces" ||
    fail "$name.test is issued although pebble rejects half the nonces" "$(cat "$USHER_LOG")"
done
posts=$(grep -c 'POST .* -> calling handler()' "$PEBBLE_LOG")
echo "     $posts signed requests for 3 orders and an account (~28 without rejections)"
[ "$posts" -gt 30 ] && pass "pebble did reject nonces (usher re-sent requests)" ||
  fail "pebble did reject nonces (usher re-sent requests)" "only $posts POSTs"
expect_eq "no order failed on badNonce" "$(grep -c badNonce "$USHER_LOG")" 0
stop_usher
pebble_stop

# ---- the CA is down at start: other sites are served, the certificate comes later
fresh_data
cat >"$config" <<CONFIG
{
$(acme_globals)
}

localhost {
	respond "local"
}

late.test {
	respond "late"
}
CONFIG
start_usher "$config" "$PEBBLE_TLS_PORT" || { fail "usher starts with the CA down"; finish; exit 1; }
started=$SECONDS
local_get() {
  curl -sS --max-time 5 --cacert "$(local_root)" --resolve "localhost:$PEBBLE_TLS_PORT:127.0.0.1" \
    "https://localhost:$PEBBLE_TLS_PORT/" 2>&1
}
for _ in $(seq 1 50); do [ "$(local_get)" == local ] && break; sleep 0.1; done
expect_eq "with the CA down, the local site is served" "$(local_get)" local
wait_for_retry late.test
expect_contains "usher certs shows why late.test has no certificate" "$(cert_line late.test)" \
  "(retry 1)  GET https://127.0.0.1:$PEBBLE_PORT/dir: "
expect_contains "the failure is logged with the next try" "$(cat "$USHER_LOG")" \
  "obtaining a certificate for late.test from https://127.0.0.1:$PEBBLE_PORT/dir failed (attempt 1, next try"
pebble_start || { fail "pebble starts late"; finish; exit 1; }
if wait_for_https late.test late "$RETRY_WAIT_SECONDS"; then
  pass "once the CA is back, late.test gets its certificate on the next try"
  echo "     certificate $((SECONDS - started))s after usher started (first retry after 1 min)"
else
  fail "once the CA is back, late.test gets its certificate on the next try" "$(cat "$USHER_LOG")"
fi
expect_eq "the local site was served throughout" "$(local_get)" local
stop_usher
pebble_stop

# ---- External Account Binding: required by the CA, given by usher
fresh_data
eab_kid=usher-kid
eab_key=$(openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n')
wrong_key=$(openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n')
pebble_start 0 "$eab_kid=$eab_key" || { fail "pebble starts with EAB required"; finish; exit 1; }
cat >"$config" <<CONFIG
{
$(acme_globals)
	acme_eab {
		key_id $eab_kid
		mac_key $eab_key
	}
}

eab.test {
	respond "eab"
}

wrong-eab.test {
	tls {
		issuer acme {
			email other@example.com
			eab $eab_kid $wrong_key
		}
	}
	respond "wrong"
}
CONFIG
start_usher "$config" "$PEBBLE_TLS_PORT" || { fail "usher starts"; finish; exit 1; }
wait_for_https eab.test eab 20 && pass "with EAB credentials, eab.test is issued" ||
  fail "with EAB credentials, eab.test is issued" "$(cat "$USHER_LOG")"
wait_for_retry wrong-eab.test
expect_contains "a wrong EAB key fails the account, with the CA's reason" \
  "$(cert_line wrong-eab.test)" "unauthorized: external account binding"
[ -z "$(https_get wrong-eab.test)" ] && pass "wrong-eab.test gets no certificate" ||
  fail "wrong-eab.test gets no certificate"
stop_usher

finish
