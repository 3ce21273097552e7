#!/usr/bin/env bash
# SMP bring-up: the test kernel wakes the other vCPUs with INIT-SIPI-SIPI
# through its local APIC, counts them and compares with the MADT and cpus=.
. "$(dirname "$0")/../guests/test-lib.sh"

guests_preflight smp_cpus1 smp_cpus2 smp_cpus4 smp_count_mismatch_detected

for n in 1 2 4; do
	guest_run "smp_cpus$n" --kernel "$GUESTS/smp.elf" --cpus "$n" --cmdline "cpus=$n"
	guest_report "smp_cpus$n" "$PASS_RC" "^smp: MADT lists $n processors" "^smp: $n cpus\$" \
		'^smp: all checks ok'
done

# The count must be able to disagree: 2 vCPUs while the command line expects 3.
guest_run smp_count_mismatch_detected --kernel "$GUESTS/smp.elf" --cpus 2 --cmdline "cpus=3"
guest_report smp_count_mismatch_detected "$FAIL_RC" '^smp: 2 cpus' \
	'^smp: CPU count matches cpus=: FAIL'
exit 0
