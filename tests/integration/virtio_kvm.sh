#!/usr/bin/env bash
# virtio's fast paths under KVM (issue 5), proven by a freestanding guest
# with a minimal virtio-pci driver (tests/guests/virtio/virtio_rng.c) on
# `vireo --accel kvm --rng`. VIREO_STATS=1 makes vireo count, per device,
# the queue kicks that reached its MMIO handler versus the ones KVM signalled
# through an ioeventfd, and the MSIs sent by ioctl versus through an irqfd;
# the tests assert which path the guest's kicks and interrupts took.
# VIREO_VIRTIO_FASTPATH=0 switches the fast paths off: the same guest must
# then pass through the slow paths, and the counters must say so.
. "$(dirname "$0")/../guests/test-lib.sh"

CASES="virtio_kvm_msix_fastpath virtio_kvm_intx virtio_kvm_slow_paths"
guests_preflight $CASES
GUEST=$GUESTS/virtio_rng.elf
if [ ! -f "$GUEST" ]; then
	for n in $CASES; do echo "not ok $n: $GUEST not built (make guests)"; done
	exit 0
fi
ROUNDS=8

# stat NAME FIELD: the counter FIELD (e.g. msi-irqfd) from vireo's stats line.
stat() {
	sed -n 's/.*stats: virtio-rng .*'"$2"'=\([0-9]*\).*/\1/p' "$tmp/$1.err" | head -n1
}

# expect NAME "FIELD OP VALUE"...: every counter comparison holds (after
# guest_report said ok); prints "not ok" with the stats line otherwise.
expect() {
	local name=$1 cond f op want got
	shift
	for cond in "$@"; do
		read -r f op want <<<"$cond"
		got=$(stat "$name" "$f")
		if [ -z "$got" ] || ! [ "$got" "$op" "$want" ]; then
			echo "not ok $name: counter $f=${got:-missing}, expected $op $want" \
				"($(grep -a 'stats:' "$tmp/$name.err"))"
			return 1
		fi
	done
	echo "ok $name"
	grep -a 'stats:' "$tmp/$name.err" | sed 's/^/# /'
}

# report NAME CONDITIONS...: the guest's verdict first, then the counters.
report() {
	local name=$1
	shift
	guest_report "$name" "$PASS_RC" 'all checks ok' >"$tmp/$name.verdict"
	if [ $? -ne 0 ]; then
		cat "$tmp/$name.verdict"
		return
	fi
	expect "$name" "$@"
}

export VIREO_STATS=1

# MSI-X: every kick by ioeventfd, every interrupt by irqfd, none by the slow
# paths. (The device may add one interrupt for its own kick at DRIVER_OK.)
guest_run virtio_kvm_msix_fastpath --serial stdio --rng --kernel "$GUEST" --cmdline "rounds=$ROUNDS"
report virtio_kvm_msix_fastpath "mmio -eq 0" "ioeventfd -eq $ROUNDS" \
	"msi-irqfd -ge $ROUNDS" "msi-ioctl -eq 0" "intx -eq 0"

# INTx (MSI-X left disabled): the ISR and the IOAPIC pin of the _PRT formula.
guest_run virtio_kvm_intx --serial stdio --rng --kernel "$GUEST" \
	--cmdline "rounds=$ROUNDS mode=intx"
report virtio_kvm_intx "mmio -eq 0" "ioeventfd -eq $ROUNDS" "intx -ge $ROUNDS" \
	"msi-irqfd -eq 0" "msi-ioctl -eq 0"

# The fallbacks an accelerator without the fast paths uses.
VIREO_VIRTIO_FASTPATH=0 guest_run virtio_kvm_slow_paths --serial stdio --rng --kernel "$GUEST" \
	--cmdline "rounds=$ROUNDS"
report virtio_kvm_slow_paths "mmio -eq $ROUNDS" "ioeventfd -eq 0" "msi-ioctl -ge $ROUNDS" \
	"msi-irqfd -eq 0"
