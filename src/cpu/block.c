/* Pre-decoded basic blocks, cached by guest-virtual address (DESIGN.md,
 * "blink"; issue 3 point 3). A block runs from its start to the first
 * control transfer, the page end, or BLOCK_MAX_INSNS. Pages holding decoded
 * code are remembered; their TLB write entries are dropped so every store to
 * them takes the slow path, which flushes the cache (self-modifying code). */
#include "cpu/cpu_int.h"
#include "cpu/sys.h"

static bool op_ends_block(const struct insn *i)
{
	unsigned op = i->op;

	switch (op) {
	case 0x70 ... 0x7f: case 0x9a: case 0x9d: case 0xc2: case 0xc3: case 0xca: case 0xcb:
	case 0xcc: case 0xcd: case 0xce: case 0xcf: case 0xe0 ... 0xe3: case 0xe8: case 0xe9:
	case 0xea: case 0xeb: case 0xf4: case 0xfa: case 0xfb:
	case OP_0F + 0x00: case OP_0F + 0x01: case OP_0F + 0x05: case OP_0F + 0x07:
	case OP_0F + 0x0b: case OP_0F + 0x22: case OP_0F + 0x30: case OP_0F + 0x34:
	case OP_0F + 0x35: case OP_0F + 0x80 ... OP_0F + 0x8f: case OP_0F + 0xae:
	case OP_UD:
		return true;
	case 0xff:
		return i->sub >= 2 && i->sub <= 5;
	default:
		return false;
	}
}

void cpu_jcache_clear(struct cpu *c)
{
	for (unsigned k = 0; k < JCACHE_SIZE; k++)
		c->jcache[k] = (struct jcache_entry){ .rip = JCACHE_EMPTY };
}

void cpu_blocks_flush(struct cpu *c)
{
	/* Blocks die by epoch; only on the (rare) wrap are they cleared. */
	if (++c->block_epoch == UINT32_MAX) {
		for (unsigned k = 0; k < BLOCK_HASH; k++)
			c->blocks[k].valid = 0;
		c->block_epoch = 0;
	}
	cpu_jcache_clear(c); /* its routines are gone */
	for (unsigned k = 0; k < c->code_page_count; k++)
		c->code_pages[c->code_slots[k]] = 0;
	c->code_page_count = 0;
	c->insn_used = 0;
	c->jit_used = 0;
	c->jit_link = NULL; /* its code is gone */
	c->block_gen++; /* every block link dies with the blocks */
	c->flushed = true;
	if (c->sys)
		sys_blocks_flushed(c);
}

static unsigned code_hash(uint64_t page)
{
	return (unsigned)((page >> 12) * 0x9E3779B97F4A7C15ULL >> 52) & (CODE_PAGES - 1);
}

bool cpu_is_code_page(struct cpu *c, uint64_t page)
{
	for (unsigned h = code_hash(page);; h = (h + 1) & (CODE_PAGES - 1)) {
		if (c->code_pages[h] == 0)
			return false;
		if (c->code_pages[h] == (page | 1))
			return true;
	}
}

static void mark_code_page(struct cpu *c, uint64_t page)
{
	struct tlb_entry *e = &c->tlb[(page >> 12) & (TLB_SIZE - 1)];
	unsigned h;

	if (cpu_is_code_page(c, page))
		return;
	for (h = code_hash(page); c->code_pages[h]; h = (h + 1) & (CODE_PAGES - 1))
		;
	c->code_pages[h] = page | 1;
	c->code_slots[c->code_page_count++] = (uint16_t)h;
	if ((e->tag_w & CPU_PAGE_MASK) == page) /* either privilege class's */
		e->tag_w = ~0ULL;
}

const struct insn *cpu_block_lookup(struct cpu *c, uint64_t rip, uintptr_t hva, unsigned *count,
				    struct block **slot)
{
	unsigned h = cpu_block_hash(rip);
	struct block *b;
	/* Legacy modes (system mode only): RIP is the offset in CS. */
	uint64_t addr = rip + c->seg_base[1], page = addr & CPU_PAGE_MASK;
	struct insn *out;
	uint64_t ir = rip;
	unsigned n = 0;
	int cs = c->code_size ? c->code_size : 8;

	if (c->insn_used + BLOCK_MAX_INSNS > INSN_POOL || c->code_page_count + 2 > CODE_PAGES / 2 ||
	    cpu_jit_full(c))
		cpu_blocks_flush(c);
	/* A dead way of the set, else the two ways in turn. */
	if (!cpu_block_live(c, &c->blocks[h]))
		b = &c->blocks[h];
	else if (!cpu_block_live(c, &c->blocks[h ^ 1]))
		b = &c->blocks[h ^ 1];
	else
		b = &c->blocks[h ^ (c->block_victim ^= 1)];
	b->valid = 0;
	out = &c->insns[c->insn_used];
	while (n < BLOCK_MAX_INSNS) {
		uint8_t buf[16];
		unsigned in_page = (unsigned)(page + CPU_PAGE_SIZE - addr), avail;
		const uint8_t *p;
		int r;

		if ((addr & CPU_PAGE_MASK) != page)
			break;
		p = cpu_mem_ptr(c, addr, 1, CPU_ACC_EXEC);
		avail = in_page < 15 ? in_page : 15;
		memcpy(buf, p, avail);
		r = cpu_decode(buf, avail, cs, &out[n]);
		if (r == -1) {
			/* The instruction crosses into the next page. */
			const uint8_t *q;

			if (n > 0)
				break; /* let it start its own block, so a fetch fault is precise */
			q = cpu_mem_ptr(c, page + CPU_PAGE_SIZE, 1, CPU_ACC_EXEC);
			memcpy(buf + avail, q, 15 - avail);
			mark_code_page(c, page + CPU_PAGE_SIZE);
			r = cpu_decode(buf, 15, cs, &out[n]);
		}
		if (r == -2) {
			if (n > 0)
				break;
			cpu_gp0(c);
		}
		addr += out[n].len;
		out[n].rip = ir;
		out[n].ea_simple = (out[n].flags & (IF_MEM | IF_RIPREL)) == IF_MEM &&
				   out[n].asz == 8 && out[n].seg == 0 && out[n].base != REG_NONE &&
				   cs == 8;
		ir += out[n].len;
		if (cs != 8)
			out[n].fn = cpu_legacy_handler(&out[n]);
		else
			out[n].fn = cpu_fast_handler(&out[n]);
		if (!out[n].fn)
			out[n].fn = cpu_handlers[out[n].op];
		if (op_ends_block(&out[n++]))
			break;
	}
	mark_code_page(c, page);
	b->rip = rip;
	b->hva = hva;
	b->first = c->insn_used;
	b->count = (uint16_t)n;
	b->valid = c->block_epoch + 1;
	b->code = cpu_jit_block(c, c->insn_used, n);
	c->insn_used += n;
	*count = n;
	*slot = b;
	return out;
}
