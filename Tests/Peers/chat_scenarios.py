#!/usr/bin/env python3
"""End-to-end chat scenarios against a running builderai, driven by the `websockets` client.

    chat_scenarios.py SCENARIO --url ws://127.0.0.1:PORT/ws --token T --project P [--other-token T2] [--fake URL]

Each scenario asserts what a client must see and exits 0, or prints what went wrong to stderr and
exits 1. Its last stdout line is a JSON summary the Swift test may check further.
"""
import argparse
import asyncio
import json
import sys
import time
import urllib.request

import websockets

TIMEOUT = 20
VERBOSE = False


class Client:
    def __init__(self, ws, name):
        self.ws = ws
        self.name = name
        self.events = []  # conversation events, in arrival order

    @classmethod
    async def connect(cls, url, token, name="client"):
        ws = await websockets.connect(url, subprotocols=["builderai.v1", f"bearer.{token}"], max_size=2**24)
        client = cls(ws, name)
        hello = await client.recv()
        assert hello["type"] == "hello", hello
        return client

    async def recv(self):
        message = json.loads(await asyncio.wait_for(self.ws.recv(), TIMEOUT))
        if VERBOSE:
            print(self.name, message, file=sys.stderr)
        if "seq" in message and "conversation" in message and message["type"] not in ("opened", "ok"):
            self.events.append(message)
        return message

    async def send(self, **message):
        await self.ws.send(json.dumps(message))

    async def until(self, predicate, what):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            message = await self.recv()
            if message["type"] == "error" and not predicate(message):
                raise AssertionError(f"{self.name}: server error while waiting for {what}: {message}")
            if predicate(message):
                return message
        raise AssertionError(f"{self.name}: timed out waiting for {what}")

    async def request(self, ref, **message):
        await self.send(ref=ref, **message)
        return await self.until(lambda m: m.get("ref") == ref, f"reply to {ref}")

    async def join(self, project):
        reply = await self.request("join", type="join", project=project)
        assert reply["type"] == "joined", reply
        return reply

    async def new_conversation(self, project, title="test"):
        reply = await self.request("new", type="new_conversation", project=project, title=title)
        assert reply["type"] == "conversation_created", reply
        return reply["conversation"]["id"]

    async def open(self, conversation, after_seq=None):
        message = {"type": "open", "conversation": conversation}
        if after_seq is not None:
            message["after_seq"] = after_seq
        reply = await self.request("open", **message)
        assert reply["type"] == "opened", reply
        return reply

    async def prompt(self, conversation, text, client_id):
        reply = await self.request("p-" + client_id, type="prompt", conversation=conversation, client_id=client_id, text=text)
        assert reply["type"] == "ok", reply
        return reply

    async def finished(self):
        return await self.until(lambda m: m["type"] == "generation_finished", "generation_finished")


def summary(events):
    return [(e["seq"], e["type"], e.get("text") or e.get("name") or e.get("stop_reason")) for e in events]


def check_consecutive(events, start=None):
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)), f"sequence numbers repeat or go back: {seqs}"
    if start is not None:
        assert seqs[0] == start, f"expected the first event at {start}, got {seqs[0]}"
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"gap in sequence numbers: {seqs}"


async def setup(args, name="a"):
    client = await Client.connect(args.url, args.token, name)
    await client.join(args.project)
    return client


async def mcp_tool(args):
    a = await setup(args)
    conversation = await a.new_conversation(args.project)
    await a.open(conversation)
    await a.prompt(conversation, 'call clock__get_current_time {"timezone": "UTC"}', "m1")
    await a.finished()
    kinds = [e["type"] for e in a.events]
    call = next(e for e in a.events if e["type"] == "tool_call")
    result = next(e for e in a.events if e["type"] == "tool_result")
    assert call["name"] == "clock__get_current_time" and call["arguments"] == {"timezone": "UTC"}, call
    assert result["is_error"] is False, result
    text = json.dumps(result["content"])
    assert "UTC" in text and "datetime" in text, result
    answer = "".join(e["text"] for e in a.events if e["type"] == "delta")
    assert answer.startswith("Tool result: ") and "datetime" in answer, answer
    final = a.events[-1]
    assert final["stop_reason"] == "end", final
    check_consecutive(a.events)
    assert kinds[0] == "prompt_accepted", kinds
    return {"conversation": conversation, "kinds": kinds}


