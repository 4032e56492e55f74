// Command probe does the parts of bench/run that shell cannot time finely
// enough: CPU in nanoseconds, 10,000 orphans exiting at once, signal
// latency across processes, kill -9 recovery and a counting client loop.
// It is built into a temporary directory by bench/run, never committed.
//
// Every subcommand prints plain numbers (one sample per line, or key=value)
// so bench/run can take medians with sort and awk.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe cpu|rss|orphans|sigchild|siglat|killrec|load ...")
		os.Exit(2)
	}
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "cpu":
		err = cpuCmd(args)
	case "rss":
		err = rssCmd(args)
	case "orphans":
		err = orphansCmd(args)
	case "orphan-fork":
		err = orphanFork(args)
	case "sigchild":
		err = sigChild()
	case "siglat":
		err = sigLat(args)
	case "killrec":
		err = killRec(args)
	case "load":
		err = load(args)
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

// cpuNs is the CPU time of every thread of pid, in nanoseconds, from
// schedstat (the stat file only has 10 ms ticks, too coarse for an idle
// supervisor); it falls back to ticks where schedstat is missing.
func cpuNs(pid int) (int64, error) {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var sum int64
	ok := false
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) > 0 {
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err == nil {
				sum += n
				ok = true
			}
		}
	}
	if ok {
		return sum, nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return (ut + st) * 10_000_000, nil
}

func cpuCmd(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: probe cpu PID")
	}
	pid, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	n, err := cpuNs(pid)
	if err != nil {
		return err
	}
	fmt.Println(n)
	return nil
}

func rssCmd(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: probe rss PID")
	}
	b, err := os.ReadFile("/proc/" + args[0] + "/status")
	if err != nil {
		return err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			fmt.Println(f[1])
			return nil
		}
	}
	return errors.New("no VmRSS")
}

// children lists the children of pid across all its threads: an orphan is
// reparented to one of the reaper's threads, not always the leader.
func children(pid int) []int {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

func descendants(pid int) map[int]bool {
	out := map[int]bool{}
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children(p) {
			if !out[c] {
				out[c] = true
				queue = append(queue, c)
			}
		}
	}
	return out
}

func monoNs() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// orphansCmd runs as the only child of the supervisor under test, which is
// PID 1 of a fresh PID namespace. It makes -n orphans (children of PID 1)
// and reports how long PID 1 took to reap them all and the CPU it used.
// burst: all exist first, then exit at the same moment (one pipe closes).
// churn: each is made and exits at once, as fast as they can be made.
func orphansCmd(args []string) error {
	fs := flag.NewFlagSet("orphans", flag.ContinueOnError)
	n := fs.Int("n", 10000, "orphans")
	mode := fs.String("mode", "burst", "burst or churn")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if os.Getppid() != 1 {
		return errors.New("orphans must run as the child of PID 1 (unshare --pid --fork --mount-proc SUPERVISOR -- probe orphans)")
	}
	self := os.Getpid()
	others := func() int {
		c := 0
		for _, p := range children(1) {
			if p != self {
				c++
			}
		}
		return c
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	exe, _ := os.Executable()
	fork := exec.Command(exe, "orphan-fork", "-n", strconv.Itoa(*n), "-mode", *mode)
	fork.ExtraFiles = []*os.File{r}
	fork.Stderr = os.Stderr
	var cpu0, t0 int64
	tSetup := time.Now()
	if *mode == "churn" {
		cpu0, t0 = mustCPU(1), monoNs()
	}
	if err := fork.Run(); err != nil {
		return fmt.Errorf("orphan-fork: %w", err)
	}
	r.Close()
	if *mode == "burst" {
		if got := others(); got < *n {
			return fmt.Errorf("only %d of %d orphans were reparented to PID 1", got, *n)
		}
		cpu0, t0 = mustCPU(1), monoNs()
		w.Close()
	}
	deadline := time.Now().Add(120 * time.Second)
	for others() > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d orphans still unreaped after 120s", others())
		}
		time.Sleep(time.Millisecond)
	}
	t1, cpu1 := monoNs(), mustCPU(1)
	fmt.Printf("ms=%.1f cpu_ms=%.1f total_s=%.1f\n", float64(t1-t0)/1e6, float64(cpu1-cpu0)/1e6, time.Since(tSetup).Seconds())
	return nil
}

func mustCPU(pid int) int64 {
	n, _ := cpuNs(pid)
	return n
}

// rawFork forks without the Go runtime: the child may only make raw system
// calls (it has one thread and a copy of the heap nobody maintains).
func rawFork() uintptr {
	pid, _, errno := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if errno != 0 {
		return ^uintptr(0)
	}
	return pid
}

// orphanFork is the middle process: its children outlive it and so become
// PID 1's. Burst children block reading fd 3 until the last writer closes
// it; churn children fork a grandchild and exit, so the grandchild is
// orphaned and exits at once.
func orphanFork(args []string) error {
	fs := flag.NewFlagSet("orphan-fork", flag.ContinueOnError)
	n := fs.Int("n", 10000, "orphans")
	mode := fs.String("mode", "burst", "burst or churn")
	if err := fs.Parse(args); err != nil {
		return err
	}
	runtime.LockOSThread()
	buf := make([]byte, 1)
	bp := uintptr(unsafe.Pointer(&buf[0]))
	for i := 0; i < *n; i++ {
		pid := rawFork()
		switch {
		case pid == ^uintptr(0):
			return fmt.Errorf("fork failed after %d", i)
		case pid == 0 && *mode == "burst":
			syscall.RawSyscall(syscall.SYS_READ, 3, bp, 1)
			syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
		case pid == 0:
			syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
			syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
		case *mode == "churn":
			var ws syscall.WaitStatus
			for {
				_, err := syscall.Wait4(int(pid), &ws, 0, nil)
				if err != syscall.EINTR {
					break
				}
			}
		}
	}
	runtime.KeepAlive(buf)
	return nil
}

