"""Drives /ws/echo with the real `websockets` client and checks every echo.

Usage: ws_echo_client.py URL [--compression] [--expect-extension]
Prints one line per scenario; exits non-zero with a reason on the first failure.
"""
import asyncio
import sys

import websockets


async def main(url: str, compression: bool, expect_extension: bool) -> None:
    async with websockets.connect(
        url, compression="deflate" if compression else None, max_size=None, ping_interval=None
    ) as ws:
        extension = ws.response.headers.get("Sec-WebSocket-Extensions")
        if expect_extension and not (extension or "").startswith("permessage-deflate"):
            raise SystemExit(f"permessage-deflate was not negotiated: {extension!r}")
        if not compression and extension:
            raise SystemExit(f"an extension was negotiated without an offer: {extension!r}")
        print("negotiated", extension)

        cases = [
            "hello",
            "",
            "héllo wörld ✓ 🎉",
            "x" * 125,
            "y" * 126,
            "z" * 65536,
            b"\x00\xff" * 50_000,
            "lorem ipsum " * 20_000,
        ]
        for message in cases:
            await ws.send(message)
            echoed = await ws.recv()
            if echoed != message:
                raise SystemExit(f"echo mismatch for a {type(message).__name__} of {len(message)}")
        print("echoed", len(cases), "messages")

        # A fragmented message: websockets sends each item of an iterable as one frame.
        await ws.send(["frag", "mented ", "é" * 1000])
        if await ws.recv() != "fragmented " + "é" * 1000:
            raise SystemExit("fragmented echo mismatch")
        print("echoed a fragmented message")

        # Many messages in flight at once, answered in order.
        for i in range(500):
            await ws.send(f"message {i}")
        for i in range(500):
            if await ws.recv() != f"message {i}":
                raise SystemExit(f"out of order at {i}")
        print("500 pipelined messages in order")

        latency = await (await ws.ping(b"are you there"))
        print("pong after", round(latency * 1000, 3), "ms")

        await ws.close(code=4000, reason="done")
        if ws.close_code != 4000:
            raise SystemExit(f"close code {ws.close_code}, expected the echo of 4000")
        print("closed cleanly with", ws.close_code)


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(args[0], "--compression" in args, "--expect-extension" in args))