async def two_tools(args):
    """Two tool calls in one answer (an MCP tool and a workspace tool) both run, their results come
    back stored and streamed, and the model then answers once."""
    a = await setup(args)
    conversation = await a.new_conversation(args.project)
    await a.open(conversation)
    await a.prompt(conversation, 'both clock__get_current_time {"timezone": "UTC"} ; list_files {}', "t1")
    end = await a.finished()
    assert end["stop_reason"] == "end", end
    calls = [e for e in a.events if e["type"] == "tool_call"]
    results = [e for e in a.events if e["type"] == "tool_result"]
    assert sorted(c["name"] for c in calls) == ["clock__get_current_time", "list_files"], calls
    assert sorted(r["call"] for r in results) == sorted(c["call"] for c in calls), (calls, results)
    assert all(not r["is_error"] for r in results), results
    # Both calls were announced before either result: the results were awaited together.
    assert max(c["seq"] for c in calls) < min(r["seq"] for r in results), [(e["type"], e["seq"]) for e in a.events]
    assert len([e for e in a.events if e["type"] == "message_started"]) == 2
    check_consecutive(a.events)
    return {"events": len(a.events)}


async def two_clients(args):
    a = await setup(args, "a")
    b = await setup(args, "b")
    conversation = await a.new_conversation(args.project)
    await b.until(lambda m: m["type"] == "conversation_created", "conversation_created broadcast")
    await a.open(conversation)
    await b.open(conversation)
    await a.prompt(conversation, "slow 10", "t1")
    await a.finished()
    await b.finished()
    assert summary(a.events) == summary(b.events), f"{summary(a.events)} != {summary(b.events)}"
    check_consecutive(a.events)
    assert len([e for e in a.events if e["type"] == "delta"]) == 10
    return {"events": len(a.events)}


async def resume(args):
    a = await setup(args, "a")
    witness = await setup(args, "witness")
    conversation = await a.new_conversation(args.project)
    await witness.open(conversation)
    await a.open(conversation)
    await a.prompt(conversation, "slow 30", "r1")
    await a.until(lambda m: m["type"] == "delta" and m["text"] == "tick4 ", "five deltas")
    seen = list(a.events)
    a.ws.transport.abort()  # a dropped connection, not a clean close
    await asyncio.sleep(0.8)  # deltas keep streaming meanwhile
    b = await Client.connect(args.url, args.token, "a-again")
    await b.join(args.project)
    await b.open(conversation, after_seq=seen[-1]["seq"])
    await b.finished()
    await witness.finished()
    combined = seen + b.events
    check_consecutive(combined)
    assert summary(combined) == summary(witness.events), "the resumed client's events differ from a client that stayed"
    text = "".join(e["text"] for e in combined if e["type"] == "delta")
    assert text == "".join(f"tick{n} " for n in range(30)), text
    return {"before": len(seen), "after": len(b.events)}


async def resume_from_store(args):
    """Resumes a finished conversation from seq 0 after the server restarted (ring empty)."""
    a = await setup(args)
    replies = await a.open(args.conversation, after_seq=0)
    messages = [e for e in a.events if e["type"] == "message"]
    assert messages, a.events
    statuses = {m["message"]["role"]: m["message"]["status"] for m in messages}
    return {"messages": [m["message"] for m in messages], "opened": replies}


