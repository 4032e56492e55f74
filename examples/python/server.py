"""A tiny HTTP app served on the socket drover passes as fd 3.

Run it with: DROVER_LISTEN=:8080 drover -- python3 examples/python/server.py
"""
import os
import socket
from http.server import BaseHTTPRequestHandler, HTTPServer


class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"hello from worker {os.environ.get('DROVER_WORKER_ID')} pid {os.getpid()}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class InheritedServer(HTTPServer):
    def server_bind(self):
        pass  # drover already bound and listens on fd 3

    def server_activate(self):
        pass


if __name__ == "__main__":
    assert os.environ.get("LISTEN_PID") == str(os.getpid()), "not started through drover"
    srv = InheritedServer(("", 0), Hello, bind_and_activate=False)
    srv.socket = socket.socket(fileno=3)
    srv.serve_forever()
