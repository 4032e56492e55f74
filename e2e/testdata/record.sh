#!/bin/sh
# A worker that records, in $REC/<worker id>.<pid>, that it started and every
# signal it got. TERM ends it cleanly unless IGNORE_TERM is set.
f="$REC/$DROVER_WORKER_ID.$$"
for s in HUP INT QUIT USR1 USR2 WINCH URG; do
	trap "echo $s >> $f" $s
done
if [ -n "$IGNORE_TERM" ]; then
	trap 'echo TERM >> "$f"' TERM
else
	trap 'echo TERM >> "$f"; exit 0' TERM
fi
echo "start workers=$DROVER_WORKERS" >> "$f"
while :; do
	sleep 1000 &
	p=$!
	wait $p
	kill $p 2>/dev/null
done