async def cancel(args):
    a = await setup(args)
    conversation = await a.new_conversation(args.project)
    await a.open(conversation)
    await a.prompt(conversation, "slow 100", "c1")
    await a.until(lambda m: m["type"] == "delta" and m["text"] == "tick2 ", "three deltas")
    reply = await a.request("x", type="cancel", conversation=conversation)
    assert reply["type"] == "ok" and reply["cancelled"] is True, reply
    if not any(e["type"] == "generation_finished" for e in a.events):
        await a.finished()
    finished = next(e for e in a.events if e["type"] == "message_finished")
    assert finished["stop_reason"] == "cancelled" and finished["status"] == "cancelled", finished
    end = next(e for e in a.events if e["type"] == "generation_finished")
    assert end["stop_reason"] == "cancelled", end
    deltas = [e for e in a.events if e["type"] == "delta"]
    assert len(deltas) < 20, f"{len(deltas)} deltas arrived: the stream was not stopped"
    deadline = time.monotonic() + 5
    aborted = []
    while time.monotonic() < deadline and not aborted:
        aborted = json.load(urllib.request.urlopen(args.fake + "/__aborted"))
        await asyncio.sleep(0.1)
    assert aborted, "the fake provider never saw its stream closed"
    return {"deltas": len(deltas)}


def read_lines(path):
    try:
        with open(path) as file:
            return file.read().splitlines()
    except FileNotFoundError:
        return []


async def wait_for_line(path, wanted, seconds):
    """Whether a line of the file equals `wanted` (or, for a callable, satisfies it) within `seconds`."""
    matches = wanted if callable(wanted) else (lambda line: line == wanted)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any(matches(line) for line in read_lines(path)):
            return True
        await asyncio.sleep(0.05)
    return False


async def settled_history(client, conversation, settled, seconds=5):
    """The conversation's stored messages once `settled(messages)` holds, or as they are after
    `seconds`: a generation's closing write may commit just after generation_finished went out."""
    deadline = time.monotonic() + seconds
    while True:
        messages = (await client.request("h", type="history", conversation=conversation, limit=100))["messages"]
        if settled(messages) or time.monotonic() > deadline:
            return messages
        await asyncio.sleep(0.1)


