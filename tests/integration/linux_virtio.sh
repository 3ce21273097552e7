#!/usr/bin/env bash
# Vireo's virtio devices seen by Debian's own drivers (virtio_pci, virtio_blk,
# virtio_console, virtio_rng) in the default guest on the emulated CPU
# (issue 5). Every case checks what the GUEST sees, and where the guest
# wrote, what the host then finds in the files.
#
# Boot A (disks and rng), one guest command for all of it:
#   vda ext4 made on the host (mkfs.ext4 -d), serial; files read back with
#       their checksums; the guest writes files, syncs and powers off without
#       unmounting; the host replays the journal and finds every byte
#   vdb a readonly ext4 disk: mount -o ro works, every write is refused
#   vdc sparse raw, cache=none: fio --verify=crc32c, iodepth 32, one job per
#       vCPU on its own CPU (so on its own queue), plus 256k sequential writes
#   vdd allocated raw: blkdiscard of the middle 16 MiB frees host blocks and
#       leaves the rest intact
#   vde qcow2 (vireo-img convert): host data reads back, guest data lands
#   --rng: /dev/hwrng yields random bytes
# Boot B (--console virtio): hvc0 is the console; a line written on vireo's
#   stdin comes back transformed, and 24 KiB go each way with checksums.
#
# Boot A uses the initramfs with fio (scripts/build-guest-fio.sh) and two
# vCPUs. The sanitizer pass (VIREO_SANITIZED=1) boots A without fio on one
# vCPU and skips boot B.
set -u
cd "$(dirname "$0")/../.."
V=${VIREO_BUILD:-build}/vireo
IMG=${VIREO_BUILD:-build}/vireo-img
BOOT_TIMEOUT=${LINUX_BOOT_TIMEOUT:-400}
SAN=${VIREO_SANITIZED:-0}
CASES_A="virtio_blk_disks virtio_blk_size virtio_blk_serial virtio_blk_ext4_read
virtio_blk_ext4_write_back virtio_blk_readonly virtio_blk_discard virtio_blk_qcow2
virtio_rng_hwrng"
CASES_FIO="virtio_blk_fio_verify virtio_blk_multiqueue"
CASES_B="virtio_console_hvc0_line virtio_console_hvc0_bulk"

skip_all() {
	for n in $CASES_A $CASES_FIO $CASES_B; do echo "skip $n: $1"; done
	exit 0
}

if [ ! -x "$V" ] || [ ! -x "$IMG" ]; then
	for n in $CASES_A $CASES_FIO $CASES_B; do echo "not ok $n: $V or $IMG not built"; done
	exit 0
fi
for t in mkfs.ext4 debugfs e2fsck qemu-img; do
	command -v "$t" >/dev/null || skip_all "$t is not installed (scripts/deps.sh)"
done
# The guest comes from Debian packages: without network (and no cached
# build) there is nothing to boot.
if ! scripts/build-guest.sh >/tmp/vireo-build-guest.log 2>&1; then
	skip_all "the default guest could not be built (scripts/build-guest.sh: $(tail -n 1 /tmp/vireo-build-guest.log))"
fi
KERNEL=build/guest/bzImage
INITRD=build/guest/initramfs.cpio.gz
FIO=0
if [ "$SAN" != 1 ]; then
	if scripts/build-guest-fio.sh >/tmp/vireo-build-guest-fio.log 2>&1; then
		INITRD=build/guest/initramfs-fio.cpio.gz
		FIO=1
	else
		FIO_WHY="no fio initramfs (scripts/build-guest-fio.sh: $(tail -n 1 /tmp/vireo-build-guest-fio.log))"
	fi
fi

tmp=$(mktemp -d /tmp/vireo-linux-virtio.XXXXXX)
[ -n "${LINUX_KEEP_TMP:-}" ] || trap 'rm -rf "$tmp"' EXIT
# A vireo that exits early must not kill this script with SIGPIPE (boot B).
trap '' PIPE

. tests/integration/linux_lib.sh

md5() { md5sum | cut -d' ' -f1; }

