#!/bin/sh
# A worker that leaves $N orphans behind: each subshell starts a short sleep
# and exits at once, so the sleep is reparented to drover (PID 1 or
# subreaper), which must reap it. Then the worker waits to be stopped.
i=0
while [ "$i" -lt "$N" ]; do
	(sleep 0.2 &)
	i=$((i + 1))
done
echo spawned >&2
# On TERM (sent to the whole group, so the sleep gets it too) reap the sleep
# before exiting: otherwise it may outlive us by a moment and count as one
# more orphan than the $N the test expects.
trap 'wait $p; exit 0' TERM
while :; do
	sleep 1000 &
	p=$!
	wait $p
done