async def cancel_tool(args):
    """A cancel while an MCP tool runs stops the call at once: the generation ends cancelled without
    waiting for the tool, the call gets a result saying it was cancelled, the MCP server is told
    (notifications/cancelled) and its handler stops, no further LLM step runs, and the conversation
    (and the MCP server) keep working."""
    a = await setup(args)
    conversation = await a.new_conversation(args.project)
    await a.open(conversation)
    await a.prompt(conversation, 'call tester__sleep {"seconds": 30}', "s1")
    call = await a.until(lambda m: m["type"] == "tool_call", "the sleep tool call")
    assert call["name"] == "tester__sleep" and call["arguments"] == {"seconds": 30}, call
    step = await a.until(lambda m: m["type"] == "message_finished", "the step asking for the tool")
    assert step["stop_reason"] == "tool_use" and step["status"] == "complete", step
    # Cancel only once the server runs the call, so it is the running tool that gets cancelled.
    assert await wait_for_line(args.cancel_log, "sleep 30 started", 10), \
        f"the MCP server never started the sleep: {read_lines(args.cancel_log)}"
    llm_requests = len(json.load(urllib.request.urlopen(args.fake + "/__requests")))
    started = time.monotonic()
    reply = await a.request("x", type="cancel", conversation=conversation)
    assert reply["type"] == "ok" and reply["cancelled"] is True, reply
    end = next((e for e in a.events if e["type"] == "generation_finished"), None) or await a.finished()
    elapsed = time.monotonic() - started
    assert end["stop_reason"] == "cancelled", end
    assert elapsed < 5, f"the generation ended {elapsed:.1f} s after the cancel: it waited for the tool"
    results = [e for e in a.events if e["type"] == "tool_result"]
    assert len(results) == 1, results
    result = results[0]
    assert result["call"] == call["call"] and result["name"] == "tester__sleep" and result["is_error"] is True, result
    assert "cancelled" in json.dumps(result["content"]), result
    assert result["seq"] < end["seq"], (result, end)
    assert len([e for e in a.events if e["type"] == "message_started"]) == 1, "an LLM step ran after the cancel"
    check_consecutive(a.events)

    # The MCP server got notifications/cancelled and its handler was cut short (not run to its end,
    # not left running until the connection closes).
    assert await wait_for_line(args.cancel_log, "sleep 30 cancelled", 5), \
        f"the MCP server's sleep was not cancelled: {read_lines(args.cancel_log)}"
    assert await wait_for_line(args.cancel_log, lambda line: line.startswith("notification "), 5), \
        f"the MCP server never got notifications/cancelled: {read_lines(args.cancel_log)}"

    # Stored: the step's assistant message complete with its tool call, the generation's stop
    # reason on it; the call's result as a tool message saying it was cancelled. (The closing write
    # may commit just after generation_finished went out: read until it has, for a few seconds.)
    messages = await settled_history(a, conversation,
                                     lambda ms: len(ms) == 3 and ms[1].get("stop_reason") == "cancelled")
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"], messages
    assistant, tool = messages[1], messages[2]
    assert assistant["status"] == "complete" and assistant["stop_reason"] == "cancelled", assistant
    assert [p["type"] for p in assistant["content"]] == ["tool_call"], assistant
    assert assistant["content"][0]["id"] == call["call"], assistant
    assert tool["status"] == "complete", tool
    stored = tool["content"][0]
    assert stored["type"] == "tool_result" and stored["call"] == call["call"] and stored["is_error"] is True, tool
    assert "cancelled" in json.dumps(stored["content"]), tool
    assert assistant["end_seq"] >= end["seq"], (assistant, end)

    # No step follows the cancel: a second later the provider has still not been asked again.
    await asyncio.sleep(1)
    requests = json.load(urllib.request.urlopen(args.fake + "/__requests"))
    assert len(requests) == llm_requests, f"the provider was called after the cancel: {requests[llm_requests:]}"

    # The conversation and the MCP server's session keep working: the next prompt calls a tool on it.
    a.events.clear()
    await a.prompt(conversation, "call tester__whoami {}", "s2")
    end = await a.finished()
    assert end["stop_reason"] == "end", end
    result = next(e for e in a.events if e["type"] == "tool_result")
    assert result["is_error"] is False and "tester" in json.dumps(result["content"]), result
    return {"cancel_seconds": round(elapsed, 3), "cancel_log": read_lines(args.cancel_log)}


