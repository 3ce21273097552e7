/* System-mode CPU tests: small 64-bit kernels on cpu_create_system with a
 * fake board (16 MiB of RAM at 0, a recording MMIO page at 0xFEE00000, port
 * I/O and one interrupt line). Every test builds its own page tables, GDT,
 * IDT and TSS, enters long mode through cpu_set_x86_state (as the Linux
 * loader does) and checks what the guest recorded. */
#include <stdlib.h>
#include <string.h>

#include "accel/accel.h"
#include "cpu/cpu.h"
#include "testlib.h"

#define RAM_SIZE (16u << 20)
#define PML4 0x1000
#define PDPT 0x2000
#define PD 0x3000
#define PT 0x4000
#define GDT 0x5000
#define IDT 0x6000
#define TSS 0x7000
#define PD_HI 0x8000
#define PT2 0x9000
#define KCODE 0x10000
#define STUBS 0x11000
#define COMMON 0x12000
#define UCODE 0x20000
#define DATA 0x30000
#define IST_TOP 0x8f000
#define RSP0_TOP 0x9f000
#define KSTACK_TOP 0xaf000
#define USTACK_TOP 0x7f000

struct board {
	uint8_t *ram;
	struct cpu *cpu;
	int pending, vector;
	uint64_t mmio_addr, mmio_val;
	unsigned mmio_size, mmio_writes;
	uint32_t port80;
	unsigned pio_writes;
	uint64_t tsc;
};

static void *b_ram(void *opaque, uint64_t gpa, uint64_t len)
{
	struct board *b = opaque;

	if (gpa >= RAM_SIZE || len > RAM_SIZE - gpa)
		return NULL;
	return b->ram + gpa;
}

static uint64_t b_mmio_read(void *opaque, uint64_t gpa, unsigned size)
{
	(void)opaque, (void)size;
	return 0xabcd0000u | (gpa & 0xfff);
}

static void b_mmio_write(void *opaque, uint64_t gpa, uint64_t val, unsigned size)
{
	struct board *b = opaque;

	b->mmio_addr = gpa, b->mmio_val = val, b->mmio_size = size;
	b->mmio_writes++;
}

static uint32_t b_pio_read(void *opaque, uint16_t port, unsigned size)
{
	(void)opaque, (void)size;
	return port == 0x71 ? 0x42 : 0xffffffffu;
}

static void b_pio_write(void *opaque, uint16_t port, uint32_t val, unsigned size)
{
	struct board *b = opaque;

	(void)size;
	if (port == 0x80)
		b->port80 = val;
	b->pio_writes++;
}

static bool b_rdmsr(void *opaque, uint32_t msr, uint64_t *val)
{
	(void)opaque;
	if (msr == 0x1b) {
		*val = 0xfee00900;
		return true;
	}
	return false;
}

static bool b_wrmsr(void *opaque, uint32_t msr, uint64_t val)
{
	(void)opaque, (void)val;
	return msr == 0x1b;
}

static uint64_t b_tsc(void *opaque)
{
	struct board *b = opaque;

	return b->tsc += 1000;
}

static bool b_intr_pending(void *opaque)
{
	return ((struct board *)opaque)->pending;
}

static int b_intr_ack(void *opaque)
{
	struct board *b = opaque;

	if (!b->pending)
		return -1;
	b->pending = 0;
	return b->vector;
}

static void b_cpuid(void *opaque, uint32_t leaf, uint32_t sub, uint32_t out[4])
{
	(void)opaque, (void)sub;
	out[0] = leaf, out[1] = 0x11, out[2] = 0x22, out[3] = 0x33;
}

static const struct cpu_sys_ops board_ops = {
	b_ram, b_mmio_read, b_mmio_write, b_pio_read, b_pio_write, b_rdmsr, b_wrmsr, b_tsc,
	b_intr_pending, b_intr_ack, b_cpuid,
};

