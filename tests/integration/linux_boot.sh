#!/usr/bin/env bash
# Debian's cloud kernel with the default initramfs (scripts/build-guest.sh)
# on the emulated CPU (--accel emu), no tsc= or other workarounds: it boots
# to the init marker, runs a command given as vireo.cmd=BASE64, and powers
# off. The guest reports what it sees (nproc, MemTotal, date); the test
# checks that against --cpus, --memory and the host's clock.
#
# Each boot takes tens of seconds on the emulator; the sanitizer pass
# (VIREO_SANITIZED=1) runs only the first boot.
set -u
cd "$(dirname "$0")/../.."
V=${VIREO_BUILD:-build}/vireo
BOOT_TIMEOUT=${LINUX_BOOT_TIMEOUT:-300}
CASES_A="linux_marker linux_nproc_1 linux_memtotal_256m linux_date linux_poweroff"
CASES_B="linux_nproc_2 linux_memtotal_3g"
CASES_C="linux_nproc_4"

skip_all() {
	for n in $CASES_A $CASES_B $CASES_C; do echo "skip $n: $1"; done
	exit 0
}

if [ ! -x "$V" ]; then
	for n in $CASES_A $CASES_B $CASES_C; do echo "not ok $n: $V not built"; done
	exit 0
fi
# The guest comes from Debian packages: without network (and no cached
# build) there is nothing to boot.
if ! scripts/build-guest.sh >/tmp/vireo-build-guest.log 2>&1; then
	skip_all "the default guest could not be built (scripts/build-guest.sh: $(tail -n 1 /tmp/vireo-build-guest.log))"
fi
KERNEL=build/guest/bzImage
INITRD=build/guest/initramfs.cpio.gz

tmp=$(mktemp -d /tmp/vireo-linux.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# What the guest runs: one line per fact, easy to pick out of the console.
GUEST_CMD='echo "NPROC=$(nproc)"
echo "MEMTOTAL=$(sed -n "s/^MemTotal: *\([0-9]*\) kB/\1/p" /proc/meminfo)"
echo "DATE=$(date +%s)"'

. tests/integration/linux_lib.sh

# check_memtotal CASE NAME MIB: MemTotal is what --memory gave, less the
# kernel's own reservations (its image, struct pages: at most ~10% + 40 MiB).
check_memtotal() {
	local case=$1 name=$2 mib=$3 got
	got=$(value "$name" MEMTOTAL)
	local want_kib=$((mib * 1024)) low=$((mib * 1024 * 9 / 10 - 40 * 1024))
	if [ -z "$got" ]; then
		echo "not ok $case: no MemTotal from the guest: $(why "$name")"
	elif [ "$got" -gt "$want_kib" ] || [ "$got" -lt "$low" ]; then
		echo "not ok $case: MemTotal $got kB for --memory ${mib}M (expected $low-$want_kib)"
	else
		echo "ok $case"
	fi
}

# check_nproc CASE NAME N: the guest sees N CPUs. An emulated CPU that
# reports an unsupported mode (EOPNOTSUPP) has not implemented what the
# guest needs yet: that is a skip naming it, not a pass.
check_nproc() {
	local case=$1 name=$2 n=$3 got
	got=$(value "$name" NPROC)
	if [ "$got" = "$n" ]; then
		echo "ok $case"
	elif grep -q "emulated CPU: Operation not supported" "$tmp/$name.err"; then
		echo "skip $case: the emulated CPU does not support what the guest ran yet" \
			"($(grep -m1 'emulated CPU' "$tmp/$name.err" | cut -c1-120))"
	elif [ -n "$got" ]; then
		echo "not ok $case: nproc $got, expected $n"
	else
		echo "not ok $case: no nproc from the guest: $(why "$name")"
	fi
}

# --- Boot A: one vCPU, 256 MiB ---
boot a --cpus 1 --memory 256M
if grep -q '^[0-9]* VIREO-GUEST-UP ' "$tmp/a.out"; then
	echo "ok linux_marker"
else
	echo "not ok linux_marker: no VIREO-GUEST-UP line: $(why a)"
fi
check_nproc linux_nproc_1 a 1
check_memtotal linux_memtotal_256m a 256
# The guest's wall clock (from the RTC, kept by the TSC) against the host's
# when the line arrived: within 2 s (the guest's is truncated to seconds).
guest_date=$(value a DATE)
host_date=$(sed -n 's/^\([0-9]*\) DATE=[0-9]*$/\1/p' "$tmp/a.out" | head -n 1)
if [ -z "$guest_date" ] || [ -z "$host_date" ]; then
	echo "not ok linux_date: no date from the guest: $(why a)"
elif [ $((guest_date - host_date)) -gt 2 ] || [ $((host_date - guest_date)) -gt 2 ]; then
	echo "not ok linux_date: guest $guest_date, host $host_date"
else
	echo "ok linux_date"
fi
# /init ends with poweroff -f: ACPI S5, vireo exits 0.
if [ "$(cat "$tmp/a.rc")" = 0 ] && grep -q '^[0-9]* VIREO-CMD-EXIT=0$' "$tmp/a.out"; then
	echo "ok linux_poweroff"
else
	echo "not ok linux_poweroff: $(why a)"
fi

if [ "${VIREO_SANITIZED:-0}" = 1 ]; then
	for n in $CASES_B $CASES_C; do echo "skip $n: one boot only in the sanitizer pass"; done
	exit 0
fi

# --- Boot B: two vCPUs, 3 GiB (RAM up to the PCI hole) ---
boot b --cpus 2 --memory 3G
check_nproc linux_nproc_2 b 2
if [ -z "$(value b MEMTOTAL)" ] && grep -q "emulated CPU: Operation not supported" "$tmp/b.err"; then
	# SMP did not come up: measure memory on one vCPU instead.
	boot b1 --cpus 1 --memory 3G
	check_memtotal linux_memtotal_3g b1 3072
else
	check_memtotal linux_memtotal_3g b 3072
fi

# --- Boot C: four vCPUs ---
boot c --cpus 4 --memory 256M
check_nproc linux_nproc_4 c 4
