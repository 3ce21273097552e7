/* Interrupt entry stubs for the virtio guests (32-bit interrupt gates).
 * Like tests/guests/multiboot/isr.S they return with a far return that
 * drops EFLAGS (kvm_pvm cannot emulate a 32-bit IRET): interrupts arrive
 * only in the wait loop's "sti; hlt; cli", at CPL 0, where only IF=1 is
 * lost and the loop clears it anyway. */
#include "layout_asm.h"

	.macro VIO_STUB name, handler
	.globl \name
\name:
	pushal
	cld
	call \handler
	movl $0, LAYOUT_LAPIC_BASE + 0xb0 /* LAPIC EOI */
	popal
	lret $4
	.endm

	.text
	.code32
	VIO_STUB vio_isr_msix, vio_irq_msix
	VIO_STUB vio_isr_intx, vio_irq_intx
	VIO_STUB vio_isr_timer, vio_irq_timer

	.globl vio_isr_spurious
vio_isr_spurious:
	iretl /* the spurious vector takes no EOI (Intel SDM 3A §11.9) */

	.section .note.GNU-stack, "", @progbits