#define SNIP(name, text)                                                                           \
	__asm__(".pushsection .rodata\n.globl " #name "\n" #name ":\n" text "\n" #name           \
		"_end:\n.globl " #name "_end\n.popsection");                                     \
	extern const uint8_t name[], name##_end[]

/* The common exception handler: records vector, error code, the frame and
 * CR2 at DATA, counts, halts. Stubs push a dummy error code where the CPU
 * does not. */
SNIP(s_common, ".code64\n pop %rax\n pop %rdx\n mov %rax, 0x30000\n mov %rdx, 0x30008\n"
	       " mov (%rsp), %rcx\n mov %rcx, 0x30010\n mov 8(%rsp), %rcx\n mov %rcx, 0x30018\n"
	       " mov 24(%rsp), %rcx\n mov %rcx, 0x30020\n mov %rsp, 0x30028\n"
	       " mov %cr2, %rcx\n mov %rcx, 0x30030\n incq 0x30038\n hlt\n"
	       /* at COMMON+0x100: the INT 0x80 handler: count, return */
	       ".org 0x100\n incq 0x30040\n mov %rsp, 0x30058\n iretq\n"
	       /* at COMMON+0x200: the SYSCALL entry */
	       ".org 0x200\n swapgs\n incq 0x30048\n mov %rsp, 0x30050\n swapgs\n sysretq\n");

static void put64(struct board *b, uint64_t gpa, uint64_t v)
{
	memcpy(b->ram + gpa, &v, 8);
}

static uint64_t get64(struct board *b, uint64_t gpa)
{
	uint64_t v;

	memcpy(&v, b->ram + gpa, 8);
	return v;
}

static void set_gate(struct board *b, unsigned v, uint64_t target, unsigned dpl, unsigned ist)
{
	uint8_t *g = b->ram + IDT + v * 16;

	memset(g, 0, 16);
	g[0] = (uint8_t)target, g[1] = (uint8_t)(target >> 8);
	g[2] = 0x08; /* kernel CS */
	g[4] = (uint8_t)ist;
	g[5] = (uint8_t)(0x8e | dpl << 5); /* present interrupt gate */
	g[6] = (uint8_t)(target >> 16), g[7] = (uint8_t)(target >> 24);
}

static bool has_ec(unsigned v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == 17;
}

/* Page tables: 0-2 MiB in 4 KiB pages (user pages: UCODE..+64K and the user
 * stack), 2-4 MiB through PT2 (an alias of KCODE at 0x210000), 4-16 MiB as
 * 2 MiB pages except 4-6 MiB (unmapped), and a 2 MiB MMIO page at
 * 0xFEE00000. */
static void build_tables(struct board *b)
{
	put64(b, PML4, PDPT | 7);
	put64(b, PDPT, PD | 7);
	put64(b, PDPT + 3 * 8, PD_HI | 7);
	put64(b, PD, PT | 7);
	put64(b, PD + 8, PT2 | 7);
	for (unsigned k = 3; k < 8; k++)
		put64(b, PD + k * 8, ((uint64_t)k << 21) | 0x83);
	put64(b, PD_HI + 0x1f7 * 8, 0xfee00000ULL | 0x83);
	for (unsigned k = 0; k < 512; k++) {
		uint64_t pa = (uint64_t)k << 12, f = 3;

		if ((pa >= UCODE && pa < UCODE + 0x10000) || (pa >= 0x70000 && pa < 0x80000))
			f |= 4;
		if (pa == 0x34000)
			f = 1; /* read-only */
		put64(b, PT + k * 8, pa | f);
	}
	put64(b, PT2 + 0x10 * 8, KCODE | 3);
}

static void board_setup(struct board *b, const uint8_t *code, const uint8_t *end)
{
	struct x86_cpu_state st;
	struct err err = { { 0 } };

	if (!b->ram)
		b->ram = aligned_alloc(4096, RAM_SIZE);
	memset(b->ram, 0, RAM_SIZE);
	b->pending = 0, b->vector = 0, b->mmio_writes = 0, b->pio_writes = 0, b->port80 = 0;
	b->tsc = 0, b->mmio_addr = b->mmio_val = 0, b->mmio_size = 0;
	build_tables(b);
	/* GDT: null, kernel code 0x08, kernel data 0x10, user data 0x18,
	 * user code 0x20, 64-bit TSS 0x28. */
	put64(b, GDT + 0x08, 0x00af9b000000ffffULL);
	put64(b, GDT + 0x10, 0x00cf93000000ffffULL);
	put64(b, GDT + 0x18, 0x00cff3000000ffffULL);
	put64(b, GDT + 0x20, 0x00affb000000ffffULL);
	put64(b, GDT + 0x28, 0x0000890000000067ULL | ((uint64_t)TSS << 16));
	put64(b, TSS + 4, RSP0_TOP);
	put64(b, TSS + 0x24, IST_TOP);
	for (unsigned v = 0; v < 256; v++) {
		uint8_t *s = b->ram + STUBS + v * 16;
		uint64_t jfrom;
		int32_t rel;

		if (!has_ec(v))
			*s++ = 0x6a, *s++ = 0; /* push $0 */
		*s++ = 0x68;                    /* push $v (imm32) */
		memcpy(s, &v, 4), s += 4;
		*s++ = 0xe9;                    /* jmp COMMON */
		jfrom = (uint64_t)(s + 4 - b->ram);
		rel = (int32_t)(COMMON - jfrom);
		memcpy(s, &rel, 4);
		set_gate(b, v, STUBS + v * 16, 0, 0);
	}
	set_gate(b, 0x80, COMMON + 0x100, 3, 0);
	memcpy(b->ram + COMMON, s_common, (size_t)(s_common_end - s_common));
	memcpy(b->ram + KCODE, code, (size_t)(end - code));
	if (!b->cpu)
		b->cpu = cpu_create_system(&board_ops, b, &err);
	if (!b->cpu)
		return;
	cpu_reset(b->cpu);
	memset(&st, 0, sizeof(st));
	cpu_get_x86_state(b->cpu, &st);
	memset(st.gpr, 0, sizeof(st.gpr));
	st.gpr[4] = KSTACK_TOP;
	st.rip = KCODE;
	st.rflags = 2;
	st.cs = (struct x86_segment){ .base = 0, .limit = 0xffffffff, .selector = 0x08, .type = 0xb,
				      .s = 1, .present = 1, .l = 1, .g = 1 };
	st.ds = (struct x86_segment){ .base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 0x3,
				      .s = 1, .present = 1, .db = 1, .g = 1 };
	st.es = st.ss = st.fs = st.gs = st.ds;
	st.tr = (struct x86_segment){ .base = TSS, .limit = 0x67, .selector = 0x28, .type = 0xb,
				      .present = 1 };
	st.gdt.base = GDT, st.gdt.limit = 0x37;
	st.idt.base = IDT, st.idt.limit = 0xfff;
	st.cr0 = 0x80010033; /* PG WP NE ET MP PE */
	st.cr3 = PML4;
	st.cr4 = 0x6a0;      /* OSXMMEXCPT OSFXSR PGE PAE */
	st.efer = 0xd01;     /* NXE LMA LME SCE */
	cpu_set_x86_state(b->cpu, &st);
}

static int run(struct board *b, struct cpu_exit *ex)
{
	return cpu_run(b->cpu, 100000, ex);
}

SNIP(k_out_hlt, ".code64\n mov $0x5a, %al\n out %al, $0x80\n in $0x71, %al\n mov %eax, %ebx\n"
		" hlt\n mov $1, %ecx\n hlt\n");

static void test_pio_hlt(struct board *b)
{
	struct cpu_exit ex;
	struct x86_cpu_state st;

	TEST_BEGIN("cpu_sys_pio_hlt");
	board_setup(b, k_out_hlt, k_out_hlt_end);
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_HLT);
	CHECK_EQ(b->port80, 0x5a);
	cpu_get_x86_state(b->cpu, &st);
	CHECK_EQ(st.gpr[3] & 0xff, 0x42);
	CHECK_EQ(st.rip, KCODE + 9);
	/* Resuming runs after the HLT. */
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_HLT);
	cpu_get_x86_state(b->cpu, &st);
	CHECK_EQ(st.gpr[1], 1);
	TEST_END();
}

/* Reads 0x31000, writes 0x32000, then writes the read-only page. */
SNIP(k_pf_wp, ".code64\n mov 0x31000, %rax\n movq $5, 0x32000\n movq $1, 0x34008\n hlt\n");
/* Touches the unmapped 4-6 MiB range. */
SNIP(k_pf_np, ".code64\n mov $0x400123, %rbx\n mov (%rbx), %rax\n hlt\n");

static void test_paging(struct board *b)
{
	struct cpu_exit ex;

	TEST_BEGIN("cpu_sys_paging_ad_pf");
	board_setup(b, k_pf_wp, k_pf_wp_end);
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_HLT);
	CHECK_EQ(get64(b, PT + 0x31 * 8) & 0x60, 0x20); /* accessed, clean */
	CHECK_EQ(get64(b, PT + 0x32 * 8) & 0x60, 0x60); /* accessed, dirty */
	CHECK_EQ(get64(b, PT + 0x33 * 8) & 0x60, 0);
	CHECK_EQ(get64(b, PD) & 0x20, 0x20);
	CHECK_EQ(get64(b, 0x32000), 5);
	CHECK_EQ(get64(b, DATA + 0x00), 14);
	CHECK_EQ(get64(b, DATA + 0x08), 3); /* present | write, supervisor */
	CHECK_EQ(get64(b, DATA + 0x30), 0x34008);
	CHECK_EQ(get64(b, DATA + 0x10), KCODE + 8 + 12);
	CHECK_EQ(get64(b, 0x34008), 0);
	board_setup(b, k_pf_np, k_pf_np_end);
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(get64(b, DATA + 0x00), 14);
	CHECK_EQ(get64(b, DATA + 0x08), 0); /* not present, read, supervisor */
	CHECK_EQ(get64(b, DATA + 0x30), 0x400123);
	TEST_END();
}

