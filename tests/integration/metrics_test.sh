#!/usr/bin/env bash
# Metrics through the real binary and the admin API's GET /metrics: request
# counts by site and status class match exactly the requests sent, bytes and
# connection counters move, a dead upstream shows connect failures, TLS
# handshakes are counted, the local-CA certificate expires in about 7 days,
# and counters survive a reload.
source "$(dirname "$0")/lib.sh"

start_upstream app || exit 1
APP=$UPSTREAM_PORT
DEAD=$(free_port)  # bound a moment ago and released: nothing listens there
HTTP=$(free_port)
HTTPS=$(free_port)
ADMIN=$(free_port)
config="$TEST_TMP/Caddyfile"
write_config() {  # write_config EXTRA_SITE
  cat >"$config" <<CONFIG
{
	http_port $HTTP
	https_port $HTTPS
	admin 127.0.0.1:$ADMIN
	workers 2
}

localhost {
	reverse_proxy 127.0.0.1:$APP
}

http://localhost:$HTTP {
	respond /teapot 418
	respond /created "made" 201
	reverse_proxy 127.0.0.1:$DEAD
}
$1
CONFIG
}
write_config ""
start_usher "$config" "$HTTPS" || { fail "usher starts"; finish; exit 1; }
root=$(local_root)
wait_for_port "$ADMIN" 10 || { fail "the admin API listens" "$(cat "$USHER_LOG")"; finish; exit 1; }

metrics() { curl -s --max-time 5 "http://127.0.0.1:$ADMIN/metrics"; }
# value SERIES: the value of one sample (name with labels exactly as written), or "absent".
value() { metrics | awk -v s="$1" '$1 == s { print $2; found = 1 } END { if (!found) print "absent" }'; }
SITE='site="localhost"'
PLAIN="site=\"http://localhost:$HTTP\""

body=$(metrics)
expect_contains "metrics are Prometheus text" "$body" "# TYPE usher_http_requests_total counter"
expect_eq "no request counted before any was sent" "$(value "usher_http_requests_total{$SITE,code_class=\"2xx\"}")" 0

# ---- known statuses, through one keep-alive connection each
curl -s -o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null --cacert "$root" "https://localhost:$HTTPS/echo" "https://localhost:$HTTPS/echo" \
  "https://localhost:$HTTPS/status/404" "https://localhost:$HTTPS/status/503" "https://localhost:$HTTPS/bytes/1000"
for p in teapot teapot teapot created; do curl -s -o /dev/null "http://localhost:$HTTP/$p"; done
for i in 1 2; do curl -s -o /dev/null "http://localhost:$HTTP/dead/$i"; done
upload=$(head -c 3000 /dev/zero | tr '\0' x)
curl -s -o /dev/null --cacert "$root" --data-binary "$upload" "https://localhost:$HTTPS/echo"

expect_eq "2xx on the https site: 3 echoes and /bytes" "$(value "usher_http_requests_total{$SITE,code_class=\"2xx\"}")" 4
expect_eq "4xx on the https site" "$(value "usher_http_requests_total{$SITE,code_class=\"4xx\"}")" 1
expect_eq "5xx on the https site" "$(value "usher_http_requests_total{$SITE,code_class=\"5xx\"}")" 1
expect_eq "4xx on the plain site: three 418" "$(value "usher_http_requests_total{$PLAIN,code_class=\"4xx\"}")" 3
expect_eq "2xx on the plain site: one 201" "$(value "usher_http_requests_total{$PLAIN,code_class=\"2xx\"}")" 1
expect_eq "5xx on the plain site: two 502 from the dead upstream" "$(value "usher_http_requests_total{$PLAIN,code_class=\"5xx\"}")" 2
expect_eq "histogram count equals the requests" "$(value "usher_http_request_duration_seconds_count{$SITE}")" 6
expect_eq "+Inf bucket equals the count" "$(value "usher_http_request_duration_seconds_bucket{$SITE,le=\"+Inf\"}")" 6
req_bytes=$(value "usher_http_request_bytes_total{$SITE}")
expect_eq "request body bytes: the 3000-byte upload" "$req_bytes" 3000
resp_bytes=$(value "usher_http_response_bytes_total{$SITE}")
if [ "$resp_bytes" != absent ] && [ "$resp_bytes" -ge 1000 ]; then pass "response bytes count bodies (/bytes/1000 and the echoes)"; else fail "response bytes count bodies" "got $resp_bytes"; fi
curl -s -o /dev/null --cacert "$root" "https://localhost:$HTTPS/bytes/5000"
expect_eq "a 5000-byte body adds exactly 5000 response bytes" \
  "$(value "usher_http_response_bytes_total{$SITE}")" $((resp_bytes + 5000))

