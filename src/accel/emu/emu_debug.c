/* Guest debugging on the emulated CPU, for the GDB stub: the set_guest_debug
 * operation and the run loop's debugging slice. Software breakpoints and
 * data watchpoints are the CPU's own hooks (src/cpu/debug.c), which cost
 * nothing while debugging is off; single-stepping and execution breakpoints
 * run the CPU one instruction (or one event delivery) at a time and look at
 * RIP in between, which only happens while one of them is set. Stops are
 * reported as the KVM backend reports them (accel.h, accel_debug_exit). */
#include <errno.h>
#include <string.h>

#include "accel/emu/emu_internal.h"
#include "cpu/cpu.h"
#include "vm/vm.h"

/* Instructions per slice run one at a time (execution breakpoints): the
 * outer loop then checks timers and VM requests. */
#define EMU_DEBUG_FINE_INSNS 4096

int emu_set_guest_debug(struct vcpu *vcpu, const struct accel_guest_debug *dbg)
{
	struct emu_vcpu *ev = vcpu->accel;

	if (!ev)
		return -ENODEV;
	ev->dbg_on = dbg != NULL;
	if (dbg) {
		ev->dbg = *dbg;
		if (ev->dbg.nhw > ACCEL_NUM_HWBP)
			ev->dbg.nhw = ACCEL_NUM_HWBP;
		/* Kept until the vCPU runs, as KVM queues the #BP at once. */
		if (dbg->reinject_bp)
			ev->dbg_reinject = true;
	}
	ev->dbg_dirty = true;
	return 0;
}

int emu_debug_apply(struct emu_vcpu *ev)
{
	struct cpu_debug cd;

	ev->dbg_dirty = false;
	ev->dbg_nexec = 0;
	if (!ev->dbg_on) {
		ev->dbg_reinject = false;
		return cpu_debug_set(ev->cpu, NULL);
	}
	memset(&cd, 0, sizeof(cd));
	cd.int3 = ev->dbg.intercept_bp;
	cd.int3_deliver_once = ev->dbg_reinject;
	ev->dbg_reinject = false;
	for (unsigned i = 0; i < ev->dbg.nhw; i++) {
		switch (ev->dbg.hw[i].type) {
		case ACCEL_HWBP_EXEC:
			ev->dbg_nexec++;
			break;
		case ACCEL_HWBP_WRITE:
		case ACCEL_HWBP_ACCESS:
			cd.watch[cd.nwatch].addr = ev->dbg.hw[i].addr;
			cd.watch[cd.nwatch].len = ev->dbg.hw[i].len ? ev->dbg.hw[i].len : 1;
			cd.watch[cd.nwatch].kind = ev->dbg.hw[i].type == ACCEL_HWBP_WRITE
							   ? CPU_WATCH_WRITE
							   : CPU_WATCH_ACCESS;
			ev->dbg_watch_hw[cd.nwatch++] = i;
			break;
		default:
			break;
		}
	}
	cd.stop_after_event = ev->dbg.single_step || ev->dbg_nexec;
	return cpu_debug_set(ev->cpu, &cd);
}

static int emu_debug_report(struct emu_vcpu *ev, enum accel_debug_reason reason, unsigned index,
			    uint64_t addr)
{
	struct accel_debug_exit *d = &ev->vcpu->debug_exit;

	memset(d, 0, sizeof(*d));
	d->reason = reason;
	d->index = index;
	d->addr = addr;
	return 1;
}

int emu_debug_step_done(struct emu_vcpu *ev)
{
	return emu_debug_report(ev, ACCEL_DEBUG_STEP, 0, cpu_debug_pc(ev->cpu));
}

/* A breakpoint or watchpoint the CPU hit during the last cpu_run. */
static int emu_debug_hit(struct emu_vcpu *ev, struct cpu_exit *ex)
{
	unsigned w = 0;

	switch (cpu_debug_take(ev->cpu, &w)) {
	case CPU_DEBUG_INT3:
		return emu_debug_report(ev, ACCEL_DEBUG_SWBP, 0, cpu_debug_pc(ev->cpu));
	case CPU_DEBUG_WATCH:
		if (w < ACCEL_NUM_HWBP) {
			unsigned i = ev->dbg_watch_hw[w];

			return emu_debug_report(ev, ACCEL_DEBUG_WATCH, i, ev->dbg.hw[i].addr);
		}
		break;
	default:
		break;
	}
	if (ex->reason == CPU_EXIT_DEBUG)
		ex->reason = CPU_EXIT_LIMIT;
	return 0;
}

/* An execution breakpoint at pc (checked before the instruction runs). */
static bool emu_debug_exec_bp(struct emu_vcpu *ev, uint64_t pc)
{
	if (ev->dbg_skip && pc == ev->dbg_skip_pc)
		return false;
	for (unsigned i = 0; i < ev->dbg.nhw; i++) {
		if (ev->dbg.hw[i].type != ACCEL_HWBP_EXEC || ev->dbg.hw[i].addr != pc)
			continue;
		/* Resuming here does not stop again, as RF=1 on hardware. */
		ev->dbg_skip = true;
		ev->dbg_skip_pc = pc;
		emu_debug_report(ev, ACCEL_DEBUG_HWBP, i, pc);
		return true;
	}
	return false;
}

int emu_debug_run(struct emu_vcpu *ev, struct cpu_exit *ex)
{
	bool step = ev->dbg.single_step;
	unsigned budget = step ? 1 : EMU_DEBUG_FINE_INSNS;
	int r;

	if (!step && !ev->dbg_nexec) {
		r = cpu_run(ev->cpu, EMU_SLICE_INSNS, ex);
		return r < 0 ? r : emu_debug_hit(ev, ex);
	}
	for (unsigned k = 0; k < budget; k++) {
		if (emu_debug_exec_bp(ev, cpu_debug_pc(ev->cpu)))
			return 1;
		/* One instruction, or the delivery of one event. */
		r = cpu_run(ev->cpu, 1, ex);
		if (r < 0)
			return r;
		if (ex->reason != CPU_EXIT_KICK)
			ev->dbg_skip = false; /* the instruction ran */
		if ((r = emu_debug_hit(ev, ex)))
			return r;
		if (ex->reason != CPU_EXIT_LIMIT)
			return 0; /* HLT, a kick or shutdown: the caller's */
		if (step)
			return emu_debug_step_done(ev);
	}
	return 0;
}