SNIP(k_ud, ".code64\n nop\n ud2\n hlt\n");

static void test_ist(struct board *b)
{
	struct cpu_exit ex;

	TEST_BEGIN("cpu_sys_exception_ist");
	board_setup(b, k_ud, k_ud_end);
	set_gate(b, 6, STUBS + 6 * 16, 0, 1);
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_HLT);
	CHECK_EQ(get64(b, DATA + 0x00), 6);
	CHECK_EQ(get64(b, DATA + 0x10), KCODE + 1);
	CHECK_EQ(get64(b, DATA + 0x18), 0x08);
	CHECK_EQ(get64(b, DATA + 0x20), KSTACK_TOP);
	CHECK_EQ(get64(b, DATA + 0x28), IST_TOP - 40); /* after the stub's two pops */
	TEST_END();
}

/* Kernel: STAR/LSTAR/FMASK, a kernel GS base, touch a supervisor page, IRETQ
 * to CPL3. User: SYSCALL, INT 0x80, then read a supervisor page (#PF 5). */
SNIP(k_user, ".code64\n mov $0xc0000081, %ecx\n xor %eax, %eax\n mov $0x00100008, %edx\n wrmsr\n"
	     " mov $0xc0000082, %ecx\n mov $0x12200, %eax\n xor %edx, %edx\n wrmsr\n"
	     " mov $0xc0000084, %ecx\n mov $0x200, %eax\n wrmsr\n"
	     " mov $0xc0000102, %ecx\n mov $0x777, %eax\n wrmsr\n"
	     " mov 0x31000, %rax\n"
	     " pushq $0x1b\n pushq $0x7f000\n pushq $0x202\n pushq $0x23\n pushq $0x20000\n iretq\n");
SNIP(u_code, ".code64\n syscall\n mov %rcx, %r12\n mov %r11, %r13\n int $0x80\n"
	     " mov 0x31000, %rax\n hlt\n");

static void test_user(struct board *b)
{
	struct cpu_exit ex;
	struct x86_cpu_state st;

	TEST_BEGIN("cpu_sys_cpl3_syscall_int_iret");
	board_setup(b, k_user, k_user_end);
	memcpy(b->ram + UCODE, u_code, (size_t)(u_code_end - u_code));
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_HLT);
	cpu_get_x86_state(b->cpu, &st);
	CHECK_EQ(get64(b, DATA + 0x48), 1);           /* SYSCALL ran once */
	CHECK_EQ(get64(b, DATA + 0x50), USTACK_TOP);  /* on the user stack: SYSCALL does not switch */
	CHECK_EQ(st.gpr[12], UCODE + 2);              /* RCX = return RIP */
	CHECK_EQ(st.gpr[13] & 0x202, 0x202);          /* R11 = RFLAGS */
	CHECK_EQ(get64(b, DATA + 0x40), 1);           /* INT 0x80 once */
	CHECK_EQ(get64(b, DATA + 0x58), RSP0_TOP - 40); /* on RSP0 */
	CHECK_EQ(get64(b, DATA + 0x00), 14);
	CHECK_EQ(get64(b, DATA + 0x08), 5);           /* present | user */
	CHECK_EQ(get64(b, DATA + 0x18), 0x23);
	CHECK_EQ(get64(b, DATA + 0x20), USTACK_TOP);
	CHECK_EQ(get64(b, DATA + 0x10), UCODE + 10);
	CHECK_EQ(st.cs.selector, 0x08);
	TEST_END();
}

SNIP(k_sti, ".code64\n xor %ebx, %ebx\n sti\n inc %ebx\n inc %ebx\n hlt\n");
SNIP(k_hltwake, ".code64\n sti\n hlt\n mov $7, %ebx\n hlt\n");

static void test_interrupts(struct board *b)
{
	struct cpu_exit ex;
	struct x86_cpu_state st;

	TEST_BEGIN("cpu_sys_interrupt_sti_shadow");
	board_setup(b, k_sti, k_sti_end);
	b->pending = 1, b->vector = 0x30;
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_HLT);
	cpu_get_x86_state(b->cpu, &st);
	CHECK_EQ(get64(b, DATA + 0x00), 0x30);
	CHECK_EQ(st.gpr[3], 1); /* one instruction ran in the STI shadow */
	CHECK_EQ(get64(b, DATA + 0x10), KCODE + 5);
	TEST_END();

	TEST_BEGIN("cpu_sys_hlt_wakeup");
	board_setup(b, k_hltwake, k_hltwake_end);
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_HLT);
	CHECK_EQ(get64(b, DATA + 0x38), 0);
	b->pending = 1, b->vector = 0x41;
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_HLT);
	CHECK_EQ(get64(b, DATA + 0x00), 0x41);
	CHECK_EQ(get64(b, DATA + 0x10), KCODE + 2); /* returns after the HLT */
	TEST_END();

	TEST_BEGIN("cpu_sys_nmi_kick");
	board_setup(b, k_ud, k_ud_end);
	cpu_request_exit(b->cpu);
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_KICK);
	cpu_inject_nmi(b->cpu);
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(get64(b, DATA + 0x00), 2);
	CHECK_EQ(get64(b, DATA + 0x10), KCODE);
	TEST_END();
}

static void test_triple(struct board *b)
{
	struct cpu_exit ex;
	struct x86_cpu_state st;

	TEST_BEGIN("cpu_sys_triple_fault");
	board_setup(b, k_ud, k_ud_end);
	cpu_get_x86_state(b->cpu, &st);
	st.idt.limit = 0;
	cpu_set_x86_state(b->cpu, &st);
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_SHUTDOWN);
	TEST_END();

	TEST_BEGIN("cpu_sys_double_fault");
	board_setup(b, k_ud, k_ud_end);
	b->ram[IDT + 6 * 16 + 5] &= 0x7f;            /* #UD gate not present -> #NP */
	b->ram[IDT + 11 * 16 + 5] &= 0x7f;           /* #NP gate not present -> #DF */
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_HLT);
	CHECK_EQ(get64(b, DATA + 0x00), 8);
	CHECK_EQ(get64(b, DATA + 0x08), 0);
	TEST_END();
}

