// Package cpus works out how much CPU the container may really use and how
// many workers that is worth.
//
// Host core counts lie inside containers: a pod limited to 1.5 CPUs on a
// 64-core node must not start 64 workers. The budget is therefore the
// tightest of three independent limits, kept as an exact fraction so that
// rounding happens exactly once, at the end:
//
//   - the CPU affinity mask (cpusets, the Kubernetes static CPU manager),
//   - every CFS quota from drover's cgroup up to the visible cgroup root,
//     cgroup v1 and v2 alike (each of them throttles us),
//   - the request, for what the container cannot see as a hard limit:
//     DROVER_CPU_MILLICORES, an environment variable frozen at start, or
//     DROVER_CPU_FILE, a Downward API volume file the kubelet rewrites on
//     an in-place resize. The live file beats the frozen variable, but a
//     change of it counts only once drover's own cgroup shows it granted
//     (cpu.shares, cpu.weight): the file shows a resize the kubelet has not
//     applied, or never will (Infeasible).
//
// Every reading starts from scratch (Reader.Read), so calling it again
// follows resizes and cgroup moves; Follower decides when a changed reading
// changes the pool. WorkerLimit bounds the pool by what the container can
// hold (pids.max, RLIMIT_NPROC).
//
// Everything is read through a Reader whose filesystem root and affinity
// function are injected, so the same code runs on real /proc and /sys and
// on the fixture layouts in testdata/vectors. Broken or unexpected input
// never stops drover: the offending level is skipped and reported once
// through Reader.Warn.
package cpus
