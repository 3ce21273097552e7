/* Flat firmware test image (64 KiB). The VMM maps it to end at 4 GiB and
 * aliases its last 64 KiB at 0xf0000; the CPU starts at the reset vector
 * 0xfffffff0 in real mode with CS base 0xffff0000 (Intel SDM 3A §9.1.4).
 * It prints from real mode, enters protected mode, builds identity page
 * tables for the first 1 GiB, enters long mode, prints and exits through
 * isa-debug-exit with GUEST_PASS (0x10, exit status 33). */
#include "layout_asm.h"

#define COM1 LAYOUT_PORT_COM1
#define PT_BASE 0x1000 /* PML4 0x1000, PDPT 0x2000, PD 0x3000 */
#define STACK 0x7000
#define GDT_RAM 0x800
#define OFF(x) ((x) - fw_base) /* offset within segment 0xf000 */

	.text
	.code16
fw_base:
start16:
	cli
	cld
	movw %cs, %ax /* 0xf000 after the far jump at the reset vector */
	movw %ax, %ds
	xorw %ax, %ax
	movw %ax, %ss
	movw $STACK, %sp
	/* 16550A: 115200 8N1 (divisor 1), FIFOs on. */
	movw $COM1 + 3, %dx
	movb $0x80, %al
	outb %al, %dx
	movw $COM1, %dx
	movb $1, %al
	outb %al, %dx
	movw $COM1 + 1, %dx
	xorb %al, %al
	outb %al, %dx
	movw $COM1 + 3, %dx
	movb $3, %al
	outb %al, %dx
	movw $COM1 + 2, %dx
	movb $7, %al
	outb %al, %dx

	movw $OFF(msg_real), %si
	call puts16
	/* Load the GDT from a RAM copy: descriptor-table reads from the ROM
	 * alias hang under kvm_pvm (seen with QEMU -accel kvm here). */
	xorw %ax, %ax
	movw %ax, %es
	movw $OFF(gdt), %si
	movw $GDT_RAM, %di
	movw $gdt_end - gdt, %cx
	rep movsb
	lgdtl OFF(gdt_ram_desc)
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $0x08, $start32

puts16:
	movw $COM1, %dx
1:	lodsb
	testb %al, %al
	jz 2f
	outb %al, %dx
	jmp 1b
2:	ret

	.code32
start32:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl $STACK, %esp
	movl $msg_prot, %esi
	call puts32

	/* Identity map 0-1 GiB with 2 MiB pages (Intel SDM 3A §4.5). */
	movl $PT_BASE, %edi
	movl $3 * 4096 / 4, %ecx
	xorl %eax, %eax
	rep stosl
	movl $PT_BASE + 0x2000 + 3, PT_BASE + 0x1000 /* PDPT[0] -> PD */
	movl $PT_BASE + 0x1000 + 3, PT_BASE          /* PML4[0] -> PDPT */
	movl $PT_BASE + 0x2000, %edi
	movl $0x83, %eax /* present, writable, 2 MiB page */
	movl $512, %ecx
3:	movl %eax, (%edi)
	addl $0x200000, %eax
	addl $8, %edi
	loop 3b

	movl $PT_BASE, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $1 << 5, %eax /* PAE */
	movl %eax, %cr4
	movl $0xc0000080, %ecx
	rdmsr
	orl $1 << 8, %eax /* EFER.LME */
	wrmsr
	movl %cr0, %eax
	orl $1 << 31, %eax /* PG: activates IA-32e mode */
	movl %eax, %cr0
	ljmp $0x18, $start64

puts32:
	movw $COM1, %dx
1:	lodsb
	testb %al, %al
	jz 2f
	outb %al, %dx
	jmp 1b
2:	ret

	.code64
start64:
	movl $0xc0000080, %ecx
	rdmsr
	btl $10, %eax /* EFER.LMA */
	jnc fail64
	movq $msg_long, %rsi
	movw $COM1, %dx
1:	lodsb
	testb %al, %al
	jz 2f
	outb %al, %dx
	jmp 1b
2:	movb $0x10, %al
	outb %al, $LAYOUT_PORT_DEBUG_EXIT
3:	hlt
	jmp 3b
fail64:
	movb $0x11, %al
	outb %al, $LAYOUT_PORT_DEBUG_EXIT
	jmp 3b

msg_real:
	.asciz "firmware: real mode ok\r\n"
msg_prot:
	.asciz "firmware: protected mode ok\r\n"
msg_long:
	.asciz "firmware: long mode ok\r\n"

	.align 8
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff /* 0x08: flat 32-bit code */
	.quad 0x00cf92000000ffff /* 0x10: flat data */
	.quad 0x00af9a000000ffff /* 0x18: 64-bit code */
gdt_end:
gdt_ram_desc:
	.word gdt_end - gdt - 1
	.long GDT_RAM

	/* Reset vector: 0xfffffff0, i.e. 0xffff0 in the alias. */
	.code16
	.org 0xfff0
	ljmp $0xf000, $OFF(start16)
	.org 0x10000

	.section .note.GNU-stack, "", @progbits
