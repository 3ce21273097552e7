#!/usr/bin/env bash
# The GDB stub end to end: gdb (batch mode) against `vireo --accel kvm --gdb
# tcp::0 --gdb-wait` running tests/guests/firmware/gdb-fw.S, then a small
# RSP client (gdb_rsp.py) for Ctrl-C, framing, binary writes, detach and kill.
. "$(dirname "$0")/../guests/test-lib.sh"

GDB_CASES="gdb_attach_at_reset_vector gdb_read_memory gdb_sw_breakpoint gdb_stepi gdb_page_walk
	gdb_unmapped_memory gdb_hw_breakpoint gdb_write_memory gdb_exit_reported gdb_exit_status"
RSP_CASES="gdb_rsp_interrupt gdb_rsp_detach gdb_rsp_kill"
RESET_CASES="gdb_breakpoint_survives_reset"
if ! command -v gdb >/dev/null 2>&1; then
	for n in $GDB_CASES $RSP_CASES $RESET_CASES; do echo "skip $n: gdb is not installed"; done
	exit 0
fi
guests_preflight $GDB_CASES $RSP_CASES $RESET_CASES

FW=$GUESTS/gdb-fw.bin
OBJ=$VIREO_BUILD/guests/o64/firmware/gdb-fw.o
HIGH=0xffff800000000000 # the guest's second mapping of its first GiB
# Guest symbols: offsets in the image's .text, which is linked at 0xf0000.
sym() {
	local off
	off=$(nm "$OBJ" | awk -v s="$1" '$3 == s { print $1 }')
	[ -n "$off" ] || { echo "not ok gdb: no symbol $1 in $OBJ"; exit 0; }
	printf '0x%x' $((0xf0000 + 0x$off))
}
LOOP=$(sym gdb_loop)
LOOP_NEXT=$(sym gdb_loop_next)
AFTER=$(sym gdb_after)
MAGIC=$(sym gdb_magic)
PATCH=$(sym gdb_patch)

# vireo_start NAME ARGS...: starts vireo in the background (PID in VPID),
# waits for its "gdb stub listening" line and sets PORT. Boots gdb-fw.bin
# unless ARGS name a --kernel.
vireo_start() {
	local name=$1 i boot=(--firmware "$FW")
	shift
	case " $* " in *" --kernel "*) boot=() ;; esac
	timeout "$GUEST_TIMEOUT" "$VIREO" --accel kvm --serial none --gdb tcp::0 "$@" \
		"${boot[@]}" </dev/null >"$tmp/$name.out" 2>"$tmp/$name.err" &
	VPID=$!
	PORT=
	for i in $(seq 100); do
		PORT=$(sed -n 's/.*gdb stub listening on tcp:127\.0\.0\.1:\([0-9]*\).*/\1/p' \
			"$tmp/$name.err" 2>/dev/null)
		[ -n "$PORT" ] && return 0
		kill -0 "$VPID" 2>/dev/null || break
		sleep 0.05
	done
	return 1
}

# vireo_wait: exit status of the background vireo in RC.
vireo_wait() {
	wait "$VPID"
	RC=$?
}

# expect NAME FILE PATTERN: ok when an extended regex matches a line.
expect() {
	if grep -aEq -- "$3" "$2"; then
		echo "ok $1"
	else
		echo "not ok $1: no line matching '$3' in $(basename "$2")"
		FAILED=1
	fi
}

FAILED=0
if ! vireo_start gdb --gdb-wait; then
	for n in $GDB_CASES; do echo "not ok $n: vireo did not start its GDB stub"; done
	cat "$tmp/gdb.err"
