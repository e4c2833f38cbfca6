# Helpers for integration tests that drive the real usher binary.
# Each test script sources this, calls `check`/`expect_*`, and ends with `finish`,
# which prints "N passed, N failed" and exits non-zero when anything failed.
set -u

: "${USHER_BINARY:?USHER_BINARY must name the usher binary under test}"
: "${USHER_SOURCE_DIR:?USHER_SOURCE_DIR must name the source tree}"

# Debian's python3 first: its python3-h2 drives the HTTP/2 tests, and a
# python3 earlier on PATH (pyenv, venv) would not have it.
export PATH=/usr/bin:$PATH

TESTS_PASSED=0
TESTS_FAILED=0
TEST_TMP=$(mktemp -d)
# Each test's usher gets a private admin API socket: the default
# localhost:2019 would be shared by tests running side by side (and by a real
# usher on the machine). A config's own `admin` option still wins.
export USHER_ADMIN="unix/$TEST_TMP/admin.sock"

pass() { TESTS_PASSED=$((TESTS_PASSED + 1)); echo "ok   $1"; }
fail() {
  TESTS_FAILED=$((TESTS_FAILED + 1))
  echo "FAIL $1"
  shift
  [ $# -gt 0 ] && printf '     %s\n' "$@"
  return 0
}

# run_usher ARGS...: runs the binary, capturing stdout, stderr and the exit code
# in $OUT, $ERR and $RC.
run_usher() {
  OUT=$("$USHER_BINARY" "$@" 2>"$TEST_TMP/stderr")
  RC=$?
  ERR=$(cat "$TEST_TMP/stderr")
}

# expect_rc NAME WANT: the last run_usher exited with WANT.
expect_rc() {
  if [ "$RC" -eq "$2" ]; then pass "$1"; else fail "$1" "exit code $RC, want $2" "stdout: $OUT" "stderr: $ERR"; fi
}

# expect_contains NAME HAYSTACK NEEDLE
expect_contains() {
  case "$2" in
    *"$3"*) pass "$1" ;;
    *) fail "$1" "missing: $3" "in: $2" ;;
  esac
}

# expect_eq NAME GOT WANT
expect_eq() {
  if [ "$2" == "$3" ]; then pass "$1"; else fail "$1" "got:  $2" "want: $3"; fi
}

finish() {
  echo "$TESTS_PASSED passed, $TESTS_FAILED failed"
  [ "$TESTS_FAILED" -eq 0 ]
}

# ---- processes the tests start (and stop, by PID, only those)

STARTED_PIDS=()
cleanup_processes() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    kill "$pid" 2>/dev/null
  done
  for pid in "${STARTED_PIDS[@]}"; do
    wait "$pid" 2>/dev/null
  done
  rm -rf "$TEST_TMP"
}
trap cleanup_processes EXIT

# free_port: a TCP port on 127.0.0.1 that was free a moment ago (bound to
# port 0, then released). Used for usher's http_port/https_port, which must be
# named in its config.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_python_server SCRIPT NAME [ARGS...]: starts tests/integration/SCRIPT,
# which prints "PORT n" once it listens; sets SERVER_PORT, SERVER_PID and
# SERVER_OUT (the file with its output).
start_python_server() {
  local script=$1 name=$2
  shift 2
  local out="$TEST_TMP/${script%.py}-$name-$(date +%s%N).out"
  SERVER_OUT=$out
  : >"$out"
  python3 "$USHER_SOURCE_DIR/tests/integration/$script" --name "$name" "$@" >"$out" 2>&1 &
  SERVER_PID=$!
  STARTED_PIDS+=("$SERVER_PID")
  local i
  for i in $(seq 1 100); do
    SERVER_PORT=$(sed -n 's/^PORT //p' "$out")
    [ -n "$SERVER_PORT" ] && return 0
    sleep 0.05
  done
  echo "$script $name did not start: $(cat "$out")" >&2
  return 1
}

# start_upstream NAME [ARGS...]: starts tests/integration/upstream.py; sets
# UPSTREAM_PORT and UPSTREAM_PID.
start_upstream() {
  start_python_server upstream.py "$@" || return 1
  UPSTREAM_PORT=$SERVER_PORT
  UPSTREAM_PID=$SERVER_PID
}

# wait_until SECONDS CONDITION: evaluates the shell CONDITION every 50 ms
# until it holds (status 0) or SECONDS have passed (status 1). For effects
# that land asynchronously (a log line, a counter): the check that follows
# still asserts them, and no fixed sleep guesses how long they take.
wait_until() {
  local deadline=$((SECONDS + $1))
  while ! eval "$2"; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.05
  done
}

# wait_for_port PORT [SECONDS]: waits until 127.0.0.1:PORT accepts connections.
wait_for_port() {
  local port=$1 limit=${2:-10} i
  for i in $(seq 1 $((limit * 20))); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.05
  done
  return 1
}

# start_usher CONFIG PORT [ARGS...]: runs `usher run --config CONFIG` with a
# private data directory; waits until PORT accepts connections. Sets
# USHER_PID, USHER_LOG and USHER_DATA (its XDG data home).
start_usher() {
  local config=$1 port=$2
  shift 2
  USHER_DATA="$TEST_TMP/data"
  USHER_LOG="$TEST_TMP/usher-$(date +%s%N).log"
  mkdir -p "$USHER_DATA"
  XDG_DATA_HOME="$USHER_DATA" "$USHER_BINARY" run --config "$config" "$@" >"$USHER_LOG" 2>&1 &
  USHER_PID=$!
  STARTED_PIDS+=("$USHER_PID")
  if ! wait_for_port "$port" 10; then
    echo "usher did not open port $port; its log:" >&2
    cat "$USHER_LOG" >&2
    return 1
  fi
}

# The local CA root of the usher started by start_usher.
local_root() {
  echo "$USHER_DATA/usher/pki/authorities/local/root.crt"
}

# rss_kib PID: resident set size in KiB, from /proc.
rss_kib() {
  awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# hwm_kib PID: peak resident set size in KiB, from /proc.
hwm_kib() {
  awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"
}

# start_app_and_pick_ports: an upstream named `app` (exits the test when it
# does not start), free ports for usher and the config's path. Sets APP,
# HTTP, HTTPS and config.
start_app_and_pick_ports() {
  start_upstream app || exit 1
  APP=$UPSTREAM_PORT
  HTTP=$(free_port)
  HTTPS=$(free_port)
  config="$TEST_TMP/Caddyfile"
}

# start_localhost_proxy: the common setup of several tests: an upstream named
# `app` and usher (2 workers) serving https://localhost:$HTTPS by proxying to
# it. Sets APP, HTTP, HTTPS, config and root; exits the test when usher does
# not start.
start_localhost_proxy() {
  start_app_and_pick_ports
  cat >"$config" <<CONFIG
{
	http_port $HTTP
	https_port $HTTPS
	workers 2
}

localhost {
	reverse_proxy 127.0.0.1:$APP
}
CONFIG
  start_usher "$config" "$HTTPS" || { fail "usher starts"; finish; exit 1; }
  root=$(local_root)
}
