"""An HTTP server for drover's readiness tests, like a Python app would be.

It answers "worker=ID pid=PID". Environment:
  READY_SLEEP  seconds spent "importing the app" before it serves
  READY_MODE   fd3 (default): serve on drover's socket, fd 3;
               own-port: bind drover's port itself (address already in use);
               other-port: serve on a port of its own, never on fd 3
  READY_OUT    a directory: <pid>.listen gets time.time_ns() just before it
               starts waiting for connections
SIGTERM ends it once the request in hand is answered.
"""
import os
import signal
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer


class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"worker={os.environ.get('DROVER_WORKER_ID')} pid={os.getpid()}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class OnFD3(HTTPServer):
    def server_bind(self):
        pass

    def server_activate(self):
        pass


time.sleep(float(os.environ.get("READY_SLEEP", "0")))
mode = os.environ.get("READY_MODE", "fd3")
if mode == "fd3":
    srv = OnFD3(("", 0), Hello, bind_and_activate=False)
    srv.socket = socket.socket(fileno=3)
    # Several workers poll one socket; the one that loses the race for a
    # connection must not then block in accept, deaf to SIGTERM's flag.
    srv.socket.setblocking(False)
elif mode == "own-port":
    fd3 = socket.socket(fileno=3)
    host, port = fd3.getsockname()[:2]
    fd3.detach()
    srv = HTTPServer((host, port), Hello)  # OSError: address already in use
else:
    srv = HTTPServer(("127.0.0.1", 0), Hello)
    print("serving on a port of its own:", srv.server_address, flush=True)


def stop(*_):
    srv._BaseServer__shutdown_request = True


signal.signal(signal.SIGTERM, stop)
out = os.environ.get("READY_OUT")
if out:
    with open(os.path.join(out, f"{os.getpid()}.listen"), "w") as f:
        f.write(str(time.time_ns()))
srv.serve_forever(poll_interval=0.1)
sys.exit(0)