SNIP(k_msr, ".code64\n mov $0xc0000081, %ecx\n mov $0x12345678, %eax\n mov $0x00230010, %edx\n"
	    " wrmsr\n xor %eax, %eax\n xor %edx, %edx\n rdmsr\n mov %eax, %r8d\n mov %edx, %r9d\n"
	    " mov $0x277, %ecx\n rdmsr\n mov %eax, %r10d\n"
	    " mov $0x201, %ecx\n mov $0x800, %eax\n xor %edx, %edx\n wrmsr\n xor %eax, %eax\n"
	    " rdmsr\n mov %eax, %r11d\n mov $0x1b, %ecx\n rdmsr\n mov %eax, %r14d\n"
	    " mov $1, %eax\n cpuid\n mov %ebx, %r15d\n"
	    " mov $0x12345, %ecx\n rdmsr\n hlt\n");

static void test_msr(struct board *b)
{
	struct cpu_exit ex;
	struct x86_cpu_state st;

	TEST_BEGIN("cpu_sys_msr_cpuid");
	board_setup(b, k_msr, k_msr_end);
	CHECK_EQ(run(b, &ex), 0);
	cpu_get_x86_state(b->cpu, &st);
	CHECK_EQ(st.gpr[8], 0x12345678);
	CHECK_EQ(st.gpr[9], 0x00230010);
	CHECK_EQ(st.gpr[10], 0x00070406);
	CHECK_EQ(st.gpr[11], 0x800);
	CHECK_EQ(st.gpr[14], 0xfee00900);
	CHECK_EQ(st.gpr[15], 0x11); /* the board's CPUID */
	CHECK_EQ(get64(b, DATA + 0x00), 13); /* unknown MSR: #GP(0) */
	CHECK_EQ(get64(b, DATA + 0x08), 0);
	TEST_END();
}

/* MMX in system mode: runs normally, #NM with CR0.TS, #UD with CR0.EM
 * (the faulting PADDB is at KCODE + 10 in both). */
SNIP(k_mmx, ".code64\n mov $0x1234, %eax\n movd %eax, %mm0\n paddw %mm0, %mm0\n movd %mm0, %ebx\n"
	    " emms\n hlt\n");
SNIP(k_mmx_ts, ".code64\n mov %cr0, %rax\n or $8, %rax\n mov %rax, %cr0\n paddb %mm1, %mm0\n hlt\n");
SNIP(k_mmx_em, ".code64\n mov %cr0, %rax\n or $4, %rax\n mov %rax, %cr0\n paddb %mm1, %mm0\n hlt\n");

static void test_mmx(struct board *b)
{
	struct cpu_exit ex;
	struct x86_cpu_state st;

	TEST_BEGIN("cpu_sys_mmx_cr0_ts_em");
	board_setup(b, k_mmx, k_mmx_end);
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_HLT);
	cpu_get_x86_state(b->cpu, &st);
	CHECK_EQ(st.gpr[3], 0x2468);
	CHECK_EQ(get64(b, DATA + 0x38), 0); /* no exception */
	board_setup(b, k_mmx_ts, k_mmx_ts_end);
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(get64(b, DATA + 0x00), 7);
	CHECK_EQ(get64(b, DATA + 0x10), KCODE + 10);
	board_setup(b, k_mmx_em, k_mmx_em_end);
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(get64(b, DATA + 0x00), 6);
	CHECK_EQ(get64(b, DATA + 0x10), KCODE + 10);
	TEST_END();
}

/* x87/SSE against CR0.EM/TS/MP and CR4.OSFXSR (Vol. 3 §2.5, Table 13-1).
 * Each kernel points R15 at the instruction under test (label 1). */
#define FP_SNIP(name, setup, insn)                                                                 \
	SNIP(name, ".code64\n lea 1f(%rip), %r15\n movl $0x1f80, 0x32000\n" setup "\n1: " insn     \
		   "\n hlt\n")
#define CR0_OR(bits) "mov %cr0, %rax\n or $" #bits ", %rax\n mov %rax, %cr0\n"
#define NO_OSFXSR "mov %cr4, %rax\n and $~0x200, %rax\n mov %rax, %cr4\n"
/* A pending unmasked x87 divide-by-zero (FSW.ES set). */
#define X87_PENDING "movw $0x37b, 0x32010\n fninit\n fldcw 0x32010\n fldz\n fld1\n fdivp\n"
FP_SNIP(k_fp_x87, "", "fld1\n fadd %st(0), %st(0)\n fistpl 0x32020");
FP_SNIP(k_fp_x87_ts, CR0_OR(8), "fld1");
FP_SNIP(k_fp_x87_em, CR0_OR(4), "fld1");
FP_SNIP(k_fp_fnstsw_ts, CR0_OR(8), "fnstsw %ax");
FP_SNIP(k_fp_x87_lmsw, "smsw %ax\n or $8, %ax\n lmsw %ax\n", "fninit");
FP_SNIP(k_fp_x87_clts, CR0_OR(8) "clts\n", "fld1");
FP_SNIP(k_fp_nm_mf, X87_PENDING CR0_OR(8), "fadd %st(0), %st(0)");
FP_SNIP(k_fp_mf, X87_PENDING, "fadd %st(0), %st(0)");
FP_SNIP(k_fp_wait_ts, CR0_OR(8), "fwait");
FP_SNIP(k_fp_wait_ts_nomp, "mov %cr0, %rax\n and $~2, %rax\n or $8, %rax\n mov %rax, %cr0\n",
	"fwait");
FP_SNIP(k_fp_wait_em, CR0_OR(4), "fwait");
FP_SNIP(k_fp_wait_nm_mf, X87_PENDING CR0_OR(8), "fwait");
FP_SNIP(k_fp_sse, "", "addps %xmm0, %xmm0\n paddd %xmm1, %xmm1\n ldmxcsr 0x32000\n"
		      " fxsave 0x32200\n fxrstor 0x32200\n movnti %eax, 0x32020");
FP_SNIP(k_fp_sse_ts, CR0_OR(8), "addps %xmm0, %xmm0");
FP_SNIP(k_fp_sse_em, CR0_OR(4), "addps %xmm0, %xmm0");
FP_SNIP(k_fp_sse_em_ts, CR0_OR(12), "addps %xmm0, %xmm0");
FP_SNIP(k_fp_sse_nofx, NO_OSFXSR, "addps %xmm0, %xmm0");
FP_SNIP(k_fp_sse_int_nofx, NO_OSFXSR, "paddd %xmm1, %xmm1");
FP_SNIP(k_fp_mov_ts, CR0_OR(8), "movdqa %xmm1, %xmm2");
FP_SNIP(k_fp_ldmxcsr_nofx, NO_OSFXSR, "ldmxcsr 0x32000");
FP_SNIP(k_fp_stmxcsr_ts, CR0_OR(8), "stmxcsr 0x32000");
FP_SNIP(k_fp_fxsave_ts, CR0_OR(8), "fxsave 0x32200");
FP_SNIP(k_fp_fxsave_em, CR0_OR(4), "fxsave 0x32200");
FP_SNIP(k_fp_fxrstor_ts, "fxsave 0x32200\n" CR0_OR(8), "fxrstor 0x32200");
FP_SNIP(k_fp_fxsave_nofx, NO_OSFXSR, "fxsave 0x32200\n fxrstor 0x32200");
FP_SNIP(k_fp_movnti_ts, CR0_OR(8), "movnti %eax, 0x32020\n mfence");
FP_SNIP(k_fp_mmx_nofx, NO_OSFXSR, "paddb %mm1, %mm0\n emms");