async def concurrent_tools(args):
    """Two tool calls of one answer run at the same time. The tester MCP server handles requests
    concurrently and logs each sleep's start and end: both sleeps started before either finished
    only if the engine sent the second call before the first one's result came back. The evidence
    is the order of the server's log lines, not a clock (two 1.5 s and 1.6 s sleeps, distinct so
    the lines tell the calls apart). Each result comes back matched to its call, the model is asked
    once more with both results, and the store holds the step, both results and the answer."""
    a = await setup(args)
    conversation = await a.new_conversation(args.project)
    await a.open(conversation)
    log_before = len(read_lines(args.cancel_log))
    llm_before = len(json.load(urllib.request.urlopen(args.fake + "/__requests")))
    await a.prompt(conversation, 'both tester__sleep {"seconds": 1.5} ; tester__sleep {"seconds": 1.6}', "c1")
    end = await a.finished()
    assert end["stop_reason"] == "end", end
    calls = [e for e in a.events if e["type"] == "tool_call"]
    results = [e for e in a.events if e["type"] == "tool_result"]
    assert [(c["name"], c["arguments"]) for c in calls] == [("tester__sleep", {"seconds": 1.5}),
                                                            ("tester__sleep", {"seconds": 1.6})], calls
    ids = [c["call"] for c in calls]
    assert len(set(ids)) == 2, calls
    assert len(results) == 2 and sorted(r["call"] for r in results) == sorted(ids), (calls, results)
    for result in results:
        assert result["name"] == "tester__sleep" and result["is_error"] is False, result
        assert "slept" in [p.get("text") for p in result["content"]], result
    assert max(c["seq"] for c in calls) < min(r["seq"] for r in results), summary(a.events)
    steps = [e for e in a.events if e["type"] == "message_finished"]
    assert [s["stop_reason"] for s in steps] == ["tool_use", "end"], steps
    assert len([e for e in a.events if e["type"] == "message_started"]) == 2, summary(a.events)
    answer = "".join(e["text"] for e in a.events if e["type"] == "delta")
    assert answer.startswith("Tool result: ") and "slept" in answer, answer
    check_consecutive(a.events)

    # The server had both calls in flight at once: each sleep started and finished once (none cut
    # short), and both "started" lines come before either "finished" line. Both "finished" lines were
    # written before the server answered, so they are in the file by generation_finished.
    log = [line for line in read_lines(args.cancel_log)[log_before:] if line.startswith("sleep ")]
    assert sorted(log) == ["sleep 1.5 finished", "sleep 1.5 started", "sleep 1.6 finished", "sleep 1.6 started"], log
    started = [n for n, line in enumerate(log) if line.endswith(" started")]
    finished = [n for n, line in enumerate(log) if line.endswith(" finished")]
    assert max(started) < min(finished), f"the tool calls ran one after the other, not concurrently: {log}"

    # One follow-up LLM step, sent both results after the assistant message carrying both calls.
    requests = json.load(urllib.request.urlopen(args.fake + "/__requests"))[llm_before:]
    assert len(requests) == 2, f"{len(requests)} LLM requests for one tool step"
    sent = requests[1]["body"]["messages"]
    assert [m["role"] for m in sent[-3:]] == ["assistant", "tool", "tool"], sent
    assert [c["id"] for c in sent[-3]["tool_calls"]] == ids, sent[-3]
    assert sorted(m["tool_call_id"] for m in sent[-2:]) == sorted(ids), sent[-2:]

    # Stored in order: the prompt, the step with both calls, one tool message a call, the answer.
    # (The closing write may commit just after generation_finished went out: read until it has.)
    messages = await settled_history(a, conversation,
                                     lambda ms: len(ms) == 5 and ms[-1].get("stop_reason") == "end")
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool", "assistant"], messages
    seqs = [m["seq"] for m in messages]
    assert seqs == sorted(set(seqs)), seqs
    step, tools, final = messages[1], messages[2:4], messages[4]
    assert step["status"] == "complete" and step["stop_reason"] == "tool_use", step
    assert [(p["type"], p["id"]) for p in step["content"]] == [("tool_call", i) for i in ids], step
    stored = [t["content"][0] for t in tools]
    assert all(t["status"] == "complete" for t in tools), tools
    assert sorted(r["call"] for r in stored) == sorted(ids), tools
    assert all(r["type"] == "tool_result" and r["is_error"] is False and "slept" in json.dumps(r["content"])
               for r in stored), tools
    by_call = {r["call"]: r["seq"] for r in results}
    assert [by_call[r["call"]] for r in stored] == [t["seq"] for t in tools], (results, tools)
    assert final["status"] == "complete" and final["stop_reason"] == "end", final
    return {"log": log, "results": [r["call"] for r in results]}


async def non_member(args):
    outsider = await Client.connect(args.url, args.other_token, "outsider")
    reply = await outsider.request("j", type="join", project=args.project)
    assert reply["type"] == "error" and reply["code"] == "not_found", reply
    reply = await outsider.request("j2", type="list_conversations", project=args.project)
    assert reply["type"] == "error" and reply["code"] == "not_joined", reply
    reply = await outsider.request("j3", type="join", project="no-such-project")
    assert reply["type"] == "error" and reply["code"] == "not_found", reply
    return {"ok": True}


