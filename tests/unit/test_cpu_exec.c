/* Software CPU execution tests: small programs (assembled into this binary
 * by the real assembler) run on the emulated CPU against a flat memory
 * buffer; results, flags and exceptions are checked against the values the
 * Intel SDM defines. The differential suite (difftest) compares against the
 * host CPU at scale; these pin down edge cases by hand. */
#include <stdio.h>

#include "cpu_testenv.h"
#include "testlib.h"

#define CF 0x1
#define PF 0x4
#define AF 0x10
#define ZF 0x40
#define SF 0x80
#define OF 0x800
#define ARITH (CF | PF | AF | ZF | SF | OF)

static struct cpuenv env;

#define RUN(snip) (cpuenv_load(&env, snip, snip##_end), cpuenv_run(&env, 100000))
#define EXPECT_INT3() do { CHECK_EQ(env.ex.reason, CPU_EXIT_EXCEPTION); CHECK_EQ(env.ex.vector, 3); } while (0)

CPUENV_SNIPPET(t_add, "mov $0x7fffffff, %eax\n add $1, %eax\n int3");
CPUENV_SNIPPET(t_sub_borrow, "xor %eax, %eax\n sub $1, %al\n int3");
CPUENV_SNIPPET(t_adc, "stc\n mov $-1, %rax\n mov $0, %rbx\n adc %rbx, %rax\n int3");
CPUENV_SNIPPET(t_sbb, "stc\n mov $0, %ecx\n sbb $0, %ecx\n int3");
CPUENV_SNIPPET(t_inc_cf, "stc\n mov $0xff, %bl\n inc %bl\n int3");
CPUENV_SNIPPET(t_neg, "mov $0x80, %al\n neg %al\n int3");
CPUENV_SNIPPET(t_highbyte, "mov $0x1234, %eax\n mov %ah, %bl\n mov $0x55, %ch\n"
			   "mov $0x66, %sil\n int3");
CPUENV_SNIPPET(t_mov32_zext, "mov $-1, %rax\n mov $5, %eax\n mov $-1, %rbx\n mov $7, %bx\n int3");
CPUENV_SNIPPET(t_shl1, "mov $0xc0, %al\n shl $1, %al\n int3");
CPUENV_SNIPPET(t_shl0, "mov $0xc0, %al\n add $0, %al\n stc\n shl $0, %al\n int3");
CPUENV_SNIPPET(t_sar, "mov $-8, %rax\n sar $2, %rax\n int3");
CPUENV_SNIPPET(t_rol, "mov $0x81, %al\n rol $1, %al\n int3");
CPUENV_SNIPPET(t_rcr, "stc\n mov $1, %al\n rcr $1, %al\n int3");
CPUENV_SNIPPET(t_shld, "mov $0x8000000000000001, %rax\n mov $0xf000000000000000, %rbx\n"
		       "shld $4, %rbx, %rax\n int3");
CPUENV_SNIPPET(t_mul, "mov $0xffffffffffffffff, %rax\n mov $2, %rcx\n mul %rcx\n int3");
CPUENV_SNIPPET(t_imul3, "mov $-3, %rcx\n imul $7, %rcx, %rdx\n int3");
CPUENV_SNIPPET(t_imul_of, "mov $0x40000000, %ecx\n imul $4, %ecx, %edx\n int3");
CPUENV_SNIPPET(t_div, "mov $100, %eax\n xor %edx, %edx\n mov $7, %ecx\n div %ecx\n int3");
CPUENV_SNIPPET(t_div0, "mov $1, %eax\n xor %ecx, %ecx\n div %ecx\n int3");
CPUENV_SNIPPET(t_idiv_ovf, "mov $0x80000000, %eax\n cdq\n mov $-1, %ecx\n idiv %ecx\n int3");
CPUENV_SNIPPET(t_idiv_neg, "mov $-7, %rax\n cqo\n mov $2, %rcx\n idiv %rcx\n int3");
CPUENV_SNIPPET(t_loop, "xor %eax, %eax\n mov $10, %ecx\n1: add %ecx, %eax\n loop 1b\n int3");
CPUENV_SNIPPET(t_call, "call 1f\n int3\n1: mov $42, %eax\n ret");
CPUENV_SNIPPET(t_push_pop, "push $-2\n pop %rbx\n pushq $0x1234\n popw %cx\n popw %dx\n"
			   "pushfq\n pop %rsi\n int3");
