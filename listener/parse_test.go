package listener

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestParseAccepted(t *testing.T) {
	tcp := func(name, host string, port int) Spec {
		return Spec{Name: name, Kind: TCP, Host: host, Port: port}
	}
	named := func(s Spec) Spec { s.named = true; return s }
	tests := []struct {
		in   string
		want []Spec
	}{
		{"", nil},
		{"  ", nil},
		{":8080", []Spec{tcp("tcp-8080", "", 8080)}},
		{"tcp://:8080", []Spec{tcp("tcp-8080", "", 8080)}},
		{"TCP://:8080", []Spec{tcp("tcp-8080", "", 8080)}},
		{"tcp://127.0.0.1:8080", []Spec{tcp("tcp-8080", "127.0.0.1", 8080)}},
		{"127.0.0.1:0", []Spec{tcp("tcp-0", "127.0.0.1", 0)}},
		{"localhost:80", []Spec{tcp("tcp-80", "localhost", 80)}},
		{"My-Host.example:443", []Spec{tcp("tcp-443", "my-host.example", 443)}},
		{"tcp://[::]:8080", []Spec{tcp("tcp-8080", "::", 8080)}},
		{"tcp://[::1]:8080", []Spec{tcp("tcp-8080", "::1", 8080)}},
		{"[0:0::1]:65535", []Spec{tcp("tcp-65535", "::1", 65535)}},
		{"[fe80::1%eth0]:80", []Spec{tcp("tcp-80", "fe80::1%eth0", 80)}},
		{"0.0.0.0:08080", []Spec{tcp("tcp-8080", "0.0.0.0", 8080)}},
		{"web=:8080", []Spec{named(tcp("web", "", 8080))}},
		{" web = tcp://:8080 , admin=127.0.0.1:9000 ", []Spec{
			named(tcp("web", "", 8080)), named(tcp("admin", "127.0.0.1", 9000))}},
		{"unix:///run/app.sock", []Spec{{Name: "unix-app.sock", Kind: Unix, Path: "/run/app.sock"}}},
		{"unix:///run/a=b:c.sock", []Spec{{Name: "unix-a=b_c.sock", Kind: Unix, Path: "/run/a=b:c.sock"}}},
		{"api=unix:///run/app.sock", []Spec{named(Spec{Name: "api", Kind: Unix, Path: "/run/app.sock"})}},
		{"fd://3", []Spec{{Name: "fd-3", Kind: FD, FD: 3}}},
		{"fd://web", []Spec{{Name: "web", Kind: FD, FDName: "web"}}},
		{"x=fd://web", []Spec{named(Spec{Name: "x", Kind: FD, FDName: "web"})}},
		// Distinct addresses on one port, and port 0 twice.
		{"a=127.0.0.1:8080,b=[::1]:8080,0.0.0.0:9000,v6=[::1]:9000", []Spec{
			named(tcp("a", "127.0.0.1", 8080)), named(tcp("b", "::1", 8080)),
			tcp("tcp-9000", "0.0.0.0", 9000), named(tcp("v6", "::1", 9000))}},
		{"a=127.0.0.1:0,b=127.0.0.1:0", []Spec{named(tcp("a", "127.0.0.1", 0)), named(tcp("b", "127.0.0.1", 0))}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q) error: %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, item, why string }{
		{"tcp://:99999", "tcp://:99999", "port must be 1-65535"},
		{":-1", ":-1", "port must be"},
		{":+80", ":+80", "port must be"},
		{":http", ":http", "port must be"},
		{"localhost:", "localhost:", "missing port"},
		{"8080", "8080", `did you mean ":8080"`},
		{"localhost", "localhost", "not an address"},
		{"::1:80", "::1:80", "too many colons"},
		{"[::1:80", "[::1:80", "missing ']'"},
		{"[127.0.0.1%x]:80", "[127.0.0.1%x]:80", "not a valid IPv6"},
		{"[fe80::1%a/b]:80", "[fe80::1%a/b]:80", "URL needs"},
		{"[fe80::1%a$b]:80", "[fe80::1%a$b]:80", "zone"},
		{"256.1.1.1:80", "256.1.1.1:80", "not a valid IP address"},
		{"bad_host!:80", "bad_host!:80", "not a valid host name"},
		{"a..b:80", "a..b:80", "not a valid host name"},
		{"udp://:53", "udp://:53", `unsupported scheme "udp"`},
		{"http://:80", "http://:80", "unsupported scheme"},
		{"unix:/tmp/x", "unix:/tmp/x", `needs "://"`},
		{"unix://tmp/x.sock", "unix://tmp/x.sock", "path must be absolute"},
		{"unix:///tmp/dir/", "unix:///tmp/dir/", "names a directory"},
		{"unix:///tmp//x.sock", "unix:///tmp//x.sock", `write "/tmp/x.sock"`},
		{"unix:///tmp/a\tb", "unix:///tmp/a\tb", "control character"},
		{"unix:///" + strings.Repeat("x", 107), "unix:///" + strings.Repeat("x", 107), "at most 107"},
		{"fd://", "fd://", "missing descriptor"},
		{"fd://2", "fd://2", "3 or more"},
		{"fd://99999999999999999999", "fd://99999999999999999999", "3 or more"},
		{"fd://a b", "fd://a b", "printable ASCII"},
		{"=:80", "=:80", `name "" is empty`},
		{"we b=:80", "we b=:80", "printable ASCII"},
		{strings.Repeat("n", 256) + "=:80", strings.Repeat("n", 256) + "=:80", "255"},
		{"web=", "web=", "missing address"},
		{":80,,:81", "", "item 2 of 3 is empty"},
		{":80,", "", "item 2 of 2 is empty"},
		{":80,tcp://:80", "tcp://:80", `same address as "tcp://:80"`},
		{"a=127.0.0.1:80,b=127.0.0.1:80", "b=127.0.0.1:80", "same address"},
		{"a=:80,b=127.0.0.1:80", "b=127.0.0.1:80", "overlaps"},
		{"a=[::1]:80,b=[::]:80", "b=[::]:80", "overlaps"},
		{"a=0.0.0.0:80,b=10.0.0.1:80", "b=10.0.0.1:80", "overlaps"},
		{"unix:///a.sock,x=unix:///a.sock", "x=unix:///a.sock", "same address"},
		{"fd://3,x=fd://3", "x=fd://3", "same address"},
		{"fd://w,x=fd://w", "x=fd://w", "same address"},
		{"web=:80,web=:81", "web=:81", `name "web" is already used by "web=tcp://:80"`},
		{"127.0.0.1:80,[::1]:80", "[::1]:80", `default name "tcp-80" is already used`},
		{"unix:///a/s,unix:///b/s", "unix:///b/s", `default name "unix-s"`},
		{"fd://w,w=:80", "w=:80", `name "w" is already used`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%q) = nil error, want %q", tt.in, tt.why)
			continue
		}
		msg := err.Error()
		for _, want := range []string{"DROVER_LISTEN: ", quote(tt.item), tt.why, "(accepted: [name=]tcp://host:port"} {
			if !strings.Contains(msg, want) {
				t.Errorf("Parse(%q) error\n  %s\nlacks %q", tt.in, msg, want)
			}
		}
		if strings.ContainsAny(msg, "\n\r") {
			t.Errorf("Parse(%q) error is not one line: %q", tt.in, msg)
		}
	}
}

