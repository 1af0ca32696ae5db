"""Plumbing shared by the fake providers: chunked HTTP/1.1 writing, a mid-stream drop, and the
start-up that prints the port. Each fake keeps its own wire format and scenarios."""
import socket
from http.server import ThreadingHTTPServer


class ChunkedStreamMixin:
    """For BaseHTTPRequestHandler subclasses that stream a chunked response."""

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
