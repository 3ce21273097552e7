#!/usr/bin/env bash
# The command line: --help/--version, and every bad input of issue 2 point 3
# gets exactly one line on stderr and the right exit status (2 usage error,
# 1 runtime failure), never a crash or a sanitizer report.
set -u
V=${VIREO_BUILD:-build}/vireo
if [ ! -x "$V" ]; then
	echo "not ok cli: $V not built"
	exit 0
fi
tmp=$(mktemp -d /tmp/vireo-cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"

# expect NAME STATUS SUBSTRING -- ARGS...: runs vireo with ARGS and checks the
# exit status, that stderr is one line, and that it contains SUBSTRING.
expect() {
	local name=$1 want=$2 pat=$3
	shift 4
	local err=$tmp/stderr rc
	timeout 30 "$@" </dev/null >"$tmp/stdout" 2>"$err"
	rc=$?
	local lines
	lines=$(wc -l <"$err")
	if [ "$rc" -ne "$want" ]; then
		echo "not ok $name: exit status $rc, expected $want; stderr: $(head -c 300 "$err")"
	elif [ "$lines" -ne 1 ]; then
		echo "not ok $name: $lines lines on stderr, expected 1: $(head -c 600 "$err")"
	elif ! grep -qF -- "$pat" "$err"; then
		echo "not ok $name: stderr lacks '$pat': $(cat "$err")"
	else
		echo "ok $name"
	fi
}

# A 64 KiB firmware image that only halts, and fake kernels.
python3 - "$tmp" <<'PY'
import struct, sys
d = sys.argv[1]
fw = bytearray(b'\xf4' * 65536)
fw[0xfff0:0xfff3] = b'\xe9\x0d\x00'
open(d + '/fw.bin', 'wb').write(fw)
def bzimage(version, cmdline_size):
    k = bytearray(16384)
    k[0x1f1] = 1                                   # setup_sects
    k[0x1fe:0x200] = b'\x55\xaa'                   # boot_flag
    k[0x200:0x202] = b'\xeb\x66'                   # jump over the header
    k[0x202:0x206] = b'HdrS'
    struct.pack_into('<H', k, 0x206, version)
    k[0x211] = 1                                   # LOADED_HIGH
    struct.pack_into('<I', k, 0x22c, 0x37ffffff)   # initrd_addr_max
    struct.pack_into('<I', k, 0x238, cmdline_size)
    return k
open(d + '/old.bzimage', 'wb').write(bzimage(0x204, 255))
open(d + '/new.bzimage', 'wb').write(bzimage(0x20c, 255))
open(d + '/garbage', 'wb').write(bytes(range(256)) * 64)
PY
fw=$tmp/fw.bin

# --help prints to stdout only and exits 0.
if "$V" --help 2>"$tmp/e" | grep -q '^Usage: vireo' && [ ! -s "$tmp/e" ] && "$V" --help | grep -q -- '--no-reboot'; then
	echo "ok help_text"
else
	echo "not ok help_text: --help output wrong"
fi
if [ "$("$V" --version)" = "vireo $(cat "$(dirname "$0")/../../VERSION")" ]; then
	echo "ok version"
else
	echo "not ok version: got '$("$V" --version 2>&1)'"
fi

# Usage errors: exit 2.
expect no_args 2 "nothing to boot" -- "$V"
expect unknown_long 2 "unknown option '--bogus'" -- "$V" --bogus --firmware "$fw"
expect unknown_short 2 "unknown option '-x'" -- "$V" -x --firmware "$fw"
expect missing_value 2 "'--kernel' needs a value" -- "$V" --kernel
expect stray_argument 2 "unexpected argument 'extra'" -- "$V" --firmware "$fw" extra
expect bad_accel 2 "--accel 'xen'" -- "$V" --accel xen --firmware "$fw"
expect cpus_zero 2 "--cpus: '0' is out of range" -- "$V" --cpus 0 --firmware "$fw"
expect cpus_too_many 2 "--cpus: '255' is out of range" -- "$V" --cpus 255 --firmware "$fw"
expect cpus_garbage 2 "--cpus: 'two' is not a number" -- "$V" --cpus two --firmware "$fw"
expect memory_zero 2 "at least 2 MiB" -- "$V" --memory 0 --firmware "$fw"
expect memory_garbage 2 "'lots' is not a size" -- "$V" --memory lots --firmware "$fw"
expect memory_suffix 2 "'1Q' is not a size" -- "$V" -m 1Q --firmware "$fw"
expect memory_overflow 2 "too large" -- "$V" --memory 99999999999T --firmware "$fw"
expect memory_unaligned 2 "not a multiple of 4 KiB" -- "$V" --memory 4097K --firmware "$fw"
expect bad_serial 2 "--serial 'tcp:1'" -- "$V" --serial tcp:1 --firmware "$fw"
expect serial_empty_file 2 "--serial 'file:'" -- "$V" --serial file: --firmware "$fw"
expect kernel_and_firmware 2 "cannot be used together" -- "$V" --kernel "$fw" --firmware "$fw"
expect initrd_without_kernel 2 "--initrd needs --kernel" -- "$V" --initrd "$fw" --firmware "$fw"
expect cmdline_without_kernel 2 "--cmdline needs --kernel" -- "$V" --cmdline x --firmware "$fw"
expect bad_console 2 "--console 'vga'" -- "$V" --console vga --firmware "$fw"
expect disk_bad_option 2 "--disk: unknown option 'speed'" -- "$V" --disk "$fw,speed=9" --firmware "$fw"
expect disk_bad_cache 2 "--disk: cache=fast" -- "$V" --disk "$fw,cache=fast" --firmware "$fw"
expect disk_no_path 2 "--disk: no file name" -- "$V" --disk ",readonly=on" --firmware "$fw"
expect disk_bad_format 2 "format=vmdk" -- "$V" --disk "$fw,format=vmdk" --firmware "$fw"
expect disk_bad_aio 2 "--disk: aio=native: expected io_uring or threads" -- \
	"$V" --disk "$fw,aio=native" --firmware "$fw"

# Runtime failures: exit 1.
expect kernel_missing 1 "--kernel '$tmp/nope': No such file or directory" -- \
	"$V" --accel kvm --kernel "$tmp/nope"
expect initrd_missing 1 "--initrd '$tmp/nope': No such file" -- \
	"$V" --accel kvm --kernel "$tmp/new.bzimage" --initrd "$tmp/nope"
expect firmware_missing 1 "--firmware '$tmp/nope': No such file" -- \
	"$V" --accel kvm --firmware "$tmp/nope"
expect kernel_directory 1 "is a directory" -- "$V" --accel kvm --kernel "$tmp"
# The emulated CPU is selectable; its vCPU limit shows it was chosen.
expect emu_max_cpus 2 "emu supports at most 64 vCPUs" -- \
	"$V" --accel emu --cpus 65 --firmware "$fw"
if [ -e /sys/module/kvm_pvm ]; then
	# auto says in one line which accelerator it took and why, then the
	# emulator's limit applies.
	timeout 30 "$V" --cpus 65 --firmware "$fw" </dev/null >/dev/null 2>"$tmp/auto.err"
	rc=$?
	if [ "$rc" -eq 2 ] && [ "$(grep -c "using emu (this host's KVM is kvm_pvm" "$tmp/auto.err")" = 1 ] &&
		grep -q "emu supports at most 64 vCPUs" "$tmp/auto.err"; then
		echo "ok auto_picks_emu"
	else
		echo "not ok auto_picks_emu: exit $rc, stderr: $(head -c 300 "$tmp/auto.err")"
	fi
else
	echo "skip auto_picks_emu: this host's KVM is not kvm_pvm"
fi

if [ ! -c /dev/kvm ]; then
	echo "skip kvm_runtime_errors: no /dev/kvm"
	exit 0
fi
expect serial_file_unwritable 1 "serial file '$tmp/nodir/out': No such file or directory" -- \
	"$V" --accel kvm --serial "file:$tmp/nodir/out" --firmware "$fw"
expect memory_beyond_host 1 "more than this host's" -- "$V" --accel kvm --memory 64T --firmware "$fw"
expect disk_missing 1 "--disk '$tmp/nope.img': No such file or directory" -- \
	"$V" --accel kvm --serial none --disk "$tmp/nope.img" --firmware "$fw"
printf 'QFI\373\0\0\0\3garbage' >"$tmp/bad.qcow2"
expect disk_corrupt_qcow2 1 "disk '$tmp/bad.qcow2'" -- \
	"$V" --accel kvm --serial none --disk "$tmp/bad.qcow2" --firmware "$fw"
expect kernel_garbage 1 "not a bzImage (boot protocol >= 2.06) or multiboot ELF kernel" -- \
	"$V" --accel kvm --serial none --kernel "$tmp/garbage"
expect kernel_old_protocol 1 "boot protocol 2.04 is too old" -- \
	"$V" --accel kvm --serial none --kernel "$tmp/old.bzimage"
expect cmdline_too_long 1 "this kernel accepts at most 255" -- \
	"$V" --accel kvm --serial none --kernel "$tmp/new.bzimage" --cmdline "$(printf 'x%.0s' $(seq 300))"
truncate -s 40M "$tmp/big.initrd"
expect initrd_too_big 1 "does not fit" -- \
	"$V" --accel kvm --serial none --memory 16M --kernel "$tmp/new.bzimage" --initrd "$tmp/big.initrd"

# No /dev/kvm at all: hide /dev in a private mount namespace.
if unshare -m true 2>/dev/null; then
	expect no_dev_kvm 1 "cannot open /dev/kvm: No such file or directory" -- \
		unshare -m sh -c 'mount -t tmpfs none /dev && exec "$0" "$@"' \
		"$V" --accel kvm --serial none --firmware "$fw"
else
	echo "skip no_dev_kvm: cannot create a mount namespace"
fi
# No permission: an unprivileged user (the device node is root-only here, or
# at most group kvm), and a file that user cannot read.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	cp "$fw" "$tmp/secret.bin" && chmod 600 "$tmp/secret.bin"
	nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
	if $nobody test -r /dev/kvm; then
		echo "skip dev_kvm_permission: nobody can open /dev/kvm here"
	else
		expect dev_kvm_permission 1 "cannot open /dev/kvm: Permission denied" -- \
			$nobody "$V" --accel kvm --serial none --firmware "$fw"
	fi
	expect firmware_unreadable 1 "--firmware '$tmp/secret.bin': Permission denied" -- \
		$nobody "$V" --accel kvm --serial none --firmware "$tmp/secret.bin"
else
	echo "skip dev_kvm_permission: needs root to drop privileges"
fi
