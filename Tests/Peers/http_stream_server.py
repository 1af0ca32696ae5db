"""A real HTTP/1.1 server for HTTPClient tests, standard library only.

Binds 127.0.0.1 on a free port and prints the port on stdout. Routes:
  /stream?n=N&delay=MS   N SSE events, chunked, one per MS; each carries its send time
  /echo?delay=MS         the request's method, path, headers and body back as JSON (MS later)
  /status?code=C&retry_after=S   status C with Retry-After and a small body
  /stall?bytes=B         a head and B bytes, then silence until the client leaves
  /stall-head            silence before any byte of a response
  /drop?n=N              a chunked head and N events, then the connection is cut mid-stream
  /stats                 connections accepted and closed by clients (excluding this request's)
"""
import json
import select
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

lock = threading.Lock()
stats = {"accepted": 0, "closed": 0, "stall_peer_closed": 0}


def bump(key):
    with lock:
        stats[key] += 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        bump("accepted")

    def finish(self):
        super().finish()
        bump("closed")

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.route()

    def do_POST(self):
        self.route()

    def do_PUT(self):
        self.route()

    def do_DELETE(self):
        self.route()

    def route(self):
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        handler = {
            "/stream": self.stream, "/echo": self.echo, "/status": self.status, "/stall": self.stall,
            "/stall-head": self.stall_head, "/drop": self.drop, "/stats": self.stats,
        }.get(url.path)
        if handler is None:
            self.send_small(404, b"not found")
        else:
            handler(query, body)

    def send_small(self, code, body, content_type="text/plain", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def start_chunked(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def stream(self, query, body):
        count, delay = int(query.get("n", "5")), int(query.get("delay", "0")) / 1000
        self.start_chunked()
        for i in range(count):
            if i and delay:
                time.sleep(delay)
            self.chunk(b"data: %d %.6f\n\n" % (i, time.time()))
        self.chunk(b"")

    def echo(self, query, body):
        # delay=MS answers that much later, as a server that does some work does.
        time.sleep(int(query.get("delay", "0")) / 1000)
        reply = {
            "method": self.command, "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": body.decode("latin-1"),
        }
        self.send_small(200, json.dumps(reply).encode(), "application/json")

    def status(self, query, body):
        self.send_small(int(query.get("code", "429")), b'{"error":"slow down"}', "application/json",
                        [("Retry-After", query.get("retry_after", "7"))])

    def wait_for_client_close(self):
        while True:
            ready, _, _ = select.select([self.connection], [], [], 60)
            if not ready or not self.connection.recv(1):
                return

    def stall(self, query, body):
        self.start_chunked()
        self.chunk(b"x" * int(query.get("bytes", "10")))
        self.wait_for_client_close()
        bump("stall_peer_closed")
        self.close_connection = True

    def stall_head(self, query, body):
        self.wait_for_client_close()
        self.close_connection = True

    def drop(self, query, body):
        self.start_chunked()
        for i in range(int(query.get("n", "2"))):
            self.chunk(b"data: %d\n\n" % i)
        self.close_connection = True

    def stats(self, query, body):
        with lock:
            snapshot = dict(stats)
        snapshot["accepted"] -= 1
        self.send_small(200, json.dumps(snapshot).encode(), "application/json", [("Connection", "close")])
        self.close_connection = True


class Server(ThreadingHTTPServer):
    # The default backlog of 5 drops SYNs when a test opens 50 connections at once.
    request_queue_size = 256
    daemon_threads = True


def main():
    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
