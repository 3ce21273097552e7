/* SMP guest: the application processors' start-up code. The BSP copies
 * smp_tramp_start..smp_tramp_end to a page below 1 MiB and names it in the
 * SIPI vector; each AP starts there in real mode with CS = vector << 8,
 * IP = 0 (Intel SDM 3A §9.4.4), enters protected mode on the kernel's GDT,
 * records its APIC ID, counts itself and halts. */
#include "layout_asm.h"

	.section .rodata
	.code16
	.globl smp_tramp_start, smp_tramp_end
smp_tramp_start:
	cli
	cld
	movw %cs, %ax
	movw %ax, %ds
	lgdtl smp_tramp_gdtr - smp_tramp_start
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $0x08, $smp_ap_entry
	.align 8
smp_tramp_gdtr:
	.word 23
	.long mb_gdt
smp_tramp_end:

	.text
	.code32
smp_ap_entry:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl LAYOUT_LAPIC_BASE + 0x20, %eax /* LAPIC ID register, bits 31:24 */
	shrl $24, %eax
	lock btsl %eax, smp_ap_mask
	lock incl smp_ap_count
1:	cli
	hlt
	jmp 1b

	.section .note.GNU-stack, "", @progbits
