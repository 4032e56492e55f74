// Package notify is the receiving end of sd_notify: the NOTIFY_SOCKET
// through which workers report READY=1, STATUS=… and WATCHDOG=1. It only
// receives and parses datagrams; what a message means for a worker is the
// pool's business, so this package knows nothing of workers.
package notify
