/* Bit instructions: BT/BTS/BTR/BTC (register and immediate offsets, with
 * the bit-string addressing of a register offset into memory), BSF/BSR,
 * POPCNT and LZCNT (Intel SDM Vol. 2). TZCNT is not advertised (no BMI1), so
 * F3 0F BC executes as BSF, as on a CPU without BMI1. */
#include "cpu/cpu_int.h"

/* op: 0 BT, 1 BTS, 2 BTR, 3 BTC. */
static void bit_op(struct cpu *c, const struct insn *i, unsigned op, int64_t off, bool imm)
{
	int sz = i->osz;
	unsigned bits = (unsigned)sz * 8;
	uint64_t v, bit, f;

	if (!(i->flags & IF_MEM) || imm) {
		bit = (uint64_t)off & (bits - 1);
		v = op == 0 ? rm_read(c, i, sz) : cpu_rmw_read(c, i, sz);
	} else {
		/* Register offset into memory: a signed bit index relative to
		 * the operand address (Vol. 2 "BT", bit-string addressing). */
		uint64_t addr = insn_ea(c, i) + (uint64_t)((off >> (sz == 8 ? 6 : sz == 4 ? 5 : 4)) * sz);

		if (i->asz == 4)
			addr = (uint32_t)addr;
		bit = (uint64_t)off & (bits - 1);
		if (op == 0) {
			v = mem_read(c, addr, sz);
		} else {
			uint64_t mask = 1ULL << bit;
			void *p = cpu_mem_ptr(c, addr, (unsigned)sz, CPU_ACC_WRITE);

			if ((i->flags & IF_LOCK) && p && !((uintptr_t)p & (sz - 1))) {
				v = 0;
				switch (sz * 4 + op) {
				case 8 + 1: v = __atomic_fetch_or((uint16_t *)p, (uint16_t)mask, __ATOMIC_SEQ_CST); break;
				case 8 + 2: v = __atomic_fetch_and((uint16_t *)p, (uint16_t)~mask, __ATOMIC_SEQ_CST); break;
				case 8 + 3: v = __atomic_fetch_xor((uint16_t *)p, (uint16_t)mask, __ATOMIC_SEQ_CST); break;
				case 16 + 1: v = __atomic_fetch_or((uint32_t *)p, (uint32_t)mask, __ATOMIC_SEQ_CST); break;
				case 16 + 2: v = __atomic_fetch_and((uint32_t *)p, (uint32_t)~mask, __ATOMIC_SEQ_CST); break;
				case 16 + 3: v = __atomic_fetch_xor((uint32_t *)p, (uint32_t)mask, __ATOMIC_SEQ_CST); break;
				case 32 + 1: v = __atomic_fetch_or((uint64_t *)p, mask, __ATOMIC_SEQ_CST); break;
				case 32 + 2: v = __atomic_fetch_and((uint64_t *)p, ~mask, __ATOMIC_SEQ_CST); break;
				default: v = __atomic_fetch_xor((uint64_t *)p, mask, __ATOMIC_SEQ_CST); break;
				}
			} else {
				v = mem_read_w(c, addr, sz);
				mem_write(c, addr, sz, op == 1 ? v | mask : op == 2 ? v & ~mask : v ^ mask);
			}
			goto flags;
		}
	}
	switch (op) {
	case 1: cpu_rmw_write(c, i, sz, v | (1ULL << bit)); break;
	case 2: cpu_rmw_write(c, i, sz, v & ~(1ULL << bit)); break;
	case 3: cpu_rmw_write(c, i, sz, v ^ (1ULL << bit)); break;
	default: break;
	}
flags:
	/* CF = the bit; ZF unaffected; OF SF AF PF undefined (kept). */
	f = cpu_get_flags(c) & ~(uint64_t)FL_CF;
	cc_eager(c, f | ((v >> bit) & 1 ? FL_CF : 0));
}

static void h_bt_r(struct cpu *c, const struct insn *i)
{
	unsigned op = ((i->op & 0xff) - 0xa3) / 8; /* A3 BT, AB BTS, B3 BTR, BB BTC */
	int64_t off = sext(reg_read(c, i->reg, i->osz, i->flags), i->osz);

	bit_op(c, i, op, off, false);
}

static void h_bt_imm(struct cpu *c, const struct insn *i)
{
	if (i->sub < 4)
		cpu_ud(c);
	bit_op(c, i, i->sub - 4, (int64_t)(i->imm & 0xff), true);
}

static void h_bsf_bsr(struct cpu *c, const struct insn *i)
{
	int sz = i->osz;
	uint64_t v = rm_read(c, i, sz) & size_mask(sz), f = cpu_get_flags(c) & ~(uint64_t)FL_ARITH;
	bool bsr = (i->op & 0xff) == 0xbd;

	if (bsr && (i->flags & IF_REP)) { /* LZCNT */
		unsigned bits = (unsigned)sz * 8;
		uint64_t n = v ? (uint64_t)(__builtin_clzll(v) - (64 - (int)bits)) : bits;

		reg_write(c, i->reg, sz, i->flags, n);
		cc_eager(c, f | (v == 0 ? FL_CF : 0) | (n == 0 ? FL_ZF : 0));
		return;
	}
	if (v == 0) {
		/* Destination unchanged (Intel: undefined; AMD and real Intel
		 * cores leave it), ZF = 1. */
		cc_eager(c, f | FL_ZF);
		return;
	}
	reg_write(c, i->reg, sz, i->flags,
		  bsr ? (uint64_t)(63 - __builtin_clzll(v)) : (uint64_t)__builtin_ctzll(v));
	cc_eager(c, f);
}

static void h_popcnt(struct cpu *c, const struct insn *i)
{
	uint64_t v = rm_read(c, i, i->osz) & size_mask(i->osz);

	if (!(i->flags & IF_REP))
		cpu_ud(c);
	reg_write(c, i->reg, i->osz, i->flags, (uint64_t)__builtin_popcountll(v));
	cc_eager(c, v ? 0 : FL_ZF);
}

void cpu_exec_init_bit(void);
void cpu_exec_init_bit(void)
{
	cpu_handlers[OP_0F + 0xa3] = cpu_handlers[OP_0F + 0xab] = h_bt_r;
	cpu_handlers[OP_0F + 0xb3] = cpu_handlers[OP_0F + 0xbb] = h_bt_r;
	cpu_handlers[OP_0F + 0xba] = h_bt_imm;
	cpu_handlers[OP_0F + 0xbc] = cpu_handlers[OP_0F + 0xbd] = h_bsf_bsr;
	cpu_handlers[OP_0F + 0xb8] = h_popcnt;
}
