package health

import (
	"fmt"
	"testing"
)

func TestMinReadyOf(t *testing.T) {
	tests := []struct {
		m       MinReady
		desired int
		want    int
	}{
		{pct(50), 1, 1}, {pct(50), 2, 1}, {pct(50), 3, 2}, {pct(50), 4, 2},
		{pct(100), 1, 1}, {pct(100), 3, 3}, {pct(100), 4, 4},
		{pct(0), 1, 0}, {pct(0), 4, 0},
		{pct(34), 3, 2}, {pct(33), 3, 1}, {pct(1), 4, 1}, {pct(75), 4, 3},
		{MinReady{N: 0}, 3, 0}, {MinReady{N: 1}, 4, 1}, {MinReady{N: 2}, 1, 1}, {MinReady{N: 2}, 2, 2},
		{MinReady{N: 2}, 3, 2}, {MinReady{N: 5}, 4, 4},
		{pct(50), 0, 0}, {MinReady{N: 2}, 0, 0},
	}
	for _, tt := range tests {
		if got := tt.m.Of(tt.desired); got != tt.want {
			t.Errorf("%s.Of(%d) = %d, want %d", spec(tt.m), tt.desired, got, tt.want)
		}
	}
}

func pct(n int) MinReady { return MinReady{N: n, Percent: true} }

func spec(m MinReady) string {
	if m.Percent {
		return fmt.Sprintf("%d%%", m.N)
	}
	return fmt.Sprint(m.N)
}
