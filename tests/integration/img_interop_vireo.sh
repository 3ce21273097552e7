#!/usr/bin/env bash
# Images vireo-img wrote pass `qemu-img check` with no errors and compare
# equal (qemu-img compare) to the content they must hold: random writes,
# snapshots, converts (plain and compressed), resizes, commits, rebases.
# The test writer runs with cache=unsafe (no fdatasync) to keep CI fast;
# img_crash.sh exercises the flush barriers.
. "$(dirname "$0")/img_lib.sh"
need_qemu img_interop_vireo

# Random writes (with discards and zeroes) per cluster size, then both
# tools must read the same bytes.
for cs in 4k 64k 2M; do
	"$V" create -q -f qcow2 -o cluster_size=$cs w.qcow2 48M
	"$V" debug-writer -t unsafe w.qcow2 $RANDOM 1500 >/dev/null
	check "vireo_random_writes_check_cs$cs" qemu-img check w.qcow2
	check "vireo_random_writes_read_cs$cs" same_raw w.qcow2
	rm -f w.qcow2
done

# Refcount blocks and refcount-table growth: 512-byte clusters with 64-bit
# refcounts need many refcount blocks and a table larger than one cluster.
"$V" create -q -f qcow2 -o cluster_size=512,refcount_bits=64 g.qcow2 16M
"$V" debug-writer -t unsafe g.qcow2 7 3000 >/dev/null
check vireo_refcount_table_growth qemu-img check g.qcow2
check vireo_refcount_table_growth_read same_raw g.qcow2

# Over an image qemu made: vireo writes, qemu checks.
qemu-img create -q -f qcow2 -o cluster_size=4k,refcount_bits=1 r1.qcow2 8M
"$V" debug-writer -t unsafe r1.qcow2 3 500 >/dev/null
check vireo_refcount_bits_1 qemu-img check r1.qcow2

# Backing chain written by vireo (relative names, in a subdirectory).
mkdir -p d
"$V" create -q -f qcow2 d/base.qcow2 16M
"$V" debug-writer -t unsafe d/base.qcow2 11 300 >/dev/null
"$V" create -q -f qcow2 -b base.qcow2 -F qcow2 d/top.qcow2
"$V" debug-writer -t unsafe d/top.qcow2 12 300 >/dev/null
check vireo_chain_check bash -c "qemu-img check d/base.qcow2 && qemu-img check d/top.qcow2"
check vireo_chain_read same_raw d/top.qcow2
check vireo_chain_info bash -c "qemu-img info --backing-chain d/top.qcow2 | grep -q 'backing file: base.qcow2'"

# Snapshots: create, write, create, write, delete one, apply the other.
"$V" create -q -f qcow2 s.qcow2 16M
"$V" debug-writer -t unsafe s.qcow2 21 300 >/dev/null
"$V" convert -O raw s.qcow2 s1.raw
"$V" snapshot -c one s.qcow2
"$V" debug-writer -t unsafe s.qcow2 22 300 >/dev/null
"$V" convert -O raw s.qcow2 s2.raw
"$V" snapshot -c two s.qcow2
"$V" debug-writer -t unsafe s.qcow2 23 300 >/dev/null
check vireo_snapshot_check qemu-img check s.qcow2
check vireo_snapshot_list bash -c "qemu-img snapshot -l s.qcow2 | grep -q two"
check vireo_snapshot_qemu_apply bash -c "cp s.qcow2 sq.qcow2 && qemu-img snapshot -a one sq.qcow2 && qemu-img compare sq.qcow2 s1.raw"
check vireo_snapshot_delete bash -c "'$V' snapshot -d one s.qcow2 && qemu-img check s.qcow2"
check vireo_snapshot_apply bash -c "'$V' snapshot -a two s.qcow2 && qemu-img check s.qcow2 && qemu-img compare s.qcow2 s2.raw"
"$V" debug-writer -t unsafe s.qcow2 24 200 >/dev/null
check vireo_snapshot_write_after_apply qemu-img check s.qcow2

# Converts: raw -> qcow2 (plain, zlib, zstd), qcow2 -> raw, qcow2 -> qcow2.
head -c 3M /dev/urandom >rnd.bin
qemu-img create -q -f raw src.raw 12M
qemu-io -f raw -c 'write -P 0x41 0 4M' -c 'write -P 0x42 6M 100k' src.raw >/dev/null
dd if=rnd.bin of=src.raw bs=1M seek=8 conv=notrunc status=none
check vireo_convert_raw_qcow2 bash -c "'$V' convert -O qcow2 src.raw o.qcow2 && qemu-img check o.qcow2 && qemu-img compare o.qcow2 src.raw"
check vireo_convert_qcow2_raw bash -c "'$V' convert -O raw o.qcow2 o.raw && cmp o.raw src.raw"
for ct in zlib zstd; do
	check "vireo_convert_compressed_$ct" bash -c "'$V' convert -c -O qcow2 -o compression_type=$ct src.raw c.qcow2 &&
		qemu-img check c.qcow2 && qemu-img compare c.qcow2 src.raw &&
		qemu-img info c.qcow2 | grep -q 'compression type: $ct'"
