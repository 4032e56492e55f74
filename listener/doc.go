// Package listener turns DROVER_LISTEN into listening sockets that drover
// owns for its whole life and hands to workers through the systemd
// socket-activation protocol (fds 3, 4, … plus LISTEN_FDS / LISTEN_FDNAMES).
//
// Why drover owns the sockets (design, hard decision 2): a socket that
// outlives every worker keeps queueing connections in the kernel while a
// worker is restarted or reloaded, so clients never see "connection refused"
// while drover runs. The backlog is therefore as deep as the kernel allows
// (net.core.somaxconn).
//
// Why drover never accepts (hard decision 5): the kernel balances
// connections across the processes blocked in accept on a shared socket, or
// across SO_REUSEPORT sockets. A supervisor that accepted, or merely had the
// socket in its netpoller, would compete with workers. Sockets are therefore
// made with raw socket/bind/listen calls (SOCK_CLOEXEC, blocking) and wrapped
// with os.NewFile while blocking: the Go runtime does not register blocking
// descriptors with its poller, and (*os.File).Fd, which os/exec calls for
// ExtraFiles, leaves their flags alone. Nothing in this package accepts.
//
// Blocking mode: workers get the sockets blocking, as systemd passes them
// (NonBlocking=no). Python's socket.socket(fileno=3), Node's listen({fd: 3})
// and Go's net.FileListener all cope. O_NONBLOCK belongs to the open file
// description, which drover and every worker share; a runtime that sets it
// (libuv, Go) sets it for all. drover sets blocking mode once, at Open, and
// never again: flipping it back under a running libuv worker would hang that
// worker's accept loop, which drains the queue until EAGAIN.
//
// Default names, used in LISTEN_FDNAMES when an item has no "name=":
// "tcp-PORT" (tcp-8080; tcp-0 for a kernel-chosen port), "unix-BASENAME"
// (unix-app.sock; bytes that systemd forbids in names become "_"), the
// inherited name for fd://NAME, and "fd-N" for fd://N. Names must be unique;
// two items whose default names collide (127.0.0.1:8080 and [::1]:8080) need
// explicit names. A name is 1-255 printable ASCII bytes without ':' (the
// LISTEN_FDNAMES separator, as in sd_listen_fds_with_names) and, to keep the
// comma list readable, without spaces.
//
// Addresses: an empty host (":8080") and "[::]" listen on every address of
// both families (one dual-stack IPv6 socket, IPv4 if the kernel has no IPv6),
// like Go's net.Listen("tcp", ":8080"); "0.0.0.0" is IPv4 only. A host name
// is resolved once at Open to its first address (IPv4 preferred).
//
// Inherited sockets (fd://N, fd://NAME) let systemd socket-activate drover
// itself. Open marks every descriptor drover inherited through LISTEN_FDS
// close-on-exec, referenced or not, so none leaks into workers; the ones that
// are used are re-passed explicitly.
//
// SO_REUSEPORT mode: each worker slot gets its own TCP socket, bound to the
// same address, and keeps it across restarts so its share of connections
// waits in that socket's queue while the slot's worker is replaced. Linux
// cannot spread one unix socket path or one inherited descriptor over several
// sockets, so unix and fd:// listeners stay shared by all slots in this mode.
// Closing a slot's socket (Release) resets connections still queued on it;
// callers release a slot only when shrinking the pool.
package listener
