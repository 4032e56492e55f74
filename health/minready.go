package health

// MinReady is DROVER_MIN_READY: how many workers must be ready for /readyz
// to pass, as a count or a percentage of the desired workers. It stays
// unresolved until Of because the desired count changes (TTIN/TTOU, auto).
// The zero value means 0 workers.
type MinReady struct {
	N       int
	Percent bool // N is a percentage, 0 to 100
}

// Of resolves m against the desired worker count. Percentages round up so
// that 50% of 3 needs 2 ready and 50% of 1 needs 1 (a single worker pool is
// never ready with nothing running); counts are capped at desired so that
// scaling down below DROVER_MIN_READY cannot make readiness impossible.
func (m MinReady) Of(desired int) int {
	if desired <= 0 {
		return 0
	}
	if m.Percent {
		return (desired*m.N + 99) / 100
	}
	return min(m.N, desired)
}
