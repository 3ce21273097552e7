/* Flat firmware image for the GDB stub test (tests/integration/gdb.sh).
 * Real mode -> protected mode -> long mode with 4-level paging: the first
 * 1 GiB identity mapped, and mapped again at GDB_HIGH (0xffff800000000000)
 * so the debugger's page walk has a non-identity address to translate.
 * Then it spins at gdb_loop until a debugger makes RAX non-zero, and exits
 * through isa-debug-exit with AL + the byte at gdb_patch, so the test can
 * tell that register and memory writes from gdb reached the guest; on the
 * way it stores AL at GDB_WATCH and reads gdb_patch, for watchpoints. */
#include "layout_asm.h"

#define PT_BASE 0x1000 /* PML4 0x1000, PDPT 0x2000, PD 0x3000 */
#define STACK 0x7000
#define GDT_RAM 0x800
#define GDB_WATCH 0x6000 /* a RAM byte below the stack */
#define OFF(x) ((x) - fw_base) /* offset within segment 0xf000 */

	.text
	.code16
fw_base:
start16:
	cli
	cld
	movw %cs, %ax
	movw %ax, %ds
	xorw %ax, %ax
	movw %ax, %es
	movw %ax, %ss
	movw $STACK, %sp
	/* The GDT from a RAM copy, as in firmware.S (kvm_pvm). */
	movw $OFF(gdt), %si
	movw $GDT_RAM, %di
	movw $gdt_end - gdt, %cx
	rep movsb
	lgdtl OFF(gdt_ram_desc)
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $0x08, $start32

	.code32
start32:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl $STACK, %esp
	/* 2 MiB pages for 0-1 GiB (SDM Vol. 3A, 4.5); PML4[0] and PML4[256]
	 * (0xffff800000000000) both point at the same PDPT. */
	movl $PT_BASE, %edi
	movl $3 * 4096 / 4, %ecx
	xorl %eax, %eax
	rep stosl
	movl $PT_BASE + 0x2000 + 3, PT_BASE + 0x1000
	movl $PT_BASE + 0x1000 + 3, PT_BASE
	movl $PT_BASE + 0x1000 + 3, PT_BASE + 256 * 8
	movl $PT_BASE + 0x2000, %edi
	movl $0x83, %eax
	movl $512, %ecx
1:	movl %eax, (%edi)
	addl $0x200000, %eax
	addl $8, %edi
	loop 1b
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
	orl $1 << 31, %eax
	movl %eax, %cr0
	ljmp $0x18, $start64

	.code64
start64:
	xorl %eax, %eax
	xorl %ecx, %ecx
	.globl gdb_loop, gdb_loop_next, gdb_after, gdb_magic, gdb_patch
gdb_loop:
	incq %rcx         /* 3 bytes: stepi from gdb_loop lands on gdb_loop_next */
gdb_loop_next:
	testq %rax, %rax
	jz gdb_loop
gdb_after:
	movb %al, GDB_WATCH /* for a write watchpoint */
	.globl gdb_after_store, gdb_after_read
gdb_after_store:
	addb gdb_patch, %al /* for a read (access) watchpoint */
gdb_after_read:
	outb %al, $LAYOUT_PORT_DEBUG_EXIT
2:	hlt
	jmp 2b

gdb_magic:
	.ascii "VIRE"
gdb_patch:
	.byte 0

	.p2align 3
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff /* 0x08: 32-bit code */
	.quad 0x00cf92000000ffff /* 0x10: data */
	.quad 0x00af9a000000ffff /* 0x18: 64-bit code */
gdt_end:
gdt_ram_desc:
	.word gdt_end - gdt - 1
	.long GDT_RAM

	.code16
	.org 0xfff0
	ljmp $0xf000, $OFF(start16)
	.org 0x10000

	.section .note.GNU-stack, "", @progbits
