package health

import (
	"strings"
	"testing"
)

func TestMinReadyOf(t *testing.T) {
	tests := []struct {
		spec    string
		desired int
		want    int
	}{
		{"50%", 1, 1}, {"50%", 2, 1}, {"50%", 3, 2}, {"50%", 4, 2},
		{"100%", 1, 1}, {"100%", 3, 3}, {"100%", 4, 4},
		{"0%", 1, 0}, {"0%", 4, 0},
		{"34%", 3, 2}, {"33%", 3, 1}, {"1%", 4, 1},
		{"0", 3, 0}, {"1", 4, 1}, {"2", 1, 1}, {"2", 2, 2}, {"2", 3, 2}, {"5", 4, 4},
		{"50%", 0, 0}, {"2", 0, 0},
		{" 75% ", 4, 3},
	}
	for _, tt := range tests {
		m, err := ParseMinReady(tt.spec)
		if err != nil {
			t.Fatalf("ParseMinReady(%q): %v", tt.spec, err)
		}
		if got := m.Of(tt.desired); got != tt.want {
			t.Errorf("%q.Of(%d) = %d, want %d", tt.spec, tt.desired, got, tt.want)
		}
	}
}

func TestParseMinReadyRejects(t *testing.T) {
	for _, s := range []string{"-1", "150%", "101%", "abc", "", "%", "1.5", "50 %", "-0%", "+2", "2x", "50%%"} {
		_, err := ParseMinReady(s)
		if err == nil {
			t.Errorf("ParseMinReady(%q) = nil error", s)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "DROVER_MIN_READY") || !strings.Contains(msg, "percentage") || strings.Contains(msg, "\n") {
			t.Errorf("ParseMinReady(%q) error %q: want one line naming the variable and what is accepted", s, msg)
		}
	}
}

func TestMinReadyText(t *testing.T) {
	for _, s := range []string{"50%", "0%", "100%", "2", "0"} {
		var m MinReady
		if err := m.UnmarshalText([]byte(s)); err != nil {
			t.Fatal(err)
		}
		if b, _ := m.MarshalText(); string(b) != s || m.String() != s {
			t.Errorf("round trip of %q gave %q", s, b)
		}
	}
	var m MinReady
	if err := m.UnmarshalText([]byte("150%")); err == nil {
		t.Error("UnmarshalText(150%) = nil error")
	}
}