CPUENV_SNIPPET(t_enter, "mov $0x1000, %rbp\n enter $16, $0\n mov %rbp, %rax\n leave\n int3");
CPUENV_SNIPPET(t_cmov, "mov $1, %eax\n mov $2, %ebx\n cmp %ebx, %eax\n cmovl %ebx, %eax\n"
		       "mov $-1, %rcx\n cmovg %ebx, %ecx\n setl %dl\n int3");
CPUENV_SNIPPET(t_rep_movsb, "lea src(%rip), %rsi\n mov $0x480000, %rdi\n mov $5, %ecx\n"
			    "rep movsb\n int3\nsrc: .ascii \"hello\"");
CPUENV_SNIPPET(t_rep_stosq, "mov $0x480000, %rdi\n mov $0x1122334455667788, %rax\n mov $600, %ecx\n"
			    "rep stosq\n int3");
CPUENV_SNIPPET(t_repne_scasb, "lea s(%rip), %rdi\n xor %eax, %eax\n mov $-1, %rcx\n"
			      "repne scasb\n not %rcx\n dec %rcx\n int3\ns: .asciz \"abcdef\"");
CPUENV_SNIPPET(t_repe_cmpsb, "lea a(%rip), %rsi\n lea b(%rip), %rdi\n mov $4, %ecx\n repe cmpsb\n"
			     "int3\na: .ascii \"abXd\"\nb: .ascii \"abYd\"");
CPUENV_SNIPPET(t_std_movs, "std\n mov $0x480007, %rdi\n mov $0x480107, %rsi\n mov $8, %ecx\n"
			   "rep movsb\n cld\n int3");
CPUENV_SNIPPET(t_cmpxchg, "mov $0x480000, %rdi\n movq $5, (%rdi)\n mov $5, %eax\n mov $9, %ecx\n"
			  "lock cmpxchg %rcx, (%rdi)\n mov (%rdi), %rbx\n mov $7, %eax\n"
			  "lock cmpxchg %rcx, (%rdi)\n int3");
CPUENV_SNIPPET(t_cmpxchg16b, "mov $0x480000, %rdi\n movq $1, (%rdi)\n movq $2, 8(%rdi)\n"
			     "mov $1, %eax\n mov $2, %edx\n mov $3, %ebx\n mov $4, %ecx\n"
			     "lock cmpxchg16b (%rdi)\n setz %sil\n int3");
CPUENV_SNIPPET(t_xadd, "mov $0x480000, %rdi\n movl $10, (%rdi)\n mov $3, %eax\n"
		       "lock xadd %eax, (%rdi)\n mov (%rdi), %ebx\n int3");
CPUENV_SNIPPET(t_bt, "mov $0x480000, %rdi\n movq $0, (%rdi)\n movq $0, 8(%rdi)\n movq $0, -8(%rdi)\n mov $70, %eax\n"
		     "bts %rax, (%rdi)\n mov 8(%rdi), %rbx\n bt $6, %rbx\n setc %cl\n"
		     "mov $-1, %rax\n bt %rax, (%rdi)\n setc %dl\n int3");
CPUENV_SNIPPET(t_bsf, "mov $0x50, %eax\n bsf %eax, %ebx\n bsr %eax, %ecx\n mov $77, %edx\n"
		      "xor %eax, %eax\n bsf %eax, %edx\n setz %sil\n int3");
CPUENV_SNIPPET(t_popcnt, "mov $0xf0f0, %eax\n popcnt %eax, %ebx\n lzcnt %eax, %ecx\n int3");
CPUENV_SNIPPET(t_movzx, "mov $-1, %eax\n movzbl %al, %ebx\n movsbq %al, %rcx\n movswl %ax, %edx\n"
			"mov $0x80000000, %esi\n movslq %esi, %rdi\n int3");