static void test_fp_traps(struct board *b)
{
	static const struct {
		const uint8_t *code, *end;
		int vec; /* -1: runs to the HLT */
	} cases[] = {
		{ k_fp_x87, k_fp_x87_end, -1 },
		{ k_fp_x87_ts, k_fp_x87_ts_end, CPU_VEC_NM },
		{ k_fp_x87_em, k_fp_x87_em_end, CPU_VEC_NM },
		{ k_fp_fnstsw_ts, k_fp_fnstsw_ts_end, CPU_VEC_NM },
		{ k_fp_x87_lmsw, k_fp_x87_lmsw_end, CPU_VEC_NM },
		{ k_fp_x87_clts, k_fp_x87_clts_end, -1 },
		{ k_fp_nm_mf, k_fp_nm_mf_end, CPU_VEC_NM },
		{ k_fp_mf, k_fp_mf_end, CPU_VEC_MF },
		{ k_fp_wait_ts, k_fp_wait_ts_end, CPU_VEC_NM },
		{ k_fp_wait_ts_nomp, k_fp_wait_ts_nomp_end, -1 },
		{ k_fp_wait_em, k_fp_wait_em_end, -1 },
		{ k_fp_wait_nm_mf, k_fp_wait_nm_mf_end, CPU_VEC_NM },
		{ k_fp_sse, k_fp_sse_end, -1 },
		{ k_fp_sse_ts, k_fp_sse_ts_end, CPU_VEC_NM },
		{ k_fp_sse_em, k_fp_sse_em_end, CPU_VEC_UD },
		{ k_fp_sse_em_ts, k_fp_sse_em_ts_end, CPU_VEC_UD },
		{ k_fp_sse_nofx, k_fp_sse_nofx_end, CPU_VEC_UD },
		{ k_fp_sse_int_nofx, k_fp_sse_int_nofx_end, CPU_VEC_UD },
		{ k_fp_mov_ts, k_fp_mov_ts_end, CPU_VEC_NM },
		{ k_fp_ldmxcsr_nofx, k_fp_ldmxcsr_nofx_end, CPU_VEC_UD },
		{ k_fp_stmxcsr_ts, k_fp_stmxcsr_ts_end, CPU_VEC_NM },
		{ k_fp_fxsave_ts, k_fp_fxsave_ts_end, CPU_VEC_NM },
		{ k_fp_fxsave_em, k_fp_fxsave_em_end, CPU_VEC_NM },
		{ k_fp_fxrstor_ts, k_fp_fxrstor_ts_end, CPU_VEC_NM },
		{ k_fp_fxsave_nofx, k_fp_fxsave_nofx_end, -1 },
		{ k_fp_movnti_ts, k_fp_movnti_ts_end, -1 },
		{ k_fp_mmx_nofx, k_fp_mmx_nofx_end, -1 },
	};
	struct cpu_exit ex;
	struct x86_cpu_state st;

	TEST_BEGIN("cpu_sys_fp_cr0_em_ts_cr4_osfxsr");
	for (unsigned k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		board_setup(b, cases[k].code, cases[k].end);
		CHECK_EQ(run(b, &ex), 0);
		CHECK_EQ(ex.reason, CPU_EXIT_HLT);
		cpu_get_x86_state(b->cpu, &st);
		if (cases[k].vec < 0) {
			CHECK_EQ(k * 256 + get64(b, DATA + 0x38), k * 256); /* no exception */
		} else {
			CHECK_EQ(k * 256 + get64(b, DATA + 0x00), k * 256 + (unsigned)cases[k].vec);
			CHECK_EQ(get64(b, DATA + 0x10), st.gpr[15]);
		}
	}
	TEST_END();
}

/* Patches an instruction already executed through the alias mapping at
 * 0x210000 and runs it again. */
SNIP(k_smc, ".code64\n call 1f\n mov %eax, %ebx\n movb $2, 0x210000 + (1f - k_smc) + 1\n"
	    " call 1f\n hlt\n 1: mov $1, %eax\n ret\n");
SNIP(k_mmio, ".code64\n mov $0xfee00000, %rbx\n movl $0x1234, 0xb0(%rbx)\n mov 0x20(%rbx), %edx\n"
	     " mov $0xfee00ffe, %rdi\n mov $2, %ecx\n mov $0x7777, %ax\n rep stosw\n hlt\n");

static void test_smc_mmio(struct board *b)
{
	struct cpu_exit ex;
	struct x86_cpu_state st;

	TEST_BEGIN("cpu_sys_smc_alias");
	board_setup(b, k_smc, k_smc_end);
	CHECK_EQ(run(b, &ex), 0);
	cpu_get_x86_state(b->cpu, &st);
	CHECK_EQ(st.gpr[3], 1);
	CHECK_EQ(st.gpr[0], 2);
	TEST_END();

	TEST_BEGIN("cpu_sys_mmio");
	board_setup(b, k_mmio, k_mmio_end);
	CHECK_EQ(run(b, &ex), 0);
	cpu_get_x86_state(b->cpu, &st);
	CHECK_EQ(st.gpr[2], 0xabcd0020);
	CHECK_EQ(b->mmio_writes, 3);
	CHECK_EQ(b->mmio_addr, 0xfee01000);
	CHECK_EQ(b->mmio_val, 0x7777);
	CHECK_EQ(b->mmio_size, 2);
	TEST_END();
}

/* The AP path Linux takes (trampoline_64.S): from the SIPI vector in real
 * mode through 32-bit protected mode without paging to 64-bit code. */
