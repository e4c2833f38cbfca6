#!/usr/bin/env bash
# The handlers through the real binary: respond, redir, header and
# request_header, handle / handle_path / route, error with handle_errors,
# and abort.
source "$(dirname "$0")/lib.sh"

start_upstream app || exit 1
APP=$UPSTREAM_PORT
HTTP=$(free_port)
HTTPS=$(free_port)
config="$TEST_TMP/Caddyfile"
cat >"$config" <<CONFIG
{
	http_port $HTTP
	https_port $HTTPS
	workers 2
}

localhost {
	header X-Frame-Options DENY
	header -Server
	header /api/* Cache-Control "no-store"
	request_header X-Added "from usher"
	request_header -X-Remove-Me

	respond /hello "hello {remote_host} at {path}" 200
	respond /teapot "I'm a teapot" 418
	respond /json \`{"ok": true}\`
	respond /closing "bye" {
		close
	}
	redir /old /new 301
	redir /moved https://elsewhere.example{uri}
	error /private/* "not for you" 403
	abort /abort

	handle_path /api/* {
		reverse_proxy 127.0.0.1:$APP
	}
	handle /static/* {
		respond "static {path}"
	}
	route /ordered/* {
		respond "route ran in written order"
		header X-Never "set after respond"
	}
	# reverse_proxy runs last of all (directive order), after respond, error, abort.
	reverse_proxy 127.0.0.1:$APP
	handle_errors {
		respond "error page: {err.status_code} {err.status_text} ({err.message})"
	}
}
CONFIG
start_usher "$config" "$HTTPS" || { fail "usher starts"; finish; exit 1; }
root=$(local_root)
url="https://localhost:$HTTPS"
c() { curl -sS --max-time 10 --cacert "$root" "$@"; }
status_of() { c -o /dev/null -w '%{http_code}' "$@"; }
lower_headers() { c -o /dev/null -D - "$@" | tr -d '\r' | tr 'A-Z' 'a-z'; }

# ---- respond
expect_eq "respond expands placeholders" "$(c "$url/hello")" "hello 127.0.0.1 at /hello"
expect_eq "respond with a status" "$(status_of "$url/teapot")" "418"
expect_eq "respond's body with a status" "$(c "$url/teapot")" "I'm a teapot"
expect_contains "a JSON-looking body is application/json" "$(lower_headers "$url/json")" "content-type: application/json"
expect_contains "respond close closes the connection" "$(lower_headers --http1.1 "$url/closing")" "connection: close"

# ---- redir
h=$(lower_headers "$url/old")
expect_eq "redir with a code" "$(status_of "$url/old")" "301"
expect_contains "redir to a path" "$h" "location: /new"
h=$(lower_headers "$url/moved?x=1")
expect_eq "redir defaults to 302" "$(status_of "$url/moved?x=1")" "302"
expect_contains "redir expands {uri}" "$h" "location: https://elsewhere.example/moved?x=1"

# ---- header / request_header
h=$(lower_headers "$url/echo")
expect_contains "header sets a response header on proxied responses" "$h" "x-frame-options: deny"
case "$h" in *"server:"*) fail "header -Server removes the upstream's Server" "$h" ;; *) pass "header -Server removes the upstream's Server" ;; esac
expect_contains "header applies to respond too" "$(lower_headers "$url/hello")" "x-frame-options: deny"
expect_contains "a header matcher limits it to its paths" "$(lower_headers "$url/api/echo")" "cache-control: no-store"
case "$(lower_headers "$url/echo")" in *cache-control*) fail "a header matcher skips other paths" ;; *) pass "a header matcher skips other paths" ;; esac
body=$(c -H "X-Remove-Me: secret" "$url/echo")
expect_contains "request_header adds a request header the upstream sees" "$body" '"x-added": ["from usher"]'
case "$body" in *x-remove-me*) fail "request_header -X removes a request header" "$body" ;; *) pass "request_header -X removes a request header" ;; esac

# ---- handle / handle_path / route
expect_contains "handle_path strips its prefix before proxying" "$(c "$url/api/echo/x?y=1")" '"path": "/echo/x"'
expect_contains "handle_path keeps the query" "$(c "$url/api/echo/x?y=1")" '"query": "y=1"'
expect_eq "handle keeps the path" "$(c "$url/static/a/b.css")" "static /static/a/b.css"
expect_contains "what no handle takes is proxied" "$(c "$url/echo/rest")" '"path": "/echo/rest"'
expect_eq "route runs its directives as written" "$(c "$url/ordered/x")" "route ran in written order"
case "$(lower_headers "$url/ordered/x")" in
  *x-never*) fail "a directive written after respond in a route never runs" ;;
  *) pass "a directive written after respond in a route never runs" ;;
esac

# ---- error + handle_errors, abort
expect_eq "error gives its status" "$(status_of "$url/private/x")" "403"
expect_eq "handle_errors renders the error" "$(c "$url/private/x")" "error page: 403 Forbidden (not for you)"
c --http1.1 -o /dev/null "$url/abort" 2>"$TEST_TMP/abort.err"
expect_contains "abort closes the connection without a response" "$(cat "$TEST_TMP/abort.err")" "curl: (52)"
c --http2 -o /dev/null "$url/abort" 2>"$TEST_TMP/abort2.err"
expect_contains "abort over HTTP/2 resets the stream" "$(cat "$TEST_TMP/abort2.err")" "curl: (92)"
expect_eq "usher serves normally after an abort" "$(c "$url/hello")" "hello 127.0.0.1 at /hello"
finish
