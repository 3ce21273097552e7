#!/usr/bin/env bash
# Crash safety: a writer doing random writes/zeroes/discards/flushes on a
# qcow2 is killed with SIGKILL at random moments; `qemu-img check` must then
# find no corruption (leaked clusters are allowed), and vireo-img must open
# and keep writing the image. Repeated 10 times over cluster sizes, with
# lazy refcounts and with an internal snapshot sharing the clusters
# (5 times in the sanitizer pass).
. "$(dirname "$0")/img_lib.sh"
need_qemu img_crash

n=10
[ "${VIREO_SANITIZED:-0}" = 1 ] && n=5 # the plain pass already did 10
for i in $(seq 1 $n); do
	case $((i % 5)) in
	0) opts=cluster_size=4k ;;
	1) opts=cluster_size=64k ;;
	2) opts=cluster_size=64k,lazy_refcounts=on ;;
	3) opts=cluster_size=512 ;;
	4) opts=cluster_size=2M ;;
	esac
	rm -f k.qcow2
	"$V" create -q -f qcow2 -o $opts k.qcow2 64M
	"$V" debug-writer k.qcow2 $((i * 7)) 200 >/dev/null
	[ $((i % 3)) = 0 ] && "$V" snapshot -c s k.qcow2
	"$V" debug-writer k.qcow2 $((i * 13)) 0 >/dev/null 2>&1 &
	pid=$!
	# 0.1 .. 0.6 s: late enough to be in the middle of allocating writes.
	sleep 0.$((RANDOM % 5 + 1))
	kill -KILL $pid 2>/dev/null
	wait $pid 2>/dev/null
	out=$(qemu-img check k.qcow2 2>&1); rc=$?
	if [ $rc = 0 ] || [ $rc = 3 ]; then
		echo "ok crash_$i: killed ($opts), qemu-img check rc=$rc"
	else
		echo "not ok crash_$i: qemu-img check rc=$rc after SIGKILL ($opts)"
		printf '%s\n' "$out" | head -20 | sed 's/^/    /'
		continue
	fi
	# vireo-img check agrees, and its repair leaves nothing for qemu-img.
	"$V" check k.qcow2 >/dev/null 2>&1; vrc=$?
	cp k.qcow2 r.qcow2
	check "crash_${i}_check_repair" bash -c "[ $vrc = $rc ] && '$V' check -r all r.qcow2 >/dev/null 2>&1 && qemu-img check r.qcow2"
	# The image stays usable: vireo opens it (repairing a dirty one), writes.
	check "crash_${i}_reuse" bash -c "'$V' debug-writer k.qcow2 $i 50 && qemu-img check k.qcow2 >/dev/null; r=\$?; [ \$r = 0 ] || [ \$r = 3 ]"
done
