#!/usr/bin/env bash
# Installs what Vireo's build, tests and benchmarks need from Debian's archive,
# only where it is missing. Safe to run repeatedly; quiet when all is there.
set -eu
pkgs=(
	build-essential      # gcc, make
	liburing-dev         # asynchronous block I/O
	zlib1g-dev           # qcow2 deflate compression
	libzstd-dev          # qcow2 zstd compression
	acpica-tools         # iasl -d checks the generated ACPI tables
	libclang-rt-14-dev   # clang's sanitizer/fuzzer runtimes (libFuzzer)
	clang                # libFuzzer harnesses
	qemu-utils           # qemu-img: interop tests and benchmarks
	qemu-system-x86      # reference VMM for benchmarks and test-guest checks
	qemu-user            # qemu-x86_64: user-mode reference
	busybox-static       # guest userspace and vireo-user tests
	fio                  # block benchmarks
	cpio                 # initramfs packing
	e2fsprogs            # mkfs.ext4 -d, debugfs
	python3              # small test helpers
	kmod                 # depmod for the guest build
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
# The package lists may be absent on a fresh machine; refresh them once.
if ! $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/vireo-deps.log 2>&1; then
	$SUDO apt-get update -q >>/tmp/vireo-deps.log 2>&1
	$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/vireo-deps.log 2>&1 ||
		{ echo "deps: apt-get install failed, see /tmp/vireo-deps.log" >&2; exit 1; }
fi
