#!/usr/bin/env bash
# Installs the usher Debian package on this machine, checks what it put where,
# runs the installed binary the way usher.service would (as the usher user,
# with only CAP_NET_BIND_SERVICE, its environment and its notify socket),
# reloads it with the unit's own ExecReload (a good config, then a bad one),
# removes and purges it, and checks that nothing is left.
#   tests/package/install_test.sh [build/package/usher_<version>_<arch>.deb]
# Root only (it installs a package); systemd need not be PID 1, as on CI.
# Refuses to run where usher is already installed: purging would destroy a
# real installation's config and certificates.
set -u
cd "$(dirname "$0")/../.." || exit 1
source_dir=$PWD

if [ "$(id -u)" -ne 0 ]; then
  echo "install test skipped: it installs and purges a Debian package, which needs root"
  exit 0
fi

version=$(sed -n 's/^project(usher VERSION \([0-9][0-9.]*\) .*/\1/p' CMakeLists.txt)
deb=${1:-build/package/usher_${version}_$(dpkg --print-architecture).deb}
deb=$(realpath "$deb")
if [ ! -f "$deb" ]; then
  echo "no package at $deb: build it with scripts/package first" >&2
  exit 1
fi
if dpkg-query -W -f='${Status}' usher 2>/dev/null | grep -q "installed\|config-files"; then
  echo "usher is already installed here (or its config files are): this test would purge it;" >&2
  echo "run it on a machine without usher, or purge it first (apt-get purge usher)" >&2
  exit 1
fi
for path in /etc/usher /var/lib/usher /run/usher; do
  if [ -e "$path" ]; then
    echo "$path exists: this test would remove it; move it away first" >&2
    exit 1
  fi
done

export USHER_BINARY=/usr/bin/usher USHER_SOURCE_DIR=$source_dir
source tests/integration/lib.sh

# Runs at exit whatever happened: stops what the test started, and purges the
# package so that a failed run leaves the machine as it found it.
notify_dir=/run/usher-install-test.$$
cleanup_install() {
  cleanup_processes
  rm -rf "$notify_dir" /run/usher
  if dpkg-query -W -f='${Status}' usher 2>/dev/null | grep -q "installed\|config-files"; then
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -q usher >/dev/null 2>&1
  fi
}
trap cleanup_install EXIT

# expect_file NAME PATH MODE OWNER: PATH exists with this mode and owner.
expect_file() {
  local got
  got=$(stat -c '%a %U:%G' "$2" 2>&1)
  expect_eq "$1" "$got" "$3 $4"
}

# as_unit CMD...: runs CMD the way systemd runs the unit's Exec lines: as
# User=usher with only CAP_NET_BIND_SERVICE (ambient, bounding set), the
# unit's environment, StateDirectory's $STATE_DIRECTORY, UMask=0077.
# It execs, so that a background `as_unit ... &` leaves $! the server's own
# PID: call it only in a subshell (`&` or `$(...)`).
as_unit() {
  umask 0077
  exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    STATE_DIRECTORY=/var/lib/usher "${unit_env[@]}" "$@"
}
# shellcheck disable=SC2054  # the commas are setpriv's capability lists
setpriv_unit=(setpriv --reuid usher --regid usher --init-groups
  --inh-caps=-all,+net_bind_service --ambient-caps=+net_bind_service
  --bounding-set=-all,+net_bind_service)

# unit_value KEY: the value of KEY= in the installed unit (the first one).
unit_value() {
  sed -n "s/^$1=//p" /lib/systemd/system/usher.service | head -1
}

# ---- install

install_log=$TEST_TMP/install.log
if DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$deb" >"$install_log" 2>&1; then
  pass "apt-get install ./$(basename "$deb")"
else
  fail "apt-get install ./$(basename "$deb")" "$(tail -20 "$install_log")"
  finish
  exit 1
fi
mapfile -t package_files < <(dpkg -L usher)