func quote(s string) string { return strconv.Quote(s) }

func TestSpecStringRoundTrip(t *testing.T) {
	in := "web=:8080,tcp://[::1]:9000,unix:///run/a.sock,fd://3,x=fd://name,h=LocalHost:1"
	specs, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, s := range specs {
		parts = append(parts, s.String())
	}
	want := "web=tcp://:8080,tcp://[::1]:9000,unix:///run/a.sock,fd://3,x=fd://name,h=tcp://localhost:1"
	if got := strings.Join(parts, ","); got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	again, err := Parse(want)
	if err != nil || !reflect.DeepEqual(again, specs) {
		t.Fatalf("round trip: %+v, %v; want %+v", again, err, specs)
	}
}

// FuzzParse checks that Parse never panics, that every error is one line
// naming DROVER_LISTEN, and that accepted values survive String and Parse.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		":8080", "web=tcp://:8080,admin=unix:///run/a.sock", "tcp://[::1]:0", "[fe80::1%eth0]:80",
		"fd://3,fd://web", "unix:///a=b", "a=b=:1", "localhost:80", "tcp://:99999", ",", "x=",
		"unix:///tmp/../x", "0.0.0.0:80,:80", "fd://a=b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		specs, err := Parse(in)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "DROVER_LISTEN: ") || strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("Parse(%q): bad error %q", in, msg)
			}
			return
		}
		seen := map[string]bool{}
		var parts []string
		for _, s := range specs {
			if checkName(s.Name) != nil || seen[s.Name] {
				t.Fatalf("Parse(%q): bad or duplicate name %q", in, s.Name)
			}
			seen[s.Name] = true
			parts = append(parts, s.String())
		}
		again, err := Parse(strings.Join(parts, ","))
		if err != nil || !reflect.DeepEqual(again, specs) {
			t.Fatalf("Parse(%q) = %+v; re-parsing %q gave %+v, %v", in, specs, strings.Join(parts, ","), again, err)
		}
	})
}
