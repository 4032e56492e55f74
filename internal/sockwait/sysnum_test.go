package sockwait

import (
	"reflect"
	"runtime"
	"testing"
	"unsafe"
)

// checkTable compares archs[name] with the numbers golang.org/x/sys has
// for the architecture the test runs on, and the layout with Go's own.
func checkTable(t *testing.T, name string, want map[int]call) {
	t.Helper()
	a := archs[name]
	if a == nil || name != runtime.GOARCH {
		t.Fatalf("no table for %s (running on %s)", name, runtime.GOARCH)
	}
	if !reflect.DeepEqual(a.calls, want) {
		t.Errorf("%s table %v, want %v", name, a.calls, want)
	}
	if a.word != int(unsafe.Sizeof(uintptr(0))) {
		t.Errorf("%s long is %d bytes, want %d", name, a.word, unsafe.Sizeof(uintptr(0)))
	}
	var probe uint16 = 1
	little := *(*byte)(unsafe.Pointer(&probe)) == 1
	if got := a.order.Uint16([]byte{1, 0}) == 1; got != little {
		t.Errorf("%s byte order: little-endian %v, want %v", name, got, little)
	}
}
