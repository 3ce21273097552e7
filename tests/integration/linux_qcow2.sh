#!/usr/bin/env bash
# qcow2 seen from a real guest: Debian's kernel on the emulated CPU
# (--accel emu) reads and writes qcow2 images through virtio-blk, and
# qemu-img (Debian's qemu-utils) is the judge of what ends up in the files.
#
#   Boot "read": images made by qemu-img (plain v3 and v2, backing chains
#     over a raw and over a qcow2 base, deflate and zstd compression, an
#     internal snapshot, 4 KiB and 2 MiB clusters) read in the guest exactly
#     as `qemu-img convert -O raw` reads them (md5 of 1 MiB regions at the
#     start, across the 512 MiB L2 boundary, and at the end of a 1 GiB disk).
#     The same boot writes a qcow2 header over sector 0 of a probed raw disk
#     (must fail with EIO, file unchanged) and of a format=raw disk (must
#     succeed).
#   Boot "write": the guest writes the same random data (dd with O_DIRECT,
#     random offsets and lengths, discards of whole 2 MiB ranges) to fresh
#     qcow2 images (64 KiB, 4 KiB and 2 MiB clusters), a qcow2 over a
#     qcow2 backing file, and raw copies; afterwards `qemu-img check` finds
#     no errors and `qemu-img compare` finds each qcow2 equal to its raw
#     twin. It also reads the format=raw disk of the first boot (still raw,
#     header and all) and a qcow2 file given as format=raw (its bytes).
#   Boots "crash_N": a guest writes at random into a qcow2 until vireo is
#     killed with SIGKILL at a random moment; `qemu-img check` must report no
#     corruption (leaked clusters are allowed). Rounds reuse crashed images
#     so vireo also reopens them. 3 rounds, 8 with VIREO_LONG=1.
#
# The guest's script travels on a small read-only disk with serial "cmd";
# disks are found in the guest by their serial (/sys/block/vdX/serial), not
# by probe order. The sanitizer pass (VIREO_SANITIZED=1) runs only the
# "read" boot. KEEP=1 keeps the work directory (/tmp/vireo-linux-qcow2.*).
set -u
cd "$(dirname "$0")/../.."
B=$(cd "${VIREO_BUILD:-build}" 2>/dev/null && pwd || echo "${VIREO_BUILD:-build}")
V=$B/vireo
VIMG=$B/vireo-img
BOOT_TIMEOUT=${LINUX_BOOT_TIMEOUT:-300}
ROUNDS=3
[ "${VIREO_LONG:-0}" = 1 ] && ROUNDS=8

READ_IMGS="plain v2 bkraw bkchain deflate zstd snap c4k c2m"
CASES_READ=""
for s in $READ_IMGS; do CASES_READ="$CASES_READ linux_qcow2_read_$s"; done
CASES_READ="$CASES_READ linux_qcow2_probed_raw_plain_write linux_qcow2_probed_raw_header_eio
linux_qcow2_probed_raw_unchanged linux_qcow2_format_raw_header_write"
WRITE_IMGS="f64k f4k f2m ovl"
CASES_WRITE="linux_qcow2_write_guest"
for s in $WRITE_IMGS; do CASES_WRITE="$CASES_WRITE linux_qcow2_write_$s"; done
CASES_WRITE="$CASES_WRITE linux_qcow2_format_raw_persists linux_qcow2_format_raw_qcow2_file"
CASES_CRASH=""
for i in $(seq 1 $ROUNDS); do CASES_CRASH="$CASES_CRASH linux_qcow2_crash_$i"; done

skip_all() {
	for n in $CASES_READ $CASES_WRITE $CASES_CRASH; do echo "skip $n: $1"; done
	exit 0
}

if [ ! -x "$V" ] || [ ! -x "$VIMG" ]; then
	for n in $CASES_READ $CASES_WRITE $CASES_CRASH; do echo "not ok $n: $V or $VIMG not built"; done
	exit 0
fi
command -v qemu-img >/dev/null && command -v qemu-io >/dev/null ||
	skip_all "qemu-img/qemu-io not installed (qemu-utils)"
