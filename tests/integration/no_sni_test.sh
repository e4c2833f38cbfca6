#!/usr/bin/env bash
# Clients send no SNI for a URL with an IP address; usher must still answer
# with the certificate of the site addressed by that IP.
source "$(dirname "$0")/lib.sh"

HTTP=$(free_port)
HTTPS=$(free_port)
config="$TEST_TMP/Caddyfile"
cat >"$config" <<CONFIG
{
	http_port $HTTP
	https_port $HTTPS
}
127.0.0.1 {
	tls $TEST_TMP/cert.pem $TEST_TMP/key.pem
	respond "by ip" 200
}
CONFIG
# A certificate from files, as the benchmark uses: the local CA's own IP
# certificates were already the no-SNI fallback.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$TEST_TMP/key.pem" -out "$TEST_TMP/cert.pem" 2>/dev/null
start_usher "$config" "$HTTPS" || { fail "usher starts"; finish; exit 1; }
out=$(openssl s_client -connect "127.0.0.1:$HTTPS" -noservername -CAfile "$TEST_TMP/cert.pem" </dev/null 2>&1)
expect_contains "a handshake without SNI gets the IP site's certificate" "$out" "Verify return code: 0 (ok)"
expect_eq "curl to the IP address is served" \
  "$(curl -sS --max-time 5 --cacert "$TEST_TMP/cert.pem" "https://127.0.0.1:$HTTPS/")" "by ip"
# A client that closes right after the handshake must not take usher down.
python3 - "$HTTPS" <<'PY'
import socket, ssl, sys
c = ssl.create_default_context()
c.check_hostname = False
c.verify_mode = ssl.CERT_NONE
for _ in range(20):
    s = c.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname=None)
    s.close()
PY
expect_eq "usher survives clients closing right after the handshake" \
  "$(curl -sS --max-time 5 --cacert "$TEST_TMP/cert.pem" "https://127.0.0.1:$HTTPS/")" "by ip"
finish
