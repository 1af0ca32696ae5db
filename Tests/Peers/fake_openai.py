#!/usr/bin/env python3
"""A fake OpenAI Chat Completions server for end-to-end tests (stdlib only).

Binds 127.0.0.1 on an ephemeral port and prints the port as its first stdout line. POST
.../chat/completions streams SSE chunks shaped like the API reference (`data: {json}\\n\\n`, a usage
chunk with empty `choices`, then `data: [DONE]`) over chunked HTTP/1.1. The scenario comes from the
`X-Fake-Scenario` header, else from the model name: text, tools, error_midstream, rate_limit,
server_error, drop, stall, slow (`X-Fake-Chunks`, `X-Fake-Interval-Ms`), agent. Every request is recorded
and served back as JSON at GET /__requests; streams the client closed early are listed at GET /__aborted.

`agent` acts from the conversation it is sent, like a model driving tools: after a `tool` message it
answers "Tool result: <content>"; a last user message "call NAME {json}" calls tool NAME with those
arguments; "loop NAME" calls NAME every time (a tool loop that never ends); "slow N" streams N
chunks 100 ms apart; "big N" streams N chunks of 10,000 characters at once; "echo TEXT" answers TEXT; "both NAME {json} ; NAME {json}" makes two calls in one answer; anything else gets a short text answer.
"""
import json
import time
from http.server import BaseHTTPRequestHandler

from fake_server import FakeProviderMixin, recorded, serve

SCENARIOS = {"text", "tools", "error_midstream", "rate_limit", "server_error", "drop", "stall", "slow", "agent"}
ABORTED = []