expect_file "the binary is /usr/bin/usher" /usr/bin/usher 755 root:root
# dpkg-buildflags' hardening=+all: PIE, full RELRO (relro + bindnow),
# fortified libc calls.
elf=$(readelf -dlW --dyn-syms /usr/bin/usher 2>&1)
expect_contains "the binary is PIE" "$elf" "Flags: NOW PIE"
expect_contains "the binary has full RELRO" "$elf" "GNU_RELRO"
expect_contains "the binary uses fortified libc calls" "$elf" "_chk@"
run_usher version
expect_eq "usher version names the package version" "$OUT" "usher $version"
expect_file "the unit is installed" /lib/systemd/system/usher.service 644 root:root
expect_file "the starter config is /etc/usher/Caddyfile" /etc/usher/Caddyfile 644 root:root
expect_contains "the starter config is a conffile" "$(dpkg-query -W -f='${Conffiles}' usher)" \
  "/etc/usher/Caddyfile"
expect_file "the sysusers file is installed" /usr/lib/sysusers.d/usher.conf 644 root:root
expect_file "the man page is installed" /usr/share/man/man1/usher.1.gz 644 root:root
expect_file "bash completion is installed" /usr/share/bash-completion/completions/usher 644 root:root

user_entry=$(getent passwd usher)
if [ -n "$user_entry" ]; then
  IFS=: read -r _ _ uid _ _ home shell <<<"$user_entry"
  if [ "$uid" -lt 1000 ] && [ "$shell" = /usr/sbin/nologin ] && [ "$home" = /var/lib/usher ]; then
    pass "the usher system user exists (uid $uid, no login shell)"
  else
    fail "the usher system user exists" "passwd entry: $user_entry"
  fi
else
  fail "the usher system user exists" "getent passwd usher found nothing"
fi
expect_file "the state directory is 0700 and usher's" /var/lib/usher 700 usher:usher
if [ -L /etc/systemd/system/multi-user.target.wants/usher.service ]; then
  pass "the service is enabled"
else
  fail "the service is enabled" "no /etc/systemd/system/multi-user.target.wants/usher.service"
fi

# ---- the unit

verify=$(systemd-analyze verify /lib/systemd/system/usher.service 2>&1)
expect_eq "systemd-analyze verify prints nothing" "$verify" ""
exposure=$(systemd-analyze security --offline=true /lib/systemd/system/usher.service 2>&1 |
  sed -n 's/.*Overall exposure level for usher.service: \([0-9.]*\).*/\1/p')
if [ -n "$exposure" ] && awk -v e="$exposure" 'BEGIN { exit !(e <= 2.5) }'; then
  pass "systemd-analyze security exposure $exposure <= 2.5"
else
  fail "systemd-analyze security exposure <= 2.5" "got: '$exposure'"
fi
echo "measured: unit exposure $exposure"

exec_start=$(unit_value ExecStart)
exec_reload=$(unit_value ExecReload)
mapfile -t unit_env < <(sed -n 's/^Environment=//p' /lib/systemd/system/usher.service)
expect_eq "the unit runs the packaged config" "$exec_start" \
  "/usr/bin/usher run --config /etc/usher/Caddyfile"

# ---- the starter config and the shell completion

run_usher validate /etc/usher/Caddyfile
expect_rc "usher validate accepts the shipped /etc/usher/Caddyfile" 0