# --- Host images ---
MIB=$((1024 * 1024))
mkdir -p "$tmp/in/in"
: >"$tmp/in/in/empty"
printf 'x' >"$tmp/in/in/one"
head -c 4095 /dev/urandom >"$tmp/in/in/page"
head -c $((MIB + 7)) /dev/urandom >"$tmp/in/in/odd"
head -c $((3 * MIB)) /dev/urandom >"$tmp/in/in/big"
mkfs.ext4 -q -F -L vireo-a -d "$tmp/in" "$tmp/a.img" 64M >"$tmp/mkfs.log" 2>&1 ||
	skip_all "mkfs.ext4 -d failed: $(tail -n 1 "$tmp/mkfs.log")"
mkdir -p "$tmp/ro"
head -c $((256 * 1024)) /dev/urandom >"$tmp/ro/data"
mkfs.ext4 -q -F -L vireo-b -d "$tmp/ro" "$tmp/b.img" 16M >>"$tmp/mkfs.log" 2>&1 ||
	skip_all "mkfs.ext4 -d failed: $(tail -n 1 "$tmp/mkfs.log")"
ro_md5=$(md5 <"$tmp/b.img")
truncate -s 96M "$tmp/c.img"
# vdd: 32 MiB of allocated data; the guest discards [8 MiB, 24 MiB).
head -c $((32 * MIB)) /dev/urandom >"$tmp/d.img"
d_head=$(head -c $((8 * MIB)) "$tmp/d.img" | md5)
d_tail=$(tail -c $((8 * MIB)) "$tmp/d.img" | md5)
d_blocks=$(stat -c %b "$tmp/d.img")
d_bsize=$(stat -c %B "$tmp/d.img")
# vde: qcow2 made by vireo-img from a raw file with 1 MiB of data at 0.
truncate -s 64M "$tmp/e.raw"
head -c "$MIB" /dev/urandom >"$tmp/e.head"
dd if="$tmp/e.head" of="$tmp/e.raw" conv=notrunc status=none
e_head=$(md5 <"$tmp/e.head")
"$IMG" convert -f raw -O qcow2 "$tmp/e.raw" "$tmp/e.qcow2" >"$tmp/img.log" 2>&1 ||
	skip_all "vireo-img convert failed: $(tail -n 1 "$tmp/img.log")"

# --- Boot A: what the guest runs (a quoted here-document: no host expansion) ---
# It is longer than a kernel command line may be (2 KiB): it travels on a
# sixth disk, vdf, NUL-padded, and the command line only runs it from there.
cat >"$tmp/script.sh" <<'EOF'
dmesg -n 1
kv() { echo "$1=$2"; }
md5() { md5sum | cut -d" " -f1; }
for d in vda vdb vdc vdd vde; do kv "SIZE_$d" "$(cat /sys/block/$d/size 2>/dev/null)"; done
kv DISKS "$(ls /sys/block | grep "^vd" | tr "\n" " ")"
kv SERIAL_vda "$(cat /sys/block/vda/serial 2>/dev/null)"
kv SERIAL_vdb "$(cat /sys/block/vdb/serial 2>/dev/null)"
mkdir -p /mnt/a /mnt/b
# vda: read the host's files, write new ones, sync, no unmount.
if mount -t ext4 /dev/vda /mnt/a; then
	kv MOUNT_vda 0
	for f in /mnt/a/in/*; do kv "MD5IN_${f##*/}" "$(md5 <"$f")"; done
	mkdir -p /mnt/a/out/small
	dd if=/dev/urandom of=/mnt/a/out/big bs=65536 count=80 2>/dev/null
	i=0
	while [ $i -lt 100 ]; do
		head -c $((i * 97 + 1)) /dev/urandom >/mnt/a/out/small/f$(printf %03d $i)
		i=$((i + 1))
	done
	kv MD5OUT_big "$(md5 </mnt/a/out/big)"
	kv MD5OUT_small "$(cat /mnt/a/out/small/* | md5)"
	sync
	kv SYNC_vda $?
