package sockwait

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestMain doubles as the helper processes of the real-process tests: a
// Go server on fd 3, and a checker run with other capabilities.
func TestMain(m *testing.M) {
	switch os.Getenv("SOCKWAIT_HELPER") {
	case "":
		os.Exit(m.Run())
	case "go-server":
		fmt.Println("ready-to-listen")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		l, err := net.FileListener(os.NewFile(3, "listener"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		_ = http.Serve(l, http.NotFoundHandler())
	case "check":
		os.Exit(helperCheck())
	}
	os.Exit(2)
}

// helperCheck checks the pid in SOCKWAIT_PID for the socket inode in
// SOCKWAIT_INO and prints the result: the test runs it with capabilities
// dropped. SOCKWAIT_NOSWITCH=1 reads with drover's own credentials only.
func helperCheck() int {
	pid, _ := strconv.Atoi(os.Getenv("SOCKWAIT_PID"))
	ino, _ := strconv.ParseUint(os.Getenv("SOCKWAIT_INO"), 10, 64)
	c, err := New("/proc")
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	if os.Getenv("SOCKWAIT_NOSWITCH") == "1" {
		c.switchCreds = false
	}
	r, err := c.Check(pid, []Socket{{Ino: ino}})
	fmt.Printf("switch=%v listening=%v how=%s err=%v perm=%v\n", c.switchCreds, r.Listening, r.How, err, errors.Is(err, fs.ErrPermission))
	return 0
}

func fields(s string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.Fields(s) {
		if k, v, ok := strings.Cut(f, "="); ok {
			out[k] = v
		}
	}
	return out
}