SNIP(k_rm, ".code16\n cli\n ljmpw $0x0a00, $(1f - k_rm)\n"
	   "1: mov %cs, %ax\n mov %ax, %ds\n mov %ax, %ss\n mov $0x800, %esp\n"
	   " call 2f\n pushfl\n popl %eax\n movl %eax, %ebx\n push $0x1234\n pop %cx\n"
	   " mov $0x0b00, %ax\n mov %ax, %es\n mov $(8f - k_rm), %si\n mov $0x10, %di\n"
	   " cld\n mov $4, %cx\n rep movsb\n"
	   " lidtl (6f - k_rm)\n lgdtl (5f - k_rm)\n movl $0x11, %eax\n movl %eax, %cr0\n"
	   " ljmpl $0x38, $(0xa000 + 3f - k_rm)\n"
	   "2: mov $0x55, %bp\n ret\n"
	   ".code32\n3: movl $0x10, %eax\n movl %eax, %ss\n movl %eax, %ds\n movl $0xaf00, %esp\n"
	   " pushl $0x77\n popl %esi\n movl (0xa000 + 7f - k_rm), %edi\n"
	   " movl $0x20, %eax\n movl %eax, %cr4\n movl $0x1000, %eax\n movl %eax, %cr3\n"
	   " movl $0xc0000080, %ecx\n rdmsr\n orl $0x100, %eax\n wrmsr\n"
	   " movl $0x80000011, %eax\n movl %eax, %cr0\n ljmpl $0x08, $(0xa000 + 4f - k_rm)\n"
	   ".code64\n4: mov $0x42, %r8d\n hlt\n"
	   "5: .word 0x3f\n .long 0x5000\n6: .word 0\n .long 0\n7: .long 0xfeedf00d\n"
	   "8: .ascii \"vire\"\n.code64\n");

static void test_real_mode(struct board *b)
{
	struct cpu_exit ex;
	struct x86_cpu_state st;

	TEST_BEGIN("cpu_sys_sipi_real_protected_long");
	board_setup(b, k_ud, k_ud_end);
	put64(b, GDT + 0x38, 0x00cf9b000000ffffULL);
	memcpy(b->ram + 0xa000, k_rm, (size_t)(k_rm_end - k_rm));
	cpu_start_sipi(b->cpu, 0x0a);
	cpu_get_x86_state(b->cpu, &st);
	CHECK_EQ(st.cs.base, 0xa000);
	CHECK_EQ(st.cr0 & 1, 0);
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_HLT);
	cpu_get_x86_state(b->cpu, &st);
	CHECK_EQ(st.gpr[8], 0x42);
	CHECK_EQ(st.gpr[5] & 0xffff, 0x55);
	CHECK_EQ(st.gpr[1] & 0xffff, 0xc0000080 & 0xffff);
	CHECK_EQ(st.gpr[3] & 2, 2);
	CHECK_EQ(st.gpr[6], 0x77);
	CHECK_EQ(st.gpr[7], 0xfeedf00d);
	CHECK_EQ(st.cs.l, 1);
	CHECK_EQ(st.efer & 0x500, 0x500);
	CHECK_EQ(get64(b, 0xa7fe) & 0xffff, 0x1234); /* the real-mode stack: SS base + SP */
	CHECK(memcmp(b->ram + 0xb010, "vire", 4) == 0); /* REP MOVSB DS:SI -> ES:DI */
	TEST_END();
}

/* Cross-modifying code: a second vCPU on the same RAM patches code the
 * first one has decoded. */
SNIP(k_xa, ".code64\n mov $1, %eax\n hlt\n");
SNIP(k_xb, ".code64\n movb $2, 0x10001\n hlt\n");

static void test_cross_modify(struct board *b)
{
	struct cpu_exit ex;
	struct x86_cpu_state st;
	struct err err = { { 0 } };
	struct cpu *other;

	TEST_BEGIN("cpu_sys_cross_modifying_code");
	board_setup(b, k_xa, k_xa_end);
	memcpy(b->ram + 0x13000, k_xb, (size_t)(k_xb_end - k_xb));
	other = cpu_create_system(&board_ops, b, &err);
	CHECK(other != NULL);
	if (!other) {
		TEST_END();
		return;
	}
	CHECK_EQ(run(b, &ex), 0);
	cpu_get_x86_state(b->cpu, &st);
	CHECK_EQ(st.gpr[0], 1);
	st.rip = 0x13000;
	cpu_set_x86_state(other, &st);
	CHECK_EQ(cpu_run(other, 1000, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_HLT);
	st.rip = KCODE;
	st.gpr[0] = 0;
	/* Only RIP changes: a set_x86_state would flush everything anyway,
	 * so rewind through an interrupt-free jump instead. */
	CHECK_EQ(b->ram[KCODE + 1], 2);
	cpu_get_x86_state(b->cpu, &st);
	CHECK_EQ(st.rip, KCODE + 6);
	memcpy(b->ram + KCODE + 6, "\xeb\xf8", 2); /* jmp KCODE, written by the host */
	cpu_invalidate_phys(b->cpu, KCODE + 6, 2);
	CHECK_EQ(run(b, &ex), 0);
	cpu_get_x86_state(b->cpu, &st);
	CHECK_EQ(st.gpr[0], 2);
	cpu_destroy(other);
	TEST_END();
}

/* MOV to CR3 drops non-global translations and may keep global ones (this
 * TLB keeps them); toggling CR4.PGE drops those too (Vol. 3 §4.10.4.1). */
SNIP(k_global, ".code64\n mov 0x35000, %eax\n movq $0x36003, 0x4000 + 0x35 * 8\n"
	       " mov %cr3, %rdi\n mov %rdi, %cr3\n mov 0x35000, %ebx\n"
	       " movq $0x37103, 0x4000 + 0x37 * 8\n invlpg 0x37000\n mov 0x37000, %ecx\n"
	       " movq $0x38103, 0x4000 + 0x37 * 8\n mov %rdi, %cr3\n mov 0x37000, %esi\n"
	       " mov %cr4, %rdi\n and $~0x80, %rdi\n mov %rdi, %cr4\n or $0x80, %rdi\n"
	       " mov %rdi, %cr4\n mov 0x37000, %edx\n hlt\n");

static void test_global_pages(struct board *b)
{
	struct cpu_exit ex;
	struct x86_cpu_state st;

	TEST_BEGIN("cpu_sys_global_pages");
	board_setup(b, k_global, k_global_end);
	b->ram[0x35000] = 0x11, b->ram[0x36000] = 0x22;
	b->ram[0x37000] = 0x33, b->ram[0x38000] = 0x44;
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_HLT);
	cpu_get_x86_state(b->cpu, &st);
	CHECK_EQ(st.gpr[0], 0x11);
	CHECK_EQ(st.gpr[3], 0x22); /* non-global: gone with the CR3 load */
	CHECK_EQ(st.gpr[1], 0x33);
	CHECK_EQ(st.gpr[6], 0x33); /* global: kept across the CR3 load */
	CHECK_EQ(st.gpr[2], 0x44); /* CR4.PGE toggled: gone */
	TEST_END();
}

/* A device (another thread) writes a page holding decoded code: the CPU
 * runs the new bytes. */
SNIP(k_dma, ".code64\n mov $1, %eax\n hlt\n jmp . - 6\n");

