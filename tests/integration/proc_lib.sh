# Sourced by the integration tests that stop a background vireo themselves.

# reap PID SECONDS: waits for PID (a child of this shell) to exit and returns
# its status; if it is still running after SECONDS, kills it with SIGKILL and
# returns 124, so a VM that ignores a signal fails one check instead of hanging
# the whole test file until the runner's time limit.
reap() {
	local pid=$1 i
	for i in $(seq $(($2 * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return 124
	fi
	wait "$pid"
}
