package config

import (
	"net/netip"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/kelseyhightower/envconfig"
)

// Var is one variable as --help and the README show it.
type Var struct {
	Key     string // DROVER_WORKERS
	Default string // decoded when unset ("" = none)
	Shown   string // the default as users should read it
	Accept  string // what a valid value looks like
	Desc    string // what it means
}

// accepter is a value type that says what it accepts itself, because the
// text depends on a constant (MaxWorkers) that a struct tag cannot name.
type accepter interface{ Accepted() string }

// keysFormat makes envconfig list each variable's name and its field: the
// names come from envconfig's own rule, so they cannot drift from what
// Process reads.
const keysFormat = `{{range .}}{{usage_key .}} {{.Name}}
{{end}}`

// Vars lists every variable in the order of Settings.
func Vars() []Var {
	var b strings.Builder
	if err := envconfig.Usagef(prefix, &Settings{}, &b, keysFormat); err != nil {
		panic("config: " + err.Error()) // the format is a constant: caught by any test
	}
	var out []Var
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		key, name, _ := strings.Cut(line, " ")
		f, _ := reflect.TypeFor[Settings]().FieldByName(name)
		v := Var{Key: key, Default: f.Tag.Get("default"), Shown: f.Tag.Get("show"), Accept: f.Tag.Get("accept"), Desc: f.Tag.Get("desc")}
		if a, ok := reflect.Zero(f.Type).Interface().(accepter); ok && v.Accept == "" {
			v.Accept = a.Accepted()
		}
		if v.Shown == "" {
			v.Shown = v.Default
		}
		if v.Shown == "" {
			v.Shown = "unset"
		}
		out = append(out, v)
	}
	return out
}

// variable is the variable named key; the zero Var if there is none.
func variable(key string) Var {
	for _, v := range Vars() {
		if v.Key == key {
			return v
		}
	}
	return Var{}
}

// value is a DROVER_* variable as drover reads it: unset when blank. (Of
// duplicate names the first wins: the Go runtime drops the others from the
// process environment before main runs.)
func value(key string) (string, bool) {
	v, ok := os.LookupEnv(key)
	return v, ok && strings.TrimSpace(v) != ""
}

// normalize removes blank DROVER_* values from the process environment, so
// that envconfig, which reads it, sees them as unset.
func normalize() error {
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, prefix+"_") && strings.TrimSpace(v) == "" {
			if err := os.Unsetenv(k); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkNames refuses a DROVER_* variable drover does not know: a typo would
// otherwise be silently ignored.
func checkNames() error {
	// envconfig's own check is the fast path (no help text is built); only
	// a name it does not know needs the slower look at what that name is.
	if envconfig.CheckDisallowed(prefix, &Settings{}) == nil {
		return nil
	}
	var known map[string]bool
	var names []string
	var links []serviceLink
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, prefix+"_") || k == "DROVER_WORKER_ID" { // set by a drover for its workers
			continue
		}
		if known == nil {
			known = map[string]bool{}
			for _, x := range Vars() {
				known[x.Key] = true
				names = append(names, x.Key)
			}
			links = serviceLinks()
		}
		if known[k] || isServiceLink(links, k, v) {
			continue
		}
		hint := "see drover --help for the variables"
		if near := closest(k, names); near != "" {
			hint = "did you mean " + near + "?"
		}
		return &Error{Var: k, Value: v, Unknown: true, Detail: hint}
	}
	return nil
}

// A serviceLink is the shape of a variable Kubernetes gives every
// container for each Service in its namespace (unless the pod sets
// enableServiceLinks: false), named after the Service: a Service called
// drover, or drover-web, yields DROVER_SERVICE_HOST,
// DROVER_WEB_PORT_80_TCP_ADDR and so on. They are not drover's, and a pod
// must not crash-loop because of a Service's name. Name and value must both
// have the shape Kubernetes gives them, so a typo of a real variable is
// still caught.
type serviceLink struct {
	name  *regexp.Regexp
	value func(string) bool
}

// serviceLinks compiles the shapes. Only an environment with a name
// drover does not know needs them, so they are compiled only then, and
// once for all such names (a Service brings about eight per port).
func serviceLinks() []serviceLink {
	const svc = `^DROVER(_[A-Z0-9_]+)?`
	isPort := func(s string) bool { n, err := strconv.Atoi(s); return err == nil && n > 0 && n < 65536 }
	isIP := func(s string) bool { _, err := netip.ParseAddr(strings.Trim(s, "[]")); return err == nil }
	url := regexp.MustCompile(`^(tcp|udp|sctp)://(.+):([0-9]+)$`)
	isURL := func(s string) bool {
		m := url.FindStringSubmatch(s)
		return m != nil && isIP(m[2]) && isPort(m[3])
	}
	isProto := func(s string) bool { return s == "tcp" || s == "udp" || s == "sctp" }
	var out []serviceLink
	for _, l := range []struct {
		name  string
		value func(string) bool
	}{
		{svc + `_SERVICE_HOST$`, isIP},
		{svc + `_SERVICE_PORT(_[A-Z0-9_]+)?$`, isPort},
		{svc + `_PORT(_[0-9]+_(TCP|UDP|SCTP))?$`, isURL},
		{svc + `_PORT_[0-9]+_(TCP|UDP|SCTP)_PROTO$`, isProto},
		{svc + `_PORT_[0-9]+_(TCP|UDP|SCTP)_PORT$`, isPort},
		{svc + `_PORT_[0-9]+_(TCP|UDP|SCTP)_ADDR$`, isIP},
	} {
		out = append(out, serviceLink{regexp.MustCompile(l.name), l.value})
	}
	return out
}

// isServiceLink says whether k=v has one of the shapes.
func isServiceLink(links []serviceLink, k, v string) bool {
	for _, l := range links {
		if l.name.MatchString(k) && l.value(v) {
			return true
		}
	}
	return false
}

// closest is the known name with the smallest edit distance, if close.
func closest(k string, names []string) string {
	if len(k) > 64 {
		return "" // no variable is that long; spare the quadratic distance
	}
	best, bestD := "", 4
	for _, n := range names {
		if d := editDistance(k, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
