# A server on fd 3 for sockwait's tests, waiting in the way argv[1] names.
# It prints "ready-to-listen" and waits for a line on stdin before it starts
# waiting for connections, so a test sees it both before and after.
import ctypes, os, select, socket, sys

how = sys.argv[1]
sock = socket.socket(fileno=3)
print("ready-to-listen", flush=True)
sys.stdin.readline()
libc = ctypes.CDLL(None, use_errno=True)

if how == "accept":  # Python's socket.accept: accept4
    sock.accept()
elif how == "c-accept":  # a C server's blocking accept(2)
    libc.accept(3, None, None)
elif how == "dup-accept":  # the socket under another descriptor
    socket.socket(fileno=os.dup(3)).accept()
elif how == "select":
    select.select([sock], [], [])
elif how == "poll":
    p = select.poll()
    p.register(sock, select.POLLIN)
    p.poll()
elif how == "ppoll":
    class PollFD(ctypes.Structure):
        _fields_ = [("fd", ctypes.c_int), ("events", ctypes.c_short), ("revents", ctypes.c_short)]
    fds = (PollFD * 3)(PollFD(0, 1, 0), PollFD(-1, 0, 0), PollFD(3, 1, 0))
    libc.ppoll(fds, 3, None, None)
elif how == "pselect":
    bits = (ctypes.c_ulong * 16)()
    bits[0] = 1 << 3
    libc.pselect(4, bits, None, None, None, None)
elif how == "http.server":  # socketserver: a PollSelector, 0.5 s at a time
    import http.server
    srv = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler, bind_and_activate=False)
    srv.socket.close()
    srv.socket = sock
    srv.serve_forever()
elif how == "asyncio":
    import asyncio

    async def main():
        srv = await asyncio.start_server(lambda r, w: w.close(), sock=sock)
        await srv.serve_forever()

    asyncio.run(main())
elif how == "thread-accept":  # the main thread waits elsewhere, a thread accepts
    import threading
    threading.Thread(target=sock.accept, daemon=True).start()
    select.select([sys.stdin], [], [])
elif how == "other-fd":  # waits, but on a socket of its own
    own = socket.socket()
    own.bind(("127.0.0.1", 0))
    own.listen()
    print("own-port", own.getsockname()[1], flush=True)
    own.accept()
elif how == "idle":  # holds fd 3, waits for stdin
    sys.stdin.readline()
else:
    sys.exit("unknown mode " + how)