static void test_dma_written(struct board *b)
{
	struct cpu_exit ex;
	struct x86_cpu_state st;

	TEST_BEGIN("cpu_sys_dma_written");
	board_setup(b, k_dma, k_dma_end);
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_HLT);
	cpu_get_x86_state(b->cpu, &st);
	CHECK_EQ(st.gpr[0], 1);
	CHECK_EQ(st.rip, KCODE + 6);
	b->ram[KCODE + 1] = 2; /* mov $2, %eax */
	cpu_dma_written(KCODE + 1, 1);
	CHECK_EQ(run(b, &ex), 0);
	cpu_get_x86_state(b->cpu, &st);
	CHECK_EQ(st.gpr[0], 2);
	TEST_END();
}

/* Debugging hooks (cpu/debug.c). */
SNIP(k_int3, ".code64\n nop\n int3\n mov $1, %ecx\n hlt\n");
SNIP(k_step_ud, ".code64\n nop\n ud2\n hlt\n");
SNIP(k_watch, ".code64\n mov 0x31000, %rax\n movq $5, 0x32000\n movq $6, 0x32008\n hlt\n");
SNIP(k_watch_len, ".code64\n movb $7, 0x32017\n movw $8, 0x32017\n hlt\n");

static void test_debug(struct board *b)
{
	struct cpu_debug d;
	struct cpu_exit ex;
	unsigned w = 9;

	TEST_BEGIN("cpu_sys_debug_int3");
	board_setup(b, k_int3, k_int3_end);
	memset(&d, 0, sizeof(d));
	d.int3 = true;
	CHECK_EQ(cpu_debug_set(b->cpu, &d), 0);
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_DEBUG);
	CHECK_EQ(cpu_debug_take(b->cpu, &w), CPU_DEBUG_INT3);
	CHECK_EQ(cpu_debug_pc(b->cpu), KCODE + 1);
	CHECK_EQ(cpu_debug_take(b->cpu, &w), CPU_DEBUG_NONE);
	/* Still intercepted when run again; then delivered once to the guest. */
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_DEBUG);
	CHECK_EQ(cpu_debug_pc(b->cpu), KCODE + 1);
	d.int3_deliver_once = true;
	CHECK_EQ(cpu_debug_set(b->cpu, &d), 0);
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_HLT);
	CHECK_EQ(get64(b, DATA + 0x00), CPU_VEC_BP);
	CHECK_EQ(get64(b, DATA + 0x10), KCODE + 2); /* #BP is a trap */
	CHECK_EQ(cpu_debug_set(b->cpu, NULL), 0);
	TEST_END();

	TEST_BEGIN("cpu_sys_debug_step_into_handler");
	board_setup(b, k_step_ud, k_step_ud_end);
	memset(&d, 0, sizeof(d));
	d.stop_after_event = true;
	CHECK_EQ(cpu_debug_set(b->cpu, &d), 0);
	CHECK_EQ(cpu_run(b->cpu, 1, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_LIMIT);
	CHECK_EQ(cpu_debug_pc(b->cpu), KCODE + 1);
	/* UD2 faults: the step ends at the handler's first instruction. */
	CHECK_EQ(cpu_run(b->cpu, 1, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_LIMIT);
	CHECK_EQ(cpu_debug_pc(b->cpu), STUBS + CPU_VEC_UD * 16);
	CHECK_EQ(get64(b, DATA + 0x38), 0);
	CHECK_EQ(cpu_debug_set(b->cpu, NULL), 0);
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(get64(b, DATA + 0x00), CPU_VEC_UD);
	TEST_END();

	/* An interrupt taken between two steps: the step that delivers it
	 * ends at the handler's first instruction, after the STI shadow. */
	TEST_BEGIN("cpu_sys_debug_step_into_interrupt");
	board_setup(b, k_sti, k_sti_end);
	b->pending = 1, b->vector = 0x30;
	memset(&d, 0, sizeof(d));
	d.stop_after_event = true;
	CHECK_EQ(cpu_debug_set(b->cpu, &d), 0);
	for (unsigned k = 0; k < 3; k++) /* XOR, STI, INC in the shadow */
		CHECK_EQ(cpu_run(b->cpu, 1, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_LIMIT);
	CHECK_EQ(b->pending, 1);
	CHECK_EQ(cpu_debug_pc(b->cpu), KCODE + 5);
	CHECK_EQ(cpu_run(b->cpu, 1, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_LIMIT);
	CHECK_EQ(b->pending, 0);
	CHECK_EQ(cpu_debug_pc(b->cpu), STUBS + 0x30 * 16);
	CHECK_EQ(get64(b, DATA + 0x38), 0);
	CHECK_EQ(cpu_debug_set(b->cpu, NULL), 0);
	TEST_END();

	TEST_BEGIN("cpu_sys_debug_watch");
	board_setup(b, k_watch, k_watch_end);
	memset(&d, 0, sizeof(d));
	d.nwatch = 1;
	d.watch[0].addr = 0x32008, d.watch[0].len = 8, d.watch[0].kind = CPU_WATCH_WRITE;
	CHECK_EQ(cpu_debug_set(b->cpu, &d), 0);
	/* The store 8 bytes below does not hit; the one at 0x32008 stops the
	 * CPU after it. */
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_DEBUG);
	CHECK_EQ(cpu_debug_take(b->cpu, &w), CPU_DEBUG_WATCH);
	CHECK_EQ(w, 0);
	CHECK_EQ(cpu_debug_pc(b->cpu), KCODE + 32);
	CHECK_EQ(get64(b, 0x32000), 5);
	CHECK_EQ(get64(b, 0x32008), 6);
	/* An access watch on what the first instruction reads. */
	board_setup(b, k_watch, k_watch_end);
	d.nwatch = 2;
	d.watch[1] = d.watch[0];
	d.watch[0].addr = 0x31004, d.watch[0].len = 2, d.watch[0].kind = CPU_WATCH_ACCESS;
	CHECK_EQ(cpu_debug_set(b->cpu, &d), 0);
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_DEBUG);
	CHECK_EQ(cpu_debug_take(b->cpu, &w), CPU_DEBUG_WATCH);
	CHECK_EQ(w, 0);
	CHECK_EQ(cpu_debug_pc(b->cpu), KCODE + 8);
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(cpu_debug_take(b->cpu, &w), CPU_DEBUG_WATCH);
	CHECK_EQ(w, 1);
	/* Off: no more stops. */
	CHECK_EQ(cpu_debug_set(b->cpu, NULL), 0);
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_HLT);
	/* Exact lengths: a byte store just below the range does not hit, a
	 * word store over its first byte does. */
	board_setup(b, k_watch_len, k_watch_len_end);
	d.nwatch = 1;
	d.watch[0].addr = 0x32018, d.watch[0].len = 8, d.watch[0].kind = CPU_WATCH_WRITE;
	CHECK_EQ(cpu_debug_set(b->cpu, &d), 0);
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_DEBUG);
	CHECK_EQ(cpu_debug_pc(b->cpu), KCODE + 18);
	CHECK_EQ(get64(b, 0x32010) >> 56, 8);
	CHECK_EQ(cpu_debug_set(b->cpu, NULL), 0);
	TEST_END();
}

