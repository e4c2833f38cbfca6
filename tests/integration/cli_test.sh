#!/usr/bin/env bash
# The usher command line through the real binary: verbs, flags, exit codes,
# and every golden Caddyfile validated and adapted exactly as recorded.
source "$(dirname "$0")/lib.sh"

cd "$TEST_TMP"
example="$USHER_SOURCE_DIR/Caddyfile.example"

# ---- version and help
run_usher version
expect_rc "version exits 0" 0
expect_contains "version prints the version" "$OUT" "usher 0."
run_usher help
expect_rc "help exits 0" 0
for verb in version help validate adapt fmt; do
  expect_contains "help lists $verb" "$OUT" "  $verb"
done
run_usher help adapt
expect_contains "help adapt shows its flags" "$OUT" "--pretty"
run_usher help nope
expect_rc "help of an unknown verb is a usage error" 64

# ---- usage errors
run_usher
expect_rc "no verb is a usage error" 64
run_usher valdate
expect_rc "unknown verb is a usage error" 64
expect_contains "unknown verb suggests the near miss" "$ERR" 'did you mean `validate`?'
run_usher validate --nope
expect_rc "unknown flag is a usage error" 64
expect_contains "unknown flag is named" "$ERR" 'unknown flag `--nope`'
run_usher validate --config
expect_rc "flag without its value is a usage error" 64
run_usher validate --adapter toml --config "$example"
expect_rc "unknown adapter is a usage error" 64

# ---- validate
run_usher validate --config "$example"
expect_rc "Caddyfile.example is valid" 0
expect_contains "validate says it is valid" "$OUT" "valid configuration"
printf 'example.com {\n\treverse_prox 127.0.0.1:8080\n}\n' >broken
run_usher validate --config broken
expect_rc "a broken config exits 78" 78
expect_contains "the error names file, line and token" "$ERR" 'broken:2: unknown directive `reverse_prox`'
expect_contains "the error suggests the directive" "$ERR" 'did you mean `reverse_proxy`?'
run_usher validate --config does-not-exist
expect_rc "a missing config file exits 78" 78
expect_contains "a missing config file is named" "$ERR" "does-not-exist"
if [ ! -e /etc/usher/Caddyfile ]; then
  mkdir -p empty && (cd empty && "$USHER_BINARY" validate >/dev/null 2>"$TEST_TMP/e")
  RC=$?
  ERR=$(cat "$TEST_TMP/e")
  expect_rc "no config anywhere exits 78" 78
  expect_contains "no config anywhere says where it looked" "$ERR" "/etc/usher/Caddyfile"
fi
cp "$example" Caddyfile
run_usher validate
expect_rc "validate reads ./Caddyfile by default" 0
rm Caddyfile

# validate binds no socket and touches no data directory.
if command -v strace >/dev/null; then
  mkdir -p home data
  HOME="$TEST_TMP/home" XDG_DATA_HOME="$TEST_TMP/data" \
    strace -f -qq -e trace=bind,listen -o "$TEST_TMP/trace" "$USHER_BINARY" validate --config "$example" >/dev/null 2>&1
  expect_eq "validate makes no bind or listen call" "$(grep -cE 'bind|listen' "$TEST_TMP/trace")" "0"
  expect_eq "validate writes nothing under HOME or XDG_DATA_HOME" "$(find home data -mindepth 1 | wc -l)" "0"
else
  fail "strace is needed to check that validate binds nothing"
fi

