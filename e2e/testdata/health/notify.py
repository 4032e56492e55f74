"""An app that reports readiness to drover the way sd_notify(3) does, with
nothing but the standard library: one datagram to $NOTIFY_SOCKET.

It writes NOTIFY_SOCKET to $HZ_DIR/socket, waits for $HZ_DIR/go, then sends
READY=1 with a STATUS= naming its pid, and exits 0 on SIGTERM.
"""
import os
import signal
import socket
import sys
import time


def sd_notify(message):
    addr = os.environ["NOTIFY_SOCKET"]
    if addr.startswith("@"):
        addr = "\0" + addr[1:]  # abstract namespace, as systemd spells it
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(addr)
        s.sendall(message.encode())


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    d = os.environ["HZ_DIR"]
    tmp = os.path.join(d, "socket.tmp")
    with open(tmp, "w") as f:
        f.write(os.environ.get("NOTIFY_SOCKET", "") + "\n")
    os.rename(tmp, os.path.join(d, "socket"))
    while not os.path.exists(os.path.join(d, "go")):
        if not os.path.isdir(d):
            return 3  # the test is gone
        time.sleep(0.01)
    sd_notify(f"READY=1\nSTATUS=python pid {os.getpid()}")
    while True:
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