CPUENV_SNIPPET(t_bswap, "mov $0x0102030405060708, %rax\n bswap %rax\n mov $0x11223344, %ebx\n"
			"bswap %ebx\n int3");
CPUENV_SNIPPET(t_lahf, "stc\n mov $0, %ah\n lahf\n mov %ah, %bl\n mov $0xd5, %ah\n sahf\n"
		       "pushfq\n pop %rcx\n int3");
CPUENV_SNIPPET(t_pf_fault, "mov $0x480000, %rdi\n movq $7, (%rdi)\n mov $0x300000, %rax\n"
			   "mov (%rax), %rbx\n int3");
CPUENV_SNIPPET(t_ro_write, "mov $0x470000, %rax\n mov $1, %ebx\n addq $1, (%rax)\n int3");
CPUENV_SNIPPET(t_ud, "ud2\n int3");
CPUENV_SNIPPET(t_syscall, "mov $60, %eax\n syscall\n int3");
CPUENV_SNIPPET(t_cpuid, "xor %eax, %eax\n cpuid\n int3");
CPUENV_SNIPPET(t_smc, "lea p(%rip), %rdi\n movb $2, 1(%rdi)\np: mov $1, %al\n int3");
CPUENV_SNIPPET(t_fs, "mov %fs:8, %rax\n int3");
CPUENV_SNIPPET(t_xchg, "mov $0x480000, %rdi\n movq $5, (%rdi)\n mov $9, %eax\n xchg %rax, (%rdi)\n"
		       "mov (%rdi), %rbx\n mov $3, %r8d\n xchg %eax, %r8d\n int3");
CPUENV_SNIPPET(t_cross_page, "mov $0x480ffd, %rdi\n mov $0x1122334455667788, %rcx\n mov %rcx, (%rdi)\n"
			     "mov (%rdi), %rax\n int3");
CPUENV_SNIPPET(t_jcc_signed, "mov $-5, %eax\n cmp $3, %eax\n jl 1f\n mov $1, %ebx\n int3\n"
			     "1: mov $2, %ebx\n cmp $3, %eax\n ja 2f\n int3\n2: mov $3, %ecx\n int3");

CPUENV_SNIPPET(t_sse_strlen, "lea s_strlen(%rip), %rdi\n pxor %xmm0, %xmm0\n movdqu (%rdi), %xmm1\n"
			      "pcmpeqb %xmm0, %xmm1\n pmovmskb %xmm1, %eax\n bsf %eax, %eax\n int3\n"
			      "s_strlen: .asciz \"hello, world\"\n .fill 8");
CPUENV_SNIPPET(t_sse_fp, "mov $3, %eax\n cvtsi2sd %eax, %xmm0\n mov $2, %eax\n cvtsi2sd %eax, %xmm1\n"
			 "divsd %xmm1, %xmm0\n cvtsd2si %xmm0, %ebx\n cvttsd2si %xmm0, %ecx\n"
			 "ucomisd %xmm1, %xmm0\n setb %dl\n sqrtsd %xmm1, %xmm2\n movq %xmm2, %rsi\n int3");
CPUENV_SNIPPET(t_sse_round, "ldmxcsr mr(%rip)\n mov $5, %eax\n cvtsi2sd %eax, %xmm0\n"
			    "mov $2, %eax\n cvtsi2sd %eax, %xmm1\n divsd %xmm1, %xmm0\n"
			    "cvtsd2si %xmm0, %ebx\n stmxcsr mr2(%rip)\n mov mr2(%rip), %ecx\n int3\n"
			    ".align 4\nmr: .long 0x5f80\nmr2: .long 0");
CPUENV_SNIPPET(t_sse_align, "mov $0x480008, %rax\n movdqa (%rax), %xmm0\n int3");
CPUENV_SNIPPET(t_sse_xm, "ldmxcsr mx(%rip)\n xorpd %xmm1, %xmm1\n mov $1, %eax\n cvtsi2sd %eax, %xmm0\n"
			 "divsd %xmm1, %xmm0\n int3\n.align 4\nmx: .long 0x1d80");