# The guest comes from Debian packages: without network (and no cached
# build) there is nothing to boot.
if ! scripts/build-guest.sh >/tmp/vireo-build-guest.log 2>&1; then
	skip_all "the default guest could not be built (scripts/build-guest.sh: $(tail -n 1 /tmp/vireo-build-guest.log))"
fi
KERNEL=$PWD/build/guest/bzImage
INITRD=$PWD/build/guest/initramfs.cpio.gz

tmp=$(mktemp -d /tmp/vireo-linux-qcow2.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT

# What the kernel command line carries: find the disk with serial "cmd",
# strip the zero padding, run it. (The command line holds 2 KiB at most;
# the scripts below would not fit.)
LOADER='for d in /sys/block/vd*;do [ "$(cat $d/serial)" = cmd ]&&'
LOADER=$(printf '%s' "$LOADER"'tr -d "\0" </dev/${d##*/} >/tmp/s.sh;done;sh /tmp/s.sh' | base64 -w0)

# Shell functions every guest script starts with.
GUEST_LIB='
# dev SERIAL: the guest device node of the disk with that serial.
dev() {
	for d in /sys/block/vd*; do
		[ "$(cat $d/serial 2>/dev/null)" = "$1" ] && { echo /dev/${d##*/}; return; }
	done
	echo /dev/missing-$1
}
# rmd5 DEV OFF LEN: md5 of LEN bytes at OFF (multiples of 64 KiB), read with
# O_DIRECT so that every byte comes from vireo, not the page cache.
rmd5() {
	dd if=$1 bs=64k skip=$(($2 / 65536)) count=$(($3 / 65536)) iflag=direct 2>/dev/null |
		md5sum | cut -d" " -f1
}
# wr SRC OFF LEN SKIP DEV...: LEN bytes of SRC from SKIP to OFF of each DEV,
# in one O_DIRECT write (all multiples of 512).
wr() {
	local src=$1 off=$2 len=$3 skip=$4 t
	shift 4
	for t in "$@"; do
		dd if=$src of=$t bs=1M iflag=skip_bytes,count_bytes oflag=seek_bytes,direct \
			skip=$skip seek=$off count=$len conv=notrunc 2>/dev/null ||
			echo "WERR $t $off $len"
	done
}
'

# boot NAME ARGS...: boots the guest running the script $tmp/NAME.sh (from
# its disk) with ARGS; console in $tmp/NAME.out (CRs removed), stderr in
# $tmp/NAME.err, exit status in $tmp/NAME.rc.
boot() {
	local name=$1
	shift
	pad "$tmp/$name.sh"
	timeout -k 5 "$BOOT_TIMEOUT" "$V" --accel emu --memory 256M --kernel "$KERNEL" \
		--initrd "$INITRD" --cmdline "quiet vireo.cmd=$LOADER" \
		--disk "$tmp/$name.sh,format=raw,readonly=on,serial=cmd" "$@" \
		</dev/null 2>"$tmp/$name.err" | tr -d '\r' >"$tmp/$name.out"
	echo "${PIPESTATUS[0]}" >"$tmp/$name.rc"
}

# pad FILE: zero-pad to a multiple of 64 KiB (a disk is whole sectors).
pad() {
	local n
	n=$(stat -c %s "$1")
	truncate -s $(((n + 65535) / 65536 * 65536)) "$1"
}

# why NAME: a short reason for a failed boot.
why() {
	local rc
	rc=$(cat "$tmp/$1.rc" 2>/dev/null)
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		echo "timed out after ${BOOT_TIMEOUT}s; last console line: $(tail -n 1 "$tmp/$1.out" | cut -c1-160)"
	else
		echo "exit status $rc; stderr: $(head -c 300 "$tmp/$1.err" | tr '\n' ' ')"
	fi
}

# booted NAME: the guest ran its script to the end and powered off.
booted() {
	[ "$(cat "$tmp/$1.rc")" = 0 ] && grep -q '^VIREO-CMD-EXIT=0$' "$tmp/$1.out"
}

# gline NAME KEY...: the rest of the guest's first line starting "KEY... ".
gline() {
	local name=$1
	shift
	grep -a -m1 "^$* " "$tmp/$name.out" | cut -d' ' -f$(($# + 1))-
}

# hmd5 FILE OFF LEN: the host's md5 of a byte range of FILE.
hmd5() {
	dd if="$1" bs=64k skip=$(($2 / 65536)) count=$(($3 / 65536)) 2>/dev/null | md5sum | cut -d' ' -f1
}

# qcheck CASE IMG: qemu-img check's verdict, "" when clean.
qcheck() {
	local out rc
	out=$(qemu-img check "$1" 2>&1)
	rc=$?
	[ $rc = 0 ] || echo "qemu-img check rc=$rc: $(printf '%s' "$out" | grep -v '^$' | head -n 4 | tr '\n' ' ')"
}

MiB=1048576
GiB=$((1024 * MiB))
cd "$tmp" || exit 1

# --- Images for the read boot (all 1 GiB virtual, data in three regions) ---
# Regions: the start, across the 512 MiB line (where the first L2 table of a
# 64 KiB-cluster image ends), and the last MiB.
REGIONS="0 $((512 * MiB - 512 * 1024)) $((GiB - MiB))"
# mksrc FILE: random data in each region with a 256 KiB run of explicit zeros
# inside (converted images leave those unallocated).
mksrc() {
	truncate -s $GiB "$1"
	for o in $REGIONS; do
		head -c $MiB /dev/urandom | dd of="$1" bs=64k seek=$((o / 65536)) conv=notrunc 2>/dev/null
		dd if=/dev/zero of="$1" bs=64k seek=$((o / 65536 + 5)) count=4 conv=notrunc 2>/dev/null
	done
}
# qio IMG OPS...: qemu-io with each OP as a -c command.
qio() {
	local img=$1 a=()
	shift
	for c in "$@"; do a+=(-c "$c"); done
	qemu-io "${a[@]}" "$img" >/dev/null
}
head -c 262144 /dev/urandom >ov1.bin
head -c 262144 /dev/urandom >ov2.bin
prep_read() {
	mksrc src.raw && mksrc src2.raw &&
	qemu-img convert -O qcow2 src.raw plain.qcow2 &&
	qemu-img convert -O qcow2 -o compat=0.10 src2.raw v2.qcow2 &&
	# raw base + overlay: unaligned writes (copy-on-write from the base),
	# zeroes over the base, a pattern.
	qemu-img create -q -f qcow2 -b src.raw -F raw bkraw.qcow2 &&
	for o in $REGIONS; do
		qio bkraw.qcow2 "write -s ov1.bin $((o + 1536)) 100000" \
			"write -z $((o + 300000)) 70000" "write -P 0x77 $((o + 900000)) 100000" || return 1
	done &&
	# qcow2 base (4 KiB clusters) <- middle <- top: three levels, relative names.
	qemu-img convert -O qcow2 -o cluster_size=4k src2.raw chain0.qcow2 &&
	qemu-img create -q -f qcow2 -b chain0.qcow2 -F qcow2 chain1.qcow2 &&
	qemu-img create -q -f qcow2 -o cluster_size=16k -b chain1.qcow2 -F qcow2 bkchain.qcow2 &&
	for o in $REGIONS; do
		qio chain1.qcow2 "write -s ov1.bin $((o + 4096)) 200000" "write -z $((o + 458752)) 131072" &&
			qio bkchain.qcow2 "write -s ov2.bin $((o + 150000)) 120000" \
				"write -P 0x3c $((o + 700000)) 65536" || return 1
	done &&
	qemu-img convert -c -O qcow2 src.raw deflate.qcow2 &&
	qemu-img convert -c -O qcow2 -o compression_type=zstd src2.raw zstd.qcow2 &&
	# Internal snapshots: later writes copy shared clusters (refcount 2).
	qemu-img convert -O qcow2 src2.raw snap.qcow2 &&
	qemu-img snapshot -c s1 snap.qcow2 &&
	for o in $REGIONS; do
		qio snap.qcow2 "write -s ov2.bin $((o + 4096)) 200000" "write -z $((o + 65536 * 12)) 65536" ||
			return 1
	done &&
	qemu-img snapshot -c s2 snap.qcow2 &&
	qio snap.qcow2 "write -P 0x11 $((512 * MiB)) 4096" &&
	qemu-img convert -O qcow2 -o cluster_size=4k src.raw c4k.qcow2 &&
	qemu-img convert -O qcow2 -o cluster_size=2M src2.raw c2m.qcow2 &&
	# The guard disks: 1 MiB of random bytes each (never "QFI\xfb" at 0).
	head -c $MiB /dev/urandom >praw.img && head -c $MiB /dev/urandom >fraw.img &&
	printf '\0' | dd of=praw.img bs=1 conv=notrunc 2>/dev/null &&
	printf '\0' | dd of=fraw.img bs=1 conv=notrunc 2>/dev/null &&
	cp praw.img praw.orig && cp fraw.img fraw.orig &&
	# A genuine qcow2 header sector for the guest to write.
	qemu-img create -q -f qcow2 hdr.qcow2 1G && head -c 4096 hdr.qcow2 >hdr.bin
}
if ! prep_read >prep.log 2>&1; then
	for n in $CASES_READ $CASES_WRITE $CASES_CRASH; do
		echo "not ok $n: preparing the images failed: $(tail -n 2 prep.log | tr '\n' ' ')"
	done
	exit 0
fi

{
	printf '%s\n' "$GUEST_LIB"
	echo "for s in $READ_IMGS; do"
	echo '	d=$(dev $s)'
	echo '	echo "SIZE $s $(($(cat /sys/block/${d#/dev/}/size) * 512))"'
	echo "	for o in $REGIONS; do echo \"MD5 \$s \$o \$(rmd5 \$d \$o $MiB)\"; done"
	echo 'done'
	echo "echo $(base64 -w0 hdr.bin) | base64 -d >/tmp/hdr"
	cat <<'EOF'
# 4 KiB writes: busybox dd drops O_DIRECT for buffers smaller than a page
# (malloc, not page aligned), and a buffered write's error is lost at close.
head -c 4096 /dev/zero | tr '\0' A >/tmp/a
p=$(dev praw)
dd if=/tmp/a of=$p bs=4k count=1 oflag=direct conv=notrunc,fsync 2>/dev/null
echo "PRAW-PLAIN $?"
dd if=/tmp/hdr of=$p bs=4k count=1 oflag=direct conv=notrunc,fsync 2>/tmp/e
echo "PRAW-HDR $? $(tr '\n' ' ' </tmp/e)"
dd if=/tmp/hdr of=$(dev fraw) bs=4k count=1 oflag=direct conv=notrunc,fsync 2>/tmp/e
echo "FRAW-HDR $? $(tr '\n' ' ' </tmp/e)"
EOF
} >read.sh

args=()
for s in $READ_IMGS; do args+=(--disk "$s.qcow2,serial=$s"); done
boot read "${args[@]}" --disk praw.img,serial=praw --disk fraw.img,format=raw,serial=fraw

for s in $READ_IMGS; do
	c=linux_qcow2_read_$s
	if ! size=$(gline read SIZE $s) || [ -z "$size" ]; then
		echo "not ok $c: no answer from the guest: $(why read)"
		continue
	fi
	if ! qemu-img convert -O raw "$s.qcow2" exp.raw 2>conv.err; then
		echo "not ok $c: qemu-img convert failed: $(head -c 200 conv.err)"
		continue
	fi
	bad=""
	[ "$size" = $GiB ] || bad="guest size $size, expected $GiB; "
	for o in $REGIONS; do
		g=$(gline read MD5 $s $o)
		h=$(hmd5 exp.raw "$o" $MiB)
		[ "$g" = "$h" ] || bad="$bad@$o guest md5 ${g:-none} != qemu-img $h; "
	done
	rm -f exp.raw
	if [ -z "$bad" ]; then
		echo "ok $c"
	else
		echo "not ok $c: $bad"
	fi
done

# Probed raw: an ordinary write to the first 4 KiB works; a qcow2 header does not,
# and leaves the file as it was.
r=$(gline read PRAW-PLAIN)
if [ "$r" = 0 ]; then
	echo "ok linux_qcow2_probed_raw_plain_write"
else
	echo "not ok linux_qcow2_probed_raw_plain_write: dd status '${r:-none}': $(why read)"
fi
r=$(gline read PRAW-HDR)
if [ -n "$r" ] && [ "${r%% *}" != 0 ] && [[ "$r" == *"Input/output error"* ]] &&
	grep -q "refusing to write a format header" read.err; then
	echo "ok linux_qcow2_probed_raw_header_eio"
else
	echo "not ok linux_qcow2_probed_raw_header_eio: guest dd said '${r:-nothing}'" \
		"(expected a failure with EIO and vireo's refusal on stderr)"
fi
{ head -c 4096 /dev/zero | tr '\0' A; tail -c +4097 praw.orig; } >praw.exp
if booted read && cmp -s praw.img praw.exp; then
	echo "ok linux_qcow2_probed_raw_unchanged"
else
	echo "not ok linux_qcow2_probed_raw_unchanged: praw.img is not the original with" \
		"its first 4 KiB = 'A'*4096 ($(cmp praw.img praw.exp 2>&1 | head -c 100); $(why read))"
fi
r=$(gline read FRAW-HDR)
{ cat hdr.bin; tail -c +4097 fraw.orig; } >fraw.exp
if [ "${r%% *}" = 0 ] && cmp -s fraw.img fraw.exp; then
	echo "ok linux_qcow2_format_raw_header_write"
else
	echo "not ok linux_qcow2_format_raw_header_write: guest dd said '${r:-nothing}'," \
		"file $(cmp fraw.img fraw.exp 2>&1 | head -c 100)"
fi

if [ "${VIREO_SANITIZED:-0}" = 1 ]; then
	for n in $CASES_WRITE $CASES_CRASH; do echo "skip $n: one boot only in the sanitizer pass"; done
	exit 0
fi

# --- The write boot ---
# Every target gets the same writes; qcow2 images are compared with their raw
# twin afterwards: the fresh ones with an all-zero raw disk, the overlay with
# a raw copy of its backing file's content.
WSIZE=$((64 * MiB))
prep_write() {
	"$VIMG" create -q -f qcow2 f64k.qcow2 $WSIZE &&
	qemu-img create -q -f qcow2 -o cluster_size=4k f4k.qcow2 $WSIZE &&
	"$VIMG" create -q -f qcow2 -o cluster_size=2M f2m.qcow2 $WSIZE &&
	truncate -s $WSIZE wbase.raw &&
	for m in 0 5 17 40 63; do
		head -c $MiB /dev/urandom | dd of=wbase.raw bs=64k seek=$((m * 16)) conv=notrunc 2>/dev/null ||
			return 1
	done &&
	qemu-img convert -O qcow2 -o cluster_size=4k wbase.raw wbase.qcow2 &&
	qemu-img create -q -f qcow2 -b wbase.qcow2 -F qcow2 ovl.qcow2 &&
	truncate -s $WSIZE rawz.raw && cp wbase.raw rawb.raw
}
if ! prep_write >>prep.log 2>&1; then
	for n in $CASES_WRITE $CASES_CRASH; do
		echo "not ok $n: preparing the images failed: $(tail -n 2 prep.log | tr '\n' ' ')"
	done
	exit 0
fi
WDEVS="f64k f4k f2m ovl rawz rawb"
{
	printf '%s\n' "$GUEST_LIB"
	echo "W=\"$WDEVS\""
	echo 'T=$(for s in $W; do dev $s; done)'
	echo "S=$((WSIZE / 512))"
	cat <<'EOF'
R=/tmp/rnd
dd if=/dev/urandom of=$R bs=64k count=16 2>/dev/null
# Random sector-aligned writes of 512 B .. 256 KiB from random places in R.
i=0
while [ $i -lt 40 ]; do
	n=$((RANDOM % 512 + 1))
	o=$(((RANDOM * 4 + RANDOM % 4) % (S - n)))
	wr $R $((o * 512)) $((n * 512)) $((RANDOM % (2048 - n) * 512)) $T
	i=$((i + 1))
done
# Whole-cluster patterns: 1 MiB across the 2 MiB and the 32 MiB lines, a
# discard of 4 MiB (whole clusters for every cluster size: reads back as
# zeros on qcow2 and on a raw file alike), then small writes into it.
wr $R 1572864 1048576 0 $T
wr $R 33030144 1048576 0 $T
for t in $T; do blkdiscard -o 8388608 -l 4194304 $t || echo "WERR discard $t"; done
wr $R 8389120 4096 8192 $T
wr $R 10485760 65536 65536 $T
i=0
while [ $i -lt 12 ]; do
	n=$((RANDOM % 16 + 1))
	o=$(((RANDOM * 4 + RANDOM % 4) % (S - n)))
	wr $R $((o * 512)) $((n * 512)) $((RANDOM % 2000 * 512)) $T
	i=$((i + 1))
done
for s in $W; do echo "WMD5 $s $(rmd5 $(dev $s) 8388608 2097152)"; done
echo "FRAW-MD5 $(rmd5 $(dev fraw) 0 1048576)"
echo "QRAW-MD5 $(rmd5 $(dev qraw) 0 1048576)"
sync
EOF
} >write.sh
args=()
for s in $WDEVS; do
	case $s in
	raw*) args+=(--disk "$s.raw,format=raw,serial=$s") ;;
	*) args+=(--disk "$s.qcow2,serial=$s") ;;
	esac
done
boot write "${args[@]}" --disk fraw.img,format=raw,serial=fraw \
	--disk plain.qcow2,format=raw,readonly=on,serial=qraw

werr=$(grep -a '^WERR' write.out | head -n 3 | tr '\n' ' ')
# The writes happened (else every comparison below would be trivially equal).
truncate -s $WSIZE zero.raw
cmp -s rawz.raw zero.raw && werr="$werr rawz.raw is still all zeros;"
cmp -s rawb.raw wbase.raw && werr="$werr rawb.raw is still wbase.raw;"
rm -f zero.raw
if booted write && [ -z "$werr" ]; then
	echo "ok linux_qcow2_write_guest"
else
	echo "not ok linux_qcow2_write_guest: ${werr:-}$(why write)"
fi
exp_rawz=$(hmd5 rawz.raw $((8 * MiB)) $((2 * MiB)))
exp_rawb=$(hmd5 rawb.raw $((8 * MiB)) $((2 * MiB)))
for s in $WRITE_IMGS; do
	c=linux_qcow2_write_$s
	twin=rawz.raw exp=$exp_rawz
	[ $s = ovl ] && twin=rawb.raw exp=$exp_rawb
	bad=$(qcheck $s.qcow2)
	if ! out=$(qemu-img compare -f qcow2 -F raw $s.qcow2 $twin 2>&1); then
		bad="$bad qemu-img compare with $twin: $(printf '%s' "$out" | head -n 2 | tr '\n' ' ')"
	fi
	g=$(gline write WMD5 $s)
	[ "$g" = "$exp" ] || bad="$bad guest read back ${g:-nothing} at 8 MiB, the raw twin has $exp;"
	if ! booted write; then
		echo "not ok $c: $(why write)"
	elif [ -n "$bad" ]; then
		echo "not ok $c:$bad"
	else
		echo "ok $c"
	fi
done
# The format=raw disk the first boot wrote a qcow2 header into is still raw
# to the guest, header and all.
g=$(gline write FRAW-MD5)
h=$(hmd5 fraw.exp 0 $MiB)
if [ -n "$g" ] && [ "$g" = "$h" ] && [ "$(head -c 4 fraw.img | od -An -tx1 | tr -d ' ')" = 514649fb ]; then
	echo "ok linux_qcow2_format_raw_persists"
else
	echo "not ok linux_qcow2_format_raw_persists: guest md5 ${g:-none}, expected $h: $(why write)"
fi
# A qcow2 file given as format=raw: the guest sees the file's bytes.
g=$(gline write QRAW-MD5)
h=$(hmd5 plain.qcow2 0 $MiB)
if [ -n "$g" ] && [ "$g" = "$h" ]; then
	echo "ok linux_qcow2_format_raw_qcow2_file"
else
	echo "not ok linux_qcow2_format_raw_qcow2_file: guest md5 ${g:-none}, file $h: $(why write)"
fi

# --- Crash rounds ---
# crash_image N: the image round N writes into (creating it if needed).
# Rounds 2, 5 and 8 reopen the image an earlier round crashed.
crash_image() {
	case $1 in
	1 | 2 | 8) [ -f k64.qcow2 ] || qemu-img create -q -f qcow2 k64.qcow2 $WSIZE; echo k64.qcow2 ;;
	3 | 5)
		# 4 KiB clusters, lazy refcounts, over a backing file, with an
		# internal snapshot sharing the clusters written before it.
		if [ ! -f klazy.qcow2 ]; then
			qemu-img create -q -f qcow2 -o cluster_size=4k,lazy_refcounts=on \
				-b wbase.qcow2 -F qcow2 klazy.qcow2 &&
				qio klazy.qcow2 "write -s ov1.bin 0 262144" "write -s ov2.bin $((20 * MiB)) 262144" &&
				qemu-img snapshot -c s1 klazy.qcow2
		fi
		echo klazy.qcow2 ;;
	4) qemu-img create -q -f qcow2 -o cluster_size=2M k2m.qcow2 $WSIZE; echo k2m.qcow2 ;;
	6) qemu-img convert -c -O qcow2 wbase.raw kcomp.qcow2; echo kcomp.qcow2 ;;
	7) qemu-img create -q -f qcow2 -o compat=0.10 kv2.qcow2 $WSIZE; echo kv2.qcow2 ;;
	esac
}
{
	printf '%s\n' "$GUEST_LIB"
	cat <<'EOF'
d=$(dev crash)
S=$(cat /sys/block/${d#/dev/}/size)
R=/tmp/rnd
dd if=/dev/urandom of=$R bs=64k count=4 2>/dev/null
i=0
while :; do
	n=$((RANDOM % 256 + 1))
	o=$(((RANDOM * 4 + RANDOM % 4) % (S - n)))
	wr $R $((o * 512)) $((n * 512)) $((RANDOM % (512 - n) * 512)) $d
	case $((RANDOM % 16)) in
	0) blkdiscard -o $((RANDOM % (S / 4096) * 2097152)) -l 2097152 $d ;;
	1) dd if=$R of=$d bs=64k count=1 seek=$((RANDOM % (S / 128))) oflag=direct conv=notrunc,fsync 2>/dev/null ;;
	esac
	[ $i = 3 ] && echo CRASH-GO
	i=$((i + 1))
done
EOF
} >crash.sh
pad crash.sh
for i in $(seq 1 $ROUNDS); do
	c=linux_qcow2_crash_$i
	img=$(crash_image $i 2>>prep.log | tail -n 1)
	if [ -z "$img" ] || [ ! -f "$img" ]; then
		echo "not ok $c: preparing the image failed: $(tail -n 2 prep.log | tr '\n' ' ')"
		continue
	fi
	"$V" --accel emu --memory 256M --kernel "$KERNEL" --initrd "$INITRD" \
		--cmdline "quiet vireo.cmd=$LOADER" --disk crash.sh,format=raw,readonly=on,serial=cmd \
		--disk "$img,serial=crash" </dev/null >crash$i.out 2>crash$i.err &
	pid=$!
	waited=0
	while ! grep -q '^CRASH-GO' crash$i.out 2>/dev/null && kill -0 $pid 2>/dev/null &&
		[ $waited -lt $((BOOT_TIMEOUT * 10)) ]; do
		sleep 0.1
		waited=$((waited + 1))
	done
	if ! grep -q '^CRASH-GO' crash$i.out; then
		kill -KILL $pid 2>/dev/null
		wait $pid 2>/dev/null
		echo "not ok $c: the guest never started writing (after $((waited / 10)) s):" \
			"$(tail -n 1 crash$i.out | cut -c1-120) $(head -c 200 crash$i.err)"
		continue
	fi
	# 0.2 .. 4 s into the writing.
	delay=$((RANDOM % 4)).$((RANDOM % 9 + 1))
	sleep "$delay"
	alive=0
	kill -0 $pid 2>/dev/null && alive=1
	kill -KILL $pid 2>/dev/null
	wait $pid 2>/dev/null
	if [ $alive = 0 ]; then
		echo "not ok $c: vireo had already exited: $(head -c 300 crash$i.err)"
		continue
	fi
	out=$(qemu-img check "$img" 2>&1)
	rc=$?
	if [ $rc = 0 ] || [ $rc = 3 ]; then
		echo "ok $c: $img killed ${delay}s into the writes, qemu-img check rc=$rc" \
			"($(printf '%s' "$out" | grep -m1 -o '[0-9]* leaked clusters' || echo 'no leaks'))"
	else
		echo "not ok $c: $img after SIGKILL: qemu-img check rc=$rc: $(printf '%s' "$out" | head -n 6 | tr '\n' ' ')"
	fi
done
