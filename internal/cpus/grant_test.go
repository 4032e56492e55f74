package cpus

import "testing"

// The conversions are the kubelet's and the OCI runtimes': a weight drover
// reads must be recognised as the request it was made from.
func TestWeightConversions(t *testing.T) {
	for _, c := range []struct {
		shares, linear, quadratic int64
	}{
		{2, 1, 1}, {1024, 39, 100}, {1536, 59, 138}, {2048, 79, 174}, {262144, 10000, 10000},
	} {
		if l, q := weightLinear(c.shares), weightQuadratic(c.shares); l != c.linear || q != c.quadratic {
			t.Errorf("shares %d: weight %d linear, %d quadratic; want %d, %d", c.shares, l, q, c.linear, c.quadratic)
		}
	}
	for _, c := range []struct{ m, shares int64 }{{0, 2}, {1, 2}, {333, 340}, {1000, 1024}, {1500, 1536}, {300000, 262144}} {
		if s := sharesOf(c.m); s != c.shares {
			t.Errorf("sharesOf(%d) = %d, want %d", c.m, s, c.shares)
		}
	}
}

// Every request the kubelet can write reads back as itself on v1, and as
// itself (when round, as requests are) on v2 whichever conversion made the
// weight.
func TestWeightReadsBackTheRequest(t *testing.T) {
	for m := int64(3); m <= 256000; m += 1 + m/50 {
		g := weight{value: sharesOf(m)}
		if !g.grants(m) || g.millicores(m) != m {
			t.Fatalf("v1 shares %d: grants(%d) %v, reads back %dm", g.value, m, g.grants(m), g.millicores(m))
		}
		if g.grants(m+1) || g.grants(m-1) {
			t.Fatalf("v1 shares %d also grants a neighbour of %dm", g.value, m)
		}
	}
	for _, m := range []int64{100, 250, 500, 1000, 1500, 2000, 3000, 4000, 7500, 16000, 64000} {
		for name, conv := range map[string]func(int64) int64{"linear": weightLinear, "quadratic": weightQuadratic} {
			g := weight{v2: true, value: conv(sharesOf(m))}
			if !g.grants(m) {
				t.Errorf("v2 %s weight %d does not grant the %dm it was made from", name, g.value, m)
			}
			if got := g.millicores(m); got != m {
				t.Errorf("v2 %s weight %d reads back as %dm, want %dm", name, g.value, got, m)
			}
		}
	}
	// Weight 100 is 1000m (quadratic) or 2538m to 2562m (linear): the larger not
	// above the file's value, else the smaller.
	g := weight{v2: true, value: 100}
	for _, c := range []struct{ file, want int64 }{{3000, 2550}, {2000, 1000}, {500, 1000}} {
		if got := g.millicores(c.file); got != c.want {
			t.Errorf("v2 weight 100 with the file at %dm reads as %dm, want %dm", c.file, got, c.want)
		}
	}
}

func TestRoundest(t *testing.T) {
	for _, c := range []struct{ lo, hi, want int64 }{
		{1993, 2003, 2000}, {2460, 2560, 2500}, {731, 739, 735}, {731, 733, 731}, {5, 4, 5},
	} {
		if got := roundest(c.lo, c.hi); got != c.want {
			t.Errorf("roundest(%d, %d) = %d, want %d", c.lo, c.hi, got, c.want)
		}
	}
}
