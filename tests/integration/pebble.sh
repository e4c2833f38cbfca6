# Helpers that run Debian's pebble (a test ACME CA) and pebble-challtestsrv
# (its DNS server) on loopback for the ACME integration tests. Source after
# lib.sh. Every port is picked free; every process started is added to
# STARTED_PIDS so that lib.sh stops it, and only it.
#
#   pebble_init                      throwaway HTTPS CA for pebble, DNS server
#   pebble_start [VALIDITY] [EAB]    pebble itself (VALIDITY: certificate
#                                    lifetime in seconds, 0 = pebble default;
#                                    EAB: "kid=key" to require EAB)
#   pebble_stop                      stops the running pebble
#   acme_globals                     the usher global options for this pebble
#
# Pebble validates challenges on PEBBLE_HTTP_PORT (HTTP-01) and
# PEBBLE_TLS_PORT (TLS-ALPN-01), so those are usher's http_port/https_port.

command -v pebble >/dev/null && command -v pebble-challtestsrv >/dev/null || {
  echo "SKIP: pebble and pebble-challtestsrv are not installed (apt install pebble)"
  exit 77
}

# How long pebble may take to open its ports; it starts in well under a second.
PEBBLE_START_SECONDS=10

# free_dns_port: a UDP port on 127.0.0.1 that was free a moment ago; the DNS
# server listens on UDP and TCP, so the TCP side is checked too.
free_dns_port() {
  python3 -c '
import socket
while True:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
    port = u.getsockname()[1]
    t = socket.socket()
    try:
        t.bind(("127.0.0.1", port)); print(port); break
    except OSError:
        pass
'
}

# pebble_make_https_ca DIR: a throwaway CA and a leaf for localhost and
# 127.0.0.1, pebble's own HTTPS identity (Debian ships no test certificates).
pebble_make_https_ca() {
  local dir=$1
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=usher pebble test ca" -keyout "$dir/ca.key" -out "$dir/ca.pem" >/dev/null 2>&1 &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
      -keyout "$dir/key.pem" -out "$dir/leaf.csr" >/dev/null 2>&1 &&
    openssl x509 -req -in "$dir/leaf.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
      -CAcreateserial -days 2 -out "$dir/cert.pem" \
      -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n') \
      >/dev/null 2>&1
}

# pebble_init: the HTTPS CA, the ports, and the DNS server that answers
# 127.0.0.1 for every name (no AAAA answer: usher listens on IPv4 loopback).
pebble_init() {
  PEBBLE_DIR="$TEST_TMP/pebble"
  mkdir -p "$PEBBLE_DIR"
  pebble_make_https_ca "$PEBBLE_DIR" || { echo "openssl could not make pebble's certificates" >&2; return 1; }
  PEBBLE_HTTPS_CA="$PEBBLE_DIR/ca.pem"
  PEBBLE_PORT=$(free_port)
  PEBBLE_MANAGEMENT_PORT=$(free_port)
  PEBBLE_HTTP_PORT=$(free_port)
  PEBBLE_TLS_PORT=$(free_port)
  PEBBLE_DNS_PORT=$(free_dns_port)
  local management
  management=$(free_port)
  # Its own challenge servers are turned off: they would take usher's ports.
  pebble-challtestsrv -dns01 "127.0.0.1:$PEBBLE_DNS_PORT" -defaultIPv4 127.0.0.1 \
    -defaultIPv6 "" -http01 "" -https01 "" -tlsalpn01 "" \
    -management "127.0.0.1:$management" >"$PEBBLE_DIR/challtestsrv.log" 2>&1 &
  CHALLTESTSRV_PID=$!
  STARTED_PIDS+=("$CHALLTESTSRV_PID")
  wait_for_port "$management" "$PEBBLE_START_SECONDS" || {
    echo "pebble-challtestsrv did not start:" >&2
    cat "$PEBBLE_DIR/challtestsrv.log" >&2
    return 1
  }
}