CPUENV_SNIPPET(t_sse_shuf, "mov $0x0706050403020100, %rax\n movq %rax, %xmm0\n"
			   "mov $0x0f0e0d0c0b0a0908, %rax\n pinsrw $4, %eax, %xmm0\n shr $16, %rax\n"
			   "pinsrw $5, %eax, %xmm0\n shr $16, %rax\n pinsrw $6, %eax, %xmm0\n"
			   "shr $16, %rax\n pinsrw $7, %eax, %xmm0\n pshufd $0x1b, %xmm0, %xmm1\n"
			   "movq %xmm1, %rbx\n movdqa %xmm0, %xmm2\n psrldq $3, %xmm2\n movq %xmm2, %rcx\n"
			   "movdqa %xmm0, %xmm3\n punpcklbw %xmm0, %xmm3\n movq %xmm3, %rdx\n"
			   "psllq $4, %xmm0\n movq %xmm0, %rsi\n int3");

CPUENV_SNIPPET(t_x87, "mov $0x480000, %rdi\n fninit\n fld1\n fldpi\n faddp\n fstpl (%rdi)\n"
		      "movl $-7, 8(%rdi)\n fildl 8(%rdi)\n fld1\n fadd %st(0), %st(0)\n fdivrp\n"
		      "fistpl 12(%rdi)\n fld1\n fldz\n fcomip %st(1), %st(0)\n setb %al\n fstp %st(0)\n"
		      "fnstsw %ax\n mov %eax, %ebx\n fldz\n fxam\n fnstsw %ax\n mov %eax, %ecx\n"
		      "fstp %st(0)\n fnstcw 16(%rdi)\n int3");
CPUENV_SNIPPET(t_x87_round, "mov $0x480000, %rdi\n fninit\n movw $0xb7f, (%rdi)\n fldcw (%rdi)\n"
			    "movl $5, 4(%rdi)\n fildl 4(%rdi)\n movl $2, 4(%rdi)\n fidivl 4(%rdi)\n"
			    "fistpl 8(%rdi)\n mov 8(%rdi), %ebx\n fnstsw %ax\n int3");

CPUENV_SNIPPET(t_sse_flags_fast, "ldmxcsr mf0(%rip)\n mov $1, %eax\n cvtsi2sd %eax, %xmm0\n mov $3, %eax\n cvtsi2sd %eax, %xmm1\n"
				 "divsd %xmm1, %xmm0\n stmxcsr mf(%rip)\n mov mf(%rip), %ebx\n"
				 "ldmxcsr mf0(%rip)\n mulsd %xmm1, %xmm0\n int3\n"
				 ".align 4\nmf: .long 0\nmf0: .long 0x1f80");

