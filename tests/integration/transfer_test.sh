#!/usr/bin/env bash
# Bodies streamed through the real binary: 1 GiB each way over HTTPS with a
# checksum, while usher's peak resident memory (VmHWM in /proc) stays bounded.
source "$(dirname "$0")/lib.sh"

# A 1 GiB body costs usher about as much memory as a 1 KiB one (design.md §3):
# the bound leaves room for TLS buffers and two workers, not for a body.
readonly kMaxPeakKib=$((60 * 1024))
readonly kGiB=1073741824
CLIENT="$USHER_SOURCE_DIR/tests/integration/client.py"

start_localhost_proxy
c() { curl -sS --max-time 60 --cacert "$root" "$@"; }
now() { date +%s.%N; }
seconds_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

c -o /dev/null "https://localhost:$HTTPS/bytes/1024"  # warm up: TLS, pools, certificate
echo "     usher after startup: VmRSS $(rss_kib "$USHER_PID") KiB, VmHWM $(hwm_kib "$USHER_PID") KiB"

# ---- 1 GiB download
want=$(python3 "$CLIENT" pattern-sha "$kGiB")
start=$(now)
got=$(c "https://localhost:$HTTPS/bytes/$kGiB" | sha256sum | cut -d' ' -f1)
echo "     1 GiB download took $(seconds_since "$start") s"
expect_eq "1 GiB downloads through usher with the right checksum" "$got" "$want"
peak=$(hwm_kib "$USHER_PID")
echo "     usher peak RSS after the 1 GiB download: $peak KiB"
[ "$peak" -lt "$kMaxPeakKib" ] && pass "peak RSS stays under $kMaxPeakKib KiB for a 1 GiB download" ||
  fail "peak RSS stays under $kMaxPeakKib KiB for a 1 GiB download" "VmHWM $peak KiB"

# ---- 1 GiB chunked download (no Content-Length: usher re-frames it)
start=$(now)
got=$(c "https://localhost:$HTTPS/bytes/$kGiB?chunked=1" | sha256sum | cut -d' ' -f1)
echo "     1 GiB chunked download took $(seconds_since "$start") s"
expect_eq "1 GiB chunked download arrives with the right checksum" "$got" "$want"

# ---- 1 GiB upload, generated on the fly, streamed chunked (curl -T -)
start=$(now)
got=$(python3 "$CLIENT" gen "$kGiB" "$TEST_TMP/upload.sha" |
  c -T - -X POST "https://localhost:$HTTPS/upload")
echo "     1 GiB upload took $(seconds_since "$start") s"
expect_eq "1 GiB uploads through usher with the right checksum" "$got" "$kGiB $(cat "$TEST_TMP/upload.sha")"
peak=$(hwm_kib "$USHER_PID")
echo "     usher peak RSS after the 1 GiB upload: $peak KiB"
[ "$peak" -lt "$kMaxPeakKib" ] && pass "peak RSS stays under $kMaxPeakKib KiB for a 1 GiB upload" ||
  fail "peak RSS stays under $kMaxPeakKib KiB for a 1 GiB upload" "VmHWM $peak KiB"

echo "     usher at the end: VmRSS $(rss_kib "$USHER_PID") KiB"
finish