done
check vireo_convert_compressed_4k bash -c "'$V' convert -c -O qcow2 -o cluster_size=4k src.raw c4.qcow2 && qemu-img check c4.qcow2 && qemu-img compare c4.qcow2 src.raw"
check vireo_write_over_compressed bash -c "'$V' debug-writer -t unsafe c4.qcow2 5 300 && qemu-img check c4.qcow2 && same_raw c4.qcow2"

# Resize: grow, write, shrink.
"$V" create -q -f qcow2 -o cluster_size=4k z.qcow2 1M
"$V" debug-writer -t unsafe z.qcow2 31 100 >/dev/null
check vireo_resize_grow bash -c "'$V' resize z.qcow2 +3G >/dev/null && qemu-img check z.qcow2 && [ \$(qemu-img info --output=json z.qcow2 | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"virtual-size\"])') = $((3 * 1024 * 1024 * 1024 + 1048576)) ]"
"$V" debug-writer -t unsafe z.qcow2 32 200 >/dev/null
check vireo_resize_shrink bash -c "'$V' resize --shrink z.qcow2 1000k >/dev/null && qemu-img check z.qcow2 && same_raw z.qcow2"
check vireo_resize_shrink_needs_flag bash -c "! '$V' resize z.qcow2 -- -4k 2>/dev/null"

# Commit: the base ends up holding what the overlay showed.
"$V" create -q -f qcow2 cb.qcow2 8M
"$V" debug-writer -t unsafe cb.qcow2 41 200 >/dev/null
"$V" create -q -f qcow2 -b cb.qcow2 -F qcow2 ct.qcow2
"$V" debug-writer -t unsafe ct.qcow2 42 200 >/dev/null
"$V" convert -O raw ct.qcow2 expect.raw
check vireo_commit bash -c "'$V' commit ct.qcow2 >/dev/null && qemu-img check cb.qcow2 && qemu-img check ct.qcow2 && qemu-img compare cb.qcow2 expect.raw && qemu-img compare ct.qcow2 expect.raw"

# Rebase (safe): content stays the same on a different backing file.
"$V" create -q -f qcow2 rb1.qcow2 8M
"$V" debug-writer -t unsafe rb1.qcow2 51 100 >/dev/null
"$V" create -q -f qcow2 rb2.qcow2 8M
"$V" debug-writer -t unsafe rb2.qcow2 52 100 >/dev/null
"$V" create -q -f qcow2 -b rb1.qcow2 -F qcow2 rt.qcow2
"$V" debug-writer -t unsafe rt.qcow2 53 100 >/dev/null
"$V" convert -O raw rt.qcow2 rexpect.raw
check vireo_rebase_safe bash -c "'$V' rebase -b rb2.qcow2 -F qcow2 rt.qcow2 && qemu-img check rt.qcow2 && qemu-img info rt.qcow2 | grep -q 'backing file: rb2.qcow2' && qemu-img compare rt.qcow2 rexpect.raw"
check vireo_rebase_unsafe bash -c "'$V' rebase -u -b rb1.qcow2 -F qcow2 rt.qcow2 && qemu-img info rt.qcow2 | grep -q 'backing file: rb1.qcow2' && qemu-img check rt.qcow2"

# Exit codes of compare and check.
check vireo_compare_codes bash -c "'$V' compare o.qcow2 src.raw >/dev/null; [ \$? = 0 ] &&
	{ '$V' compare s1.raw s2.raw >/dev/null; [ \$? = 1 ]; } &&
	{ '$V' compare nonexist s2.raw 2>/dev/null; [ \$? = 2 ]; }"

# Lazy refcounts: the dirty bit is set while writing, cleared on close.
"$V" create -q -f qcow2 -o lazy_refcounts=on lz.qcow2 8M
"$V" debug-writer -t unsafe lz.qcow2 61 100 >/dev/null
check vireo_lazy_refcounts_clean bash -c "qemu-img check lz.qcow2 && qemu-img info --output=json lz.qcow2 | grep -q '\"dirty-flag\": false'"

# cache=none (O_DIRECT): unaligned requests go through bounce buffers.
"$V" create -q -f qcow2 -o cluster_size=4k dio.qcow2 8M
check vireo_cache_none bash -c "'$V' bench -q -w -t none -c 500 -s 4k -S 413696 dio.qcow2 >/dev/null &&
	'$V' bench -q -w -t none -c 300 -s 1000 -S 7777 --pattern=7 dio.qcow2 >/dev/null &&
	'$V' bench -q -t none -c 300 -s 3000 -S 7777 dio.qcow2 >/dev/null &&
	qemu-img check dio.qcow2 && same_raw dio.qcow2"
