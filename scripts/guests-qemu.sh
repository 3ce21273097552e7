#!/usr/bin/env bash
# Cross-checks the test guests against QEMU (TCG by default, ACCEL=kvm to
# change), so a guest bug can be told from a Vireo bug. Not part of the test
# suite. Usage: scripts/guests-qemu.sh   (after `make guests`)
# QEMU differences the guests are told about on their command line: the
# firmware (SeaBIOS) reserves some RAM (mem_slack_kib), PIIX4's \_S5 sleep
# type is 0 (slp_typ=0), and QEMU starts a bzImage in its 16-bit setup code,
# which linux64 reports with status 37 (it supports only the 64-bit entry).
set -u
cd "$(dirname "$0")/.."
G=${VIREO_BUILD:-build}/guests
ACCEL=${ACCEL:-tcg}
tmp=$(mktemp -d /tmp/vireo-qemu.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
q() { # name want_rc pattern qemu-args...
	local name=$1 want=$2 pat=$3 rc
	shift 3
	timeout 60 qemu-system-x86_64 -accel "$ACCEL" -m 512M -display none -nodefaults \
		-serial stdio -device isa-debug-exit,iobase=0xf4,iosize=4 "$@" 2>/dev/null |
		tr -d '\r' >"$tmp/out"
	rc=${PIPESTATUS[0]}
	if [ "$rc" -eq "$want" ] && { [ -z "$pat" ] || grep -aEq -- "$pat" "$tmp/out"; }; then
		echo "ok qemu_$name"
	else
		echo "not ok qemu_$name: status $rc (want $want)"
		tail -n 5 "$tmp/out"
	fi
}
head -c 6000 /dev/urandom >"$tmp/initrd"
sum=$(od -An -v -tu1 "$tmp/initrd" | awk 'BEGIN { a = 1; b = 0 }
	{ for (i = 1; i <= NF; i++) { a = (a + $i) % 65521; b = (b + a) % 65521 } }
	END { printf "0x%x\n", b * 65536 + a }')

q mbcheck 33 '^mbcheck: all checks ok' -kernel "$G/mbcheck.elf" -initrd "$tmp/initrd" \
	-append "mem_mib=512 mem_slack_kib=1024 initrd_len=6000 initrd_sum=$sum"
for n in 1 2 4; do
	q "smp$n" 33 "^smp: $n cpus" -smp "$n" -kernel "$G/smp.elf" -append "cpus=$n"
done
(sleep 3; printf 'hello q') |
	q echo 33 '^echo: input arrived by interrupt: ok' -kernel "$G/echo.elf"
q exit_code 85 '^lifecycle: exit 42' -kernel "$G/lifecycle.elf" -append "action=exit:42"
q poweroff 0 '^lifecycle: powering off' -kernel "$G/lifecycle.elf" \
	-append "action=poweroff slp_typ=0"
for a in kbd cf9 triple; do
	q "reset_$a" 33 '^lifecycle: came back after 2 resets: ok' -kernel "$G/lifecycle.elf" \
		-append "action=$a resets=2"
	q "reset_${a}_no_reboot" 0 "^lifecycle: resetting via $a" -no-reboot \
		-kernel "$G/lifecycle.elf" -append "action=$a"
done
q firmware 33 '^firmware: long mode ok' -bios "$G/firmware.bin"
q exit_fw 33 '' -bios "$G/exit-fw.bin"
q linux64_16bit_entry 37 '^linux64: entered through the 16-bit setup code' \
	-kernel "$G/linux64.bzImage"
