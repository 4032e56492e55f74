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
trap 'exit 0' TERM
while :; do sleep 1000 & wait $!; done
