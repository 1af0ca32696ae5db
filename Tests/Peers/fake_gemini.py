#!/usr/bin/env python3
"""A fake Google Gemini API for tests: POST /v1beta/models/{model}:streamGenerateContent?alt=sse.

Binds 127.0.0.1 on a free port and prints the port as its first stdout line. Every request is
recorded (method, path, query, headers, JSON body) and listed by GET /__requests. Requests
without an x-goog-api-key header get Gemini's 403.

The scenario comes from the X-Fake-Scenario header, else from the model name (e.g. "tools"),
else "text": text, tools, thinking, error_midstream, rate_limit (429 with RetryInfo), server_error
(500), drop (connection closed mid-stream), stall (headers and one event, then silence), slow
(half a second per event).

"thinking" is a Gemini 3 model in a tool loop: asked anew it calls (in parallel) up to two of the
declared functions, only the first call carrying a thoughtSignature, as Gemini does; once the
last turn holds function responses it answers in text, the signature coming last on an empty text
part, as Gemini streams it. It enforces the documented validation: in the current turn (after the
newest user content with text) each model step's first functionCall part must carry its
signature, and every signature sent must be one this fake issued (or a documented dummy), else 400.

Every request's tools are checked as the API does: `parameters` must stay within Gemini's Schema
(its OpenAPI subset), and `parameters` and `parametersJsonSchema` are mutually exclusive.
Stdlib only.
"""
import base64
import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler

from fake_server import FakeProviderMixin, recorded, serve
from urllib.parse import parse_qs, urlsplit

SCENARIOS = {"text", "tools", "thinking", "error_midstream", "rate_limit", "server_error", "drop", "stall", "slow"}
PATH = re.compile(r"^/v1beta/models/([^/:]+):streamGenerateContent$")

# The fields of the API's Schema object: all that FunctionDeclaration.parameters accepts.
SCHEMA_FIELDS = {"type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties",
                 "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf",
                 "propertyOrdering", "default", "items", "minimum", "maximum"}
# Values the thought-signatures page documents for calls the model did not make.
DUMMY_SIGNATURES = {"skip_thought_signature_validator", "context_engineering_is_the_way_to_go"}
_ISSUED = set()
_ISSUED_LOCK = threading.Lock()


def issue_signature(*seed):
    """An opaque base64 signature, remembered so the fake can tell it comes back unchanged."""
    digest = hashlib.sha256("|".join(map(str, seed)).encode()).digest()
    signature = base64.b64encode(digest + hashlib.sha256(digest).digest()[:20]).decode()
    with _ISSUED_LOCK:
        _ISSUED.add(signature)
    return signature


def schema_error(schema, where):
    """The API's complaint about the first field of `schema` outside its Schema object, or None."""
    if not isinstance(schema, dict):
        return None
    for key, value in schema.items():
        if key not in SCHEMA_FIELDS:
            return f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': Cannot find field."
        nested = []
        if key == "properties" and isinstance(value, dict):
            nested = [(sub, f"{where}.properties[{index}].value") for index, sub in enumerate(value.values())]
        elif key == "items":
            nested = [(value, f"{where}.items")]
        elif key == "anyOf" and isinstance(value, list):
            nested = [(sub, f"{where}.any_of[{index}]") for index, sub in enumerate(value)]
        for sub, path in nested:
            error = schema_error(sub, path)
            if error:
                return error
    return None


def tools_error(body):
    for t, tool in enumerate(body.get("tools") or []):
        for d, declaration in enumerate(tool.get("functionDeclarations") or []):
            where = f"tools[{t}].function_declarations[{d}]"
            if "parameters" in declaration and "parametersJsonSchema" in declaration:
                return f"* GenerateContentRequest.{where}: parameters and parameters_json_schema are mutually exclusive\n"
            if "parametersJsonSchema" in declaration and not isinstance(declaration["parametersJsonSchema"], dict):
                return f"* GenerateContentRequest.{where}.parameters_json_schema: must be a JSON object\n"
            error = schema_error(declaration.get("parameters"), f"{where}.parameters")
            if error:
                return error
    return None


def signature_error(contents):
    """Gemini 3's check of thought signatures in a request's history, or None."""
    for index, content in enumerate(contents):
        for part in content.get("parts") or []:
            signature = part.get("thoughtSignature")
            if signature is not None and signature not in DUMMY_SIGNATURES:
                with _ISSUED_LOCK:
                    known = signature in _ISSUED
                if not known:
                    return f"Corrupted thought signature in the `{index}.` content block."
    start = 0
    for index, content in enumerate(contents):
        if content.get("role", "user") == "user" and any("text" in part for part in content.get("parts") or []):
            start = index + 1
    for index in range(start, len(contents)):
        content = contents[index]
        calls = [part for part in content.get("parts") or [] if "functionCall" in part]
        if content.get("role") == "model" and calls and "thoughtSignature" not in calls[0]:
            name = calls[0]["functionCall"].get("name")
            return f"Function call `{name}` in the `{index}.` content block is missing a `thought_signature`."
    return None


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
        error = tools_error(body)
        if error:
            return self.send_json(400, error_body(400, error, "INVALID_ARGUMENT"))
        model = match.group(1)
        scenario = self.headers.get("X-Fake-Scenario") or (model if model in SCENARIOS else "text")
        if scenario == "thinking":
            error = signature_error(body["contents"])
            if error:
                return self.send_json(400, error_body(400, error, "INVALID_ARGUMENT"))
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
        elif scenario == "thinking":
            self.thinking(model, body)
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

    def thinking(self, model, body):
        contents = body["contents"]
        usage = dict(FINAL_USAGE, thoughtsTokenCount=40, totalTokenCount=FINAL_USAGE["totalTokenCount"] + 40)
        last = contents[-1].get("parts") or []
        if any("functionResponse" in part for part in last):
            self.event(response(model, [{"text": "It is sunny"}]))
            self.event(response(model, [{"text": " in Paris."}]))
            signature = issue_signature(model, len(contents), "text")
            self.event(response(model, [{"text": "", "thoughtSignature": signature}], "STOP", usage))
            return
        declarations = (body.get("tools") or [{}])[0].get("functionDeclarations") or [{"name": "get_weather"}]
        parts = []
        for declaration in declarations[:2]:
            part = {"functionCall": {"name": declaration.get("name"), "args": {"city": "Paris"}}}
            if not parts:
                part["thoughtSignature"] = issue_signature(model, len(contents), declaration.get("name"))
            parts.append(part)
        self.event(response(model, parts, "STOP", usage))



if __name__ == "__main__":
    serve(Handler)
