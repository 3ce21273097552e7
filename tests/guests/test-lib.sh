# Shared helpers for tests/integration/guests_*.sh (sourced, not run).
# Each test runs a guest from $VIREO_BUILD/guests under `vireo --accel kvm`
# with a timeout and checks its exit status and serial output.
set -u
cd "$(dirname "$0")/../.."
VIREO_BUILD=${VIREO_BUILD:-$PWD/build}
VIREO=$VIREO_BUILD/vireo
GUESTS=$VIREO_BUILD/guests
GUEST_TIMEOUT=${GUEST_TIMEOUT:-30}
# The accelerator the guests run on: kvm, or emu (tests/integration/guests_emu.sh).
GUEST_ACCEL=${GUEST_ACCEL:-kvm}
# vireo's documented exit status for a guest reset under --no-reboot (vireo --help).
NOREBOOT_RC=4
# isa-debug-exit values of the guests (tests/guests/lib/guest.h): (v << 1) | 1.
PASS_RC=33
FAIL_RC=35

tmp=$(mktemp -d /tmp/vireo-guests.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# guests_preflight NAME...: prints "skip" for every case and exits when the
# VMM cannot run guests here (no --accel yet, no usable /dev/kvm).
guests_preflight() {
	local why=
	if ! "$VIREO" --help 2>&1 | grep -q -- '--accel'; then
		why="vireo has no --accel option yet"
	elif [ "$GUEST_ACCEL" = kvm ] && { [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; }; then
		why="no usable /dev/kvm"
	fi
	if [ -n "$why" ]; then
		for n in "$@"; do echo "skip $n: $why"; done
		exit 0
	fi
	# Fail fast, not by one timeout per case, when guests cannot end a run:
	# every guest reports its result through isa-debug-exit.
	timeout 10 "$VIREO" --accel "$GUEST_ACCEL" --serial none --firmware "$GUESTS/exit-fw.bin" \
		</dev/null >/dev/null 2>&1
	local rc=$?
	if [ "$rc" -ne "$PASS_RC" ]; then
		for n in "$@"; do
			echo "not ok $n: exit-fw.bin (isa-debug-exit 0x10 at the reset vector)" \
				"ended with status $rc, not $PASS_RC"
		done
		exit 0
	fi
}

# adler32 FILE: RFC 1950 checksum as 0x%x (no leading zeros, as the guests print it).
adler32() {
	od -An -v -tu1 "$1" | awk 'BEGIN { a = 1; b = 0 }
		{ for (i = 1; i <= NF; i++) { a = (a + $i) % 65521; b = (b + a) % 65521 } }
		END { printf "0x%x\n", b * 65536 + a }'
}

# guest_run NAME ARGS...: runs vireo --accel kvm ARGS with stdin from
# /dev/null; stdout (the serial console) in $tmp/NAME.out, stderr in
# $tmp/NAME.err, exit status in RC.
guest_run() {
	local name=$1
	shift
	timeout "$GUEST_TIMEOUT" "$VIREO" --accel "$GUEST_ACCEL" "$@" \
		>"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null
	RC=$?
}

# guest_report NAME WANT_RC PATTERN...: "ok NAME" when RC == WANT_RC, every
# extended-regex PATTERN matches a line of the serial output and (unless
# WANT_RC is FAIL_RC) no check printed FAIL; otherwise "not ok" with why.
guest_report() {
	local name=$1 want=$2 why= p
	shift 2
	tr -d '\r' <"$tmp/$name.out" >"$tmp/$name.txt" # the guests end lines with CR LF
	if [ "$RC" -eq 124 ]; then
		why="timed out after ${GUEST_TIMEOUT}s"
	elif [ "$RC" -ne "$want" ]; then
		why="exit status $RC, expected $want"
	fi
	for p in "$@"; do
		[ -n "$why" ] && break
		grep -aEq -- "$p" "$tmp/$name.txt" || why="no serial line matching '$p'"
	done
	if [ -z "$why" ] && [ "$want" -ne "$FAIL_RC" ] && grep -aq 'FAIL' "$tmp/$name.txt"; then
		why="guest reported: $(grep -a -m1 FAIL "$tmp/$name.txt")"
	fi
	if [ -z "$why" ]; then
		echo "ok $name"
		return 0
	fi
	echo "not ok $name: $why"
	echo "--- serial output of $name (last lines) ---"
	tail -n 15 "$tmp/$name.txt"
	echo "--- stderr of $name ---"
	head -n 15 "$tmp/$name.err"
	return 1
}
