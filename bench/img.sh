#!/usr/bin/env bash
# vireo-img / qcow2 driver benchmarks against qemu-img, in one run.
#  1. 4k random reads and writes through the qcow2 driver (vireo-img bench)
#     vs qemu-img bench, replaying the same offset sequence (same -S step,
#     verified: both write the same clusters) on the same image.
#  2. convert raw->qcow2, qcow2->raw and raw->qcow2 compressed, timed against
#     qemu-img convert.
# Medians of RUNS runs; ratio = qemu time / vireo time (>= 1.0: vireo is as
# fast or faster). Usage: bench/img.sh [SIZE_MiB=512] [RUNS=5]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
V=${VIREO_BUILD:-$root/build}/vireo-img
size=${1:-512}
runs=${2:-5}
W=$(mktemp -d "${BENCH_DIR:-/tmp}/vireo-img-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"
[ -x "$V" ] || { echo "build vireo-img first (make)"; exit 1; }

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
secs() { # command... -> "wall cpu" seconds (cpu = user + sys, all threads)
	/usr/bin/time -f '%e %U %S' -o "$W/time" "$@" >/dev/null 2>&1
	awk '{printf "%s %.3f\n", $1, $2 + $3}' "$W/time"
}
bench_secs() { "$@" | sed -n 's/^Run completed in \([0-9.]*\) seconds./\1/p'; }
report() { # name qemu_median vireo_median
	printf '%-34s qemu %8.3fs  vireo %8.3fs  ratio %5.2fx\n' "$1" "$2" "$3" \
		"$(echo "$2 / $3" | bc -l)"
}

step=$((4096 * 10007)) # a prime number of 4k blocks: a scattered permutation
count=100000
wcount=30000
echo "image ${size} MiB, ${runs} runs, 4k requests, step ${step} bytes"

# Fully allocated qcow2 (64k clusters) for reads and overwrites.
qemu-img create -q -f qcow2 -o preallocation=full full.qcow2 ${size}M
for mode in read overwrite; do
	q=() v=()
	for i in $(seq "$runs"); do
		w=; [ $mode = overwrite ] && w=-w
		q+=("$(bench_secs qemu-img bench $w -c $count -s 4k -S $step -d 1 -t writeback full.qcow2)")
		v+=("$(bench_secs "$V" bench $w -c $count -s 4k -S $step -t writeback full.qcow2)")
	done
	qm=$(printf '%s\n' "${q[@]}" | median); vm=$(printf '%s\n' "${v[@]}" | median)
	report "4k random $mode ($count, depth 1)" "$qm" "$vm"
	q64=()
	for i in $(seq "$runs"); do
		q64+=("$(bench_secs qemu-img bench $w -c $count -s 4k -S $step -d 64 -t writeback full.qcow2)")
	done
	report "  vs qemu-img bench -d 64" "$(printf '%s\n' "${q64[@]}" | median)" "$vm"
done

# Fresh (unallocated) image: every request allocates a cluster.
q=() v=()
for i in $(seq "$runs"); do
	qemu-img create -q -f qcow2 fq.qcow2 ${size}M
	q+=("$(bench_secs qemu-img bench -w -c $wcount -s 4k -S $step -d 1 -t writeback fq.qcow2)")
	qemu-img create -q -f qcow2 fv.qcow2 ${size}M
	v+=("$(bench_secs "$V" bench -w -c $wcount -s 4k -S $step -t writeback fv.qcow2)")
done
report "4k random write, fresh ($wcount)" "$(printf '%s\n' "${q[@]}" | median)" \
	"$(printf '%s\n' "${v[@]}" | median)"
qemu-img check fv.qcow2 >/dev/null && qemu-img compare -q fq.qcow2 fv.qcow2 &&
	echo "  (same clusters written by both, qemu-img check clean)"

# convert: a source with random data, patterns and holes.
qemu-img create -q -f raw src.raw ${size}M
quarter=$((size / 4))
head -c $((quarter * 1024 * 1024)) /dev/urandom >rnd.bin
dd if=rnd.bin of=src.raw bs=1M conv=notrunc status=none
rm rnd.bin
qemu-io -f raw -c "write -P 0x61 $((quarter * 2))M ${quarter}M" src.raw >/dev/null
qemu-img convert -O qcow2 src.raw src.qcow2
cruns=$(( runs < 3 ? runs : 3 ))
for c in "raw->qcow2|-O qcow2|src.raw" "qcow2->raw|-O raw|src.qcow2" \
	"raw->qcow2 compressed|-c -O qcow2|src.raw"; do
	IFS='|' read -r name args in <<<"$c"
	q=() v=() qc=() vc=()
	for i in $(seq "$cruns"); do
		rm -f out; read -r w c <<<"$(secs qemu-img convert $args "$in" out)"; q+=("$w"); qc+=("$c")
		rm -f out; read -r w c <<<"$(secs "$V" convert $args "$in" out)"; v+=("$w"); vc+=("$c")
		qemu-img compare -q "$in" out || { echo "convert $name: content differs"; exit 1; }
	done
	report "convert $name (wall)" "$(printf '%s\n' "${q[@]}" | median)" \
		"$(printf '%s\n' "${v[@]}" | median)"
	report "convert $name (cpu)" "$(printf '%s\n' "${qc[@]}" | median)" \
		"$(printf '%s\n' "${vc[@]}" | median)"
done