else
	# Each -ex runs even if an earlier one failed (an unmapped read errors).
	timeout 60 gdb -batch -nx \
		-ex "set pagination off" \
		-ex "target remote 127.0.0.1:$PORT" \
		-ex "printf \"rip=%#lx\\n\", \$rip" \
		-ex "x/4xb $MAGIC" \
		-ex "break *$LOOP" \
		-ex "continue" \
		-ex "printf \"bp rip=%#lx\\n\", \$rip" \
		-ex "stepi" \
		-ex "printf \"step rip=%#lx\\n\", \$rip" \
		-ex "x/4xb $HIGH + $MAGIC" \
		-ex "x/4xb 0x123456789000" \
		-ex "delete" \
		-ex "hbreak *$AFTER" \
		-ex "set \$rax = 0x2a" \
		-ex "set var *(unsigned char *)($HIGH + $PATCH) = 1" \
		-ex "continue" \
		-ex "printf \"hw rip=%#lx\\n\", \$rip" \
		-ex "x/1xb $PATCH" \
		-ex "delete" \
		-ex "continue" >"$tmp/gdb.log" 2>&1
	vireo_wait
	L=$tmp/gdb.log
	expect gdb_attach_at_reset_vector "$L" '^rip=0xfff0$'
	expect gdb_read_memory "$L" "^$MAGIC:[[:space:]]+0x56[[:space:]]+0x49[[:space:]]+0x52[[:space:]]+0x45"
	expect gdb_sw_breakpoint "$L" "^bp rip=$LOOP\$"
	expect gdb_stepi "$L" "^step rip=$LOOP_NEXT\$"
	expect gdb_page_walk "$L" "^0xffff8000000f00..:[[:space:]]+0x56[[:space:]]+0x49[[:space:]]+0x52[[:space:]]+0x45"
	expect gdb_unmapped_memory "$L" 'Cannot access memory at address 0x123456789000'
	expect gdb_hw_breakpoint "$L" "^hw rip=$AFTER\$"
	expect gdb_write_memory "$L" "^$PATCH:[[:space:]]+0x01"
	# RAX 0x2a + the patched byte 1 = 0x2b: status (0x2b << 1) | 1 = 87 = 0127.
	expect gdb_exit_reported "$L" 'exited with code 0127'
	if [ "$RC" -eq 87 ]; then
		echo "ok gdb_exit_status"
	else
		echo "not ok gdb_exit_status: vireo exited $RC, expected 87"
		FAILED=1
	fi
	if [ "$FAILED" -ne 0 ]; then
		echo "--- gdb output ---"
		cat "$L"
		echo "--- vireo stderr ---"
		head -n 30 "$tmp/gdb.err"
	fi
fi

# Breakpoints outlive a guest reset: the stub re-arms them in the rebuilt
# RAM and vCPUs. The lifecycle kernel reboots twice through the 8042; a
# breakpoint on its entry point is hit by the second and third boots.
LC=$GUESTS/lifecycle.elf
ENTRY=$(readelf -h "$LC" 2>/dev/null | awk '/Entry point/ { print $4 }')
if [ -z "$ENTRY" ]; then
	echo "not ok gdb_breakpoint_survives_reset: no entry point in $LC"
elif ! vireo_start reset --gdb-wait --kernel "$LC" --cmdline "action=kbd resets=2"; then
	echo "not ok gdb_breakpoint_survives_reset: vireo did not start its GDB stub"
else
	timeout 60 gdb -batch -nx -ex "target remote 127.0.0.1:$PORT" -ex "break *$ENTRY" \
		-ex continue -ex continue -ex delete -ex continue >"$tmp/reset.log" 2>&1
	vireo_wait
	hits=$(grep -ac "^Breakpoint 1, 0x0*${ENTRY#0x} in" "$tmp/reset.log")
	if [ "$RC" -eq "$PASS_RC" ] && [ "$hits" -eq 2 ]; then
		echo "ok gdb_breakpoint_survives_reset"
	else
		echo "not ok gdb_breakpoint_survives_reset: status $RC (want $PASS_RC), $hits hits (want 2)"
		cat "$tmp/reset.log"
	fi
fi

if ! command -v python3 >/dev/null 2>&1; then
	for n in $RSP_CASES; do echo "skip $n: python3 is not installed"; done
	exit 0
fi
SYMS="gdb_loop=$LOOP gdb_after=$AFTER gdb_patch=$PATCH"
RSP=$(dirname "$0")/gdb_rsp.py

# rsp_case NAME WANT_RC SCENARIO VIREO_ARGS...
rsp_case() {
	local name=$1 want=$2 scenario=$3
	shift 3
	if ! vireo_start "$name" "$@"; then
		echo "not ok $name: vireo did not start its GDB stub"
		return
	fi
	# Without --gdb-wait the guest is already spinning when the client attaches.
	timeout 30 python3 "$RSP" "$PORT" "$scenario" $SYMS >"$tmp/$name.log" 2>&1
	vireo_wait
	cat "$tmp/$name.log"
	if [ "$RC" -eq "$want" ]; then
		echo "ok $name"
	else
		echo "not ok $name: vireo exited $RC, expected $want"
		head -n 20 "$tmp/$name.err"
	fi
}

rsp_case gdb_rsp_interrupt 155 interrupt --gdb-wait
# Detach leaves RAX = 1 and no breakpoint behind: the guest exits with 3.
rsp_case gdb_rsp_detach 3 detach
# k ends the VM as SIGTERM does: 128 + 15.
rsp_case gdb_rsp_kill 143 kill --gdb-wait
exit 0
