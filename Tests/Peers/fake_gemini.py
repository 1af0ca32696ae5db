#!/usr/bin/env python3
"""A fake Google Gemini API for tests: POST /v1beta/models/{model}:streamGenerateContent?alt=sse.

Binds 127.0.0.1 on a free port and prints the port as its first stdout line. Every request is
recorded (method, path, query, headers, JSON body) and listed by GET /__requests. Requests
without an x-goog-api-key header get Gemini's 403.

The scenario comes from the X-Fake-Scenario header, else from the model name (e.g. "tools"),
else "text": text, tools, error_midstream, rate_limit (429 with RetryInfo), server_error (500),
drop (connection closed mid-stream), stall (headers and one event, then silence), slow (half a
second per event). Stdlib only.
"""
import json
import re
import time
from http.server import BaseHTTPRequestHandler

from fake_server import FakeProviderMixin, recorded, serve
from urllib.parse import parse_qs, urlsplit

SCENARIOS = {"text", "tools", "error_midstream", "rate_limit", "server_error", "drop", "stall", "slow"}
PATH = re.compile(r"^/v1beta/models/([^/:]+):streamGenerateContent$")


def error_body(code, message, status, details=None):
    error = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def response(model, parts=None, finish=None, usage=None):
    candidate = {"content": {"parts": parts or [], "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    obj = {"candidates": [candidate]}
    obj["usageMetadata"] = usage or {"promptTokenCount": 8, "totalTokenCount": 8}
    obj["modelVersion"] = model
    obj["responseId"] = "fake-response-1"
    return obj


FINAL_USAGE = {"promptTokenCount": 8, "candidatesTokenCount": 5, "totalTokenCount": 13}


class Handler(FakeProviderMixin, BaseHTTPRequestHandler):
    json_content_type = "application/json; charset=UTF-8"
    json_dumps_options = {"indent": 2}
    json_suffix = b"\n"

    def event(self, obj):
        data = ("data: " + json.dumps(obj, separators=(",", ": ")) + "\r\n\r\n").encode()
        self.write_chunk(data)

    def do_GET(self):
        if urlsplit(self.path).path == "/__requests":
            self.send_json(200, recorded())
            return
        self.record(None)
        self.send_json(404, error_body(404, "Not found.", "NOT_FOUND"))

    def do_POST(self):
        body = self.read_json_body()
        self.record(body)
        url = urlsplit(self.path)
        match = PATH.match(url.path)
        if not match:
            return self.send_json(404, error_body(404, "Not found.", "NOT_FOUND"))
        if not self.headers.get("x-goog-api-key"):
            return self.send_json(403, error_body(
                403, "Method doesn't allow unregistered callers (callers without established identity). "
                     "Please use API Key or other form of API consumer identity to call this API.", "PERMISSION_DENIED"))
        if parse_qs(url.query).get("alt") != ["sse"]:
            return self.send_json(400, error_body(400, "This fake only streams with alt=sse.", "INVALID_ARGUMENT"))
        if not isinstance(body, dict) or not body.get("contents"):
            return self.send_json(400, error_body(400, "* GenerateContentRequest.contents: contents is not specified\n",
                                                  "INVALID_ARGUMENT"))
        model = match.group(1)
        scenario = self.headers.get("X-Fake-Scenario") or (model if model in SCENARIOS else "text")
        if scenario == "rate_limit":
            return self.send_json(429, error_body(
                429, "You exceeded your current quota, please check your plan and billing details.", "RESOURCE_EXHAUSTED",
                [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}]))
        if scenario == "server_error":
            return self.send_json(500, error_body(500, "An internal error has occurred.", "INTERNAL"))

        self.start_stream("text/event-stream")
        if scenario == "tools":
            declarations = (body.get("tools") or [{}])[0].get("functionDeclarations") or [{}]
            call = {"functionCall": {"name": declarations[0].get("name", "get_weather"), "args": {"city": "Paris"}}}
            self.event(response(model, [call], "STOP", FINAL_USAGE))
        else:
            words = ["Hello", " from", " the", " fake", " Gemini."]
            for index, word in enumerate(words):
                if scenario == "slow":
                    time.sleep(0.5)
                last = index == len(words) - 1
                self.event(response(model, [{"text": word}], "STOP" if last else None, FINAL_USAGE if last else None))
                if index == 1 and scenario == "error_midstream":
                    self.event(error_body(503, "The model is overloaded. Please try again later.", "UNAVAILABLE"))
                    break
                if index == 1 and scenario == "drop":
                    self.drop()
                    return
                if index == 0 and scenario == "stall":
                    time.sleep(3600)
        self.end_stream()



if __name__ == "__main__":
    serve(Handler)
