#!/usr/bin/env bash
# The emulated-CPU accelerator (--accel emu) and the VM lifecycle with tiny
# real-mode firmware images built here from a few bytes (as kvm_basic.sh
# does for KVM): port I/O to the serial port and isa-debug-exit, ACPI
# power-off, resets, a triple fault's register dump, SIGTERM, several vCPUs.
set -u
V=${VIREO_BUILD:-build}/vireo
if [ ! -x "$V" ]; then
	echo "not ok emu_basic: $V not built"
	exit 0
fi
. "$(dirname "$0")/proc_lib.sh"
tmp=$(mktemp -d /tmp/vireo-emu.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# fw NAME HEX: a 64 KiB image whose code (HEX, 16-bit real mode) starts at
# F000:0000; the reset vector at F000:FFF0 jumps there. The rest is HLT.
fw() {
	python3 - "$tmp/$1.bin" "$2" <<'PY'
import sys
img = bytearray(b'\xf4' * 65536)
code = bytes.fromhex(sys.argv[2])
img[0:len(code)] = code
img[0xfff0:0xfff3] = b'\xe9\x0d\x00'   # jmp near 0x0000
open(sys.argv[1], 'wb').write(img)
PY
}
putc() { printf 'baf803b0%02xee' "'$1"; }             # mov dx,0x3f8; mov al,C; out dx,al
debug_exit() { printf 'b0%02xe6f4' "$1"; }            # mov al,N; out 0xf4,al
HALT=faf4ebfd                                          # cli; hlt; jmp $-2
SPIN=ebfe                                              # jmp $
I8042_RESET=b0fee664                                   # mov al,0xfe; out 0x64,al
ACPI_S5=ba0406b80034ef                                 # mov dx,0x604; mov ax,0x3400; out dx,ax
TRIPLE=31c050505089e3360f011fcc                        # lidt limit 0; int3

run() { # NAME TIMEOUT ARGS...: status in $rc, serial in $tmp/NAME.out
	local name=$1 t=$2
	shift 2
	timeout -k 2 "$t" "$V" --accel emu --serial "file:$tmp/$name.out" "$@" \
		</dev/null >/dev/null 2>"$tmp/$name.err"
	rc=$?
	touch "$tmp/$name.out"
}
check() { # NAME $? DESCRIPTION
	if [ "$2" -eq 0 ]; then echo "ok $1"; else
		echo "not ok $1: $3 (status $rc, serial '$(head -c 200 "$tmp/$1.out")', stderr: $(head -c 400 "$tmp/$1.err"))"
	fi
}

fw hello "$(putc H)$(putc i)$(putc '!')$(debug_exit 5)$HALT"
run emu_debug_exit 20 --firmware "$tmp/hello.bin"
[ "$rc" -eq 11 ] && [ "$(cat "$tmp/emu_debug_exit.out")" = "Hi!" ] && [ ! -s "$tmp/emu_debug_exit.err" ]
check emu_debug_exit $? "expected status (5 << 1) | 1 = 11, serial 'Hi!', empty stderr"

# The APs wait for INIT/SIPI (asleep): only the BSP runs the firmware.
run emu_debug_exit_smp 20 --cpus 4 --memory 64M --firmware "$tmp/hello.bin"
[ "$rc" -eq 11 ] && [ "$(cat "$tmp/emu_debug_exit_smp.out")" = "Hi!" ]
check emu_debug_exit_smp $? "4 vCPUs: expected status 11 and 'Hi!'"

fw poweroff "$(putc P)$ACPI_S5$HALT"
run emu_acpi_poweroff 20 --firmware "$tmp/poweroff.bin"
[ "$rc" -eq 0 ] && [ "$(cat "$tmp/emu_acpi_poweroff.out")" = "P" ]
check emu_acpi_poweroff $? "expected status 0 after ACPI S5"

fw i8042 "$(putc R)$I8042_RESET$HALT"
run emu_reset_no_reboot 20 --no-reboot --firmware "$tmp/i8042.bin"
[ "$rc" -eq 4 ] && [ "$(cat "$tmp/emu_reset_no_reboot.out")" = "R" ]
check emu_reset_no_reboot $? "expected status 4 (reset under --no-reboot)"

# A halted guest (cli; hlt) sleeps: SIGTERM ends it with 143, and it used
# almost no CPU meanwhile.
fw halt "$(putc Z)$HALT"
"$V" --accel emu --cpus 2 --serial "file:$tmp/emu_halt_idle.out" --firmware "$tmp/halt.bin" \
	</dev/null >/dev/null 2>"$tmp/emu_halt_idle.err" &
pid=$!
for _ in $(seq 100); do
	[ -s "$tmp/emu_halt_idle.out" ] && break
	sleep 0.1
done
sleep 1
t0=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
sleep 2
t1=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
kill -TERM "$pid"
reap "$pid" 20
rc=$?
# clock ticks (usually 100/s): under 10% of one core over 2 s.
[ "$rc" -eq 143 ] && [ "$(cat "$tmp/emu_halt_idle.out")" = Z ] && [ $((t1 - t0)) -lt 20 ]
check emu_halt_idle $? "expected status 143 and < 20 ticks of CPU in 2 s halted (got $((t1 - t0)))"

# A guest spinning: SIGTERM still ends it (the vCPU is kicked out of cpu_run).
fw spin "$(putc S)$SPIN"
"$V" --accel emu --serial "file:$tmp/emu_signal.out" --firmware "$tmp/spin.bin" \
	</dev/null >/dev/null 2>"$tmp/emu_signal.err" &
pid=$!
for _ in $(seq 100); do
	[ -s "$tmp/emu_signal.out" ] && break
	sleep 0.1
done
kill -TERM "$pid"
reap "$pid" 20
rc=$?
[ "$rc" -eq 143 ] && [ "$(cat "$tmp/emu_signal.out")" = S ]
check emu_signal $? "expected status 143 after SIGTERM"

fw triple "$(putc T)$TRIPLE"
run emu_triple_fault 20 --no-reboot --firmware "$tmp/triple.bin"
[ "$rc" -eq 1 ] && grep -q 'triple fault' "$tmp/emu_triple_fault.err" &&
	grep -q '^RIP=' "$tmp/emu_triple_fault.err"
check emu_triple_fault $? "expected status 1, 'triple fault' and a register dump"