def chunk(model, delta=None, finish=None, choices=True, usage=None):
    body = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000,
            "model": model, "system_fingerprint": "fp_fake", "choices": []}
    if choices:
        body["choices"] = [{"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish}]
    body["usage"] = usage
    return body


def text_chunks(model, pieces):
    yield chunk(model, {"role": "assistant", "content": ""})
    for piece in pieces:
        yield chunk(model, {"content": piece})
    yield chunk(model, finish="stop")
    yield chunk(model, choices=False, usage={"prompt_tokens": 12, "completion_tokens": len(pieces),
                                             "total_tokens": 12 + len(pieces)})


def tool_chunks(model):
    yield chunk(model, {"role": "assistant", "content": None, "tool_calls": [
        {"index": 0, "id": "call_fake_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]})
    for piece in ['{"ci', 'ty": "Pa', 'ris"}']:
        yield chunk(model, {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
    yield chunk(model, {"tool_calls": [
        {"index": 1, "id": "call_fake_2", "type": "function", "function": {"name": "get_time", "arguments": ""}}]})
    for piece in ['{"tz"', ': "CET"}']:
        yield chunk(model, {"tool_calls": [{"index": 1, "function": {"arguments": piece}}]})
    yield chunk(model, finish="tool_calls")
    yield chunk(model, choices=False, usage={"prompt_tokens": 40, "completion_tokens": 20, "total_tokens": 60})


class Handler(FakeProviderMixin, BaseHTTPRequestHandler):

    def do_GET(self):
        if self.path == "/__aborted":
            return self.send_json(200, ABORTED)
        if self.path != "/__requests":
            return self.send_json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
        self.send_json(200, recorded())

    def do_POST(self):
        body = self.read_json_body()
        self.record(body)
        if not self.path.split("?")[0].endswith("/chat/completions"):
            return self.send_json(404, {"error": {"message": "Unknown path", "type": "invalid_request_error"}})
        model = (body or {}).get("model", "fake")
        scenario = self.headers.get("X-Fake-Scenario") or (model if model in SCENARIOS else "text")

        if scenario == "rate_limit":
            return self.send_json(429, {"error": {"message": "Rate limit reached for requests", "type": "requests",
                                                  "param": None, "code": "rate_limit_exceeded"}},
                                  {"Retry-After": "1"})
        if scenario == "server_error":
            return self.send_json(500, {"error": {"message": "The server had an error while processing your request.",
                                                  "type": "server_error", "param": None, "code": None}})

        self.start_stream("text/event-stream; charset=utf-8", [("Cache-Control", "no-cache")])
        if scenario == "agent":
            try:
                self.agent(model, body)
            except (BrokenPipeError, ConnectionResetError):
                ABORTED.append({"model": model, "at": time.time()})
            return
        if scenario == "tools":
            self.send_events(tool_chunks(model))
        elif scenario == "error_midstream":
            self.send_events([chunk(model, {"role": "assistant", "content": "Hel"})])
            self.send_events([{"error": {"message": "The server had an error while processing your request.",
                                         "type": "server_error", "param": None, "code": None}}])
        elif scenario == "drop":
            self.send_events(list(text_chunks(model, ["Hel", "lo"]))[:2])
            return self.drop()
        elif scenario == "stall":
            self.send_events([chunk(model, {"role": "assistant", "content": "Hel"})])
            time.sleep(30)
            return self.drop()
        elif scenario == "slow":
            count = int(self.headers.get("X-Fake-Chunks", "5"))
            interval = int(self.headers.get("X-Fake-Interval-Ms", "100")) / 1000
            self.send_events(text_chunks(model, [f"tick{n} " for n in range(count)]), interval)
        else:
            self.send_events(text_chunks(model, ["Hello", " from", " the fake", " OpenAI."]))
        self.send_sse("[DONE]")
        self.end_stream()


    def agent(self, model, body):
        messages = body.get("messages", [])
        last = messages[-1] if messages else {}
        last_user = next((m for m in reversed(messages) if m.get("role") == "user"), {})
        looping = str(last_user.get("content") or "").startswith("loop ")
        if looping:
            last = last_user
        if last.get("role") == "tool":
            self.send_events(text_chunks(model, ["Tool result: ", str(last.get("content", ""))[:200]]))
        else:
            text = last.get("content") or ""
            if isinstance(text, list):
                text = " ".join(part.get("text", "") for part in text if isinstance(part, dict))
            words = text.split(" ", 2)
            if words[0] in ("call", "loop") and len(words) >= 2:
                arguments = words[2] if len(words) > 2 else "{}"
                self.send_events(self.tool_call(model, words[1], arguments, len(messages)))
            elif words[0] == "both":
                # "both NAME1 {json} ; NAME2 {json}": two tool calls in one answer.
                calls = [part.strip().split(" ", 1) for part in text[len("both "):].split(" ; ")]
                self.send_events(self.tool_calls(model, [(c[0], c[1] if len(c) > 1 else "{}") for c in calls], len(messages)))
            elif words[0] == "echo":
                # A model answer that repeats what it was given: how a test gets hostile text into
                # the assistant's own message.
                reply = text[len("echo "):]
                self.send_events(text_chunks(model, [reply[:len(reply) // 2], reply[len(reply) // 2:]]))
            elif words[0] == "big":
                count = int(words[1]) if len(words) > 1 else 100
                self.send_events(text_chunks(model, [f"{n:05d}" + "x" * 9995 for n in range(count)]))
            elif words[0] == "slow":
                count = int(words[1]) if len(words) > 1 else 50
                self.send_events(text_chunks(model, [f"tick{n} " for n in range(count)]), 0.1)
            else:
                self.send_events(text_chunks(model, ["Hello", " from", " the fake", " OpenAI."]))
        self.send_sse("[DONE]")
        self.end_stream()

    @staticmethod
    def tool_call(model, name, arguments, n):
        yield chunk(model, {"role": "assistant", "content": None, "tool_calls": [
            {"index": 0, "id": f"call_{n}", "type": "function", "function": {"name": name, "arguments": ""}}]})
        half = len(arguments) // 2
        for piece in (arguments[:half], arguments[half:]):
            yield chunk(model, {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
        yield chunk(model, finish="tool_calls")
        yield chunk(model, choices=False, usage={"prompt_tokens": 30, "completion_tokens": 10, "total_tokens": 40})

    @staticmethod
    def tool_calls(model, calls, n):
        for index, (name, arguments) in enumerate(calls):
            yield chunk(model, {"role": "assistant", "content": None, "tool_calls": [
                {"index": index, "id": f"call_{n}_{index}", "type": "function", "function": {"name": name, "arguments": ""}}]})
            yield chunk(model, {"tool_calls": [{"index": index, "function": {"arguments": arguments}}]})
        yield chunk(model, finish="tool_calls")
        yield chunk(model, choices=False, usage={"prompt_tokens": 30, "completion_tokens": 10, "total_tokens": 40})

    def send_events(self, events, interval=0):
        for event in events:
            if interval:
                time.sleep(interval)
            self.send_sse(json.dumps(event, separators=(",", ":")))

    def send_sse(self, data):
        self.write_chunk(f"data: {data}\n\n".encode())




if __name__ == "__main__":
    serve(Handler)
