#!/bin/sh
# Measures PID 1's cost of reaping a burst of orphans, the way issue 11 does:
#   orphans.sh INIT [N] [RUNS]
# INIT is the init command line, e.g. "/tmp/cpus-drover --" or "tini --".
# Each run starts INIT as PID 1 of a new PID namespace; INIT runs this script
# again as its child (ORPHANS_INNER=1), which spawns N orphaned sleeps, waits
# until no process but PID 1 and itself is left (every orphan reaped) and
# prints the wall time and PID 1's CPU time (utime+stime) in milliseconds.
set -eu
if [ "${ORPHANS_INNER:-}" = 1 ]; then
	n=$1
	t0=$(date +%s%N)
	i=0
	while [ $i -lt "$n" ]; do
		(sleep 0.5 &)
		i=$((i + 1))
	done
	# Globbing /proc forks nothing, so the poll does not add processes.
	while :; do
		set -- /proc/[0-9]*
		[ $# -le 2 ] && break
		sleep 0.01
	done
	t1=$(date +%s%N)
	tck=$(getconf CLK_TCK)
	set -- $(sed 's/.*) //' /proc/1/stat)
	# After "pid (comm) ", utime and stime are fields 12 and 13.
	cpu=$(( (${12} + ${13}) * 1000 / tck ))
	echo "wall_ms=$(( (t1 - t0) / 1000000 )) init_cpu_ms=$cpu"
	exit 0
fi
init=$1
n=${2:-10000}
runs=${3:-5}
r=0
while [ $r -lt "$runs" ]; do
	# shellcheck disable=SC2086 # INIT is a command line on purpose
	ORPHANS_INNER=1 unshare --pid --fork --mount-proc $init /bin/sh "$0" "$n"
	r=$((r + 1))
done
