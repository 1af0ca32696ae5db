#!/usr/bin/env python3
"""A fake Ollama server for tests: POST /api/chat streaming NDJSON like `ollama serve`.

Binds 127.0.0.1 on a free port and prints the port as its first stdout line. Every request is
recorded (method, path, query, headers, JSON body) and listed by GET /__requests.

The scenario comes from the X-Fake-Scenario header, else from the model name (e.g. "tools"),
else "text": text, tools, error_midstream, rate_limit (429), server_error (500), drop (connection
closed mid-stream), stall (headers and one line, then silence), slow (half a second per line).
Stdlib only.
"""
import json
import time
from http.server import BaseHTTPRequestHandler

from fake_server import FakeProviderMixin, recorded, serve
from urllib.parse import urlsplit

SCENARIOS = {"text", "tools", "error_midstream", "rate_limit", "server_error", "drop", "stall", "slow"}


def line(model, content="", done=False, tool_calls=None, **extra):
    message = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    obj = {"model": model, "created_at": "2025-05-27T22:54:57.641643Z", "message": message, "done": done}
    obj.update(extra)
    return json.dumps(obj, separators=(",", ":")) + "\n"


def final(model, reason="stop"):
    return line(model, done=True, done_reason=reason, total_duration=885095291, load_duration=3753500,
                prompt_eval_count=26, prompt_eval_duration=328493000, eval_count=3, eval_duration=552222000)


class Handler(FakeProviderMixin, BaseHTTPRequestHandler):
    json_content_type = "application/json; charset=utf-8"
    json_dumps_options = {"separators": (",", ":")}
    json_suffix = b""

    def chunk(self, text):
        data = text.encode()
        self.write_chunk(data)

    def do_GET(self):
        if urlsplit(self.path).path == "/__requests":
            self.send_json(200, recorded())
            return
        self.record(None)
        self.send_json(404, {"error": "not found"})

    def do_POST(self):
        body = self.read_json_body()
        self.record(body)
        if urlsplit(self.path).path != "/api/chat":
            return self.send_json(404, {"error": "404 page not found"})
        if not isinstance(body, dict) or not body.get("model"):
            return self.send_json(400, {"error": "model is required"})
        model = body["model"]
        scenario = self.headers.get("X-Fake-Scenario") or (model if model in SCENARIOS else "text")
        if scenario == "rate_limit":
            return self.send_json(429, {"error": "too many requests"}, [("Retry-After", "2")])
        if scenario == "server_error":
            return self.send_json(500, {"error": "llama runner process has terminated"})

        self.start_stream("application/x-ndjson")
        if scenario == "tools":
            calls = [{"function": {"name": (body.get("tools") or [{}])[0].get("function", {}).get("name", "get_weather"),
                                   "arguments": {"city": "Toronto"}}}]
            self.chunk(line(model, tool_calls=calls))
            self.chunk(final(model))
        else:
            words = ["Hello", " from", " the", " fake", " Ollama."]
            for index, word in enumerate(words):
                if scenario == "slow":
                    time.sleep(0.5)
                self.chunk(line(model, word))
                if index == 1 and scenario == "error_midstream":
                    self.chunk(json.dumps({"error": "an error was encountered while running the model"}, separators=(",", ":")) + "\n")
                    break
                if index == 1 and scenario == "drop":
                    self.drop()
                    return
                if index == 0 and scenario == "stall":
                    time.sleep(3600)
            else:
                self.chunk(final(model))
        self.end_stream()



if __name__ == "__main__":
    serve(Handler)