# pebble_config VALIDITY EAB: writes pebble's JSON config.
pebble_config() {
  local validity=$1 eab=$2 eab_required=false eab_keys="{}"
  if [ -n "$eab" ]; then
    eab_required=true
    eab_keys="{\"${eab%%=*}\": \"${eab#*=}\"}"
  fi
  local period=""
  [ "$validity" -gt 0 ] && period=", \"certificateValidityPeriod\": $validity"
  cat >"$PEBBLE_DIR/pebble.json" <<JSON
{
  "pebble": {
    "listenAddress": "127.0.0.1:$PEBBLE_PORT",
    "managementListenAddress": "127.0.0.1:$PEBBLE_MANAGEMENT_PORT",
    "certificate": "$PEBBLE_DIR/cert.pem",
    "privateKey": "$PEBBLE_DIR/key.pem",
    "httpPort": $PEBBLE_HTTP_PORT,
    "tlsPort": $PEBBLE_TLS_PORT,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": $eab_required,
    "externalAccountMACKeys": $eab_keys$period
  }
}
JSON
}

# pebble_start [VALIDITY] [EAB]: starts pebble (PEBBLE_ENV may add variables,
# e.g. PEBBLE_WFE_NONCEREJECT=50); sets PEBBLE_PID, PEBBLE_LOG and
# PEBBLE_ROOT (the root that signs the certificates it issues; new on every
# start). Validation runs without pebble's random sleep.
pebble_start() {
  local validity=${1:-0} eab=${2:-}
  pebble_config "$validity" "$eab"
  PEBBLE_LOG="$PEBBLE_DIR/pebble-$(date +%s%N).log"
  # shellcheck disable=SC2086  # PEBBLE_ENV is a list of NAME=VALUE words
  env PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 ${PEBBLE_ENV:-} \
    pebble -config "$PEBBLE_DIR/pebble.json" -dnsserver "127.0.0.1:$PEBBLE_DNS_PORT" \
    >"$PEBBLE_LOG" 2>&1 &
  PEBBLE_PID=$!
  STARTED_PIDS+=("$PEBBLE_PID")
  wait_for_port "$PEBBLE_MANAGEMENT_PORT" "$PEBBLE_START_SECONDS" &&
    wait_for_port "$PEBBLE_PORT" "$PEBBLE_START_SECONDS" || {
    echo "pebble did not start:" >&2
    cat "$PEBBLE_LOG" >&2
    return 1
  }
  PEBBLE_ROOT="$PEBBLE_DIR/root-$PEBBLE_PID.pem"
  curl -sS --max-time 5 --cacert "$PEBBLE_HTTPS_CA" \
    "https://127.0.0.1:$PEBBLE_MANAGEMENT_PORT/roots/0" -o "$PEBBLE_ROOT" || {
    echo "could not fetch pebble's root" >&2
    return 1
  }
}

# pebble_stop: stops the pebble pebble_start started (challtestsrv stays).
pebble_stop() {
  kill "$PEBBLE_PID" 2>/dev/null
  wait "$PEBBLE_PID" 2>/dev/null
  return 0
}

# acme_globals: the lines of usher's global options block that point it at
# pebble (its directory, the HTTPS CA, the ports pebble validates on).
acme_globals() {
  cat <<OPTIONS
	acme_ca https://127.0.0.1:$PEBBLE_PORT/dir
	acme_ca_root $PEBBLE_HTTPS_CA
	email test@example.com
	http_port $PEBBLE_HTTP_PORT
	https_port $PEBBLE_TLS_PORT
OPTIONS
}

# pebble_requests: how many ACME requests pebble has logged (one line each).
pebble_requests() {
  grep -c -- '-> calling handler()' "$PEBBLE_LOG"
}

# https_get NAME [PATH]: the body usher serves for NAME, verified against
# pebble's issuing root; fails (empty output) otherwise.
https_get() {
  curl -sS --max-time 5 --cacert "$PEBBLE_ROOT" --resolve "$1:$PEBBLE_TLS_PORT:127.0.0.1" \
    "https://$1:$PEBBLE_TLS_PORT${2:-/}" 2>/dev/null
}

# wait_for_https NAME WANT SECONDS: polls until NAME serves WANT with a
# certificate pebble issued; false after SECONDS.
wait_for_https() {
  local name=$1 want=$2 limit=$3 deadline
  deadline=$((SECONDS + limit))
  while [ "$SECONDS" -lt "$deadline" ]; do
    [ "$(https_get "$name")" == "$want" ] && return 0
    sleep 0.2
  done
  return 1
}

# served_serial NAME: the serial of the certificate usher serves for NAME.
served_serial() {
  openssl s_client -connect "127.0.0.1:$PEBBLE_TLS_PORT" -servername "$1" </dev/null 2>/dev/null |
    openssl x509 -noout -serial 2>/dev/null
}
