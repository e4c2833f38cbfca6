#!/usr/bin/python3
"""idle_conns.py over HTTP/2: opens many TLS connections with ALPN h2 (as a
browser keeps them), makes one GET on each (checking the body), then holds
them all idle until told to close. Needs Debian's python3-h2, hence
/usr/bin/python3.

Protocol with the harness, as idle_conns.py: prints `open N failed M` once
every connection is set up, then waits for end of file on stdin (or
--max-hold seconds), closes everything and exits.

    idle_h2_conns.py --port 8443 --cafile cert.pem --count 10000 \
        --path /100b --expect www/100b
"""

import argparse
import asyncio
import ssl

import h2.config
import h2.connection
import h2.events

from idle_conns import (MAX_CONCURRENT_OPENS, OPEN_TIMEOUT_SECONDS, add_hold_arguments,
                        hold_open, run_opener)


async def _get(reader, writer, args):
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, [(":method", "GET"), (":scheme", "https"),
                            (":authority", f"localhost:{args.port}"), (":path", args.path)],
                      end_stream=True)
    writer.write(conn.data_to_send())
    status, body = None, bytearray()
    while True:
        data = await reader.read(65536)
        if not data:
            raise ConnectionError("closed before the response ended")
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                status = dict(event.headers).get(b":status")
            elif isinstance(event, h2.events.DataReceived):
                body += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, sid)
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id == sid:
                writer.write(conn.data_to_send())  # SETTINGS ack, window updates
                return status, bytes(body)
        writer.write(conn.data_to_send())


async def _open_one(args, context, expected, gate):
    async with gate:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", args.port, ssl=context,
                                    server_hostname="localhost"),
            OPEN_TIMEOUT_SECONDS)
        if writer.get_extra_info("ssl_object").selected_alpn_protocol() != "h2":
            writer.close()
            raise ValueError("h2 was not negotiated")
        status, body = await asyncio.wait_for(_get(reader, writer, args), OPEN_TIMEOUT_SECONDS)
        if status != b"200" or body != expected:
            writer.close()
            raise ValueError(f"status {status!r}, {len(body)} bytes")
        return writer


async def run(args):
    context = ssl.create_default_context(cafile=args.cafile)
    context.set_alpn_protocols(["h2"])
    with open(args.expect, "rb") as f:
        expected = f.read()
    gate = asyncio.Semaphore(MAX_CONCURRENT_OPENS)
    await hold_open([_open_one(args, context, expected, gate) for _ in range(args.count)],
                    args.max_hold, kind="h2")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cafile", required=True, help="certificate to trust")
    add_hold_arguments(parser)
    run_opener(parser, run)


if __name__ == "__main__":
    main()