/* Legacy protected mode (no paging, EFER.LMA = 0): INT n through a 32-bit
 * interrupt gate at the same level and IRET; an IRET to ring 3 (outer level:
 * SS:ESP popped); INT from ring 3 switching to SS0:ESP0 of the 32-bit TSS and
 * IRET back; a #GP with its error code from ring 3's HLT. */
SNIP(k_pm32, ".code32\n int $0x30\n mov %eax, 0x30020\n pushl $0x23\n pushl $0x7f000\n pushl $2\n"
	     " pushl $0x1b\n pushl $0x10080\n iret\n"
	     ".org k_pm32 + 0x80\n int $0x31\n mov %esp, 0x30060\n mov %ss, %ecx\n mov %ecx, 0x30064\n"
	     " jmp 1f\n .org k_pm32 + 0xa0\n1: hlt\n"
	     ".org k_pm32 + 0x100\n mov %esp, 0x30000\n mov (%esp), %ecx\n mov %ecx, 0x30004\n"
	     " mov 4(%esp), %ecx\n mov %ecx, 0x30008\n mov 8(%esp), %ecx\n mov %ecx, 0x3000c\n"
	     " mov $0x55, %eax\n iret\n"
	     ".org k_pm32 + 0x200\n mov %esp, 0x30040\n mov %ss, %ecx\n mov %ecx, 0x30044\n"
	     " mov 4(%esp), %ecx\n mov %ecx, 0x30048\n mov 12(%esp), %ecx\n mov %ecx, 0x3004c\n"
	     " mov 16(%esp), %ecx\n mov %ecx, 0x30050\n iret\n"
	     ".org k_pm32 + 0x300\n mov (%esp), %ecx\n mov %ecx, 0x30070\n mov 4(%esp), %ecx\n"
	     " mov %ecx, 0x30074\n mov 8(%esp), %ecx\n mov %ecx, 0x30078\n mov %esp, 0x3007c\n"
	     " hlt\n.code64\n");

static void set_gate32(struct board *b, unsigned v, uint32_t target, unsigned dpl)
{
	uint8_t *g = b->ram + IDT + v * 8;

	g[0] = (uint8_t)target, g[1] = (uint8_t)(target >> 8);
	g[2] = 0x08, g[3] = 0, g[4] = 0;
	g[5] = (uint8_t)(0x8e | dpl << 5);
	g[6] = (uint8_t)(target >> 16), g[7] = (uint8_t)(target >> 24);
}

static uint32_t get32(struct board *b, uint64_t gpa)
{
	return (uint32_t)get64(b, gpa);
}

static void test_pm32(struct board *b)
{
	struct cpu_exit ex;
	struct x86_cpu_state st;

	TEST_BEGIN("cpu_sys_pm32_int_iret_rings");
	board_setup(b, k_pm32, k_pm32_end);
	memset(b->ram + IDT, 0, 0x1000);
	put64(b, GDT + 0x08, 0x00cf9b000000ffffULL);
	put64(b, GDT + 0x10, 0x00cf93000000ffffULL);
	put64(b, GDT + 0x18, 0x00cffb000000ffffULL);
	put64(b, GDT + 0x20, 0x00cff3000000ffffULL);
	put64(b, GDT + 0x28, 0x0000890000000067ULL | ((uint64_t)TSS << 16));
	memset(b->ram + TSS, 0, 0x68);
	put64(b, TSS + 4, RSP0_TOP | (0x10ULL << 32)); /* ESP0, SS0 */
	set_gate32(b, 0x30, KCODE + 0x100, 0);
	set_gate32(b, 0x31, KCODE + 0x200, 3);
	set_gate32(b, 13, KCODE + 0x300, 0);
	cpu_get_x86_state(b->cpu, &st);
	st.cs.l = 0, st.cs.db = 1;
	st.cr0 = 0x11; /* PE ET: no paging */
	st.cr4 = 0, st.efer = 0;
	st.idt.limit = 0x7ff;
	cpu_set_x86_state(b->cpu, &st);
	CHECK_EQ(run(b, &ex), 0);
	CHECK_EQ(ex.reason, CPU_EXIT_HLT);
	/* Same level: EFLAGS, CS, EIP on the current stack; IRET resumes. */
	CHECK_EQ(get32(b, 0x30000), KSTACK_TOP - 12);
	CHECK_EQ(get32(b, 0x30004), KCODE + 2);
	CHECK_EQ(get32(b, 0x30008), 0x08);
	CHECK_EQ(get32(b, 0x3000c), 2);
	CHECK_EQ(get32(b, 0x30020), 0x55);
	/* From ring 3: SS0:ESP0 from the TSS, the old SS:ESP pushed. */
	CHECK_EQ(get32(b, 0x30040), RSP0_TOP - 20);
	CHECK_EQ(get32(b, 0x30044), 0x10);
	CHECK_EQ(get32(b, 0x30048), 0x1b);
	CHECK_EQ(get32(b, 0x3004c), 0x7f000);
	CHECK_EQ(get32(b, 0x30050), 0x23);
	/* IRET to the outer level restored ring 3's SS:ESP. */
	CHECK_EQ(get32(b, 0x30060), 0x7f000);
	CHECK_EQ(get32(b, 0x30064), 0x23);
	/* HLT at CPL 3: #GP(0), the frame on the ring-0 stack. */
	CHECK_EQ(get32(b, 0x30070), 0);
	CHECK_EQ(get32(b, 0x30074), KCODE + 0xa0);
	CHECK_EQ(get32(b, 0x30078), 0x1b);
	CHECK_EQ(get32(b, 0x3007c), RSP0_TOP - 24);
	cpu_get_x86_state(b->cpu, &st);
	CHECK_EQ(st.cs.selector, 0x08);
	CHECK_EQ(st.ss.selector, 0x10);
	TEST_END();
}

int main(void)
{
	static struct board b;

	test_pio_hlt(&b);
	test_paging(&b);
	test_ist(&b);
	test_user(&b);
	test_interrupts(&b);
	test_triple(&b);
	test_msr(&b);
	test_mmx(&b);
	test_fp_traps(&b);
	test_smc_mmio(&b);
	test_real_mode(&b);
	test_cross_modify(&b);
	test_dma_written(&b);
	test_global_pages(&b);
	test_debug(&b);
	test_pm32(&b);
	cpu_destroy(b.cpu);
	free(b.ram);
	return 0;
}
