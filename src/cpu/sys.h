/* Internal state of a system-mode CPU (issue 4): descriptor caches,
 * descriptor tables, pending events and the MSRs the core owns. Kept apart
 * from struct cpu so the user-mode core stays small; struct cpu points here
 * (cpu->sys) only for CPU_MODE_SYSTEM. */
#ifndef VIREO_CPU_SYS_H
#define VIREO_CPU_SYS_H

#include "cpu/cpu_int.h"

/* Hidden part of a segment register (Vol. 3 §3.4.3). attr uses the VMX
 * access-rights layout: type 0-3, S 4, DPL 5-6, P 7, AVL 12, L 13, D/B 14,
 * G 15. */
struct sys_seg {
	uint64_t base;
	uint32_t limit;
	uint16_t sel;
	uint16_t attr;
};

#define SEG_ES 0
#define SEG_CS 1
#define SEG_SS 2
#define SEG_DS 3
#define SEG_FS 4
#define SEG_GS 5

#define SA_P 0x80
#define SA_S 0x10
#define SA_L 0x2000
#define SA_DB 0x4000
#define SA_G 0x8000
#define SA_DPL(a) (((a) >> 5) & 3)

#define CR0_PE 0x1ULL
#define CR0_MP 0x2ULL
#define CR0_EM 0x4ULL
#define CR0_TS 0x8ULL
#define CR0_ET 0x10ULL
#define CR0_NE 0x20ULL
#define CR0_WP 0x10000ULL
#define CR0_AM 0x40000ULL
#define CR0_NW 0x20000000ULL
#define CR0_CD 0x40000000ULL
#define CR0_PG 0x80000000ULL
#define CR4_PSE 0x10ULL
#define CR4_PAE 0x20ULL
#define CR4_PGE 0x80ULL
#define CR4_OSFXSR 0x200ULL
#define CR4_OSXMMEXCPT 0x400ULL
#define EFER_SCE 0x1ULL
#define EFER_LME 0x100ULL
#define EFER_LMA 0x400ULL
#define EFER_NXE 0x800ULL

/* Number of fixed and variable MTRR MSRs stored verbatim (Vol. 3 §12.11). */
#define SYS_MTRR_VAR 8

/* The large-page translation cache (sys_mmu.c): entries, rights bits. */
#define SYS_LARGE_TLB 64
enum { SYS_LT_US = 1, SYS_LT_RW = 2, SYS_LT_NX = 4, SYS_LT_D = 8, SYS_LT_G = 16 };

struct cpu_sys {
	const struct cpu_sys_ops *ops;
	void *opaque;
	struct sys_seg seg[6], ldt, tr;
	uint64_t gdt_base, idt_base;
	uint16_t gdt_limit, idt_limit;
	uint64_t dr[8];
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
	uint64_t pat, mtrr_def, mtrr_fixed[11], mtrr_var[SYS_MTRR_VAR * 2], misc_enable;
	int64_t tsc_offset;

	/* Events. kick and nmi are set from other threads. */
	int kick, nmi;
	bool nmi_blocked;  /* from NMI delivery to the next IRET */
	bool shadow;       /* STI / MOV SS interrupt shadow over the next instruction */
	bool poll_now;     /* IF may have been set: poll events at the next block */
	uint32_t poll_ctr;
	int delivering;    /* vector being delivered (for #DF / triple fault), or -1 */
	bool shutdown;

	/* TLB bookkeeping (sys_mmu.c): the largest page size cached (0 4K,
	 * 1 2M, 2 1G), the last walk's facts. */
	uint8_t tlb_large, walk_size;
	/* Per paging level, the page table last walked through and its host
	 * page: a guest-physical page's host address never changes, and the
	 * upper levels are the same for most walks. */
	struct { uint64_t gpa; uint64_t *hva; } walk_table[4];
	/* The last walk's rights and dirty bit (SYS_LT_*). */
	uint8_t walk_bits;
	/* Which TLB entries hold a global translation (G with CR4.PGE): a
	 * MOV to CR3 keeps them (Vol. 3 §4.10.4.1), so the kernel's entries
	 * survive a context switch. */
	bool tlb_global[TLB_SIZE];
	/* Translations of 2 MiB and 1 GiB pages, per 2 MiB region: a miss in
	 * the TLB for the kernel's direct map or text finds its page here
	 * without a walk. Emptied with the TLB (flush, INVLPG). */
	struct sys_large_tlb {
		uint64_t region; /* la of the 2 MiB region | 1, 0: empty */
		uint64_t gpa;    /* its guest-physical address */
		uint8_t bits;    /* SYS_LT_* */
		uint8_t size;    /* walk_size: 1 (2 MiB) or 2 (1 GiB) */
		bool global;
	} large_tlb[SYS_LARGE_TLB];
	/* The shared code-page generations last acted on (sys_mmu.c). */
	uint64_t seen_code_gen, seen_mark_gen;
	/* Debugging (debug.c); NULL when off, so the hooks cost one test. */
	struct cpu_dbg *dbg;
};

