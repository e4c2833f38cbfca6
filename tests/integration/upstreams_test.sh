#!/usr/bin/env bash
# reverse_proxy's upstream side through the real binary: a unix socket, an
# https:// upstream, round_robin, passive and active health, 502 and 504, and
# an upstream that dies in the middle of a body.
source "$(dirname "$0")/lib.sh"

start_upstream a || exit 1
A=$UPSTREAM_PORT
start_upstream b || exit 1
B=$UPSTREAM_PORT
start_upstream sick --health-status 503 || exit 1
SICK=$UPSTREAM_PORT
start_upstream unix --unix "$TEST_TMP/app.sock" || exit 1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=upstream.test" \
  -keyout "$TEST_TMP/up.key" -out "$TEST_TMP/up.crt" >/dev/null 2>&1
start_upstream tls --tls "$TEST_TMP/up.crt" "$TEST_TMP/up.key" || exit 1
TLSAPP=$UPSTREAM_PORT
DEAD=$(free_port)  # bound a moment ago and released: nothing listens there
HTTP=$(free_port)
HTTPS=$(free_port)
config="$TEST_TMP/Caddyfile"
cat >"$config" <<CONFIG
{
	http_port $HTTP
	https_port $HTTPS
	workers 2
}

rr.localhost {
	reverse_proxy 127.0.0.1:$A 127.0.0.1:$B {
		lb_policy round_robin
	}
}

passive.localhost {
	reverse_proxy 127.0.0.1:$DEAD 127.0.0.1:$B {
		lb_policy round_robin
		fail_duration 30s
		max_fails 1
	}
}

active.localhost {
	reverse_proxy 127.0.0.1:$A 127.0.0.1:$SICK {
		lb_policy round_robin
		health_uri /health
		health_interval 200ms
		health_timeout 1s
	}
}

unix.localhost {
	reverse_proxy unix/$TEST_TMP/app.sock
}

tls.localhost {
	reverse_proxy https://127.0.0.1:$TLSAPP {
		transport http {
			tls_insecure_skip_verify
		}
	}
}

verify.localhost {
	reverse_proxy https://127.0.0.1:$TLSAPP
}

dead.localhost {
	reverse_proxy 127.0.0.1:$DEAD
}

slow.localhost {
	reverse_proxy 127.0.0.1:$A {
		transport http {
			response_header_timeout 1s
		}
	}
}
CONFIG
start_usher "$config" "$HTTPS" || { fail "usher starts"; finish; exit 1; }
root=$(local_root)
# at HOST CURL_ARGS... URL_PATHS...: requests on one connection to https://HOST:$HTTPS
at() {
  local host=$1
  shift
  curl -sS --max-time 10 --cacert "$root" --resolve "$host:$HTTPS:127.0.0.1" "$@"
}
urls() {
  local host=$1 path=$2 n=$3 i
  for i in $(seq 1 "$n"); do printf 'https://%s:%s%s ' "$host" "$HTTPS" "$path"; done
}

# ---- unix socket and https:// upstreams
body=$(at unix.localhost "https://unix.localhost:$HTTPS/echo/over-unix")
expect_contains "a unix// upstream is reached" "$body" '"path": "/echo/over-unix"'
expect_contains "the unix upstream sees the request from its socket" "$body" '"client": "unix"'
expect_contains "an https:// upstream with tls_insecure_skip_verify is reached" \
  "$(at tls.localhost "https://tls.localhost:$HTTPS/echo/over-tls")" '"path": "/echo/over-tls"'
expect_eq "an https:// upstream whose certificate does not verify gives 502" \
  "$(at verify.localhost -o /dev/null -w '%{http_code}' "https://verify.localhost:$HTTPS/echo")" "502"

# ---- round_robin: strict alternation on one connection
seq_names=$(at rr.localhost $(urls rr.localhost /name 10) | tr '\n' ' ')
case "$seq_names" in
  "a b a b a b a b a b " | "b a b a b a b a b a ") pass "round_robin alternates between the two upstreams" ;;
  *) fail "round_robin alternates between the two upstreams" "order: $seq_names" ;;
esac

# ---- passive health: the dead upstream fails once, then is marked down
codes=$(at passive.localhost -w '%{http_code} ' $(urls passive.localhost /name 10 | sed 's/ / -o \/dev\/null /g'))
failures=$(echo "$codes" | tr ' ' '\n' | grep -c 502)
echo "     passive health, 10 requests: $codes"
[ "$failures" -le 2 ] && pass "passive health: the dead upstream fails at most once per worker ($failures)" ||
  fail "passive health: the dead upstream fails at most once per worker" "codes: $codes"
expect_eq "passive health: once marked down, every request goes to the live upstream" \
  "$(at passive.localhost $(urls passive.localhost /name 6) | tr '\n' ' ')" "b b b b b b "

# ---- active health: the upstream answering 503 on /health gets no traffic
names=""
for i in $(seq 1 50); do
  names=$(at active.localhost $(urls active.localhost /name 6) | tr '\n' ' ')
  [ "$names" == "a a a a a a " ] && break
  sleep 0.1
done
expect_eq "active health: an upstream failing its health check gets no requests" "$names" "a a a a a a "
curl -sS --max-time 5 "http://127.0.0.1:$SICK/set-health/200" >/dev/null
for i in $(seq 1 50); do
  names=$(at active.localhost $(urls active.localhost /name 6) | tr '\n' ' ')
  case "$names" in *sick*) break ;; esac
  sleep 0.1
done
expect_contains "active health: a recovered upstream gets requests again" "$names" "sick"

# ---- 502, 504
expect_eq "a dead upstream gives 502" \
  "$(at dead.localhost -o /dev/null -w '%{http_code}' "https://dead.localhost:$HTTPS/")" "502"
out=$(at slow.localhost -o /dev/null -w '%{http_code} %{time_total}' "https://slow.localhost:$HTTPS/slow?delay=4")
expect_eq "response_header_timeout 1s gives 504 on a slow upstream" "${out% *}" "504"
awk -v t="${out#* }" 'BEGIN { exit !(t < 2.5) }' && pass "the 504 comes after about 1s (${out#* }s)" ||
  fail "the 504 comes after about 1s" "took ${out#* }s"
expect_eq "a fast upstream under response_header_timeout is served" \
  "$(at slow.localhost -o /dev/null -w '%{http_code}' "https://slow.localhost:$HTTPS/slow?delay=0.2")" "200"

# ---- an upstream closing mid-body: the client must see a broken response
at rr.localhost -o "$TEST_TMP/partial" "https://rr.localhost:$HTTPS/close-mid-body" 2>"$TEST_TMP/partial.err"
rc=$?
[ "$rc" -ne 0 ] && pass "an upstream closing mid-body gives the client an error (curl exit $rc)" ||
  fail "an upstream closing mid-body gives the client an error" "curl exited 0 with $(stat -c %s "$TEST_TMP/partial") bytes"
expect_eq "usher still serves after a broken upstream response" \
  "$(at rr.localhost -o /dev/null -w '%{http_code}' "https://rr.localhost:$HTTPS/echo")" "200"
finish
