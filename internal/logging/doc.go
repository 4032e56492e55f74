// Package logging owns drover's own log output on stderr.
//
// drover is PID 1: a stderr that stops draining (a stuck log shipper, a
// paused `kubectl logs -f` relay, a full FIFO) must never stop it from
// reaping, restarting workers, answering probes or shutting down. So no
// goroutine that supervises anything writes to stderr: a handler formats
// the line and hands it to a bounded queue without waiting, and one writer
// goroutine, which holds nothing anyone else needs, does the write(2).
// When the queue is full the line is dropped and counted (Output.Dropped,
// exported as drover_log_lines_dropped_total); once the writer gets
// through again, one line says how many were lost, in the place where
// they were lost.
//
// Everything drover echoes comes from somewhere it does not control:
// values of variables, their names, paths, command names, error texts of
// the kernel. The handlers escape every control character (C0, DEL, C1,
// other non-printable runes) and invalid UTF-8 in the message and in every
// attribute, for the text and the JSON form alike, so no call site can
// forget to and no input can forge a line or drive a terminal.
//
// Workers' output is none of this package's business: workers inherit
// fd 2 directly and drover never copies it.
package logging
