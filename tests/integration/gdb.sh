#!/usr/bin/env bash
# The GDB stub end to end: gdb (batch mode) against `vireo --accel kvm --gdb
# tcp::0 --gdb-wait` running tests/guests/firmware/gdb-fw.S, then a small
# RSP client (gdb_rsp.py) for Ctrl-C, framing, binary writes, detach and kill.
# The gdb session runs again under --accel emu (cases *_emu), with data
# watchpoints and more stepping, which the emulated CPU implements itself.
. "$(dirname "$0")/../guests/test-lib.sh"

GDB_CASES="gdb_attach_at_reset_vector gdb_read_memory gdb_sw_breakpoint gdb_stepi gdb_page_walk
	gdb_unmapped_memory gdb_hw_breakpoint gdb_write_memory gdb_exit_reported gdb_exit_status"
RSP_CASES="gdb_rsp_interrupt gdb_rsp_detach gdb_rsp_kill gdb_rsp_interrupt_emu gdb_rsp_detach_emu"
RESET_CASES="gdb_breakpoint_survives_reset"
EMU_CASES="$(for n in $GDB_CASES; do printf '%s_emu ' "$n"; done)gdb_stepi_around_loop_emu
	gdb_write_watchpoint_emu gdb_access_watchpoint_emu"
LINUX_CASES="gdb_linux_hw_breakpoint_emu gdb_linux_stepi_emu gdb_linux_sw_breakpoint_emu
	rsp_linux_sw_breakpoint rsp_linux_step gdb_linux_smp_emu"
if ! command -v gdb >/dev/null 2>&1; then
	for n in $GDB_CASES $RSP_CASES $RESET_CASES $EMU_CASES $LINUX_CASES; do
		echo "skip $n: gdb is not installed"
	done
	exit 0
fi
guests_preflight $GDB_CASES $RSP_CASES $RESET_CASES $EMU_CASES $LINUX_CASES

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
AFTER_STORE=$(sym gdb_after_store)
AFTER_READ=$(sym gdb_after_read)
WATCH=0x6000 # GDB_WATCH in gdb-fw.S

# vireo_start NAME ARGS...: starts vireo in the background (PID in VPID),
# waits for its "gdb stub listening" line and sets PORT. Boots gdb-fw.bin
# unless ARGS name a --kernel. The accelerator is $ACCEL.
ACCEL=kvm
vireo_start() {
	local name=$1 i boot=(--firmware "$FW")
	shift
	case " $* " in *" --kernel "*) boot=() ;; esac
	timeout "$GUEST_TIMEOUT" "$VIREO" --accel "$ACCEL" --serial none --gdb tcp::0 "$@" \
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

# fw_session SUFFIX EXTRA_GDB_ARGS...: the main gdb session against gdb-fw
# under $ACCEL; case names get SUFFIX. EXTRA_GDB_ARGS run after the hardware
# breakpoint, before the last continue.
fw_session() {
	local sfx=$1 L
	shift
	FAILED=0
	if ! vireo_start "gdb$sfx" --gdb-wait; then
		for n in $GDB_CASES; do echo "not ok $n$sfx: vireo did not start its GDB stub"; done
		cat "$tmp/gdb$sfx.err"
		return
	fi
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
		"$@" \
		-ex "continue" >"$tmp/gdb$sfx.log" 2>&1
	vireo_wait
	L=$tmp/gdb$sfx.log
	expect gdb_attach_at_reset_vector$sfx "$L" '^rip=0xfff0$'
	expect gdb_read_memory$sfx "$L" "^$MAGIC:[[:space:]]+0x56[[:space:]]+0x49[[:space:]]+0x52[[:space:]]+0x45"
	expect gdb_sw_breakpoint$sfx "$L" "^bp rip=$LOOP\$"
	expect gdb_stepi$sfx "$L" "^step rip=$LOOP_NEXT\$"
	expect gdb_page_walk$sfx "$L" "^0xffff8000000f00..:[[:space:]]+0x56[[:space:]]+0x49[[:space:]]+0x52[[:space:]]+0x45"
	expect gdb_unmapped_memory$sfx "$L" 'Cannot access memory at address 0x123456789000'
	expect gdb_hw_breakpoint$sfx "$L" "^hw rip=$AFTER\$"
	expect gdb_write_memory$sfx "$L" "^$PATCH:[[:space:]]+0x01"
	# RAX 0x2a + the patched byte 1 = 0x2b: status (0x2b << 1) | 1 = 87 = 0127.
	expect gdb_exit_reported$sfx "$L" 'exited with code 0127'
	if [ "$RC" -eq 87 ]; then
		echo "ok gdb_exit_status$sfx"
	else
		echo "not ok gdb_exit_status$sfx: vireo exited $RC, expected 87"
		FAILED=1
	fi
}

