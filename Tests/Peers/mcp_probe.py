"""A manual check, not used by the Swift tests: connects the official SDK's own client to every MCP
peer the tests use and prints what it negotiated, the tool names and a sample call.

    .venv/bin/python Tests/Peers/mcp_probe.py

Targets: mcp_test_server.py over stdio, Streamable HTTP and the legacy SSE transport, each in the
SDK client's "auto" mode (server/discover, the 2026-07-28 era) and its "legacy" mode (initialize);
and mcp-server-time and mcp-server-git (on a temporary git repository) over stdio. Exits non-zero
if any check fails.
"""
import contextlib
import os
import subprocess
import sys
import tempfile
import traceback

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = sys.executable
TEST_SERVER = os.path.join(HERE, "mcp_test_server.py")


def text_of(result) -> str:
    return " ".join(getattr(block, "text", repr(block)) for block in result.content)


@contextlib.contextmanager
def http_peer(*args: str):
    """Starts an HTTP peer, reads its port from the first stdout line, kills it on exit."""
    proc = subprocess.Popen([PYTHON, TEST_SERVER, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        port = int(proc.stdout.readline())
        yield port
    finally:
        proc.kill()
        proc.wait()


async def check_test_server(client: Client, label: str) -> None:
    notes: list[str] = []
    tools = [tool.name for tool in (await client.list_tools()).tools]
    add = await client.call_tool("add", {"a": 2, "b": 3})
    assert text_of(add) == "5" and add.structured_content == {"result": 5}, add
    fail = await client.call_tool("fail", {"message": "boom"})
    assert fail.is_error and "boom" in text_of(fail), fail
    steps: list[float] = []

    async def on_progress(progress, total, message):
        steps.append(progress)

    done = await client.call_tool("progress", {"steps": 3}, progress_callback=on_progress)
    assert text_of(done) == "done" and steps == [1, 2, 3], (done, steps)
    who = text_of(await client.call_tool("whoami", {}))
    resource = (await client.read_resource("test://hello")).contents[0].text
    prompt = (await client.get_prompt("greet", {"name": "Bob"})).messages[0].content.text
    assert resource == f"hello from {who}" and prompt == "Hello, Bob!", (resource, prompt)
    added = text_of(await client.call_tool("add_tool", {"name": "late"}))
    relisted = [tool.name for tool in (await client.list_tools()).tools]
    assert "late" in relisted and text_of(await client.call_tool("late", {})) == "late called", relisted
    notes.append(f"whoami={who!r} progress={steps} {added!r}")
    print(f"  {label}: version={client.protocol_version} tools={tools}")
    print(f"    add(2,3) -> {text_of(add)!r} structured={add.structured_content}; fail -> isError={fail.is_error} "
          f"{text_of(fail)!r}; {'; '.join(notes)}")


async def probe_test_server() -> list[str]:
    failures = []
    for mode in ("auto", "legacy"):
        targets = [
            ("stdio", lambda: StdioServerParameters(command=PYTHON, args=[TEST_SERVER, "--name", "stdio-peer"]), None),
            ("streamable-http", None, ("streamable-http", "--name", "http-peer")),
            ("sse", None, ("sse", "--name", "sse-peer")),
        ]
        for transport, stdio_params, http_args in targets:
            label = f"mcp_test_server {transport} mode={mode}"
            try:
                with contextlib.ExitStack() as stack:
                    if stdio_params is not None:
                        server = stdio_params()
                    else:
                        port = stack.enter_context(http_peer("--transport", *http_args))
                        if transport == "sse":
                            server = sse_client(f"http://127.0.0.1:{port}/sse")
                        else:
                            server = f"http://127.0.0.1:{port}/mcp"
                    with anyio.fail_after(30):
                        async with Client(server, mode=mode) as client:
                            await check_test_server(client, label)
            except Exception:
                failures.append(label)
                print(f"  {label}: FAILED")
                traceback.print_exc()
    # Pagination: 7 tools + 5 extra, 4 a page.
    label = "mcp_test_server stdio pagination"
    try:
        params = StdioServerParameters(command=PYTHON, args=[TEST_SERVER, "--page-size", "4", "--extra-tools", "5"])
        with anyio.fail_after(30):
            async with Client(params) as client:
                pages, cursor, names = 0, None, []
                while True:
                    page = await client.list_tools(cursor=cursor)
                    pages += 1
                    names += [tool.name for tool in page.tools]
                    cursor = page.next_cursor
                    if not cursor:
                        break
                assert pages == 3 and len(names) == 12, (pages, names)
                print(f"  {label}: {pages} pages, {len(names)} tools, last {names[-1]}")
    except Exception:
        failures.append(label)
        print(f"  {label}: FAILED")
        traceback.print_exc()
    return failures


async def probe_stdio_server(label: str, params: StdioServerParameters, calls) -> list[str]:
    failures = []
    for mode in ("auto", "legacy"):
        try:
            with anyio.fail_after(30):
                async with Client(params, mode=mode) as client:
                    tools = [tool.name for tool in (await client.list_tools()).tools]
                    print(f"  {label} mode={mode}: version={client.protocol_version} tools={tools}")
                    for name, arguments in calls:
                        result = await client.call_tool(name, arguments)
                        assert not result.is_error, result
                        print(f"    {name}({arguments}) -> {text_of(result)[:160]!r}")
        except Exception:
            failures.append(f"{label} mode={mode}")
            print(f"  {label} mode={mode}: FAILED")
            traceback.print_exc()
    return failures


async def main() -> int:
    failures = await probe_test_server()
    failures += await probe_stdio_server(
        "mcp-server-time",
        StdioServerParameters(command=PYTHON, args=["-m", "mcp_server_time", "--local-timezone", "UTC"]),
        [("get_current_time", {"timezone": "Europe/Warsaw"}),
         ("convert_time", {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"})],
    )
    with tempfile.TemporaryDirectory() as repo:
        git = ["git", "-C", repo, "-c", "user.name=probe", "-c", "user.email=probe@example.invalid"]
        subprocess.run(git[:3] + ["init", "-q"], check=True)
        subprocess.run(git + ["commit", "-q", "--allow-empty", "-m", "first commit"], check=True)
        failures += await probe_stdio_server(
            "mcp-server-git",
            StdioServerParameters(command=PYTHON, args=["-m", "mcp_server_git", "--repository", repo]),
            [("git_status", {"repo_path": repo}), ("git_log", {"repo_path": repo, "max_count": 1})],
        )
    print("all checks passed" if not failures else f"FAILED: {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
