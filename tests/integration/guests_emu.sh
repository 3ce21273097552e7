#!/usr/bin/env bash
# The freestanding test guests (multiboot in 32-bit protected mode with
# interrupts, the 64-bit Linux-boot-protocol guest, SMP bring-up with
# INIT/SIPI, interrupt-driven serial echo, resets and power-off) on Vireo's
# own CPU: the same suites as guests_*.sh, with --accel emu. Case names get
# an _emu suffix.
set -u
cd "$(dirname "$0")"
status=0
for t in guests_boot guests_smp guests_serial guests_lifecycle; do
	GUEST_ACCEL=emu GUEST_TIMEOUT=${GUEST_TIMEOUT:-60} bash "./$t.sh" |
		sed -E 's/^(ok|not ok|skip) ([^: ]+)/\1 \2_emu/'
	[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
done
exit $status