completion=$(bash -c 'source /usr/share/bash-completion/bash_completion
  source /usr/share/bash-completion/completions/usher
  COMP_WORDS=(usher va); COMP_CWORD=1; COMP_LINE="usher va"; COMP_POINT=8
  _usher usher va usher; echo "${COMPREPLY[*]}"
  COMP_WORDS=(usher validate --co); COMP_CWORD=2; COMP_LINE="usher validate --co"; COMP_POINT=19
  _usher usher --co validate; echo "${COMPREPLY[*]}"' 2>&1)
expect_eq "bash completes verbs and their flags" "$completion" $'validate\n--config'

# ---- run it the way the unit would

# A free port below 1024 proves CAP_NET_BIND_SERVICE works for the usher
# user; HTTPS goes to a free high port. Everything binds 127.0.0.1 only.
low_port=$(python3 - <<'PY'
import random, socket
ports = list(range(600, 1024))
random.shuffle(ports)
for port in ports:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
PY
)
high_port=$(free_port)

# write_config TEXT: what an admin does with an editor.
write_config() {
  cat >/etc/usher/Caddyfile <<CONFIG
{
	http_port $low_port
	https_port $high_port
	grace_period 1s
}

localhost {
	bind 127.0.0.1
	respond "$1" 200
}
CONFIG
}
write_config "packaged usher, first config"

# systemd's side: RuntimeDirectory=usher (0700, owned by usher) and a notify
# socket that records every datagram usher sends, one per line.
install -d -m 0700 -o usher -g usher /run/usher
install -d -m 0755 "$notify_dir"
notify_log=$TEST_TMP/notify.log
: >"$notify_log"
timeout 300 python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
with open(sys.argv[2], "a", buffering=1) as log:
    while True:
        log.write(s.recv(4096).decode().replace("\n", " ") + "\n")
' "$notify_dir/notify" "$notify_log" &
STARTED_PIDS+=($!)
for _ in $(seq 1 100); do [ -S "$notify_dir/notify" ] && break; sleep 0.05; done

# notify_summary: the datagrams received so far, counted (for failures).
notify_summary() {
  sort "$notify_log" | uniq -c | tr '\n' ';'
}

# wait_notify PATTERN COUNT: waits (10 s at most) until COUNT datagrams
# matching PATTERN have arrived.
wait_notify() {
  local _
  for _ in $(seq 1 200); do
    [ "$(grep -c -- "$1" "$notify_log")" -ge "$2" ] && return 0
    sleep 0.05
  done
  return 1
}

usher_log=$TEST_TMP/usher.log
read -r -a start_argv <<<"$exec_start"
as_unit NOTIFY_SOCKET="$notify_dir/notify" WATCHDOG_USEC=1000000 \
  "${setpriv_unit[@]}" "${start_argv[@]}" >"$usher_log" 2>&1 &
usher_pid=$!
STARTED_PIDS+=("$usher_pid")

if wait_notify '^READY=1' 1; then
  pass "usher sends READY=1 once it listens"
else
  fail "usher sends READY=1 once it listens" "notify: $(notify_summary)" "log: $(cat "$usher_log")"
  finish
  exit 1
fi
rss=$(ps -o rss= -p "$usher_pid" | tr -d ' ')
echo "measured: idle RSS of the installed service ${rss} KiB"
echo "measured: installed binary $(stat -c %s /usr/bin/usher) bytes"

expect_eq "usher runs as the usher user" "$(ps -o user= -p "$usher_pid" | tr -d ' ')" usher
caps=$(awk '/^CapEff:/ { print $2 }' "/proc/$usher_pid/status")
expect_eq "its only capability is CAP_NET_BIND_SERVICE" "$caps" 0000000000000400
if wait_notify '^WATCHDOG=1' 2; then
  pass "usher pings the watchdog"
else
  fail "usher pings the watchdog" "notify: $(notify_summary)"
fi

root_crt=/var/lib/usher/pki/authorities/local/root.crt
fetch() {
  curl -sS --max-time 5 --cacert "$root_crt" --resolve "localhost:$high_port:127.0.0.1" \
    "https://localhost:$high_port/" 2>&1
}
expect_eq "curl gets the page over HTTPS" "$(fetch)" "packaged usher, first config"
redirect=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://localhost:$low_port/" 2>&1)
expect_eq "the port below 1024 answers (redirect to HTTPS)" "$redirect" 308
expect_file "the local CA lives in the state directory, usher's only" "$root_crt" 600 usher:usher

# The admin socket is the service's (0700 directory): root reaches it too, so
# `sudo usher status` works from a shell.
if /usr/bin/usher help status >/dev/null 2>&1; then
  status_out=$(env "${unit_env[@]}" /usr/bin/usher status 2>&1)
  status_rc=$?
  expect_eq "root reaches the admin socket (usher status exits 0)" "$status_rc" 0
  expect_contains "usher status names the site" "$status_out" "localhost"
fi

# ---- reload: the unit's ExecReload, as systemctl reload runs it

read -r -a reload_argv <<<"$exec_reload"
if /usr/bin/usher help reload >/dev/null 2>&1; then
  write_config "packaged usher, second config"
  reload_out=$(as_unit "${setpriv_unit[@]}" "${reload_argv[@]}" 2>&1)
  reload_rc=$?
  expect_eq "ExecReload applies a good config (exit 0)" "$reload_rc" 0
  expect_eq "the new config serves" "$(fetch)" "packaged usher, second config"

  printf 'localhost {\n\tbind 127.0.0.1\n\trespond "broken" 200 extra\n' >/etc/usher/Caddyfile
  reload_out=$(as_unit "${setpriv_unit[@]}" "${reload_argv[@]}" 2>&1)
  reload_rc=$?
  expect_eq "ExecReload refuses a bad config (exit 78)" "$reload_rc" 78
  expect_contains "the refusal says where the config is wrong" "$reload_out" "Caddyfile:"
  expect_eq "the previous config still serves" "$(fetch)" "packaged usher, second config"
else
  # `usher reload` comes with the admin API: until this binary has it, the
  # unit's ExecReload cannot run, and the test says so instead of passing.
  fail "ExecReload ($exec_reload)" "this usher has no reload verb: the unit's ExecReload cannot run"
  write_config "packaged usher, second config"
  kill -HUP "$usher_pid"
  wait_notify '^READY=1' 2
  expect_eq "SIGHUP applies a good config" "$(fetch)" "packaged usher, second config"
fi
if grep -q '^RELOADING=1 MONOTONIC_USEC=[0-9]' "$notify_log"; then
  pass "usher sends RELOADING=1 during a reload"
else
  fail "usher sends RELOADING=1 during a reload" "notify: $(notify_summary)"
fi

kill -TERM "$usher_pid"
timeout 15 tail --pid="$usher_pid" -f /dev/null
if kill -0 "$usher_pid" 2>/dev/null; then
  fail "usher stops on SIGTERM" "still running after 15 s"
else
  wait "$usher_pid"
  expect_eq "usher stops on SIGTERM with exit 0" "$?" 0
fi
expect_contains "usher sends STOPPING=1" "$(notify_summary)" "STOPPING=1"
rm -rf /run/usher  # RuntimeDirectory= goes when the service stops

# ---- remove keeps the config and the certificates; purge removes everything

edited=$(cat /etc/usher/Caddyfile)
if DEBIAN_FRONTEND=noninteractive apt-get remove -y -q usher >"$install_log" 2>&1; then
  pass "apt-get remove usher"
else
  fail "apt-get remove usher" "$(tail -20 "$install_log")"
fi
expect_eq "remove leaves the config files installed" \
  "$(dpkg-query -W -f='${Status}' usher 2>&1)" "deinstall ok config-files"
[ ! -e /usr/bin/usher ] && pass "remove deletes the binary" || fail "remove deletes the binary"
[ ! -e /lib/systemd/system/usher.service ] && pass "remove deletes the unit" ||
  fail "remove deletes the unit"
expect_eq "remove keeps the edited /etc/usher/Caddyfile" "$(cat /etc/usher/Caddyfile 2>&1)" "$edited"
[ -f "$root_crt" ] && pass "remove keeps the certificates in /var/lib/usher" ||
  fail "remove keeps the certificates in /var/lib/usher"

if DEBIAN_FRONTEND=noninteractive apt-get purge -y -q usher >"$install_log" 2>&1; then
  pass "apt-get purge usher"
else
  fail "apt-get purge usher" "$(tail -20 "$install_log")"
fi
expect_eq "purge leaves no trace in dpkg" "$(dpkg-query -W -f='${Status}' usher 2>/dev/null)" ""
[ ! -e /etc/usher ] && pass "purge deletes /etc/usher" || fail "purge deletes /etc/usher" "$(ls -la /etc/usher)"
[ ! -e /var/lib/usher ] && pass "purge deletes /var/lib/usher" ||
  fail "purge deletes /var/lib/usher" "$(ls -la /var/lib/usher)"
[ ! -e /etc/systemd/system/multi-user.target.wants/usher.service ] &&
  pass "purge deletes the enable symlink" || fail "purge deletes the enable symlink"
left=()
for f in "${package_files[@]}"; do
  # Shared directories (/usr, /etc, ...) stay; every file and usher's own
  # directories go.
  if [ -e "$f" ] && { [ ! -d "$f" ] || [[ $f == */usher ]]; }; then left+=("$f"); fi
done
expect_eq "purge leaves none of the package's files" "${left[*]}" ""
# The usher system user stays on purpose (Debian policy; docs/packaging.md).
getent passwd usher >/dev/null && pass "the usher user stays after purge (Debian policy)" ||
  fail "the usher user stays after purge (Debian policy)"

finish