fi
# vdb: readonly.
kv RO_vdb "$(cat /sys/block/vdb/ro)"
mount -o ro -t ext4 /dev/vdb /mnt/b && kv MD5RO "$(md5 </mnt/b/data)"
touch /mnt/b/new 2>/dev/null; kv RO_TOUCH_RC $?
mount -o remount,rw /mnt/b 2>/dev/null; kv RO_REMOUNT_RC $?
dd if=/dev/zero of=/dev/vdb bs=4096 count=1 conv=fsync 2>/dev/null; kv RO_DD_RC $?
# vdc: fio, one job per vCPU, each on its own CPU and so its own queue.
if command -v fio >/dev/null; then
	dev=$(basename "$(readlink /sys/block/vdc/device)")
	kv QUEUES_vdc "$(ls /sys/block/vdc/mq | wc -l)"
	n=$(nproc)
	kv NPROC "$n"
	fio --filename=/dev/vdc --direct=1 --ioengine=libaio --iodepth=32 \
		--verify=crc32c --verify_fatal=1 --numjobs=$n --cpus_allowed=0-$((n - 1)) \
		--cpus_allowed_policy=split --group_reporting --eta=never --output=/tmp/fio.out \
		--name=rand4k --rw=randwrite --bs=4k --size=8M --offset_increment=8M \
		--name=seq256k --stonewall --rw=write --bs=256k --size=8M --offset=32M \
		--offset_increment=8M
	kv FIO_RC $?
	grep -E "err=|IOPS=" /tmp/fio.out | sed "s/^/FIO: /"
	# Interrupts per queue vector (MSI-X names them DEV-req.N).
	q=0
	while [ -d /sys/block/vdc/mq/$q ]; do
		kv "IRQ_vdc_$q" "$(grep " $dev-req.$q\$" /proc/interrupts |
			awk "{ s = 0; for (i = 2; i <= NF; i++) if (\$i ~ /^[0-9]+\$/) s += \$i; print s }")"
		q=$((q + 1))
	done
fi
# vdd: discard the middle 16 MiB.
kv DISCARD_MAX_vdd "$(cat /sys/block/vdd/queue/discard_max_bytes)"
blkdiscard -o 8388608 -l 16777216 /dev/vdd; kv DISCARD_RC $?
# vde: qcow2.
kv QCOW_HEAD "$(dd if=/dev/vde bs=65536 count=16 2>/dev/null | md5)"
head -c 1048576 /dev/urandom >/tmp/q
kv QCOW_WROTE "$(md5 </tmp/q)"
dd if=/tmp/q of=/dev/vde bs=65536 seek=48 conv=fsync 2>/dev/null; kv QCOW_DD_RC $?
echo 3 >/proc/sys/vm/drop_caches
kv QCOW_READ "$(dd if=/dev/vde bs=65536 skip=48 count=16 2>/dev/null | md5)"
# rng.
kv RNG_CURRENT "$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)"
kv RNG1 "$(dd if=/dev/hwrng bs=64 count=1 2>/dev/null | od -An -tx1 | tr -d " \n")"
kv RNG2 "$(dd if=/dev/hwrng bs=64 count=1 2>/dev/null | od -An -tx1 | tr -d " \n")"
kv GUEST_DONE 1
EOF
cp "$tmp/script.sh" "$tmp/f.img"
truncate -s 64K "$tmp/f.img"
GUEST_CMD='tr -d "\\000" </dev/vdf >/tmp/t.sh; sh /tmp/t.sh'

if [ "$FIO" = 1 ]; then
	A_CPUS=2
else
	A_CPUS=1
fi
# vda takes the worker pool (aio=threads), the other raw disks io_uring.
boot a --cpus "$A_CPUS" --memory 512M --rng \
	--disk "$tmp/a.img,serial=VIREO-A-0123456789,aio=threads" \
	--disk "$tmp/b.img,readonly=on,serial=vireo-ro" \
	--disk "$tmp/c.img,cache=none" \
	--disk "$tmp/d.img" \
	--disk "$tmp/e.qcow2,format=qcow2" \
	--disk "$tmp/f.img,readonly=on"

ok() { echo "ok $1"; }
fail() { echo "not ok $1: $2"; }
if [ -z "$(value a GUEST_DONE)" ]; then
	for n in $CASES_A $CASES_FIO; do
		fail "$n" "the guest command did not finish: $(why a)"
	done
