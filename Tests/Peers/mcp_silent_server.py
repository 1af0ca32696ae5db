"""An MCP "server" that never answers, for the client's timeout tests. Standard library only.

    python mcp_silent_server.py [--linger]           stdio: reads stdin and never writes to stdout
    python mcp_silent_server.py --http [--port N]    HTTP: prints the port first, then reads each
                                                     request and never sends a response

Over stdio it exits when stdin reaches end of file, unless --linger is given: then it stays until
killed and ignores SIGTERM too (for tests of a client's shutdown escalation to SIGKILL).
Over HTTP every request (POST or any other method) is read in full and then held open without a
single response byte until the client goes away; the process runs until killed.
"""
import argparse
import asyncio
import signal
import socket
import sys
import time


def serve_stdio(linger: bool):
    if linger:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    stdin = sys.stdin.buffer
    while stdin.read1(65536):
        pass
    while linger:
        time.sleep(3600)


async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
    """Reads requests (headers, then a Content-Length body) and answers none of them."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip() or 0)
            if length:
                await reader.readexactly(length)
            # Not answering: wait for the client to close (or send another request, on a
            # pipelining client, which is not answered either).
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def serve_http(port: int):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    server = await asyncio.start_server(hold, sock=sock, limit=1 << 20)
    print(sock.getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http", action="store_true", help="serve HTTP instead of stdio")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--linger", action="store_true", help="stdio: stay after EOF and ignore SIGTERM")
    args = parser.parse_args()
    if args.http:
        asyncio.run(serve_http(args.port))
    else:
        serve_stdio(args.linger)


if __name__ == "__main__":
    main()
