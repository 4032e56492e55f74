package notify

import (
	"fmt"
	"net"
	"os"
	"testing"
)

// helperEnv makes the test binary act as a worker sending sd_notify
// instead of running tests (the TestMain helper-process pattern).
const helperEnv = "DROVER_NOTIFY_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "notify":
		os.Exit(helperNotify())
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(2)
	}
}

// helperNotify is what sd_notify(0, "READY=1\nSTATUS=hello") does.
func helperNotify() int {
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: os.Getenv("NOTIFY_SOCKET"), Net: "unixgram"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("READY=1\nSTATUS=hello")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