else
	# virtio_blk_disks: all six, in --disk order.
	got=$(value a DISKS)
	if [ "$got" = "vda vdb vdc vdd vde vdf " ]; then ok virtio_blk_disks
	else fail virtio_blk_disks "the guest has disks '$got', expected vda..vdf"; fi

	# virtio_blk_size: /sys/block/vdX/size in 512-byte sectors.
	bad=
	for d in a:a.img b:b.img c:c.img d:d.img e:e.raw; do
		want=$(($(stat -c %s "$tmp/${d#*:}") / 512))
		got=$(value a "SIZE_vd${d%%:*}")
		[ "$got" = "$want" ] || bad="$bad vd${d%%:*}=$got(want $want)"
	done
	if [ -z "$bad" ]; then ok virtio_blk_size; else fail virtio_blk_size "sizes:$bad"; fi

	# virtio_blk_serial: GET_ID, 20 bytes at most (virtio 1.2 §5.2.6).
	s1=$(value a SERIAL_vda) s2=$(value a SERIAL_vdb)
	if [ "$s1" = VIREO-A-0123456789 ] && [ "$s2" = vireo-ro ]; then ok virtio_blk_serial
	else fail virtio_blk_serial "serials '$s1' and '$s2'"; fi

	# virtio_blk_ext4_read: every file's checksum as the host made it.
	bad=
	for f in "$tmp"/in/in/*; do
		got=$(value a "MD5IN_${f##*/}")
		[ "$got" = "$(md5 <"$f")" ] || bad="$bad ${f##*/}"
	done
	if [ "$(value a MOUNT_vda)" != 0 ]; then
		fail virtio_blk_ext4_read "the guest could not mount vda"
	elif [ -n "$bad" ]; then
		fail virtio_blk_ext4_read "wrong or missing checksums for:$bad"
	else
		ok virtio_blk_ext4_read
	fi

	# virtio_blk_ext4_write_back: the guest synced and powered off without
	# unmounting; replay the journal as the next mount would, then read.
	cp --sparse=always "$tmp/a.img" "$tmp/a2.img"
	e2fsck -fy "$tmp/a2.img" >"$tmp/fsck.log" 2>&1
	fsck_rc=$?
	mkdir -p "$tmp/dump"
	debugfs -R "rdump /out $tmp/dump" "$tmp/a2.img" >"$tmp/debugfs.log" 2>&1
	big=$(md5 <"$tmp/dump/out/big" 2>/dev/null)
	small=$(cat "$tmp"/dump/out/small/f* 2>/dev/null | md5)
	nsmall=$(ls "$tmp/dump/out/small" 2>/dev/null | wc -l)
	if [ -z "$(value a MD5OUT_big)" ] || [ "$(value a SYNC_vda)" != 0 ]; then
		fail virtio_blk_ext4_write_back "the guest did not write and sync its files"
	elif [ "$fsck_rc" -gt 1 ]; then
		fail virtio_blk_ext4_write_back "e2fsck -fy exit $fsck_rc: $(tail -n 3 "$tmp/fsck.log" | tr '\n' ' ')"
	elif [ "$big" != "$(value a MD5OUT_big)" ]; then
		fail virtio_blk_ext4_write_back "out/big differs on the host (host $big, guest $(value a MD5OUT_big))"
	elif [ "$nsmall" != 100 ] || [ "$small" != "$(value a MD5OUT_small)" ]; then
		fail virtio_blk_ext4_write_back "out/small/* differ on the host ($nsmall files)"
	else
		ok virtio_blk_ext4_write_back
	fi

	# virtio_blk_readonly: VIRTIO_BLK_F_RO makes the whole disk read-only;
	# the host file is untouched.
	if [ "$(value a RO_vdb)" != 1 ]; then
		fail virtio_blk_readonly "/sys/block/vdb/ro is '$(value a RO_vdb)'"
	elif [ "$(value a MD5RO)" != "$(md5 <"$tmp/ro/data")" ]; then
		fail virtio_blk_readonly "mount -o ro and read failed (md5 '$(value a MD5RO)')"
	elif [ "$(value a RO_TOUCH_RC)" = 0 ] || [ "$(value a RO_REMOUNT_RC)" = 0 ] ||
		[ "$(value a RO_DD_RC)" = 0 ]; then
		fail virtio_blk_readonly "a write succeeded (touch $(value a RO_TOUCH_RC), remount rw $(value a RO_REMOUNT_RC), dd $(value a RO_DD_RC))"
	elif [ "$(md5 <"$tmp/b.img")" != "$ro_md5" ]; then
		fail virtio_blk_readonly "the host file changed"
	else
		ok virtio_blk_readonly
	fi

	# virtio_blk_discard: the blocks of [8, 24) MiB are released; the rest
	# is intact.
	blocks=$(stat -c %b "$tmp/d.img")
	freed=$(( (d_blocks - blocks) * d_bsize ))
	if [ "$(value a DISCARD_MAX_vdd)" = 0 ] || [ -z "$(value a DISCARD_MAX_vdd)" ]; then
		fail virtio_blk_discard "the guest sees no discard support (discard_max_bytes '$(value a DISCARD_MAX_vdd)')"
	elif [ "$(value a DISCARD_RC)" != 0 ]; then
		fail virtio_blk_discard "blkdiscard failed in the guest (exit $(value a DISCARD_RC))"
	elif [ "$freed" -lt $((15 * MIB)) ] || [ "$freed" -gt $((16 * MIB)) ]; then
		fail virtio_blk_discard "the host file's allocation shrank by $freed bytes, expected 16 MiB"
	elif [ "$(head -c $((8 * MIB)) "$tmp/d.img" | md5)" != "$d_head" ] ||
		[ "$(tail -c $((8 * MIB)) "$tmp/d.img" | md5)" != "$d_tail" ]; then
		fail virtio_blk_discard "data outside the discarded range changed"
	else
		ok virtio_blk_discard
	fi

	# virtio_blk_qcow2: the host's data reads back; the guest's lands at
	# 3 MiB; the image stays consistent.
	qemu-img convert -f qcow2 -O raw "$tmp/e.qcow2" "$tmp/e.out" 2>"$tmp/conv.log"
	host_q=$(dd if="$tmp/e.out" bs=65536 skip=48 count=16 status=none 2>/dev/null | md5)
	if [ "$(value a QCOW_HEAD)" != "$e_head" ]; then
		fail virtio_blk_qcow2 "the guest reads '$(value a QCOW_HEAD)' at 0, the host wrote $e_head"
	elif [ "$(value a QCOW_DD_RC)" != 0 ] || [ "$(value a QCOW_READ)" != "$(value a QCOW_WROTE)" ]; then
		fail virtio_blk_qcow2 "the guest's write/read back failed (dd $(value a QCOW_DD_RC))"
	elif [ "$host_q" != "$(value a QCOW_WROTE)" ]; then
		fail virtio_blk_qcow2 "qemu-img reads '$host_q' where the guest wrote $(value a QCOW_WROTE)"
	elif ! qemu-img check -f qcow2 "$tmp/e.qcow2" >"$tmp/check.log" 2>&1; then
		fail virtio_blk_qcow2 "qemu-img check: $(tail -n 2 "$tmp/check.log" | tr '\n' ' ')"
	else
		ok virtio_blk_qcow2
	fi

	# virtio_rng_hwrng: the driver is bound and two reads differ.
	r1=$(value a RNG1) r2=$(value a RNG2)
	if [ "${#r1}" != 128 ] || [ "${#r2}" != 128 ]; then
		fail virtio_rng_hwrng "short reads from /dev/hwrng ('$r1', '$r2'; rng_current '$(value a RNG_CURRENT)')"
	elif [ "$r1" = "$r2" ] || [ "$r1" = "$(printf '0%.0s' $(seq 128))" ]; then
		fail virtio_rng_hwrng "not random: '$r1' then '$r2'"
	else
		case $(value a RNG_CURRENT) in
		virtio_rng*) ok virtio_rng_hwrng ;;
		*) fail virtio_rng_hwrng "rng_current is '$(value a RNG_CURRENT)'" ;;
		esac
	fi

	# virtio_blk_fio_verify and virtio_blk_multiqueue.
	if [ "$FIO" != 1 ]; then
		for n in $CASES_FIO; do
			echo "skip $n: ${FIO_WHY:-no fio in the sanitizer pass (one vCPU, small initramfs)}"
		done
	else
		if [ "$(value a FIO_RC)" = 0 ]; then ok virtio_blk_fio_verify
		else fail virtio_blk_fio_verify "fio exit '$(value a FIO_RC)': $(grep ' FIO: ' "$tmp/a.out" | cut -d' ' -f2- | head -n 3 | tr '\n' ' ')"; fi
		nq=$(value a QUEUES_vdc)
		i0=$(value a IRQ_vdc_0) i1=$(value a IRQ_vdc_1)
		if [ "$(value a NPROC)" != "$A_CPUS" ]; then
			fail virtio_blk_multiqueue "the guest has $(value a NPROC) CPUs online of $A_CPUS (the emulated CPU's SMP bring-up, not virtio)"
		elif [ "$nq" != "$A_CPUS" ]; then
			fail virtio_blk_multiqueue "the guest has $nq queues on vdc, expected $A_CPUS (one per vCPU)"
		elif [ "${i0:-0}" -lt 100 ] || [ "${i1:-0}" -lt 100 ]; then
			fail virtio_blk_multiqueue "interrupts per queue vector '$i0' and '$i1', expected each >= 100 after fio"
		else
			ok virtio_blk_multiqueue
		fi
	fi