async def malformed(args):
    a = await Client.connect(args.url, args.token)
    await a.ws.send("this is not json")
    reply = await a.recv()
    assert reply["type"] == "error" and reply["code"] == "bad_request" and "not valid JSON" in reply["message"], reply
    for message, expected in [({"type": "prompt", "ref": "1"}, '"conversation" is missing'),
                              ({"type": "nope", "ref": "2"}, 'unknown message type "nope"'),
                              ({"ref": "3"}, 'no "type"'),
                              ({"type": "prompt", "conversation": "c", "client_id": "x", "text": "", "ref": "4"}, '"text" must be'),
                              ({"type": "open", "conversation": "c", "after_seq": -1, "ref": "5"}, '"after_seq" must be'),
                              ([1, 2], "JSON object")]:
        await a.ws.send(json.dumps(message))
        reply = await a.recv()
        assert reply["type"] == "error" and reply["code"] == "bad_request" and expected in reply["message"], (message, reply)
    await a.join(args.project)  # still open and working
    await a.ws.send(b"\x00binary")
    try:
        await asyncio.wait_for(a.ws.recv(), 5)
        raise AssertionError("a binary frame did not close the connection")
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd.code == 1003, closed.rcvd
    return {"ok": True}


async def auth(args):
    for offered in (["builderai.v1"], ["builderai.v1", "bearer.bai_wrong"]):
        ws = await websockets.connect(args.url, subprotocols=offered)
        assert ws.subprotocol == "builderai.v1", ws.subprotocol
        try:
            await asyncio.wait_for(ws.recv(), 5)
            raise AssertionError("no close for a bad credential")
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd.code == 4401, closed.rcvd
            assert "authentication failed" in closed.rcvd.reason, closed.rcvd
    return {"ok": True}


async def step_limit(args):
    a = await setup(args)
    conversation = await a.new_conversation(args.project)
    await a.open(conversation)
    await a.prompt(conversation, 'loop clock__get_current_time {"timezone": "UTC"}', "l1")
    end = await a.finished()
    assert end["stop_reason"] == "step_limit" and "steps" in end["message"], end
    calls = [e for e in a.events if e["type"] == "tool_call"]
    results = [e for e in a.events if e["type"] == "tool_result"]
    assert len(calls) == args.steps and len(results) == args.steps, (len(calls), len(results))
    assert results[-1]["is_error"] and "step limit" in json.dumps(results[-1]["content"]), results[-1]
    return {"calls": len(calls)}


async def workspace(args):
    a = await setup(args)
    conversation = await a.new_conversation(args.project)
    await a.open(conversation)
    results = {}
    for n, (text, expect_error, needle) in enumerate([
            ('call write_file {"path": "../evil.txt", "content": "x"}', True, "leaves the project"),
            ('call write_file {"path": "/etc/passwd", "content": "x"}', True, "absolute"),
            ('call read_file {"path": "a/../../b"}', True, "leaves the project"),
            ('call write_file {"path": "site/index.html", "content": "<h1>hi</h1>"}', False, "wrote site/index.html"),
            ('call read_file {"path": "site/index.html"}', False, "<h1>hi</h1>"),
            ('call list_files {}', False, "site/index.html")]):
        a.events.clear()
        await a.prompt(conversation, text, f"w{n}")
        await a.finished()
        result = next(e for e in a.events if e["type"] == "tool_result")
        content = json.dumps(result["content"])
        assert result["is_error"] == expect_error and needle in json.loads(content)[0]["text"], (text, result)
        results[text] = result["is_error"]
    return results


