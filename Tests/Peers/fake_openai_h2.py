#!/usr/bin/env python3
"""A fake OpenAI Chat Completions server over TLS with HTTP/2, served by hypercorn (an ASGI server
nobody on this project wrote), for the client's HTTP/2, TLS and resolver tests.

    fake_openai_h2.py --dir DIR [--names NAME ...]

At start it mints a throwaway CA and a server certificate with trustme, writes DIR/ca.pem (the CA
the client should trust) and DIR/other-ca.pem (a CA that signed nothing here), binds 127.0.0.1 on a
free port and prints two lines: the port, then the path of ca.pem. The certificate covers
`localhost`, 127.0.0.1 and ::1 unless --names lists other identities. ALPN offers h2 and
http/1.1, so what the client negotiates is what the server reports.

POST .../chat/completions streams the same SSE chunks as fake_openai.py (`data: {json}\\n\\n`, a
usage chunk with empty `choices`, then `data: [DONE]`). Request headers steer it:
`X-Fake-Barrier: N` holds the response until N requests carrying that header are in flight (at most
10 s; the record says whether the barrier was met), which is how a test shows that concurrent
streams really overlapped; `X-Fake-Interval-Ms` spaces the chunks. GET /__requests returns every
request seen: method, path, the HTTP version hypercorn saw (ASGI `http_version`, "2" for HTTP/2),
the client's address and port (one TCP connection = one port), the headers and the JSON body.

The process exits when its parent dies or when its stdin, if a pipe, reaches end of file; tests
also kill it by PID.
"""
import argparse
import asyncio
import json
import os
import socket
import stat
import sys
import threading
import time

import trustme
from hypercorn.asyncio import serve
from hypercorn.config import Config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_openai import text_chunks  # noqa: E402  (the chunk shapes the HTTP/1.1 fake uses)

RECORDED = []
BARRIER = {"arrived": 0, "event": None}


def watch_parent():
    """Exits when the parent goes away: reparenting for any parent, end of file for a stdin pipe."""
    parent = os.getppid()

    def poll():
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(0)

    threading.Thread(target=poll, daemon=True).start()
    mode = os.fstat(0).st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        def drain():
            while os.read(0, 4096):
                pass
            os._exit(0)

        threading.Thread(target=drain, daemon=True).start()


async def read_body(receive):
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def send_json(send, status, value):
    data = json.dumps(value).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
    if scope["method"] == "GET" and scope["path"] == "/__requests":
        return await send_json(send, 200, RECORDED)

    raw = await read_body(receive)
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    client = scope.get("client") or ("", 0)
    record = {"method": scope["method"], "path": scope["path"], "http_version": scope["http_version"],
              "scheme": scope["scheme"], "client_host": client[0], "client_port": client[1],
              "headers": headers, "body": body, "started": time.time()}
    RECORDED.append(record)
    if scope["method"] != "POST" or not scope["path"].endswith("/chat/completions"):
        return await send_json(send, 404, {"error": {"message": "Unknown path", "type": "invalid_request_error"}})

    if "x-fake-barrier" in headers:
        needed = int(headers["x-fake-barrier"])
        BARRIER["arrived"] += 1
        if BARRIER["event"] is None:
            BARRIER["event"] = asyncio.Event()
        if BARRIER["arrived"] >= needed:
            BARRIER["event"].set()
        try:
            await asyncio.wait_for(BARRIER["event"].wait(), 10)
            record["barrier_met"] = True
        except asyncio.TimeoutError:
            record["barrier_met"] = False

    model = (body or {}).get("model", "fake")
    interval = int(headers.get("x-fake-interval-ms", "0")) / 1000
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]})
    for event in text_chunks(model, ["Hello", " from", " the fake", " OpenAI."]):
        if interval:
            await asyncio.sleep(interval)
        data = f"data: {json.dumps(event, separators=(',', ':'))}\n\n".encode()
        await send({"type": "http.response.body", "body": data, "more_body": True})
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})
    record["ended"] = time.time()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True, help="where ca.pem, other-ca.pem and the server's files go")
    parser.add_argument("--names", nargs="+", default=["localhost", "127.0.0.1", "::1"],
                        help="the identities the server certificate is issued for")
    options = parser.parse_args()
    watch_parent()

    ca = trustme.CA()
    server_cert = ca.issue_cert(*options.names)
    ca_path = os.path.join(options.dir, "ca.pem")
    ca.cert_pem.write_to_path(ca_path)
    trustme.CA().cert_pem.write_to_path(os.path.join(options.dir, "other-ca.pem"))
    cert_path = os.path.join(options.dir, "server-chain.pem")
    key_path = os.path.join(options.dir, "server-key.pem")
    for blob in server_cert.cert_chain_pems:
        blob.write_to_path(cert_path, append=True)
    server_cert.private_key_pem.write_to_path(key_path)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    config = Config()
    config.bind = [f"fd://{listener.fileno()}"]
    config.certfile = cert_path
    config.keyfile = key_path
    config.alpn_protocols = ["h2", "http/1.1"]
    config.backlog = 256
    config.keep_alive_timeout = 60
    print(listener.getsockname()[1], flush=True)
    print(ca_path, flush=True)
    asyncio.run(serve(app, config, shutdown_trigger=asyncio.Future))


if __name__ == "__main__":
    main()