# fw_dump SUFFIX: the logs of a failed session.
fw_dump() {
	echo "--- gdb output ---"
	cat "$tmp/gdb$1.log"
	echo "--- vireo stderr ---"
	head -n 30 "$tmp/gdb$1.err"
}

fw_session ""
[ "$FAILED" -eq 0 ] || fw_dump ""

# The same under the emulated CPU, plus what only it is tested for here:
# stepping around the loop back onto the breakpoint, a write watchpoint
# (stops after the store, old and new value) and an access watchpoint on
# the byte gdb_after_store reads.
ACCEL=emu
fw_session _emu \
	-ex "break *$LOOP" \
	-ex "set \$rax = 0" \
	-ex "jump *$LOOP_NEXT" \
	-ex "stepi" -ex "stepi" -ex "stepi" \
	-ex "printf \"loop rip=%#lx\\n\", \$rip" \
	-ex "delete" \
	-ex "set \$rax = 0x2a" \
	-ex "watch *(unsigned char *)$WATCH" \
	-ex "continue" \
	-ex "printf \"watch rip=%#lx\\n\", \$rip" \
	-ex "delete" \
	-ex "awatch *(unsigned char *)$PATCH" \
	-ex "continue" \
	-ex "printf \"awatch rip=%#lx\\n\", \$rip" \
	-ex "delete"
L=$tmp/gdb_emu.log
expect gdb_stepi_around_loop_emu "$L" "^loop rip=$LOOP\$"
expect gdb_write_watchpoint_emu "$L" "^watch rip=$AFTER_STORE\$"
grep -aEq '^New value = 42' "$L" || { echo "not ok gdb_write_watchpoint_emu: no new value 42"; FAILED=1; }
expect gdb_access_watchpoint_emu "$L" "^awatch rip=$AFTER_READ\$"
[ "$FAILED" -eq 0 ] || fw_dump _emu
ACCEL=kvm

# Breakpoints outlive a guest reset: the stub re-arms them in the rebuilt
# RAM and vCPUs. The lifecycle kernel reboots twice through the 8042; a
# breakpoint on its entry point is hit by the second and third boots.
LC=$GUESTS/lifecycle.elf
ENTRY=$(readelf -h "$LC" 2>/dev/null | awk '/Entry point/ { print $4 }')
# reset_case SUFFIX: under $ACCEL.
reset_case() {
	if [ -z "$ENTRY" ]; then
		echo "not ok gdb_breakpoint_survives_reset$1: no entry point in $LC"
	elif ! vireo_start reset$1 --gdb-wait --kernel "$LC" --cmdline "action=kbd resets=2"; then
		echo "not ok gdb_breakpoint_survives_reset$1: vireo did not start its GDB stub"
	else
		timeout 60 gdb -batch -nx -ex "target remote 127.0.0.1:$PORT" -ex "break *$ENTRY" \
			-ex continue -ex continue -ex delete -ex continue >"$tmp/reset$1.log" 2>&1
		vireo_wait
		hits=$(grep -ac "^Breakpoint 1, 0x0*${ENTRY#0x} in" "$tmp/reset$1.log")
		if [ "$RC" -eq "$PASS_RC" ] && [ "$hits" -eq 2 ]; then
			echo "ok gdb_breakpoint_survives_reset$1"
		else
			echo "not ok gdb_breakpoint_survives_reset$1: status $RC (want $PASS_RC), $hits hits (want 2)"
			cat "$tmp/reset$1.log"
		fi
	fi
}
reset_case ""

