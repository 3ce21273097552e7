/* cpu-bench: instructions per second of the software CPU on small loops
 * (integer ALU + loads/stores + calls, a byte-scanning loop, SSE2), to
 * track interpreter speed. Usage: cpu-bench [MILLIONS_OF_INSNS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu/cpu.h"

#define BASE 0x400000ULL
#define SIZE (4u << 20)

static uint8_t *mem;

static void *bench_translate(void *opaque, uint64_t gva, uint64_t len, int access)
{
	if (gva < BASE || gva + len > BASE + SIZE)
		return NULL;
	return mem + (gva - BASE);
}

static const struct cpu_mem_ops bench_ops = { bench_translate };

#define SNIPPET(name, text)                                                                        \
	__asm__(".pushsection .rodata\n" #name ":\n" text "\n" #name "_end:\n.popsection");       \
	extern const uint8_t name[], name##_end[]

/* Integer mix: checksum over a buffer with a helper call every element. */
SNIPPET(b_int, "1: mov $0x500000, %rsi\n mov $4096, %ecx\n xor %eax, %eax\n"
	       "2: mov (%rsi), %rdx\n add %rdx, %rax\n rol $5, %rax\n xor %rcx, %rax\n"
	       "call 3f\n add $8, %rsi\n dec %ecx\n jnz 2b\n jmp 1b\n"
	       "3: imul $31, %rax, %rax\n lea 1(%rax), %rax\n ret");
/* Byte loop: like a naive strlen/memchr. */
SNIPPET(b_byte, "1: mov $0x500000, %rdi\n mov $65536, %ecx\n"
		"2: movzbl (%rdi), %eax\n cmp $0xff, %al\n je 3f\n inc %rdi\n dec %ecx\n jnz 2b\n"
		"3: jmp 1b");
/* SSE2: double-precision dot product. */
SNIPPET(b_sse, "1: mov $0x500000, %rsi\n mov $2048, %ecx\n xorpd %xmm0, %xmm0\n"
	       "2: movsd (%rsi), %xmm1\n mulsd 8(%rsi), %xmm1\n addsd %xmm1, %xmm0\n"
	       "add $16, %rsi\n dec %ecx\n jnz 2b\n jmp 1b");

static double run(const char *name, const uint8_t *code, const uint8_t *end, uint64_t n)
{
	struct err err = { { 0 } };
	struct cpu *cpu = cpu_create(CPU_MODE_USER64, &bench_ops, NULL, &err);
	struct cpu_state st;
	struct cpu_exit ex;
	struct timespec t0, t1;
	double secs, ips;

	if (!cpu) {
		fprintf(stderr, "cpu-bench: %s\n", err.msg);
		exit(1);
	}
	memcpy(mem, code, (size_t)(end - code));
	cpu_get_state(cpu, &st);
	st.rip = BASE;
	st.gpr[4] = BASE + SIZE - 4096;
	cpu_set_state(cpu, &st);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	cpu_run(cpu, n, &ex);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ips = (double)cpu_insn_count(cpu) / secs;
	printf("%-6s %10llu insns %7.3f s cpu %8.1f Minsn/s%s\n", name,
	       (unsigned long long)cpu_insn_count(cpu), secs, ips / 1e6,
	       ex.reason == CPU_EXIT_LIMIT ? "" : " (stopped early!)");
	cpu_destroy(cpu);
	return ips;
}

int main(int argc, char **argv)
{
	uint64_t n = (argc > 1 ? strtoull(argv[1], NULL, 0) : 100) * 1000000ULL;

	mem = aligned_alloc(4096, SIZE);
	if (!mem)
		return 1;
	memset(mem, 0x11, SIZE);
	run("int", b_int, b_int_end, n);
	run("byte", b_byte, b_byte_end, n);
	run("sse", b_sse, b_sse_end, n);
	free(mem);
	return 0;
}
