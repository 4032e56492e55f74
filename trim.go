package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// trimStartupPages gives back the pages of drover's own executable that
// only start-up touched. Package initialisation (client_golang, protobuf)
// reads code and tables scattered over the whole binary, and the kernel maps
// 64 KiB around every such fault, so a Go binary's resident size right
// after start is mostly file pages it will not touch again. They are clean
// read-only pages of the executable: dropping them loses nothing, and what
// drover still uses comes back from the page cache on the next touch.
// Only the read-only and executable mappings are dropped, never data.
func trimStartupPages() {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-00964000 r-xp 00000000 fd:01 1234 /usr/local/bin/drover
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || (fields[1] != "r-xp" && fields[1] != "r--p") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED)
	}
}
