/* Multiboot (v1) entry for the 32-bit test guests. The loader enters in
 * flat 32-bit protected mode with EAX = 0x2BADB002 and EBX = the info
 * structure (Multiboot 0.6.96 §3.2); GDTR may be stale, so load our own. */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* page-align modules, provide memory info */

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.text
	.code32
	.globl _start
_start:
	cli
	cld
	movl %eax, %esi
	lgdt mb_gdt_desc
	ljmp $0x08, $1f
1:	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	movl $mb_stack_top, %esp
	/* Clear .bss: the loader zeroes it only if it honours the ELF memsz. */
	movl $__bss_start, %edi
	movl $__bss_end, %ecx
	subl %edi, %ecx
	xorl %eax, %eax
	rep stosb
	pushl %ebx
	pushl %esi
	call guest_main
2:	cli
	hlt
	jmp 2b

	.section .rodata
	.align 8
	.globl mb_gdt
mb_gdt:
	.quad 0
	.quad 0x00cf9a000000ffff /* 0x08: flat 32-bit code */
	.quad 0x00cf92000000ffff /* 0x10: flat data */
mb_gdt_end:
	.globl mb_gdt_desc
mb_gdt_desc:
	.word mb_gdt_end - mb_gdt - 1
	.long mb_gdt

	.section .note.GNU-stack, "", @progbits

	.bss
	.align 16
	.space 8192
mb_stack_top:
