"""An MCP server built with the official Python SDK (`mcp`), for the MCP client tests.

    python mcp_test_server.py --transport stdio|streamable-http|sse [--port N] [--name NAME]
                              [--page-size K] [--crash-after N] [--extra-tools N] [--cancel-log FILE]

The SDK serves both protocol eras: the stateless 2026-07-28 protocol (server/discover, the
per-request `_meta` envelope) and the initialize handshake (2024-11-05 .. 2025-11-25). Over stdio
the first request decides the era of the connection; over Streamable HTTP the
MCP-Protocol-Version header decides it per request.

HTTP transports bind 127.0.0.1 (port 0 picks a free one; a given port is bound with SO_REUSEADDR so
a restarted replica can take it again), print the port as the first line of stdout and serve until
killed. Streamable HTTP is served at /mcp; the legacy SSE transport at GET /sse, with the POST
endpoint (/messages/?session_id=...) announced in its `endpoint` event. Logs go to stderr only.

Tools: add, echo, sleep, fail, progress, whoami, add_tool, and with --extra-tools N also
extra_0..extra_{N-1}. With --page-size K, tools/list returns K tools a page with an opaque
nextCursor. With --crash-after N the process exits (code 3) when the N-th tools/call arrives.
With --cancel-log FILE, `sleep` appends "sleep SECONDS started" to FILE when it starts, "sleep
SECONDS finished" when it ran to its end and "sleep SECONDS cancelled" when a cancellation cuts it
short, and every `notifications/cancelled` that arrives appends "notification REQUEST_ID": a test can
wait for the call to run, cancel it, and see that the cancel reached the server and stopped the call
(a server merely shut down logs no notification), or see from the order of the lines that two calls
ran at once (the server handles requests concurrently).
"""
import argparse
import asyncio
import base64
import json
import logging
import os
import socket
import sys

import anyio
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.stdio import stdio_server
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import INVALID_PARAMS, ListToolsResult
from mcp.shared.exceptions import MCPError


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", choices=["stdio", "streamable-http", "sse"], default="stdio")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--name", default="mcp-test-server")
    parser.add_argument("--page-size", type=int, default=0, help="tools a tools/list page (0: no paging)")
    parser.add_argument("--crash-after", type=int, default=0, help="os._exit(3) on the N-th tools/call")
    parser.add_argument("--extra-tools", type=int, default=0, help="register extra_0..extra_{N-1}")
    parser.add_argument("--cancel-log", help="note sleep starts, ends, cut-short sleeps and notifications/cancelled here")
    return parser.parse_args()


class TestServer(MCPServer):
    """MCPServer whose tools/list pages its result when a page size is set (the stock handler
    returns every tool at once and ignores the cursor)."""

    page_size = 0

    async def _handle_list_tools(self, ctx, params):
        tools = await self.list_tools()
        if self.page_size <= 0:
            return ListToolsResult(tools=tools)
        start = 0
        cursor = params.cursor if params is not None else None
        if cursor:
            try:
                start = int(json.loads(base64.urlsafe_b64decode(cursor.encode()))["offset"])
            except (ValueError, KeyError, TypeError):
                raise MCPError(code=INVALID_PARAMS, message="Invalid cursor", data=cursor) from None
        end = start + self.page_size
        next_cursor = None
        if end < len(tools):
            next_cursor = base64.urlsafe_b64encode(json.dumps({"offset": end}).encode()).decode()
        return ListToolsResult(tools=tools[start:end], next_cursor=next_cursor)


