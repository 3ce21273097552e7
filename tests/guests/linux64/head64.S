/* linux64.bzImage, part 2: the start of the protected-mode payload, loaded
 * at 1 MiB. +0 is the 32-bit entry (code32_start), +0x100 the kernel_info
 * (boot.rst "kernel_info"), +0x200 the 64-bit entry (XLF_KERNEL_64). */
#include "layout_asm.h"
#include "linux64.h"

	.section .head.text, "ax"
	.code32
	.globl startup_32
startup_32:
	movb $LINUX64_EXIT_WRONG_ENTRY, %al
	outb %al, $0xf4
1:	hlt
	jmp 1b

	.org 0x100
kernel_info:
	.ascii "LToP"
	.long kernel_info_end - kernel_info /* size */
	.long kernel_info_end - kernel_info /* size_total */
	.long 0                             /* setup_type_max */
kernel_info_end:

	.org 0x200
	.code64
	.globl startup_64
startup_64:
	/* Record the entry state before anything changes it. No stack is
	 * promised at the 64-bit entry, so take our own first. */
	movq %rsi, linux64_entry_rsi(%rip)
	movw %cs, linux64_entry_cs(%rip)
	movw %ds, linux64_entry_ds(%rip)
	movw %ss, linux64_entry_ss(%rip)
	leaq linux64_stack_top(%rip), %rsp
	pushfq
	popq linux64_entry_rflags(%rip)
	cld
	leaq __bss_start(%rip), %rdi
	leaq __bss_end(%rip), %rcx
	subq %rdi, %rcx
	xorl %eax, %eax
	rep stosb
	call linux64_main
2:	cli
	hlt
	jmp 2b

	.data
	.align 8
	.globl linux64_entry_rsi, linux64_entry_rflags
	.globl linux64_entry_cs, linux64_entry_ds, linux64_entry_ss
linux64_entry_rsi:	.quad 0
linux64_entry_rflags:	.quad 0
linux64_entry_cs:	.word 0
linux64_entry_ds:	.word 0
linux64_entry_ss:	.word 0

	.section .stack, "aw", @nobits
	.align 16
	.space 16384
linux64_stack_top:

	.section .note.GNU-stack, "", @progbits
