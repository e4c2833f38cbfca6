#!/usr/bin/env bash
# The build choices of decision 0014 hold in the binary under test: spdlog
# is compiled in (libspdlog.so is not loaded, yet the process log works),
# relative relocations are packed (DT_RELR), and no unused sections were
# kept. Memory figures themselves are measured by bench/cost.py, never
# asserted here.
source "$(dirname "$0")/lib.sh"

start_localhost_proxy

maps=$(cat "/proc/$USHER_PID/maps")
case "$maps" in
  *libspdlog*) fail "libspdlog.so is not loaded (spdlog is header-only)" \
    "$(grep libspdlog "/proc/$USHER_PID/maps" | head -1)" ;;
  *) pass "libspdlog.so is not loaded (spdlog is header-only)" ;;
esac
expect_contains "libfmt.so is loaded (spdlog formats through Debian's shared fmt)" "$maps" "libfmt.so"

# The process log still goes through spdlog: the start-up line is there.
wait_until 5 "grep -qF 'usher started' \"\$USHER_LOG\""
expect_contains "the process log works without libspdlog.so" "$(cat "$USHER_LOG")" "usher started"

# A proxied request works (the code that --gc-sections kept is the code that runs).
body=$(curl -sS --max-time 5 --cacert "$root" "https://localhost:$HTTPS/name" 2>&1)
expect_contains "a request through the proxy is answered by the upstream" "$body" "app"

dynamic=$(readelf -dW "$USHER_BINARY" 2>&1)
expect_contains "relative relocations are packed (DT_RELR)" "$dynamic" "(RELR)"
case "$dynamic" in
  *libspdlog*) fail "the binary does not need libspdlog.so" "$(grep libspdlog <<<"$dynamic")" ;;
  *) pass "the binary does not need libspdlog.so" ;;
esac

finish
