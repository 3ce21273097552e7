#!/usr/bin/env bash
# The loaders, end to end under KVM: the bzImage test kernel (Linux boot
# protocol, 64-bit entry), the multiboot test kernel and the flat firmware
# image each check what they were handed and report on COM1.
. "$(dirname "$0")/../guests/test-lib.sh"

guests_preflight linux64_initrd linux64_no_initrd linux64_own_console linux64_wrong_initrd_sum \
	linux64_pci_hole linux64_cpus2 multiboot_module multiboot_no_module firmware_long_mode

head -c 6000 /dev/urandom >"$tmp/initrd"
sum=$(adler32 "$tmp/initrd")

cmd="mem_mib=512 initrd_len=6000 initrd_sum=$sum marker=v1r30"
guest_run linux64_initrd --kernel "$GUESTS/linux64.bzImage" --initrd "$tmp/initrd" --cmdline "$cmd"
guest_report linux64_initrd "$PASS_RC" '^linux64: 64-bit entry reached' \
	"^linux64: cmdline '$cmd console=ttyS0'\$" \
	'^linux64: identity map reaches the LAPIC' "^linux64: initrd adler32 $sum" \
	'^linux64: all checks ok'

guest_run linux64_no_initrd --kernel "$GUESTS/linux64.bzImage" --memory 64M --cmdline "mem_mib=64"
guest_report linux64_no_initrd "$PASS_RC" '^linux64: no initrd passed, none reported: ok' \
	'^linux64: RAM total matches memory size: ok' '^linux64: all checks ok'

# A console= of the user's own: no console=ttyS0 added.
guest_run linux64_own_console --kernel "$GUESTS/linux64.bzImage" \
	--cmdline "mem_mib=512 console=hvc0"
guest_report linux64_own_console "$PASS_RC" "^linux64: cmdline 'mem_mib=512 console=hvc0'\$" \
	'^linux64: all checks ok'

# The guest's checks must be able to fail: a wrong checksum is caught.
guest_run linux64_wrong_initrd_sum --kernel "$GUESTS/linux64.bzImage" --initrd "$tmp/initrd" \
	--cmdline "mem_mib=512 initrd_len=6000 initrd_sum=0x12345678"
guest_report linux64_wrong_initrd_sum "$FAIL_RC" '^linux64: initrd content checksum: FAIL' \
	'^linux64: 1 checks FAILED'

# RAM split around the PCI hole: 3 GiB below it, the rest from 4 GiB. The
# initrd must still sit below the header's initrd_addr_max (2 GiB - 1).
guest_run linux64_pci_hole --kernel "$GUESTS/linux64.bzImage" --memory 3584M \
	--initrd "$tmp/initrd" --cmdline "mem_mib=3584 initrd_len=6000 initrd_sum=$sum"
guest_report linux64_pci_hole "$PASS_RC" '^  map 0x100000000 \+ 0x20000000 type 1' \
	'^linux64: initrd below initrd_addr_max: ok' '^linux64: all checks ok'

guest_run linux64_cpus2 --kernel "$GUESTS/linux64.bzImage" --cpus 2 --cmdline "mem_mib=512 cpus=2"
guest_report linux64_cpus2 "$PASS_RC" '^linux64: MADT lists the vCPUs: ok' '^linux64: all checks ok'

guest_run multiboot_module --kernel "$GUESTS/mbcheck.elf" --initrd "$tmp/initrd" --memory 256M \
	--cmdline "mem_mib=256 initrd_len=6000 initrd_sum=$sum marker=mb42"
guest_report multiboot_module "$PASS_RC" "^mbcheck: cmdline '.*marker=mb42" \
	"^mbcheck: module adler32 $sum" '^mbcheck: mem_upper matches memory size: ok' \
	'^mbcheck: all checks ok'

guest_run multiboot_no_module --kernel "$GUESTS/mbcheck.elf" --cmdline "mem_mib=512"
guest_report multiboot_no_module "$PASS_RC" '^mbcheck: memory map entries do not overlap: ok' \
	'^mbcheck: all checks ok'

guest_run firmware_long_mode --firmware "$GUESTS/firmware.bin"
guest_report firmware_long_mode "$PASS_RC" '^firmware: real mode ok' \
	'^firmware: protected mode ok' '^firmware: long mode ok'
exit 0
