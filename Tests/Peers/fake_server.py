"""Plumbing shared by the fake providers: request recording (served at GET /__requests), JSON
responses, chunked streaming, a mid-stream drop, and the start-up that prints the port. Each fake
keeps its own wire format, error shapes and scenarios."""
import json
import socket
import threading
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_RECORDED = []
_LOCK = threading.Lock()


def recorded():
    """Every request seen so far, oldest first."""
    with _LOCK:
        return list(_RECORDED)


class FakeProviderMixin:
    """For BaseHTTPRequestHandler subclasses. Subclasses may change how JSON bodies look."""

    protocol_version = "HTTP/1.1"
    json_content_type = "application/json"
    json_dumps_options = {}
    json_suffix = b""

    def log_message(self, *args):
        pass  # keep test output quiet

    def read_json_body(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def record(self, body):
        """Keeps the request (method, path, query, headers as sent, JSON body) for /__requests."""
        parts = urlsplit(self.path)
        with _LOCK:
            _RECORDED.append({"method": self.command, "path": parts.path, "query": parse_qs(parts.query),
                              "headers": dict(self.headers.items()), "body": body})

    def send_json(self, status, value, headers=()):
        data = json.dumps(value, **self.json_dumps_options).encode() + self.json_suffix
        self.send_response(status)
        self.send_header("Content-Type", self.json_content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, text in (headers.items() if isinstance(headers, dict) else headers):
            self.send_header(name, text)
        self.end_headers()
        self.wfile.write(data)

    def start_stream(self, content_type, headers=()):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        for name, text in headers:
            self.send_header(name, text)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_stream(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def drop(self):
        """Closes the connection without the terminating chunk, as a dropped upstream would."""
        self.close_connection = True
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)


def serve(handler_class):
    """Binds 127.0.0.1 on a free port, prints the port as the first line, serves until killed."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    server.daemon_threads = True
    server.request_queue_size = 256
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