# The real guest kernel (scripts/build-guest.sh) under the emulated CPU.
# Debian ships no symbols (its System.map is a stub), so the stops are at
# addresses the boot protocol fixes: with nokaslr the decompressor puts
# vmlinux at CONFIG_PHYSICAL_START (16 MiB) and jumps to its first byte,
# startup_64, running identity mapped. A hardware breakpoint there (a
# software one would be overwritten by the decompressor), a step, then a
# software breakpoint two instructions on in the decompressed code.
linux_case() {
	local root kernel initrd next third L
	root=$(cd "$(dirname "$0")/../.." && pwd)
	kernel=$root/build/guest/bzImage
	initrd=$root/build/guest/initramfs.cpio.gz
	if [ ! -s "$kernel" ] && ! (cd "$root" && scripts/build-guest.sh) >"$tmp/build-guest.log" 2>&1; then
		for n in $LINUX_CASES; do
			echo "skip $n: no guest kernel (scripts/build-guest.sh: $(tail -n 1 "$tmp/build-guest.log"))"
		done
		return
	fi
	if ! ACCEL=emu vireo_start linux --gdb-wait --memory 512M --kernel "$kernel" --initrd "$initrd" \
		--cmdline "nokaslr"; then
		for n in $LINUX_CASES; do echo "not ok $n: vireo did not start its GDB stub"; done
		return
	fi
	L=$tmp/linux.log
	timeout 240 gdb -batch -nx -ex "set pagination off" \
		-ex "target remote 127.0.0.1:$PORT" \
		-ex "hbreak *0x1000000" \
		-ex "continue" \
		-ex "printf \"entry rip=%#lx\\n\", \$rip" \
		-ex "x/3i \$pc" \
		-ex "delete" \
		-ex "stepi" \
		-ex "printf \"step rip=%#lx\\n\", \$rip" \
		-ex "kill" >"$L" 2>&1
	vireo_wait
	expect gdb_linux_hw_breakpoint_emu "$L" '^entry rip=0x1000000$'
	# The addresses of the next two instructions, from gdb's disassembly.
	next=$(sed -n 's/^ *\(0x[0-9a-f]*\):.*/\1/p' "$L" | sed -n 1p)
	third=$(sed -n 's/^ *\(0x[0-9a-f]*\):.*/\1/p' "$L" | sed -n 2p)
	if [ -n "$next" ]; then
		expect gdb_linux_stepi_emu "$L" "^step rip=$next\$"
	else
		echo "not ok gdb_linux_stepi_emu: no disassembly at 0x1000000"
	fi
	if [ -z "$third" ]; then
		echo "not ok gdb_linux_sw_breakpoint_emu: no disassembly at 0x1000000"
		return
	fi
	if ! ACCEL=emu vireo_start linux2 --gdb-wait --memory 512M --kernel "$kernel" --initrd "$initrd" \
		--cmdline "nokaslr"; then
		echo "not ok gdb_linux_sw_breakpoint_emu: vireo did not start its GDB stub"
		return
	fi
	timeout 240 gdb -batch -nx -ex "set pagination off" \
		-ex "target remote 127.0.0.1:$PORT" \
		-ex "hbreak *0x1000000" \
		-ex "continue" \
		-ex "delete" \
		-ex "break *$third" \
		-ex "continue" \
		-ex "printf \"bp rip=%#lx\\n\", \$rip" \
		-ex "kill" >"$tmp/linux2.log" 2>&1
	vireo_wait
	expect gdb_linux_sw_breakpoint_emu "$tmp/linux2.log" "^bp rip=$third\$"

	# The running kernel on 2 vCPUs: a software breakpoint in its text
	# where a Ctrl-C found it, hit again, and a step (gdb_rsp.py).
	if ! command -v python3 >/dev/null 2>&1; then
		for n in rsp_linux_sw_breakpoint rsp_linux_step gdb_linux_smp_emu; do
			echo "skip $n: python3 is not installed"
		done
		return
	fi
	if ! ACCEL=emu vireo_start linux3 --gdb-wait --cpus 2 --memory 512M --kernel "$kernel" \
		--initrd "$initrd" --cmdline "nokaslr"; then
		echo "not ok gdb_linux_smp_emu: vireo did not start its GDB stub"
		return
	fi
	timeout 200 python3 "$(dirname "$0")/gdb_rsp.py" "$PORT" linux_running >"$tmp/linux3.log" 2>&1
	vireo_wait
	cat "$tmp/linux3.log"
	if [ "$RC" -eq 143 ]; then
		echo "ok gdb_linux_smp_emu"
	else
		echo "not ok gdb_linux_smp_emu: vireo exited $RC, expected 143 (killed by gdb)"
		head -n 20 "$tmp/linux3.err"
	fi
}
linux_case

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
# Ctrl-C and attaching to a running guest pause the emulated CPU too.
ACCEL=emu rsp_case gdb_rsp_interrupt_emu 155 interrupt --gdb-wait
ACCEL=emu rsp_case gdb_rsp_detach_emu 3 detach
exit 0