async def queue_and_regenerate(args):
    a = await setup(args)
    conversation = await a.new_conversation(args.project)
    await a.open(conversation)
    first = await a.prompt(conversation, "slow 15", "q1")
    second = await a.prompt(conversation, "hello there", "q2")
    third = await a.prompt(conversation, "hello again", "q3")
    assert (first["queue_position"], second["queue_position"], third["queue_position"]) == (0, 1, 2), (first, second, third)
    again = await a.prompt(conversation, "hello there", "q2")  # a retried send
    assert again["duplicate"] is True and again["seq"] == second["seq"], again
    refused = await a.request("r0", type="regenerate", conversation=conversation, client_id="g1")
    assert refused["type"] == "error" and refused["code"] == "bad_request", refused
    ends = 0
    while ends < 3:
        await a.finished()
        ends += 1
    accepted = [e for e in a.events if e["type"] == "prompt_accepted"]
    assert [e["client_id"] for e in accepted] == ["q1", "q2", "q3"], accepted
    replies = [e["reply_to"] for e in a.events if e["type"] == "generation_finished"]
    assert replies == [e["message"]["id"] for e in accepted], "generations answered the prompts out of order"
    check_consecutive(a.events)
    ok = await a.request("r1", type="regenerate", conversation=conversation, client_id="g2")
    assert ok["type"] == "ok" and ok["reply_to"] == accepted[-1]["message"]["id"], ok
    end = await a.finished()
    assert end["reply_to"] == accepted[-1]["message"]["id"] and end["stop_reason"] == "end", end
    history = await a.request("h", type="history", conversation=conversation, limit=100)
    roles = [m["role"] for m in history["messages"]]
    assert roles.count("user") == 3 and roles.count("assistant") == 4, roles
    return {"events": len(a.events)}


async def slow_watcher(args):
    """A watcher that stops reading is told to resync instead of holding memory, then catches up."""
    import socket
    a = await setup(args, "reader")
    conversation = await a.new_conversation(args.project)
    await a.open(conversation)
    host, port = args.url.split("//")[1].split("/")[0].split(":")
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect((host, int(port)))
    ws = await websockets.connect(args.url, sock=raw, subprotocols=["builderai.v1", f"bearer.{args.token}"],
                                  max_size=2**24, max_queue=1, compression=None)
    lazy = Client(ws, "lazy")
    await lazy.recv()
    await lazy.join(args.project)
    await lazy.open(conversation)
    ws.transport.pause_reading()  # stops reading: the server's queue for it grows
    await a.prompt(conversation, "big 800", "b1")
    await a.finished()
    ws.transport.resume_reading()
    resync = await lazy.until(lambda m: m["type"] == "resync", "resync")
    assert resync["conversation"] == conversation, resync
    kept = [e for e in lazy.events if e["type"] != "resync"]
    check_consecutive(kept)
    assert kept[-1]["seq"] == resync["seq"], (kept[-1], resync)
    lazy.events.clear()
    opened = await lazy.open(conversation, after_seq=resync["seq"])
    replay = list(lazy.events)
    assert opened["seq"] == a.events[-1]["seq"], (opened, a.events[-1])
    assert replay and all(e["seq"] > resync["seq"] for e in replay), replay
    # The replay is either the missed events or, once they left the ring, the stored message whole.
    expected = "".join(e["text"] for e in a.events if e["type"] == "delta")
    snapshots = [e for e in replay if e["type"] == "message" and e["message"]["role"] == "assistant"]
    if snapshots:
        text = "".join(p.get("text", "") for p in snapshots[-1]["message"]["content"])
        assert snapshots[-1]["message"]["status"] == "complete", snapshots[-1]
    else:
        check_consecutive(kept + replay)
        text = "".join(e["text"] for e in kept + replay if e["type"] == "delta")
    assert text == expected, f"{len(text)} characters caught up, {len(expected)} streamed"
    return {"before_resync": len(kept), "replayed": len(replay), "snapshots": len(snapshots)}