// sigChild prints "ready", then the CLOCK_MONOTONIC time at which each
// SIGUSR1 reached it.
func sigChild() error {
	ch := make(chan os.Signal, 64)
	signal.Notify(ch, syscall.SIGUSR1)
	signal.Ignore(syscall.SIGHUP, syscall.SIGUSR2)
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	fmt.Println("ready")
	for {
		select {
		case <-ch:
			fmt.Println(monoNs())
		case <-term:
			return nil
		}
	}
}

// sigLat starts CMD (a supervisor running "probe sigchild"), sends SIGUSR1
// to the supervisor -n times and prints each latency to the child's
// handler in microseconds.
func sigLat(args []string) error {
	fs := flag.NewFlagSet("siglat", flag.ContinueOnError)
	n := fs.Int("n", 50, "signals")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	}()
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() (string, error) {
		select {
		case l, ok := <-lines:
			if !ok {
				return "", errors.New("supervisor exited")
			}
			return l, nil
		case <-time.After(10 * time.Second):
			return "", errors.New("timed out waiting for the child")
		}
	}
	if l, err := next(); err != nil || l != "ready" {
		return fmt.Errorf("child not ready: %q %v", l, err)
	}
	time.Sleep(200 * time.Millisecond) // let the supervisor finish starting
	for i := 0; i < *n; i++ {
		t0 := monoNs()
		if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
			return err
		}
		l, err := next()
		if err != nil {
			return err
		}
		t1, err := strconv.ParseInt(l, 10, 64)
		if err != nil {
			return fmt.Errorf("child said %q", l)
		}
		fmt.Printf("%.1f\n", float64(t1-t0)/1e3)
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

var pidRe = regexp.MustCompile(`pid (\d+)`)

// servedBy asks url on a new connection and returns the worker pid its
// body names ("... pid N").
func servedBy(c *http.Client, url string) (int, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := pidRe.FindSubmatch(b)
	if resp.StatusCode != 200 || m == nil {
		return 0, fmt.Errorf("status %d body %q", resp.StatusCode, b)
	}
	return strconv.Atoi(string(m[1]))
}

// alive: pid exists and is not a zombie (an exited child of bench/run stays
// a zombie until the script waits for it).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

func client(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
}

// killRec kills one worker of the supervisor -sup with SIGKILL and prints
// "run_ms accept_ms": until a new process appears under the supervisor, and
// until that process answers a request.
func killRec(args []string) error {
	fs := flag.NewFlagSet("killrec", flag.ContinueOnError)
	sup := fs.Int("sup", 0, "supervisor pid")
	url := fs.String("url", "", "app url")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c := client(2 * time.Second)
	before := descendants(*sup)
	victim, err := servedBy(c, *url)
	if err != nil {
		return err
	}
	if !before[victim] {
		return fmt.Errorf("pid %d answered but is not under supervisor %d", victim, *sup)
	}
	t0 := time.Now()
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		return err
	}
	deadline := t0.Add(30 * time.Second)
	newPid := 0
	for newPid == 0 {
		for p := range descendants(*sup) {
			if !before[p] {
				newPid = p
			}
		}
		if time.Now().After(deadline) {
			return errors.New("no replacement within 30s")
		}
		if newPid == 0 {
			time.Sleep(200 * time.Microsecond)
		}
	}
	tRun := time.Since(t0)
	for {
		p, err := servedBy(c, *url)
		if err == nil && p != victim && !before[p] {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("replacement not answering within 30s")
		}
	}
	tAcc := time.Since(t0)
	fmt.Printf("%.1f %.1f\n", float64(tRun.Microseconds())/1e3, float64(tAcc.Microseconds())/1e3)
	return nil
}

// load runs -c sequential clients (Connection: close) against -url until
// SIGTERM or SIGINT, or until the process -watch has exited (so requests
// refused after the supervisor is gone are not counted), then prints
// "ok=N failed=M".
func load(args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	url := fs.String("url", "", "app url")
	conc := fs.Int("c", 4, "concurrent clients")
	watch := fs.Int("watch", 0, "stop when this pid has exited")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if *watch > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			for ctx.Err() == nil && alive(*watch) {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
	}
	var ok, failed atomic.Int64
	done := make(chan struct{})
	for i := 0; i < *conc; i++ {
		go func() {
			c := client(5 * time.Second)
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", *url, nil)
				resp, err := c.Do(req)
				if ctx.Err() != nil {
					break
				}
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err == nil && resp.StatusCode == 200 {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
			done <- struct{}{}
		}()
	}
	fmt.Fprintln(os.Stderr, "load: running")
	<-ctx.Done()
	for i := 0; i < *conc; i++ {
		<-done
	}
	fmt.Printf("ok=%d failed=%d\n", ok.Load(), failed.Load())
	return nil
}
