/* linux64.bzImage, part 1: the boot sector and real-mode setup with the
 * setup header (Documentation/arch/x86/boot.rst, protocol 2.15), followed
 * by the protected-mode payload (.incbin). The payload supports only the
 * 64-bit entry; the 16-bit setup entry and the 32-bit entry report that
 * they were used and exit with LINUX64_EXIT_WRONG_ENTRY. */
#include "linux64.h"

	.text
	.code16
	.globl _start
_start:
	.org 0x1f1
setup_sects:	.byte LINUX64_SETUP_SECTS
root_flags:	.word 0
syssize:	.long (payload_end - payload + 15) / 16
ram_size:	.word 0
vid_mode:	.word 0xffff
root_dev:	.word 0
boot_flag:	.word 0xaa55
	/* 0x200: the 16-bit entry point (CS = setup segment + 0x20). */
hdr_jump:	.byte 0xeb, start_of_setup - 1f
1:
header:		.ascii "HdrS"
version:	.word 0x020f
realmode_swtch:	.long 0
start_sys_seg:	.word 0x1000
kernel_version:	.word kernel_version_str - hdr_jump
type_of_loader:	.byte 0
loadflags:	.byte 0x01 /* LOADED_HIGH */
setup_move_size: .word 0x8000
code32_start:	.long LINUX64_LOAD_ADDR
ramdisk_image:	.long 0
ramdisk_size:	.long 0
bootsect_kludge: .long 0
heap_end_ptr:	.word 0
ext_loader_ver:	.byte 0
ext_loader_type: .byte 0
cmd_line_ptr:	.long 0
initrd_addr_max: .long LINUX64_INITRD_MAX
kernel_alignment: .long 0x200000
relocatable_kernel: .byte 0
min_alignment:	.byte 21
xloadflags:	.word 0x0001 /* XLF_KERNEL_64: 64-bit entry at +0x200 */
cmdline_size:	.long LINUX64_CMDLINE_SIZE
hardware_subarch: .long 0
hardware_subarch_data: .quad 0
payload_offset:	.long 0
payload_length:	.long 0
setup_data:	.quad 0
pref_address:	.quad LINUX64_LOAD_ADDR
init_size:	.long LINUX64_INIT_SIZE
handover_offset: .long 0
kernel_info_offset: .long 0x100 /* see head64.S */

start_of_setup:
	movw %cs, %ax
	movw %ax, %ds
	movw $rm_msg - hdr_jump, %si
	movw $0x3f8, %dx
2:	lodsb
	testb %al, %al
	jz 3f
	outb %al, %dx
	jmp 2b
3:	movb $LINUX64_EXIT_WRONG_ENTRY, %al
	outb %al, $0xf4
4:	hlt
	jmp 4b

rm_msg:
	.asciz "linux64: entered through the 16-bit setup code, not the 64-bit entry: FAIL\r\n"
kernel_version_str:
	.asciz "vireo linux64 test kernel"

	.org (LINUX64_SETUP_SECTS + 1) * 512
payload:
	.incbin "linux64-payload.bin"
payload_end:

	.section .note.GNU-stack, "", @progbits