def build_server(args) -> TestServer:
    server = TestServer(args.name, version="1.0.0", instructions=f"Test server {args.name}.", log_level="WARNING")
    server.page_size = args.page_size
    name = args.name

    # Legacy (handshake) sessions learn of new tools from notifications/tools/list_changed; advertise
    # tools.listChanged in the initialize result. (At 2026-07-28 the SDK derives the flag itself
    # from subscriptions/listen being served.)
    lowlevel = server._lowlevel_server
    original_options = lowlevel.create_initialization_options

    def initialization_options(notification_options=None, *rest, **kwargs):
        options = notification_options or NotificationOptions(tools_changed=True)
        return original_options(options, *rest, **kwargs)

    lowlevel.create_initialization_options = initialization_options

    if args.crash_after > 0:
        calls = {"n": 0}

        async def crash_after(ctx, call_next):
            if ctx.method == "tools/call":
                calls["n"] += 1
                if calls["n"] >= args.crash_after:
                    os._exit(3)
            return await call_next(ctx)

        server.middleware.append(crash_after)

    def note(line: str):
        if args.cancel_log:
            with open(args.cancel_log, "a") as log:
                log.write(line + "\n")

    if args.cancel_log:
        # Middleware sees notifications too: the log records the client's cancel as it arrived.
        async def note_cancel(ctx, call_next):
            if ctx.method == "notifications/cancelled":
                note(f"notification {(ctx.params or {}).get('requestId')}")
            return await call_next(ctx)

        server.middleware.append(note_cancel)

    @server.tool(description="Adds two integers.")
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool(description="Returns the text it is given.")
    def echo(text: str) -> str:
        return text

    @server.tool(description="Sleeps for the given number of seconds, then returns 'slept'.")
    async def sleep(seconds: float) -> str:
        note(f"sleep {seconds:g} started")
        try:
            await anyio.sleep(seconds)
        except asyncio.CancelledError:
            # The SDK cancels a request's handler when notifications/cancelled names it.
            note(f"sleep {seconds:g} cancelled")
            raise
        note(f"sleep {seconds:g} finished")
        return "slept"

    @server.tool(description="Fails: returns a tool result with isError set, carrying the message.",
                 structured_output=False)
    def fail(message: str) -> str:
        raise ToolError(message)

    @server.tool(description="Reports progress once a step (when the request has a progressToken), then returns 'done'.")
    async def progress(steps: int, ctx: Context) -> str:
        for step in range(1, steps + 1):
            await ctx.report_progress(step, steps, f"step {step}")
            await anyio.sleep(0.01)
        return "done"

    @server.tool(description="Returns this server's --name.")
    def whoami() -> str:
        return name

    @server.tool(description="Registers a new tool with the given name (it echoes 'NAME called') and announces the change.")
    async def add_tool(name: str, ctx: Context) -> str:
        def added() -> str:
            return f"{name} called"

        server.add_tool(added, name=name, description=f"Added at run time: {name}.")
        # Legacy sessions: a notifications/tools/list_changed on the connection's standalone channel
        # (the stdio pipe, the Streamable HTTP GET stream, the SSE stream). Modern 2026-07-28: an
        # event on the subscription bus, delivered to subscriptions/listen streams.
        await ctx.request_context.session.send_tool_list_changed()
        await ctx.notify_tools_changed()
        return f"added {name}"

    def make_extra(i: int):
        def extra() -> str:
            return f"extra {i}"

        return extra

    for i in range(args.extra_tools):
        server.add_tool(make_extra(i), name=f"extra_{i}", description=f"Extra tool {i}.", structured_output=False)

    @server.resource("test://hello", name="hello", description="A greeting.", mime_type="text/plain")
    def hello() -> str:
        return f"hello from {name}"

    @server.prompt(description="Greets someone.")
    def greet(name: str) -> str:
        return f"Hello, {name}!"

    return server


def bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def serve_http(server: TestServer, transport: str, port: int):
    import uvicorn

    # The SDK turns on Host/Origin checks for 127.0.0.1; the tests' client sends no Origin, which
    # passes them, but a test may use localhost or another Host, so turn them off altogether.
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    if transport == "sse":
        app = server.sse_app(transport_security=security)
    else:
        app = server.streamable_http_app(streamable_http_path="/mcp", transport_security=security)
    sock = bind(port)
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    await uvicorn.Server(config).serve(sockets=[sock])


async def serve_stdio(server: TestServer):
    lowlevel = server._lowlevel_server
    async with stdio_server() as (read_stream, write_stream):
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())


def main():
    args = parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    server = build_server(args)
    if args.transport == "stdio":
        anyio.run(serve_stdio, server)
    else:
        asyncio.run(serve_http(server, args.transport, args.port))


if __name__ == "__main__":
    main()
