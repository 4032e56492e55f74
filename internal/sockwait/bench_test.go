package sockwait

import (
	"io"
	"os"
	"syscall"
	"testing"
	"time"
)

// The cost of one check of a real server's tree, before it listens (the
// whole tree read: what each poll of a starting worker costs) and after.
// cpu-µs/op is drover's user+system CPU per check, from getrusage.
func BenchmarkCheck(b *testing.B) {
	servers := []struct {
		name string
		argv func() []string
	}{
		{"node", func() []string { return []string{"node", "testdata/server.js"} }},
		{"python-asyncio", func() []string { return []string{"/usr/bin/python3", "testdata/server.py", "asyncio"} }},
		{"python-select", func() []string { return []string{"/usr/bin/python3", "testdata/server.py", "select"} }},
		{"go", func() []string { return []string{"/usr/bin/env", "SOCKWAIT_HELPER=go-server", os.Args[0]} }},
	}
	for _, sv := range servers {
		for _, listening := range []bool{false, true} {
			name := sv.name + "/starting"
			if listening {
				name = sv.name + "/listening"
			}
			b.Run(name, func(b *testing.B) {
				f, sock := listenSocket(b)
				s := startServer(b, f, nil, sv.argv()...)
				select {
				case <-s.lines:
				case <-time.After(20 * time.Second):
					b.Fatal("server did not start")
				}
				c, _ := New("/proc")
				pid := s.cmd.Process.Pid
				if listening {
					io.WriteString(s.in, "go\n")
					deadline := time.Now().Add(20 * time.Second)
					for r, _ := c.Check(pid, []Socket{sock}); !r.Listening; r, _ = c.Check(pid, []Socket{sock}) {
						if time.Now().After(deadline) {
							b.Fatal("never listened")
						}
						time.Sleep(time.Millisecond)
					}
				}
				var before, after syscall.Rusage
				_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					r, err := c.Check(pid, []Socket{sock})
					if err != nil || r.Listening != listening {
						b.Fatalf("%+v %v", r, err)
					}
				}
				b.StopTimer()
				_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
				cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
				b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
			})
		}
	}
}
