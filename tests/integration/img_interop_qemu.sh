#!/usr/bin/env bash
# Images made by qemu-img/qemu-io read identically through vireo-img:
# plain, backing chains (qcow2 and raw backings), zero clusters, discards,
# compressed (deflate, zstd), internal snapshots, v2, each cluster size.
. "$(dirname "$0")/img_lib.sh"
need_qemu img_interop_qemu

qio() { qemu-io -f qcow2 "$@" >/dev/null; }

for cs in 4k 64k 2M; do
	qemu-img create -q -f qcow2 -o cluster_size=$cs base.qcow2 24M
	qio -c 'write -P 0x11 0 1M' -c 'write -P 0x22 5000 70000' -c 'write -P 0x33 20M 3M' \
		-c 'write -z 300k 200k' -c 'discard 20M 1M' base.qcow2
	qemu-img create -q -f qcow2 -o cluster_size=$cs -b base.qcow2 -F qcow2 mid.qcow2
	qio -c 'write -P 0x44 512k 1M' -c 'write -z 21M 256k' -c 'write -P 0x55 23M 1000' mid.qcow2
	qemu-img create -q -f qcow2 -o cluster_size=$cs -b mid.qcow2 -F qcow2 top.qcow2 30M
	qio -c 'write -P 0x66 1000 3000' -c 'write -P 0x77 25M 2M' -c 'discard 0 64k' top.qcow2
	check "qemu_plain_cs$cs" same_raw base.qcow2
	check "qemu_chain3_cs$cs" same_raw top.qcow2
	qemu-img snapshot -c snap1 top.qcow2
	qio -c 'write -P 0x88 2M 1M' top.qcow2
	qemu-img snapshot -c snap2 top.qcow2
	qio -c 'write -P 0x99 3M 64k' top.qcow2
	check "qemu_snapshots_read_cs$cs" same_raw top.qcow2
	check "qemu_snapshot_list_cs$cs" bash -c "'$V' snapshot -l top.qcow2 | grep -q snap2"
	cp top.qcow2 topq.qcow2
	qemu-img snapshot -a snap1 topq.qcow2
	check "qemu_snapshot_apply_cs$cs" bash -c "'$V' snapshot -a snap1 top.qcow2 &&
		qemu-img check top.qcow2 && qemu-img compare top.qcow2 topq.qcow2"
	rm -f base.qcow2 mid.qcow2 top.qcow2 topq.qcow2
done

# A raw backing file, named relative to the overlay's directory.
mkdir -p sub
qemu-img create -q -f raw sub/base.raw 8M
qemu-io -f raw -c 'write -P 0x5a 1M 2M' sub/base.raw >/dev/null
qemu-img create -q -f qcow2 -b base.raw -F raw sub/ov.qcow2
qio -c 'write -P 0x6b 1500k 100k' sub/ov.qcow2
check qemu_raw_backing_relative same_raw sub/ov.qcow2

# Compressed images (deflate and zstd) from mixed data.
head -c 6M /dev/urandom >rnd.bin
qemu-img create -q -f raw mix.raw 16M
qemu-io -f raw -c 'write -P 0x41 0 4M' -c 'write -P 0 8M 1M' mix.raw >/dev/null
dd if=rnd.bin of=mix.raw bs=1M seek=9 conv=notrunc status=none
dd if=/dev/zero bs=1k count=1 status=none | tr '\0' 'x' | dd of=mix.raw bs=1 seek=16776000 conv=notrunc status=none
for ct in zlib zstd; do
	for cs in 4k 64k 2M; do
		qemu-img convert -c -O qcow2 -o compression_type=$ct,cluster_size=$cs mix.raw c.qcow2
		check "qemu_compressed_${ct}_cs${cs}_read" same_raw c.qcow2
		rm -f c.qcow2
	done
done

# compat=0.10 (version 2) with a backing file.
qemu-img create -q -f qcow2 -o compat=0.10 v2base.qcow2 4M
qio -c 'write -P 0x12 0 1M' v2base.qcow2
qemu-img create -q -f qcow2 -o compat=0.10 -b v2base.qcow2 -F qcow2 v2.qcow2
qio -c 'write -P 0x34 512k 4k' -c 'write -z 0 64k' v2.qcow2
check qemu_v2_chain same_raw v2.qcow2

# info/check JSON: the fields scripts read agree with qemu-img's.
qemu-img create -q -f qcow2 -o cluster_size=4k,lazy_refcounts=on -b v2base.qcow2 -F qcow2 j.qcow2 6M
qemu-img snapshot -c s j.qcow2
json_same() {
	python3 - "$@" <<'PY'
import json, subprocess, sys
v, img = sys.argv[1], sys.argv[2]
q = json.loads(subprocess.check_output(["qemu-img", "info", "--output=json", img]))
m = json.loads(subprocess.check_output([v, "info", "--output=json", img]))
keys = ["virtual-size", "filename", "cluster-size", "format", "backing-filename",
        "backing-filename-format", "full-backing-filename", "dirty-flag"]
for k in keys:
    assert q.get(k) == m.get(k), (k, q.get(k), m.get(k))
assert q["format-specific"] == m["format-specific"], (q["format-specific"], m["format-specific"])
assert [s["name"] for s in q["snapshots"]] == [s["name"] for s in m["snapshots"]]
qc = subprocess.run(["qemu-img", "check", "--output=json", img], capture_output=True)
mc = subprocess.run([v, "check", "--output=json", img], capture_output=True)
assert qc.returncode == mc.returncode, (qc.returncode, mc.returncode)
qj, mj = json.loads(qc.stdout), json.loads(mc.stdout)
for k in ["image-end-offset", "total-clusters", "check-errors", "allocated-clusters", "format"]:
    assert qj.get(k) == mj.get(k), (k, qj.get(k), mj.get(k))
PY
}
check qemu_info_check_json json_same "$V" j.qcow2
check qemu_backing_chain_info bash -c "'$V' info --backing-chain --output=json j.qcow2 | python3 -c 'import json,sys; assert len(json.load(sys.stdin)) == 2'"
