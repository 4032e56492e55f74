package kfile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Read never blocks: a FIFO with no writer and a device are
// refused at once; a regular file reads up to the bound and not past it.
func TestReadProcFileNeverBlocks(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, "/dev/zero", dir} {
		done := make(chan error, 1)
		go func() {
			_, err := Read(p, 64)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("%s: %v, want not a regular file", p, err)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("%s: blocked", p)
		}
	}
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, []byte("4096\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := Read(f, 64); err != nil || string(b) != "4096\n" {
		t.Errorf("regular file: %q, %v", b, err)
	}
	if _, err := Read(f, 4); err == nil || !strings.Contains(err.Error(), "larger than 4 bytes") {
		t.Errorf("over the bound: %v", err)
	}
	if b, err := Read("/proc/self/stat", 4096); err != nil || len(b) == 0 {
		t.Errorf("/proc/self/stat: %q, %v", b, err)
	}
}
