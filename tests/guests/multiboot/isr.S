/* Interrupt entry stubs for the echo guest (32-bit interrupt gates). */
#include "layout_asm.h"

	.text
	.code32
	.globl echo_isr_com1, echo_isr_spurious
echo_isr_com1:
	pushal
	cld
	call echo_irq
	movl $0, LAYOUT_LAPIC_BASE + 0xb0 /* LAPIC EOI */
	popal
	/* Return with a far return that drops EFLAGS instead of iretl:
	 * kvm_pvm fails to emulate a 32-bit IRET ("instruction emulation
	 * failed"). Interrupts arrive only in the main loop's sti;hlt;cli,
	 * at CPL 0, so nothing but IF=1 is lost, and the loop clears it. */
	lret $4

echo_isr_spurious:
	iretl /* the LAPIC spurious vector takes no EOI (Intel SDM 3A §11.9) */

	.section .note.GNU-stack, "", @progbits
