#!/usr/bin/env python3
"""A fake Anthropic Messages server for end-to-end tests (stdlib only).

Binds 127.0.0.1 on an ephemeral port and prints the port as its first stdout line. POST .../messages
streams the reference event sequence (`event: name\ndata: {json}\n\n`: message_start,
content_block_start/delta/stop, ping, message_delta, message_stop) over chunked HTTP/1.1. The scenario
comes from the `X-Fake-Scenario` header, else from the model name: text, tools, error_midstream,
rate_limit, server_error, drop, stall, slow (`X-Fake-Chunks`, `X-Fake-Interval-Ms`). Every request is
recorded and served back as JSON at GET /__requests.
"""
import json
import time
from http.server import BaseHTTPRequestHandler

from fake_server import FakeProviderMixin, recorded, serve

SCENARIOS = {"text", "tools", "error_midstream", "rate_limit", "server_error", "drop", "stall", "slow"}


def message_start(model, input_tokens):
    return {"type": "message_start", "message": {
        "id": "msg_fake", "type": "message", "role": "assistant", "content": [], "model": model,
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": input_tokens, "output_tokens": 1}}}


def block_start(index, block):
    return {"type": "content_block_start", "index": index, "content_block": block}


def block_delta(index, delta):
    return {"type": "content_block_delta", "index": index, "delta": delta}


def block_stop(index):
    return {"type": "content_block_stop", "index": index}


def message_end(stop_reason, output_tokens):
    return [{"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
             "usage": {"output_tokens": output_tokens}},
            {"type": "message_stop"}]


def text_events(model, pieces):
    yield message_start(model, 12)
    yield block_start(0, {"type": "text", "text": ""})
    yield {"type": "ping"}
    for piece in pieces:
        yield block_delta(0, {"type": "text_delta", "text": piece})
    yield block_stop(0)
    yield from message_end("end_turn", len(pieces))


def tool_events(model):
    yield message_start(model, 40)
    yield block_start(0, {"type": "text", "text": ""})
    yield block_delta(0, {"type": "text_delta", "text": "Checking."})
    yield block_stop(0)
    calls = [(1, "toolu_fake_1", "get_weather", ['{"ci', 'ty": "Pa', 'ris"}']),
             (2, "toolu_fake_2", "get_time", ['{"tz"', ': "CET"}'])]
    for index, call_id, name, pieces in calls:
        yield block_start(index, {"type": "tool_use", "id": call_id, "name": name, "input": {}})
        yield block_delta(index, {"type": "input_json_delta", "partial_json": ""})
        for piece in pieces:
            yield block_delta(index, {"type": "input_json_delta", "partial_json": piece})
        yield block_stop(index)
    yield from message_end("tool_use", 20)


def error_body(kind, message):
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"}


class Handler(FakeProviderMixin, BaseHTTPRequestHandler):

    def do_GET(self):
        if self.path != "/__requests":
            return self.send_json(404, error_body("not_found_error", "Not found"))
        self.send_json(200, recorded())

    def do_POST(self):
        body = self.read_json_body()
        self.record(body)
        if not self.path.split("?")[0].endswith("/messages"):
            return self.send_json(404, error_body("not_found_error", "Not found"))
        model = (body or {}).get("model", "fake")
        scenario = self.headers.get("X-Fake-Scenario") or (model if model in SCENARIOS else "text")

        if scenario == "rate_limit":
            return self.send_json(429, error_body("rate_limit_error", "Number of request tokens has exceeded your rate limit."),
                                  {"retry-after": "1"})
        if scenario == "server_error":
            return self.send_json(500, error_body("api_error", "Internal server error"))

        self.start_stream("text/event-stream; charset=utf-8", [("Cache-Control", "no-cache")])
        if scenario == "tools":
            self.send_events(tool_events(model))
        elif scenario == "error_midstream":
            self.send_events([message_start(model, 12), block_start(0, {"type": "text", "text": ""}),
                              block_delta(0, {"type": "text_delta", "text": "Hel"}),
                              error_body("overloaded_error", "Overloaded")])
        elif scenario == "drop":
            self.send_events(list(text_events(model, ["Hel", "lo"]))[:4])
            return self.drop()
        elif scenario == "stall":
            self.send_events([message_start(model, 12)])
            time.sleep(30)
            return self.drop()
        elif scenario == "slow":
            count = int(self.headers.get("X-Fake-Chunks", "5"))
            interval = int(self.headers.get("X-Fake-Interval-Ms", "100")) / 1000
            self.send_events(text_events(model, [f"tick{n} " for n in range(count)]), interval)
        else:
            self.send_events(text_events(model, ["Hello", " from", " the fake", " Anthropic."]))
        self.end_stream()


    def send_events(self, events, interval=0):
        for event in events:
            if interval:
                time.sleep(interval)
            # The SSE event name always repeats the JSON `type`; error bodies drop request_id in-stream.
            event = {k: v for k, v in event.items() if k != "request_id"}
            data = json.dumps(event, separators=(",", ":"))
            self.write_chunk(f"event: {event['type']}\ndata: {data}\n\n".encode())




if __name__ == "__main__":
    serve(Handler)
