#!/usr/bin/env python3
"""Opens many keep-alive connections to a proxy, makes one request on each
(checking the body), then holds them all idle until told to close.

Protocol with the harness: prints `open N failed M` on stdout once every
connection is set up, then waits until stdin reaches end of file (or
--max-hold seconds pass), closes everything and exits.

    idle_conns.py --port 8443 --tls --cafile cert.pem --count 10000 \
        --path /100b --expect www/100b
"""

import argparse
import asyncio
import resource
import ssl
import sys

# Handshakes in flight at once: enough to open 10,000 connections in seconds,
# few enough not to overflow a one-worker proxy's accept backlog.
MAX_CONCURRENT_OPENS = 200
# Time allowed for one connection's handshake and first response.
OPEN_TIMEOUT_SECONDS = 30
# Largest response head read before giving up on a connection.
MAX_HEAD_BYTES = 64 * 1024


def raise_fd_limit(needed):
    """Lifts the soft limit on open files to the hard limit when needed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        if hard < needed:
            sys.exit(f"idle_conns: need {needed} file descriptors, the limit is {hard}")


async def _read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_HEAD_BYTES or not head.startswith(b"HTTP/1.1 200"):
        raise ValueError("unexpected response: " + head[:40].decode(errors="replace"))
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        raise ValueError("response without Content-Length")
    return await reader.readexactly(length)


async def _open_one(args, context, request, expected, gate):
    async with gate:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                "127.0.0.1", args.port, ssl=context, server_hostname="localhost" if context else None
            ),
            OPEN_TIMEOUT_SECONDS,
        )
        writer.write(request)
        body = await asyncio.wait_for(_read_response(reader), OPEN_TIMEOUT_SECONDS)
        if body != expected:
            writer.close()
            raise ValueError("body differs")
        return writer


async def _wait_for_stdin_eof(max_hold):
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.read), max_hold)
    except asyncio.TimeoutError:
        pass


async def run(args):
    context = None
    if args.tls:
        context = ssl.create_default_context(cafile=args.cafile)
        context.set_alpn_protocols(["http/1.1"])
    # The same host names the load generators use: the SNI name over TLS,
    # the address for plain HTTP.
    host = "localhost" if args.tls else "127.0.0.1"
    request = f"GET {args.path} HTTP/1.1\r\nHost: {host}:{args.port}\r\n\r\n".encode()
    with open(args.expect, "rb") as f:
        expected = f.read()
    gate = asyncio.Semaphore(MAX_CONCURRENT_OPENS)
    await hold_open([_open_one(args, context, request, expected, gate)
                     for _ in range(args.count)], args.max_hold)


async def hold_open(openers, max_hold, kind=""):
    """Runs the openers (each returns a writer), prints `open N failed M`
    (with `kind` after N), and holds the connections until stdin closes or
    max_hold seconds pass."""
    results = await asyncio.gather(*openers, return_exceptions=True)
    writers = [r for r in results if not isinstance(r, BaseException)]
    errors = [r for r in results if isinstance(r, BaseException)]
    label = f" {kind}" if kind else ""
    print(f"open {len(writers)}{label} failed {len(errors)}", flush=True)
    if errors:
        print(f"first error: {errors[0]!r}", file=sys.stderr, flush=True)
    await _wait_for_stdin_eof(max_hold)
    for writer in writers:
        writer.close()


def add_hold_arguments(parser):
    """The options every opener takes besides where to connect."""
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--path", default="/100b")
    parser.add_argument("--expect", required=True, help="file holding the expected body")
    parser.add_argument("--max-hold", type=float, default=120, help="seconds to hold at most")


def run_opener(parser, run):
    """Parses the options, raises the descriptor limit and runs `run(args)`."""
    args = parser.parse_args()
    raise_fd_limit(args.count + 100)
    asyncio.run(run(args))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls", action="store_true", help="connect with TLS (SNI localhost)")
    parser.add_argument("--cafile", help="certificate to trust with --tls")
    add_hold_arguments(parser)
    run_opener(parser, run)


if __name__ == "__main__":
    main()