fi

if [ "$SAN" = 1 ]; then
	for n in $CASES_B; do echo "skip $n: one boot only in the sanitizer pass"; done
	exit 0
fi

# --- Boot B: hvc0 is the console (--console virtio) ---
# /init's own output goes to /dev/console, which is not there before the
# virtio_console module loads; the command opens hvc0 itself.
GUEST_CMD=$(cat <<'EOF'
exec </dev/hvc0 >/dev/hvc0 2>&1
dmesg -n 1
stty -echo
echo "HVC-READY=1"
read -r line
echo "HVC-LINE=$(echo "$line" | rev | tr a-z A-Z)"
# Host to guest: base64 lines up to END. (Not sed '/^END$/q': busybox's sed
# reads a line ahead to know the last one, and blocks on the tty.)
while read -r l && [ "$l" != END ]; do echo "$l"; done >/tmp/in
echo "HVC-IN-MD5=$(md5sum </tmp/in | cut -d" " -f1) $(wc -l </tmp/in)"
# Guest to host: 24 KiB as base64 lines between markers.
head -c 24576 /dev/urandom | base64 >/tmp/out
echo "HVC-OUT-BEGIN=1"
cat /tmp/out
echo "HVC-OUT-END=1"
echo "HVC-OUT-MD5=$(md5sum </tmp/out | cut -d" " -f1)"
echo "GUEST_DONE=1"
EOF
)
mkfifo "$tmp/in.fifo"
head -c 24576 /dev/urandom | base64 >"$tmp/hvc_in"
BOOT_STDIN=$tmp/in.fifo boot b --console virtio --cpus 1 --memory 256M &
bpid=$!
exec 3>"$tmp/in.fifo"
deadline=$((SECONDS + BOOT_TIMEOUT))
while [ -z "$(value b HVC-READY)" ] && kill -0 "$bpid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
	sleep 1
