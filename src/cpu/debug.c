/* Debugging hooks of the system-mode CPU, for a debugger driving it through
 * accel/emu (see cpu.h, "Debugging"). Everything here runs only while
 * c->sys->dbg is set: INT3 interception, stopping right after an event is
 * delivered (single-step into a handler, as a #DB trap after delivery would
 * on hardware), and data watchpoints checked on soft-TLB misses. */
#include <errno.h>
#include <stdlib.h>

#include "cpu/sys.h"

struct cpu_dbg {
	struct cpu_debug cfg;
	bool once_armed;     /* int3_deliver_once still to be used */
	uint64_t once_pc;    /* ...by the INT3 at this linear address */
	enum cpu_debug_event ev;
	unsigned watch;
};

uint64_t cpu_debug_pc(struct cpu *c)
{
	return c->rip + c->seg_base[1];
}

int cpu_debug_set(struct cpu *c, const struct cpu_debug *d)
{
	struct cpu_sys *s = c->sys;
	bool had_watch;

	if (!s)
		return -EINVAL;
	if (d && d->nwatch > CPU_DEBUG_WATCHES)
		return -EINVAL;
	had_watch = s->dbg && s->dbg->cfg.nwatch;
	if (!d) {
		free(s->dbg);
		s->dbg = NULL;
	} else {
		if (!s->dbg) {
			s->dbg = calloc(1, sizeof(*s->dbg));
			if (!s->dbg)
				return -ENOMEM;
		}
		s->dbg->cfg = *d;
		s->dbg->once_armed = d->int3_deliver_once;
		s->dbg->once_pc = cpu_debug_pc(c);
	}
	/* TLB entries filled before may cover a page now watched. */
	if (had_watch || (d && d->nwatch))
		sys_tlb_flush_all(c);
	/* The debugger changes debugging around its writes to guest memory
	 * (breakpoints, patched code), which no store of this CPU saw. */
	cpu_blocks_flush(c);
	return 0;
}

enum cpu_debug_event cpu_debug_take(struct cpu *c, unsigned *watch)
{
	struct cpu_dbg *g = c->sys ? c->sys->dbg : NULL;
	enum cpu_debug_event ev;

	if (!g)
		return CPU_DEBUG_NONE;
	ev = g->ev;
	*watch = g->watch;
	g->ev = CPU_DEBUG_NONE;
	return ev;
}

/* Ends cpu_run once the executing instruction is done. */
static void debug_stop(struct cpu *c, enum cpu_debug_event ev)
{
	c->sys->dbg->ev = ev;
	c->exit->reason = CPU_EXIT_DEBUG;
	cpu_stop(c);
	c->flushed = true; /* leave the block after this instruction */
}

/* INT3 executing (c->cur_rip at it): true if the debugger takes it, with
 * RIP back at the INT3 as KVM reports an intercepted #BP. */
bool sys_debug_int3(struct cpu *c)
{
	struct cpu_dbg *g = c->sys->dbg;

	if (!g->cfg.int3)
		return false;
	if (g->once_armed && c->cur_rip + c->seg_base[1] == g->once_pc) {
		g->once_armed = false;
		return false;
	}
	c->rip = c->cur_rip;
	debug_stop(c, CPU_DEBUG_INT3);
	return true;
}

/* An event was delivered (state committed, RIP at the handler). */
void sys_debug_delivered(struct cpu *c)
{
	if (!c->sys->dbg->cfg.stop_after_event)
		return;
	c->sys->delivering = -1;
	c->exit->reason = CPU_EXIT_LIMIT;
	cpu_stop(c);
	longjmp(c->jb, 4);
}

/* A data access at addr missed the TLB: records a hit on a watch range, and
 * returns true if the page holds one (then it must not be cached, so the
 * next access comes here too). */
bool sys_debug_watch(struct cpu *c, uint64_t addr, int access)
{
	struct cpu_dbg *g = c->sys->dbg;
	uint64_t page = addr & CPU_PAGE_MASK;
	/* The access's length (cpu_mem_ptr), within this page. */
	uint64_t alen = c->miss_len ? c->miss_len : 1;
	bool watched = false;

	if (access == CPU_ACC_EXEC)
		return false;
	for (unsigned k = 0; k < g->cfg.nwatch; k++) {
		uint64_t w = g->cfg.watch[k].addr, len = g->cfg.watch[k].len ? g->cfg.watch[k].len : 1;

		if (g->cfg.watch[k].kind == CPU_WATCH_WRITE && access != CPU_ACC_WRITE)
			continue;
		/* Overlap tests written so that no sum can wrap. */
		if (w - page < CPU_PAGE_SIZE || page - w < len)
			watched = true;
		if ((addr - w < len || w - addr < alen) && g->ev == CPU_DEBUG_NONE) {
			g->watch = k;
			debug_stop(c, CPU_DEBUG_WATCH);
		}
	}
	return watched;
}

void sys_debug_free(struct cpu *c)
{
	free(c->sys->dbg);
	c->sys->dbg = NULL;
}
