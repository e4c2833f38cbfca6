#!/usr/bin/env bash
# ACME end to end through the real binary against Debian's pebble: one site
# (timed, its ACME requests counted), three more sites plus one site per
# challenge type (HTTP-01 only, TLS-ALPN-01 only), then a restart that sends
# the CA nothing. Every certificate is verified with curl against pebble's
# issuing root. Renewal and failures: acme_renewal_test.sh, acme_failure_test.sh.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pebble.sh"

pebble_init || { fail "pebble-challtestsrv starts"; finish; exit 1; }
pebble_start || { fail "pebble starts"; finish; exit 1; }
config="$TEST_TMP/Caddyfile"

# Seconds since the epoch with milliseconds, for the timing.
now_ms() { date +%s%3N; }
stop_usher() {
  kill "$USHER_PID" 2>/dev/null
  wait "$USHER_PID" 2>/dev/null
}
# orders_placed: newOrder requests pebble has seen.
orders_placed() { grep -c 'POST /order-plz -> calling handler()' "$PEBBLE_LOG"; }
# san_of NAME: the subjectAltName of the certificate served for NAME.
san_of() {
  openssl s_client -connect "127.0.0.1:$PEBBLE_TLS_PORT" -servername "$1" </dev/null 2>/dev/null |
    openssl x509 -noout -ext subjectAltName 2>/dev/null | tail -1 | tr -d ' '
}

# ---- one site: the time to the first verified response and the requests
cat >"$config" <<CONFIG
{
$(acme_globals)
}

solo.test {
	respond "solo"
}
CONFIG
started=$(now_ms)
start_usher "$config" "$PEBBLE_TLS_PORT" || { fail "usher starts"; finish; exit 1; }
if wait_for_https solo.test solo 30; then
  elapsed=$(($(now_ms) - started))
  pass "solo.test is served with a certificate pebble issued"
  echo "     time from usher run to the first verified https response: ${elapsed} ms"
else
  fail "solo.test is served with a certificate pebble issued" "usher log:" "$(cat "$USHER_LOG")"
fi
requests=$(pebble_requests)
echo "     acme requests for the first issuance (account included): $requests"
awk '/-> calling handler/ { print $4, $5 }' "$PEBBLE_LOG" | sed -E 's#^([A-Z]+ /[^/]*).*#\1#' |
  sort | uniq -c | sed 's/^/     /'
# dir, nonce, account, order, authz, challenge, authz polls, order, finalize,
# order poll, certificate: a dozen, give or take one poll.
if [ "$requests" -ge 10 ] && [ "$requests" -le 16 ]; then
  pass "one issuance takes a dozen acme requests"
else
  fail "one issuance takes a dozen acme requests" "got $requests"
fi
expect_eq "the certificate names solo.test" "$(san_of solo.test)" "DNS:solo.test"
solo_serial=$(served_serial solo.test)
stop_usher

# ---- three sites, one per challenge type (same data dir: the account is reused)
cat >"$config" <<CONFIG
{
$(acme_globals)
}

solo.test {
	respond "solo"
}

a.test {
	respond "a"
}

b.test {
	respond "b"
}

c.test {
	respond "c"
}

http-only.test {
	tls {
		issuer acme {
			disable_tlsalpn_challenge
		}
	}
	respond "http-only"
}

alpn-only.test {
	tls {
		issuer acme {
			disable_http_challenge
		}
	}
	respond "alpn-only"
}
CONFIG
orders_before=$(orders_placed)
accounts_before=$(grep -c 'POST /sign-me-up' "$PEBBLE_LOG")
start_usher "$config" "$PEBBLE_TLS_PORT" || { fail "usher restarts with six sites"; finish; exit 1; }
for name in a b c http-only alpn-only; do
  if wait_for_https "$name.test" "$name" 30; then
    pass "$name.test is served with a certificate pebble issued"
  else
    fail "$name.test is served with a certificate pebble issued" "usher log:" "$(cat "$USHER_LOG")"
  fi
  expect_eq "the certificate of $name.test names it" "$(san_of "$name.test")" "DNS:$name.test"
done
expect_eq "the stored certificate of solo.test is served, not ordered again" \
  "$(served_serial solo.test)" "$solo_serial"
expect_eq "five new names place five orders" "$(($(orders_placed) - orders_before))" 5
expect_eq "the stored account is reused" "$(grep -c 'POST /sign-me-up' "$PEBBLE_LOG")" "$accounts_before"
expect_contains "the issuer is pebble's intermediate" \
  "$(openssl s_client -connect "127.0.0.1:$PEBBLE_TLS_PORT" -servername a.test </dev/null 2>/dev/null |
    openssl x509 -noout -issuer)" "Pebble Intermediate CA"
# Pebble 2.4 logs each HTTP-01 attempt with its URL (TLS-ALPN-01 attempts
# without one); usher records the type that worked in the name's state.
http_validations() { grep -c "validate w/ HTTP: http://$1:" "$PEBBLE_LOG"; }
challenge_used() {
  sed -n 's/.*"challenge": *"\([^"]*\)".*/\1/p' \
    "$USHER_DATA/usher/certificates/127.0.0.1_$PEBBLE_PORT-dir/$1/$1.json"
}
[ "$(http_validations http-only.test)" -gt 0 ] && [ "$(challenge_used http-only.test)" == http-01 ] &&
  pass "http-only.test is validated over HTTP-01" ||
  fail "http-only.test is validated over HTTP-01" "$(grep 'http-only.test' "$PEBBLE_LOG")" \
    "challenge recorded: $(challenge_used http-only.test)"
[ "$(http_validations alpn-only.test)" -eq 0 ] && [ "$(challenge_used alpn-only.test)" == tls-alpn-01 ] &&
  pass "alpn-only.test is validated over TLS-ALPN-01, never HTTP-01" ||
  fail "alpn-only.test is validated over TLS-ALPN-01, never HTTP-01" \
    "$(grep 'alpn-only.test' "$PEBBLE_LOG")" "challenge recorded: $(challenge_used alpn-only.test)"
XDG_DATA_HOME="$USHER_DATA" run_usher certs --config "$config"
for name in solo a b c http-only alpn-only; do
  expect_eq "usher certs lists $name.test as issued by pebble, without error" \
    "$(awk -v n="$name.test" '$1 == n { print $2, $NF }' <<<"$OUT")" "127.0.0.1:$PEBBLE_PORT -"
done
declare -A serials
for name in solo a b c http-only alpn-only; do serials[$name]=$(served_serial "$name.test"); done
stop_usher

# ---- a restart issues nothing and sends the CA nothing
requests_before=$(pebble_requests)
start_usher "$config" "$PEBBLE_TLS_PORT" || { fail "usher restarts"; finish; exit 1; }
for name in solo a b c http-only alpn-only; do
  wait_for_https "$name.test" "$name" 5 >/dev/null
  expect_eq "after a restart $name.test serves the same certificate" \
    "$(served_serial "$name.test")" "${serials[$name]}"
done
sleep 1  # the first maintenance pass runs at start; give it time to (not) talk
expect_eq "a restart sends pebble no request" "$(($(pebble_requests) - requests_before))" 0
stop_usher

finish
