"""Connects to a WebSocket URL, prints "open", then waits for the server to close and prints the code.

Usage: ws_wait_close.py URL
"""
import asyncio
import sys

import websockets


async def main(url: str) -> None:
    async with websockets.connect(url, ping_interval=None) as ws:
        print("open", flush=True)
        try:
            await ws.recv()
        except websockets.ConnectionClosed:
            pass
        print("closed", ws.close_code, ws.close_reason, flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