int main(void)
{
	if (cpuenv_init(&env)) {
		printf("not ok cpu_exec_init: cannot create CPU\n");
		return 0;
	}

	TEST_BEGIN("cpu_exec_add_overflow_flags");
	RUN(t_add);
	EXPECT_INT3();
	CHECK_EQ(env.st.gpr[0], 0x80000000);
	CHECK_EQ(env.st.rflags & ARITH, OF | SF | AF | PF);
	CHECK_EQ(env.st.rip, CPUENV_BASE + (t_add_end - t_add));
	TEST_END();

	TEST_BEGIN("cpu_exec_sub_borrow");
	RUN(t_sub_borrow);
	CHECK_EQ(env.st.gpr[0], 0xff);
	CHECK_EQ(env.st.rflags & ARITH, CF | SF | AF | PF);
	TEST_END();

	TEST_BEGIN("cpu_exec_adc_sbb_carry_in");
	RUN(t_adc);
	CHECK_EQ(env.st.gpr[0], 0);
	CHECK_EQ(env.st.rflags & ARITH, CF | ZF | PF | AF);
	RUN(t_sbb);
	CHECK_EQ(env.st.gpr[1], 0xffffffff);
	CHECK_EQ(env.st.rflags & ARITH, CF | SF | PF | AF);
	TEST_END();

	TEST_BEGIN("cpu_exec_inc_keeps_cf");
	RUN(t_inc_cf);
	CHECK_EQ(env.st.gpr[3] & 0xff, 0);
	CHECK_EQ(env.st.rflags & ARITH, CF | ZF | PF | AF);
	TEST_END();

	TEST_BEGIN("cpu_exec_neg_min");
	RUN(t_neg);
	CHECK_EQ(env.st.gpr[0] & 0xff, 0x80);
	CHECK_EQ(env.st.rflags & ARITH, CF | OF | SF);
	TEST_END();

	TEST_BEGIN("cpu_exec_byte_registers");
	RUN(t_highbyte);
	CHECK_EQ(env.st.gpr[3] & 0xff, 0x12);
	CHECK_EQ(env.st.gpr[1], 0x5500);
	CHECK_EQ(env.st.gpr[6], 0x66);
	TEST_END();

	TEST_BEGIN("cpu_exec_mov32_zero_extends");
	RUN(t_mov32_zext);
	CHECK_EQ(env.st.gpr[0], 5);
	CHECK_EQ(env.st.gpr[3], 0xffffffffffff0007ULL);
	TEST_END();

	TEST_BEGIN("cpu_exec_shifts");
	RUN(t_shl1);
	CHECK_EQ(env.st.gpr[0] & 0xff, 0x80);
	CHECK_EQ(env.st.rflags & (CF | OF | SF | ZF), CF | SF);
	RUN(t_shl0);
	CHECK_EQ(env.st.rflags & (CF), CF); /* count 0: flags untouched (STC survives) */
	RUN(t_sar);
	CHECK_EQ(env.st.gpr[0], (uint64_t)-2);
	CHECK_EQ(env.st.rflags & CF, 0);
	RUN(t_rol);
	CHECK_EQ(env.st.gpr[0] & 0xff, 0x03);
	CHECK_EQ(env.st.rflags & (CF | OF), CF | OF);
	RUN(t_rcr);
	CHECK_EQ(env.st.gpr[0] & 0xff, 0x80);
	CHECK_EQ(env.st.rflags & (CF | OF), CF | OF);
	RUN(t_shld);
	CHECK_EQ(env.st.gpr[0], 0x000000000000001fULL);
	CHECK_EQ(env.st.rflags & (CF | OF), OF);
	TEST_END();

	TEST_BEGIN("cpu_exec_mul_imul");
	RUN(t_mul);
	CHECK_EQ(env.st.gpr[0], 0xfffffffffffffffeULL);
	CHECK_EQ(env.st.gpr[2], 1);
	CHECK_EQ(env.st.rflags & (CF | OF), CF | OF);
	RUN(t_imul3);
	CHECK_EQ(env.st.gpr[2], (uint64_t)-21);
	CHECK_EQ(env.st.rflags & (CF | OF), 0);
	RUN(t_imul_of);
	CHECK_EQ(env.st.gpr[2], 0);
	CHECK_EQ(env.st.rflags & (CF | OF), CF | OF);
	TEST_END();

	TEST_BEGIN("cpu_exec_div_and_de");
	RUN(t_div);
	CHECK_EQ(env.st.gpr[0], 14);
	CHECK_EQ(env.st.gpr[2], 2);
	RUN(t_div0);
	CHECK_EQ(env.ex.reason, CPU_EXIT_EXCEPTION);
	CHECK_EQ(env.ex.vector, 0);
	CHECK_EQ(env.st.rip, CPUENV_BASE + 7); /* at the DIV */
	RUN(t_idiv_ovf);
	CHECK_EQ(env.ex.vector, 0);
	CHECK_EQ(env.st.gpr[0], 0x80000000); /* nothing written */
	RUN(t_idiv_neg);
	CHECK_EQ(env.st.gpr[0], (uint64_t)-3);
	CHECK_EQ(env.st.gpr[2], (uint64_t)-1);
	TEST_END();

	TEST_BEGIN("cpu_exec_loop_call_ret");
	RUN(t_loop);
	CHECK_EQ(env.st.gpr[0], 55);
	RUN(t_call);
	CHECK_EQ(env.st.gpr[0], 42);
	CHECK_EQ(env.st.gpr[4], CPUENV_STACK);
	EXPECT_INT3();
	TEST_END();

	TEST_BEGIN("cpu_exec_push_pop");
	RUN(t_push_pop);
	CHECK_EQ(env.st.gpr[3], (uint64_t)-2);
	CHECK_EQ(env.st.gpr[1] & 0xffff, 0x1234);
	CHECK_EQ(env.st.gpr[2] & 0xffff, 0);
	CHECK_EQ(env.st.gpr[6] & 0xfff, 0x202 | (env.st.gpr[6] & ARITH));
	CHECK_EQ(env.st.gpr[4], CPUENV_STACK - 4);
	RUN(t_enter);
	CHECK_EQ(env.st.gpr[0], CPUENV_STACK - 8);
	CHECK_EQ(env.st.gpr[5], 0x1000);
	CHECK_EQ(env.st.gpr[4], CPUENV_STACK);
	TEST_END();

	TEST_BEGIN("cpu_exec_cmov_setcc");
	RUN(t_cmov);
	CHECK_EQ(env.st.gpr[0], 2);
	CHECK_EQ(env.st.gpr[1], 0xffffffff); /* false 32-bit CMOV still zero-extends */
	CHECK_EQ(env.st.gpr[2], 1);
	TEST_END();

	TEST_BEGIN("cpu_exec_jcc_signed_unsigned");
	RUN(t_jcc_signed);
	CHECK_EQ(env.st.gpr[3], 2);
	CHECK_EQ(env.st.gpr[1], 3);
	TEST_END();

	TEST_BEGIN("cpu_exec_string_ops");
	RUN(t_rep_movsb);
	CHECK(memcmp(cpuenv_ptr(&env, CPUENV_DATA), "hello", 5) == 0);
	CHECK_EQ(env.st.gpr[1], 0);
	CHECK_EQ(env.st.gpr[7], CPUENV_DATA + 5);
	RUN(t_rep_stosq);
	{
		uint64_t v;

		memcpy(&v, cpuenv_ptr(&env, CPUENV_DATA + 599 * 8), 8);
		CHECK_EQ(v, 0x1122334455667788ULL);
	}
	CHECK_EQ(env.st.gpr[7], CPUENV_DATA + 600 * 8);
	RUN(t_repne_scasb);
	CHECK_EQ(env.st.gpr[1], 6);
	RUN(t_repe_cmpsb);
	CHECK_EQ(env.st.gpr[1], 1);
	CHECK_EQ(env.st.rflags & ZF, 0);
	memcpy(cpuenv_ptr(&env, CPUENV_DATA + 0x100), "ABCDEFGH", 8);
	RUN(t_std_movs);
	CHECK(memcmp(cpuenv_ptr(&env, CPUENV_DATA), "ABCDEFGH", 8) == 0);
	CHECK_EQ(env.st.gpr[7], CPUENV_DATA - 1);
	TEST_END();

	TEST_BEGIN("cpu_exec_cmpxchg_xadd_xchg");
	RUN(t_cmpxchg);
	CHECK_EQ(env.st.gpr[3], 9);
	CHECK_EQ(env.st.gpr[0], 9); /* mismatch loads the accumulator */
	CHECK_EQ(env.st.rflags & ZF, 0);
	RUN(t_cmpxchg16b);
	CHECK_EQ(env.st.gpr[6] & 0xff, 1);
	{
		uint64_t v[2];

		memcpy(v, cpuenv_ptr(&env, CPUENV_DATA), 16);
		CHECK_EQ(v[0], 3);
		CHECK_EQ(v[1], 4);
	}
	RUN(t_xadd);
	CHECK_EQ(env.st.gpr[0], 10);
	CHECK_EQ(env.st.gpr[3], 13);
	RUN(t_xchg);
	CHECK_EQ(env.st.gpr[0], 3);
	CHECK_EQ(env.st.gpr[3], 9);
	CHECK_EQ(env.st.gpr[8], 5);
	TEST_END();

	TEST_BEGIN("cpu_exec_bit_ops");
	RUN(t_bt);
	CHECK_EQ(env.st.gpr[3], 0x40);
	CHECK_EQ(env.st.gpr[1] & 0xff, 1);
	CHECK_EQ(env.st.gpr[2] & 0xff, 0); /* bit -1 is in the byte before */
	RUN(t_bsf);
	CHECK_EQ(env.st.gpr[3], 4);
	CHECK_EQ(env.st.gpr[1], 6);
	CHECK_EQ(env.st.gpr[2], 77);
	CHECK_EQ(env.st.gpr[6] & 0xff, 1);
	RUN(t_popcnt);
	CHECK_EQ(env.st.gpr[3], 8);
	CHECK_EQ(env.st.gpr[1], 16);
	TEST_END();

	TEST_BEGIN("cpu_exec_movzx_movsx_bswap");
	RUN(t_movzx);
	CHECK_EQ(env.st.gpr[3], 0xff);
	CHECK_EQ(env.st.gpr[1], (uint64_t)-1);
	CHECK_EQ(env.st.gpr[2], 0xffffffff);
	CHECK_EQ(env.st.gpr[7], 0xffffffff80000000ULL);
	RUN(t_bswap);
	CHECK_EQ(env.st.gpr[0], 0x0807060504030201ULL);
	CHECK_EQ(env.st.gpr[3], 0x44332211);
	TEST_END();

	TEST_BEGIN("cpu_exec_lahf_sahf");
	RUN(t_lahf);
	CHECK_EQ(env.st.gpr[3] & 0x1, 1);
	CHECK_EQ(env.st.gpr[3] & 0x2, 2);
	CHECK_EQ(env.st.gpr[1] & 0xff, 0xd7);
	TEST_END();

	TEST_BEGIN("cpu_exec_page_fault_precise");
	RUN(t_pf_fault);
	CHECK_EQ(env.ex.reason, CPU_EXIT_EXCEPTION);
	CHECK_EQ(env.ex.vector, 14);
	CHECK_EQ(env.ex.fault_addr, 0x300000);
	CHECK_EQ(env.ex.error_code & 2, 0);
	CHECK_EQ(env.st.rip, CPUENV_BASE + 21);
	RUN(t_ro_write);
	CHECK_EQ(env.ex.vector, 14);
	CHECK_EQ(env.ex.error_code & 3, 3);
	CHECK_EQ(env.st.gpr[3], 1);
	TEST_END();

	TEST_BEGIN("cpu_exec_ud_syscall_cpuid");
	RUN(t_ud);
	CHECK_EQ(env.ex.vector, 6);
	CHECK_EQ(env.st.rip, CPUENV_BASE);
	RUN(t_syscall);
	CHECK_EQ(env.ex.reason, CPU_EXIT_SYSCALL);
	CHECK_EQ(env.st.rip, CPUENV_BASE + 7);
	CHECK_EQ(env.st.gpr[1], CPUENV_BASE + 7);
	RUN(t_cpuid);
	CHECK_EQ(env.st.gpr[0], 7);
	CHECK_EQ(env.st.gpr[3], 0x756e6547); /* "Genu" (GenuineIntel) */
	CHECK_EQ(env.st.gpr[2], 0x49656e69); /* "ineI" */
	CHECK_EQ(env.st.gpr[1], 0x6c65746e); /* "ntel" */
	TEST_END();

	TEST_BEGIN("cpu_exec_self_modifying_code");
	RUN(t_smc);
	CHECK_EQ(env.st.gpr[0] & 0xff, 2);
	TEST_END();

	TEST_BEGIN("cpu_exec_fs_base");
	cpuenv_load(&env, t_fs, t_fs_end);
	env.st.fs_base = CPUENV_DATA;
	memcpy(cpuenv_ptr(&env, CPUENV_DATA + 8), "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
	cpuenv_run(&env, 100);
	CHECK_EQ(env.st.gpr[0], 0x8877665544332211ULL);
	TEST_END();

	TEST_BEGIN("cpu_exec_page_crossing");
	RUN(t_cross_page);
	CHECK_EQ(env.st.gpr[0], 0x1122334455667788ULL);
	TEST_END();

	TEST_BEGIN("cpu_exec_insn_limit");
	cpuenv_load(&env, t_loop, t_loop_end);
	cpuenv_run(&env, 3);
	CHECK_EQ(env.ex.reason, CPU_EXIT_LIMIT);
	CHECK_EQ(env.st.gpr[0], 10);
	TEST_END();

	TEST_BEGIN("cpu_exec_sse_strlen_idiom");
	RUN(t_sse_strlen);
	CHECK_EQ(env.st.gpr[0], 12);
	TEST_END();

	TEST_BEGIN("cpu_exec_sse_fp_convert_compare");
	RUN(t_sse_fp);
	CHECK_EQ(env.st.gpr[3], 2); /* 1.5 rounds to even */
	CHECK_EQ(env.st.gpr[1], 1); /* truncation */
	CHECK_EQ(env.st.gpr[2] & 0xff, 1);
	CHECK_EQ(env.st.gpr[6], 0x3ff6a09e667f3bcdULL); /* sqrt(2) */
	RUN(t_sse_round);
	CHECK_EQ(env.st.gpr[3], 3); /* round up mode: 2.5 -> 3 */
	CHECK_EQ(env.st.gpr[1], 0x5fa0); /* PE from the inexact conversion */
	TEST_END();

	TEST_BEGIN("cpu_exec_sse_alignment_gp");
	RUN(t_sse_align);
	CHECK_EQ(env.ex.vector, 13);
	CHECK_EQ(env.st.rip, CPUENV_BASE + 7);
	TEST_END();

	TEST_BEGIN("cpu_exec_sse_unmasked_exception");
	RUN(t_sse_xm);
	CHECK_EQ(env.ex.reason, CPU_EXIT_EXCEPTION);
	CHECK_EQ(env.ex.vector, 19);
	{
		uint32_t mx;
		uint64_t x0;

		memcpy(&mx, env.st.fxsave + 24, 4);
		memcpy(&x0, env.st.fxsave + 160, 8);
		CHECK_EQ(mx & 0x3f, 0x4); /* ZE set */
		CHECK_EQ(x0, 0x3ff0000000000000ULL); /* destination untouched */
	}
	TEST_END();

	TEST_BEGIN("cpu_exec_sse_shuffles");
	RUN(t_sse_shuf);
	CHECK_EQ(env.st.gpr[3], 0x0b0a09080f0e0d0cULL);
	CHECK_EQ(env.st.gpr[1], 0x0a09080706050403ULL);
	CHECK_EQ(env.st.gpr[2], 0x0303020201010000ULL);
	CHECK_EQ(env.st.gpr[6], 0x7060504030201000ULL);
	TEST_END();

	TEST_BEGIN("cpu_exec_x87_basic");
	RUN(t_x87);
	EXPECT_INT3();
	{
		double d;
		int32_t q;
		uint16_t cw;

		memcpy(&d, cpuenv_ptr(&env, CPUENV_DATA), 8);
		memcpy(&q, cpuenv_ptr(&env, CPUENV_DATA + 12), 4);
		memcpy(&cw, cpuenv_ptr(&env, CPUENV_DATA + 16), 2);
		CHECK(d > 4.14159 && d < 4.1416);
		CHECK_EQ((uint32_t)q, (uint32_t)-4); /* -3.5 rounds to even */
		CHECK_EQ(cw, 0x37f);
	}
	CHECK_EQ(env.st.gpr[3] & 0x3800, 0);               /* stack balanced: TOP = 0 */
	CHECK_EQ(env.st.gpr[1] & 0x4700, 0x4000);           /* FXAM of +0: C3 */
	TEST_END();

	TEST_BEGIN("cpu_exec_x87_rounding_control");
	RUN(t_x87_round);
	CHECK_EQ(env.st.gpr[3], 3); /* RC = up: 2.5 -> 3 */
	CHECK_EQ(env.st.gpr[0] & 0x20, 0x20); /* PE */
	TEST_END();

	TEST_BEGIN("cpu_exec_sse_flags_default_mxcsr");
	RUN(t_sse_flags_fast);
	CHECK_EQ(env.st.gpr[3], 0x1fa0); /* PE from 1/3, seen by STMXCSR */
	{
		uint32_t mx;

		memcpy(&mx, env.st.fxsave + 24, 4);
		CHECK_EQ(mx, 0x1fa0); /* cleared by LDMXCSR, set again by the MULSD */
	}
	TEST_END();

	cpuenv_fini(&env);
	return 0;
}