/* sys.c */
void sys_set_cpl(struct cpu *c, unsigned cpl);
/* Deliver vector through the IDT (Vol. 3 §6.12, §6.14). kind: */
enum { SYS_EV_EXC, SYS_EV_SOFT, SYS_EV_EXT, SYS_EV_NMI };
void sys_deliver(struct cpu *c, unsigned vector, int kind, bool has_ec, uint32_t ec,
		 uint64_t ret_rip);
void sys_raise_ec(struct cpu *c, unsigned vector, uint32_t ec) __attribute__((noreturn));
void sys_soft_int(struct cpu *c, unsigned vector);
void sys_read_desc(struct cpu *c, uint16_t sel, uint8_t d[8], uint32_t ext);
/* The last, fault-free step of an event delivery (both IDT formats): CS
 * from the gate's selector at new_cpl, RFLAGS with TF/NT/RF/VM (and IF for
 * an interrupt gate) cleared, RIP at the handler. */
void sys_enter_handler(struct cpu *c, struct sys_seg *cs, uint16_t sel, unsigned new_cpl,
		       uint64_t flags, bool interrupt_gate, uint64_t target, int kind);
/* sys_pm32.c: the same for legacy protected mode (EFER.LMA = 0), and its
 * IRET with operand size sz (2 or 4). */
void sys_pm32_deliver(struct cpu *c, unsigned vector, int kind, bool has_ec, uint32_t ec,
		      uint64_t ret_ip);
void sys_pm32_iret(struct cpu *c, int sz);
void sys_desc_parse(const uint8_t d[8], struct sys_seg *out, uint16_t sel);
int cpu_sys_run(struct cpu *c, uint64_t max_insns, struct cpu_exit *exit);
void cpu_sys_destroy(struct cpu *c);

/* sys_mmu.c */
void *sys_tlb_fill(struct cpu *c, uint64_t addr, int access);
void sys_mem_access(struct cpu *c, uint64_t addr, void *buf, unsigned len, int access, bool write);
/* Supervisor (implicit) linear access to system tables, bypassing the TLB. */
void sys_lin_read(struct cpu *c, uint64_t addr, void *buf, unsigned len);
void sys_lin_write(struct cpu *c, uint64_t addr, const void *buf, unsigned len);
void sys_tlb_flush_all(struct cpu *c);
void sys_tlb_flush_nonglobal(struct cpu *c);
void sys_invlpg(struct cpu *c, uint64_t la);
void sys_blocks_flushed(struct cpu *c);
void sys_code_page_mark(struct cpu *c, uint64_t gpa);
extern uint64_t sys_code_gen, sys_mark_gen;
void sys_code_sync(struct cpu *c);

/* debug.c: hooks, each called only when c->sys->dbg is set. */
bool sys_debug_int3(struct cpu *c);
void sys_debug_delivered(struct cpu *c);
bool sys_debug_watch(struct cpu *c, uint64_t addr, int access);
void sys_debug_free(struct cpu *c);

/* sys_insn.c */
void cpu_exec_init_sys(void);
void sys_load_seg(struct cpu *c, unsigned r, uint16_t sel);

/* sys_legacy.c */
void cpu_exec_init_legacy(void);
void sys_update_mode(struct cpu *c);

/* Recompute c->fp_trap after any write of CR0 or CR4. */
static inline void sys_fp_update(struct cpu *c)
{
	uint64_t cr0 = c->cr0;
	bool ud = (cr0 & CR0_EM) || !(c->cr4 & CR4_OSFXSR);

	c->fp_trap = (uint8_t)((cr0 & (CR0_EM | CR0_TS) ? FPT_X87 : 0) |
			       ((cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS) ? FPT_WAIT : 0) |
			       (ud || (cr0 & CR0_TS) ? FPT_SSE : 0) | (ud ? FPT_SSE_UD : 0));
}
void sys_real_deliver(struct cpu *c, unsigned vector, uint64_t ret_ip);

#endif