# ---- adapt and YAML
run_usher adapt --config "$example"
expect_rc "adapt exits 0" 0
expect_contains "adapt prints YAML sites" "$OUT" "sites:"
printf '%s\n' "$OUT" >adapted.yaml
run_usher adapt --config adapted.yaml
expect_rc "adapt reads its own YAML" 0
expect_eq "YAML adapts to the same YAML" "$OUT" "$(cat adapted.yaml)"
cp adapted.yaml adapted.txt
run_usher adapt --adapter yaml --config adapted.txt
expect_rc "--adapter yaml reads YAML whatever the extension" 0
run_usher validate --config adapted.yaml
expect_rc "validate accepts the adapted YAML" 0
run_usher adapt --pretty --config "$example"
expect_contains "adapt --pretty names its source" "$OUT" "# usher"
printf 'sites:\n  - addresses: [1]\n    bogus: true\n' >bad.yaml
run_usher adapt --config bad.yaml
expect_rc "bad YAML exits 78" 78
expect_contains "bad YAML names the file and line" "$ERR" "bad.yaml:3:"

# ---- fmt
printf 'example.com  {\n  reverse_proxy   127.0.0.1:8080 # app\n\n\n  encode gzip\n}\n' >messy
run_usher fmt messy
expect_rc "fmt exits 0" 0
printf '%s\n' "$OUT" >formatted
run_usher fmt formatted
expect_eq "fmt is idempotent" "$OUT" "$(cat formatted)"
expect_contains "fmt indents with a tab" "$(cat formatted)" "$(printf '\treverse_proxy 127.0.0.1:8080 # app')"
cp messy overwrite
run_usher fmt --overwrite overwrite
expect_rc "fmt --overwrite exits 0" 0
expect_eq "fmt --overwrite writes the formatted text" "$(cat overwrite)" "$(cat formatted)"
OUT=$("$USHER_BINARY" fmt - <messy)
expect_eq "fmt - reads standard input" "$OUT" "$(cat formatted)"
run_usher fmt --overwrite -
expect_rc "fmt --overwrite of stdin is a usage error" 64

# ---- every golden file through the binary
export GOLDEN_DOMAIN=golden.example.com GOLDEN_UPSTREAMS="10.0.0.1:80 10.0.0.2:80"
golden_count=0
for golden in "$USHER_SOURCE_DIR"/tests/core/testdata/caddyfile/*.caddyfiletest; do
  name=$(basename "$golden" .caddyfiletest)
  dir="$TEST_TMP/golden/$name"
  mkdir -p "$dir"
  awk -v dir="$dir" 'BEGIN { n = 0 } $0 == "----------" { n++; next } { print > (dir "/section" n) }' "$golden"
  touch "$dir/section1" "$dir/section2"
  mv "$dir/section0" "$dir/Caddyfile"
  (cd "$dir" && "$USHER_BINARY" adapt --config Caddyfile >stdout 2>stderr; echo $? >rc)
  (cd "$dir" && "$USHER_BINARY" validate --config Caddyfile >/dev/null 2>vstderr; echo $? >vrc)
  if grep -qE '^Caddyfile(:[0-9]+)?: ' "$dir/section1" && ! grep -q '^sites:\|^global:' "$dir/section1"; then
    # An error case: adapt and validate both exit 78 with exactly these diagnostics.
    expect_eq "golden $name: adapt exits 78" "$(cat "$dir/rc")" "78"
    expect_eq "golden $name: adapt errors as recorded" "$(grep -v ' found$' "$dir/stderr")" "$(cat "$dir/section1")"
    expect_eq "golden $name: validate exits 78" "$(cat "$dir/vrc")" "78"
  else
    expect_eq "golden $name: adapt exits 0" "$(cat "$dir/rc")" "0"
    expect_eq "golden $name: adapt prints the recorded YAML" "$(cat "$dir/stdout")" "$(cat "$dir/section1")"
    want_rc=0
    grep -v ': warning: ' "$dir/section2" | grep -q . && want_rc=78
    expect_eq "golden $name: validate exits $want_rc" "$(cat "$dir/vrc")" "$want_rc"
    expect_eq "golden $name: validate diagnostics as recorded" "$(grep -v ' found$' "$dir/vstderr")" "$(cat "$dir/section2")"
  fi
  golden_count=$((golden_count + 1))
done
[ "$golden_count" -ge 60 ] && pass "at least 60 golden files ran" || fail "only $golden_count golden files"

finish
