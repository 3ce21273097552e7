/* The smallest firmware image, for bench/startup: the first instruction at
 * the reset vector writes GUEST_PASS (0x10) to isa-debug-exit (status 33). */
#include "layout_asm.h"

	.text
	.code16
	.org 0xfff0
	movb $0x10, %al
	outb %al, $LAYOUT_PORT_DEBUG_EXIT
1:	hlt
	jmp 1b
	.org 0x10000

	.section .note.GNU-stack, "", @progbits