curl -s -o /dev/null -H "Host: nosuch.example" "http://127.0.0.1:$HTTP/"
expect_eq "a host no site serves counts under site=\"\"" "$(value 'usher_http_requests_total{site="",code_class="4xx"}')" 1

expect_eq "the dead upstream shows its connect failures" \
  "$(value "usher_upstream_connect_failures_total{upstream=\"127.0.0.1:$DEAD\"}")" 2
expect_eq "the live upstream's 2xx answers (the site's 4, then /bytes/5000)" \
  "$(value "usher_upstream_requests_total{upstream=\"127.0.0.1:$APP\",code_class=\"2xx\"}")" 5
expect_eq "the live upstream's 5xx answer" \
  "$(value "usher_upstream_requests_total{upstream=\"127.0.0.1:$APP\",code_class=\"5xx\"}")" 1

# ---- connections and handshakes
ok_before=$(value 'usher_tls_handshakes_total{result="ok"}')
failed_before=$(value 'usher_tls_handshakes_total{result="failed"}')
h1_before=$(value 'usher_connections_total{protocol="http/1.1"}')
curl -s -o /dev/null --cacert "$root" --http1.1 "https://localhost:$HTTPS/echo"
printf 'not a tls client hello\r\n\r\n' | timeout 5 bash -c "cat > /dev/tcp/127.0.0.1/$HTTPS" 2>/dev/null
wait_until 5 '[ "$(value '"'"'usher_tls_handshakes_total{result="failed"}'"'"')" != "$failed_before" ]'
expect_eq "a good handshake is counted" "$(value 'usher_tls_handshakes_total{result="ok"}')" $((ok_before + 1))
failed_after=$(value 'usher_tls_handshakes_total{result="failed"}')
if [ "$failed_after" -ge $((failed_before + 1)) ]; then pass "failed handshakes are counted"; else fail "failed handshakes are counted" "before $failed_before, after $failed_after"; fi
expect_eq "the connection is counted once" "$(value 'usher_connections_total{protocol="http/1.1"}')" $((h1_before + 1))

# An open keep-alive connection shows as active while it lasts.
python3 - "$HTTP" >"$TEST_TMP/hold.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /created HTTP/1.1\r\nHost: localhost\r\n\r\n")
s.recv(4096)
print("open", flush=True)
time.sleep(2)
PY
HOLD=$!
STARTED_PIDS+=("$HOLD")
for i in $(seq 1 40); do grep -q open "$TEST_TMP/hold.out" && break; sleep 0.05; done
active=$(value 'usher_connections_active{protocol="http/1.1"}')
if [ "$active" != absent ] && [ "$active" -ge 1 ]; then pass "an open connection is active"; else fail "an open connection is active" "got $active"; fi
wait "$HOLD"
wait_until 5 '[ "$(value '"'"'usher_connections_active{protocol="http/1.1"}'"'"')" = 0 ]'
expect_eq "no connection active once all closed" "$(value 'usher_connections_active{protocol="http/1.1"}')" 0

# ---- certificates
expiry=$(value 'usher_certificate_expiry_seconds{name="localhost",issuer="local"}')
if [ "$expiry" != absent ] && python3 -c "import sys; v=float(sys.argv[1]); sys.exit(0 if 6.9*86400 < v <= 7*86400 else 1)" "$expiry"; then
  pass "the local-CA certificate expires in about 7 days"
else
  fail "the local-CA certificate expires in about 7 days" "got $expiry"
fi
expect_contains "ACME order outcomes are exported" "$(metrics)" 'usher_acme_orders_total{outcome="valid"} 0'

# ---- process
rss=$(value usher_process_resident_memory_bytes)
if [ "$rss" != absent ] && [ "$rss" -gt 1000000 ]; then pass "resident memory is exported"; else fail "resident memory is exported" "got $rss"; fi
start=$(value usher_process_start_time_seconds)
if python3 -c "import sys,time; sys.exit(0 if abs(time.time() - float(sys.argv[1])) < 600 else 1)" "$start"; then pass "the start time is recent"; else fail "the start time is recent" "got $start"; fi

# ---- a reload keeps the counters of sites that stay
write_config "http://other.localhost:$HTTP {
	respond \"other\"
}"
kill -HUP "$USHER_PID"
for i in $(seq 1 100); do grep -q "reloaded" "$USHER_LOG" && break; sleep 0.05; done
curl -s -o /dev/null "http://localhost:$HTTP/created"
expect_eq "the reload is counted" "$(value 'usher_config_reloads_total{result="ok"}')" 1
expect_eq "a site's counters survive a reload" "$(value "usher_http_requests_total{$PLAIN,code_class=\"2xx\"}")" 3

finish