done
printf 'hello vireo 42\n' >&3
cat "$tmp/hvc_in" >&3
printf 'END\n' >&3
wait "$bpid"
exec 3>&-

if [ -z "$(value b HVC-READY)" ]; then
	for n in $CASES_B; do fail "$n" "no output on hvc0: $(why b)"; done
	exit 0
fi
got=$(value b HVC-LINE)
if [ "$got" = "24 OERIV OLLEH" ]; then ok virtio_console_hvc0_line
else fail virtio_console_hvc0_line "the guest answered '$got' to 'hello vireo 42': $(why b)"; fi
# Guest to host: the lines between the markers, less the timestamps.
sed -n '/^[0-9]* HVC-OUT-BEGIN=1$/,/^[0-9]* HVC-OUT-END=1$/p' "$tmp/b.out" |
	sed '1d;$d' | cut -d' ' -f2- >"$tmp/hvc_out"
want_in="$(md5 <"$tmp/hvc_in") $(wc -l <"$tmp/hvc_in")"
if [ "$(value b HVC-IN-MD5)" != "$want_in" ]; then
	fail virtio_console_hvc0_bulk "host to guest: the guest got '$(value b HVC-IN-MD5)', sent '$want_in'"
elif [ -z "$(value b HVC-OUT-MD5)" ] || [ "$(md5 <"$tmp/hvc_out")" != "$(value b HVC-OUT-MD5)" ]; then
	fail virtio_console_hvc0_bulk "guest to host: $(wc -l <"$tmp/hvc_out") lines, checksum differs from the guest's"
else
	ok virtio_console_hvc0_bulk
fi