async def unload_and_resume(args):
    """A conversation nobody watches leaves memory; resuming it later comes from the store, and new
    events are numbered above everything sent before."""
    a = await setup(args)
    conversation = await a.new_conversation(args.project)
    await a.open(conversation)
    await a.prompt(conversation, "hello", "u1")
    await a.finished()
    first = list(a.events)
    accepted = first[0]["seq"]
    await a.ws.close()
    await asyncio.sleep(2.5)  # the server runs with --idle-unload-seconds 1
    b = await setup(args, "again")
    opened = await b.open(conversation, after_seq=accepted)
    snapshots = [e for e in b.events if e["type"] == "message"]
    assert snapshots and all(e["seq"] > accepted for e in snapshots), b.events
    assert [e for e in b.events if e["type"] != "message"] == [], "an unloaded conversation replays stored messages only"
    assert snapshots[-1]["seq"] == first[-1]["seq"] <= opened["seq"], (snapshots[-1], first[-1], opened)
    reply = "".join(e["text"] for e in first if e["type"] == "delta")
    stored = "".join(p.get("text", "") for p in snapshots[-1]["message"]["content"])
    assert stored == reply, (stored, reply)
    b.events.clear()
    await b.prompt(conversation, "hello again", "u2")
    await b.finished()
    assert min(e["seq"] for e in b.events) > first[-1]["seq"], "numbers went back after the reload"
    return {"jump": min(e["seq"] for e in b.events) - first[-1]["seq"]}


def rest(args, method, path, token, body=None):
    base = args.url.replace("ws://", "http://").rsplit("/ws", 1)[0]
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"{}")


async def viewer_and_presence(args):
    """A viewer (added over REST) watches and is listed in presence, but may not prompt or create."""
    outsider_id = rest(args, "GET", "/api/v1/me", args.other_token)["id"]
    rest(args, "PUT", f"/api/v1/projects/{args.project}/members/{outsider_id}", args.token, {"role": "viewer"})
    a = await setup(args, "owner")
    conversation = await a.new_conversation(args.project)
    await a.open(conversation)
    viewer = await Client.connect(args.url, args.other_token, "viewer")
    joined = await viewer.join(args.project)
    assert joined["role"] == "viewer", joined
    presence = await a.until(lambda m: m["type"] == "presence" and len(m["watchers"]) == 2, "presence with the viewer")
    assert outsider_id in [w["user"] for w in presence["watchers"]] and "Ada" in [w["name"] for w in presence["watchers"]], presence
    await viewer.open(conversation)
    refused = await viewer.request("vp", type="prompt", conversation=conversation, client_id="v1", text="hi")
    assert refused["type"] == "error" and refused["code"] == "forbidden", refused
    refused = await viewer.request("vn", type="new_conversation", project=args.project)
    assert refused["type"] == "error" and refused["code"] == "forbidden", refused
    await a.prompt(conversation, "hello", "o1")
    await viewer.finished()
    assert any(e["type"] == "delta" for e in viewer.events), viewer.events
    await viewer.ws.close()
    presence = await a.until(lambda m: m["type"] == "presence" and len(m["watchers"]) == 1, "presence without the viewer")
    return {"ok": True}


async def start_slow(args):
    """Starts a long answer, prints the conversation id once some text streamed, then waits."""
    a = await setup(args)
    conversation = await a.new_conversation(args.project)
    await a.open(conversation)
    await a.prompt(conversation, "slow 200", "k1")
    await a.until(lambda m: m["type"] == "delta" and m["text"] == "tick6 ", "seven deltas")
    await asyncio.sleep(0.6)  # past a flush
    print(json.dumps({"conversation": conversation, "last_seq": a.events[-1]["seq"]}), flush=True)
    await asyncio.sleep(60)
    return {}


SCENARIOS = {f.__name__: f for f in [mcp_tool, two_tools, two_clients, resume, resume_from_store, queue_and_regenerate, slow_watcher, viewer_and_presence, unload_and_resume, cancel, cancel_tool, concurrent_tools, non_member, malformed,
                                     auth, step_limit, workspace, start_slow]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--other-token")
    parser.add_argument("--fake")
    parser.add_argument("--conversation")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--cancel-log", help="the file where the tester MCP server notes cancellations")
    args = parser.parse_args()
    try:
        result = asyncio.run(SCENARIOS[args.scenario](args))
    except AssertionError as error:
        print(f"{args.scenario}: {error}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
