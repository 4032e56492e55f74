package preinit

import (
	"errors"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func TestParse(t *testing.T) {
	env := []string{"A=1", EnvExec + "=/bin/prog", EnvPidVars + "=LISTEN_PID,WATCHDOG_PID", EnvExecFD + "=5",
		EnvCred + "=1:2:3", EnvOOM + "=500", "LISTEN_PID=old", "GOMAXPROCS=1", "B=x=y"}
	s := Parse([]string{"prog", "arg"}, env, 42)
	want := Shim{Path: "/bin/prog", Args: []string{"prog", "arg"}, FD: 5, Cred: "1:2:3", OOM: "500",
		Env: []string{"A=1", "LISTEN_PID=42", "B=x=y", "WATCHDOG_PID=42"}}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", s, want)
	}
	s = Parse(nil, []string{EnvExec + "=/p", EnvPidVars + "=", EnvExecFD + "=x", "GOMAXPROCS=1", EnvGomaxprocs + "=8"}, 7)
	want = Shim{Path: "/p", Args: []string{"/p"}, FD: -1, Env: []string{"GOMAXPROCS=8"}}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", s, want)
	}
}

func TestShimEnv(t *testing.T) {
	got := ShimEnv([]string{"GOMAXPROCS=2", "X=1", "GOMAXPROCS=4"}, "/p", []string{"A", "B"}, 4)
	want := []string{EnvExec + "=/p", EnvPidVars + "=A,B", EnvExecFD + "=4", "GOMAXPROCS=1", EnvGomaxprocs + "=2", EnvGomaxprocs + "=4"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ShimEnv = %q, want %q", got, want)
	}
	// Round trip: the last GOMAXPROCS the user gave is what the program sees
	// (exec.Cmd keeps the last of duplicate keys, as getenv would not).
	s := Parse(nil, append([]string{"GOMAXPROCS=1"}, got...), 1)
	if n := strings.Count(strings.Join(s.Env, "\n")+"\n", "GOMAXPROCS="); n != 1 || !strings.Contains(strings.Join(s.Env, "\n")+"\n", "GOMAXPROCS=4\n") {
		t.Errorf("env after the shim: %q", s.Env)
	}
}

func TestCredRoundTrip(t *testing.T) {
	for _, c := range []*syscall.Credential{
		{Uid: 0, Gid: 0},
		{Uid: 65534, Gid: 65534, Groups: []uint32{1, 2, 4294967294}},
		{Uid: 4294967294, Gid: 5, NoSetGroups: true},
	} {
		got, err := decodeCred(EncodeCred(c))
		if err != nil || got.Uid != c.Uid || got.Gid != c.Gid || got.NoSetGroups != c.NoSetGroups || len(got.Groups) != len(c.Groups) {
			t.Errorf("%+v -> %q -> %+v, %v", c, EncodeCred(c), got, err)
		}
	}
	for _, bad := range []string{"", "1:2", "1:2:3:4", "x:2:", "1:4294967296:", "1:2:a", "-1:2:", "1:2:1,,2"} {
		if _, err := decodeCred(bad); err == nil {
			t.Errorf("decodeCred(%q) accepted", bad)
		}
	}
}

type fakeCreds struct {
	calls []string
	fail  string
	get   [4]int
}

func (f *fakeCreds) op(name string) error {
	f.calls = append(f.calls, name)
	if name == f.fail {
		return syscall.EPERM
	}
	return nil
}
func (f *fakeCreds) Setgroups(g []int) error   { return f.op("setgroups") }
func (f *fakeCreds) Setgid(int) error          { return f.op("setgid") }
func (f *fakeCreds) Setuid(int) error          { return f.op("setuid") }
func (f *fakeCreds) Get() (int, int, int, int) { return f.get[0], f.get[1], f.get[2], f.get[3] }

func TestDropTo(t *testing.T) {
	ok := [4]int{7, 7, 8, 8}
	for _, c := range []struct {
		cred, fail string
		get        [4]int
		calls      string
		err        string
	}{
		{"7:8:1,2", "", ok, "setgroups setgid setuid", ""},
		{"7:8:-", "", ok, "setgid setuid", ""},
		{"7:8:", "setgroups", ok, "setgroups", "cannot set the supplementary groups of uid 7 gid 8: operation not permitted"},
		{"7:8:", "setgid", ok, "setgroups setgid", "cannot switch to uid 7 gid 8: setgid: operation not permitted"},
		{"7:8:", "setuid", ok, "setgroups setgid setuid", "cannot switch to uid 7 gid 8: setuid: operation not permitted"},
		{"7:8:", "", [4]int{7, 0, 8, 8}, "setgroups setgid setuid", "cannot switch to uid 7 gid 8: still uid 7/0 gid 8/8"},
		{"junk", "", ok, "", "malformed credentials"},
	} {
		f := &fakeCreds{fail: c.fail, get: c.get}
		err := DropTo(c.cred, f)
		if got := strings.Join(f.calls, " "); got != c.calls {
			t.Errorf("%s fail %s: calls %q, want %q", c.cred, c.fail, got, c.calls)
		}
		if (err == nil) != (c.err == "") || (err != nil && err.Error() != c.err) {
			t.Errorf("%s fail %s: %v, want %q", c.cred, c.fail, err, c.err)
		}
	}
	if err := DropTo("junk", &fakeCreds{}); !errors.Is(err, errMalformed) {
		t.Errorf("malformed: %v", err)
	}
}

func TestText(t *testing.T) {
	if got := split("a,,b", ','); !reflect.DeepEqual(got, []string{"a", "", "b"}) {
		t.Errorf("split = %q", got)
	}
	if got := join([]string{"a", "b"}, ','); got != "a,b" {
		t.Errorf("join = %q", got)
	}
	for s, want := range map[int]string{0: "0", 9: "9", 10: "10", -12: "-12", 1<<31 - 1: "2147483647"} {
		if got := itoa(s); got != want {
			t.Errorf("itoa(%d) = %q", s, got)
		}
	}
	for _, c := range []struct {
		s  string
		n  uint32
		ok bool
	}{{"0", 0, true}, {"4294967295", 4294967295, true}, {"4294967296", 0, false}, {"99999999999999999999999", 0, false},
		{"", 0, false}, {"1a", 0, false}, {"-1", 0, false}} {
		if n, ok := atou32(c.s); n != c.n || ok != c.ok {
			t.Errorf("atou32(%q) = %d, %v", c.s, n, ok)
		}
	}
	if _, ok := atoi("2147483648"); ok {
		t.Error("atoi accepted 2^31")
	}
}

// A command name cannot forge or erase a line of drover's log.
func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin/python3":        "/usr/bin/python3",
		"/x\ndrover: error: FAKE": `/x\x0adrover: error: FAKE`,
		"a\r\x1b[2Kb\x7f":         `a\x0d\x1b[2Kb\x7f`,
		"é":                       "é",
	} {
		if got := escape(in); got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
	}
}
