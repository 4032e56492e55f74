#!/bin/sh
# A worker whose own child records the stop signal in $REC/child. The worker
# waits for that child before it exits, so if the signal did not reach the
# child (same process group), drover has to SIGKILL them both.
sh -c 'trap "echo TERM >> $REC/child; exit 0" TERM; echo ready >> $REC/child; while :; do sleep 1000 & wait $!; done' &
c=$!
trap 'wait $c; exit 0' TERM
wait $c
