# Run as: sh -c "$(cat fds.sh)" TESTBINARY
# Lists the worker's descriptors as the user's program receives them, from
# a shell that opens none of its own (sh -c, no script file held open),
# then execs the Go helper, which keeps the pid and so LISTEN_PID.
# The redirection happens in the subshell: dash would otherwise park its
# own stdout on fd 10 while ls runs and that copy would show up.
FDS_FILE="$LISTEN_OUT/$DROVER_WORKER_ID.$$.fds"
(ls -l "/proc/$$/fd" > "$FDS_FILE")
export FDS_FILE
exec env -u GOCOVERDIR E2E_WORKER=listen-fds "$0"
