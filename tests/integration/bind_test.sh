#!/usr/bin/env bash
# `bind`: a site listens only on the addresses it names.
source "$(dirname "$0")/lib.sh"

HTTP=$(free_port)
HTTPS=$(free_port)
config="$TEST_TMP/Caddyfile"
cat >"$config" <<CONFIG
{
	http_port $HTTP
	https_port $HTTPS
}
localhost {
	bind 127.0.0.1
	respond "bound" 200
}
CONFIG
start_usher "$config" "$HTTPS" || { fail "usher starts"; finish; exit 1; }
root=$(local_root)
expect_eq "the bound address serves" \
  "$(curl -sS --max-time 5 --cacert "$root" "https://localhost:$HTTPS/" --resolve "localhost:$HTTPS:127.0.0.1")" "bound"
if (exec 3<>"/dev/tcp/127.0.0.2/$HTTPS") 2>/dev/null; then
  fail "another loopback address is not listened on"
else
  pass "another loopback address is not listened on"
fi
if (exec 3<>"/dev/tcp/127.0.0.2/$HTTP") 2>/dev/null; then
  fail "the redirect port binds where the site does"
else
  pass "the redirect port binds where the site does"
fi
finish
