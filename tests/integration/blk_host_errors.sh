#!/usr/bin/env bash
# Host I/O errors reach the guest as errors on that request (issue 5 point 6).
# ENOSPC: vda is a sparse 8 MiB raw file on a 1 MiB tmpfs (mounted in a
# private mount namespace, so root is needed), vdb a raw file in /tmp. The
# freestanding guest (tests/guests/virtio/virtio_blk.c) fills vda until a
# write fails and expects VIRTIO_BLK_S_IOERR for it, then checks that vda
# still answers and vdb still works; the host then checks vdb's bytes and
# that vireo logged the host error. (EIO from the file layer, which needs
# fault injection, is tests/unit/test_virtio_blk_errors.c.)
. "$(dirname "$0")/../guests/test-lib.sh"

NAME=blk_enospc_is_ioerr
guests_preflight $NAME
GUEST=$GUESTS/virtio_blk.elf
if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null; then
	echo "skip $NAME: needs root and unshare for a private tmpfs mount"
	exit 0
fi
if [ ! -f "$GUEST" ]; then
	echo "not ok $NAME: $GUEST not built (make guests)"
	exit 0
fi
mkdir "$tmp/full"
truncate -s 8M "$tmp/vdb.raw"

# The mount lives only as long as the namespace (this one command), so
# nothing is left mounted whatever happens.
timeout "$GUEST_TIMEOUT" unshare -m --propagation private sh -c '
	mount -t tmpfs -o size=1M vireo-full "$1" || exit 90
	truncate -s 8M "$1/vda.raw" || exit 91
	shift
	exec "$@"' sh "$tmp/full" "$VIREO" --accel kvm --serial stdio \
	--disk "$tmp/full/vda.raw,format=raw" --disk "$tmp/vdb.raw,format=raw" \
	--kernel "$GUEST" >"$tmp/$NAME.out" 2>"$tmp/$NAME.err" </dev/null
RC=$?
if [ "$RC" -eq 90 ] || [ "$RC" -eq 91 ]; then
	echo "skip $NAME: cannot mount a tmpfs here ($(head -c 200 "$tmp/$NAME.err"))"
	exit 0
fi
guest_report "$NAME" "$PASS_RC" 'vda took [1-9][0-9]* writes of 64 KiB, then status 1' \
	'vdb: data read back: ok' || exit 0

# The host side: vireo said why, and vdb holds what the guest wrote at
# sector 8 (the guest's pattern: seed 0x5eed xor i * 2654435761, LE words).
if ! grep -q 'No space left on device' "$tmp/$NAME.err"; then
	echo "not ok ${NAME}_host: vireo did not log the host error:" \
		"$(head -c 300 "$tmp/$NAME.err")"
	exit 0
fi
want=$(python3 -c '
import struct, sys
sys.stdout.write(b"".join(struct.pack("<I", (0x5eed ^ (i * 2654435761)) & 0xffffffff)
	for i in range(0, 65536, 4)).hex())')
got=$(dd if="$tmp/vdb.raw" bs=512 skip=8 count=128 status=none | od -An -v -tx1 | tr -d ' \n')
if [ "$got" = "$want" ]; then
	echo "ok ${NAME}_host"
else
	echo "not ok ${NAME}_host: vdb.raw does not hold the guest's pattern at sector 8"
fi
