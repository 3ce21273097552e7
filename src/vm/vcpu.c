/* vCPU threads and their run-state loop. The accelerator handles every port
 * and MMIO access inside vcpu_run; what comes back here is a machine-level
 * event (kick, triple fault, reset, power-off, failure). */
#include "vm/vcpu.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "vm/pause.h"

static void *vcpu_thread(void *opaque)
{
	struct vcpu *vcpu = opaque;
	struct vm *vm = vcpu->vm;
	char name[16];

	/* Named so that per-thread CPU time (/proc/PID/task/TID/comm) tells
	 * vCPUs from the I/O threads. */
	snprintf(name, sizeof(name), "vcpu%u", vcpu->index);
	pthread_setname_np(pthread_self(), name);
	while (atomic_load_explicit(&vm->request, memory_order_acquire) == VM_REQ_NONE) {
		if (vm_pause_pending(vcpu)) {
			vm_pause_park(vcpu);
			if (atomic_load(&vm->request) != VM_REQ_NONE)
				break;
		}
		switch (vm->accel->vcpu_run(vcpu)) {
		case VCPU_EXIT_KICKED:
			break;
		case VCPU_EXIT_DEBUG:
			vm_pause_debug_stop(vcpu);
			break;
		case VCPU_EXIT_SHUTDOWN:
			/* A triple fault resets a PC (SDM Vol. 3A, 7.15 "shutdown";
			 * the chipset turns the shutdown cycle into a reset). */
			if (vm->cfg->no_reboot) {
				log_error("vCPU %u: triple fault", vcpu->index);
				vcpu_dump(vcpu);
				vm_request(vm, VM_REQ_ERROR);
			} else {
				log_debug("vCPU %u: triple fault, resetting", vcpu->index);
				vm_request(vm, VM_REQ_RESET);
			}
			break;
		case VCPU_EXIT_RESET:
			vm_request(vm, VM_REQ_RESET);
			break;
		case VCPU_EXIT_POWEROFF:
			vm_request(vm, VM_REQ_POWEROFF);
			break;
		case VCPU_EXIT_ERROR:
			log_error("vCPU %u: %s", vcpu->index, vcpu->err.msg);
			vcpu_dump(vcpu);
			vm_request(vm, VM_REQ_ERROR);
			break;
		}
	}
	vm_pause_thread_end(vm);
	return NULL;
}

int vcpu_create_all(struct vm *vm, struct err *err)
{
	int r;

	vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return err_errno(err, ENOMEM, "vCPUs");
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];

		vcpu->vm = vm;
		vcpu->index = i;
		vcpu->apic_id = i;
		if ((r = vm->accel->vcpu_init(vcpu, err)))
			return r;
	}
	r = vm->accel->set_state(&vm->vcpus[0], &vm->boot_state);
	if (r)
		return err_errno(err, r, "vCPU 0: setting the boot state");
	return 0;
}

void vcpu_destroy_all(struct vm *vm)
{
	if (!vm->vcpus)
		return;
	for (unsigned i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i].accel)
			vm->accel->vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	vm->vcpus = NULL;
}

int vcpu_start_all(struct vm *vm, struct err *err)
{
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];
		int r;

		vm_pause_thread_start(vm);
		r = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
		if (r) {
			vm_pause_thread_end(vm);
			return err_errno(err, r, "vCPU %u: thread", i);
		}
		atomic_store(&vcpu->running, true);
	}
	return 0;
}

void vcpu_kick_all(struct vm *vm)
{
	if (!vm->vcpus)
		return;
	for (unsigned i = 0; i < vm->ncpus; i++)
		if (atomic_load(&vm->vcpus[i].running))
			vm->accel->vcpu_kick(&vm->vcpus[i]);
}

void vcpu_stop_all(struct vm *vm)
{
	if (!vm->vcpus)
		return;
	vcpu_kick_all(vm);
	vm_pause_wake_all(vm);
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];

		if (!atomic_load(&vcpu->running))
			continue;
		pthread_join(vcpu->thread, NULL);
		atomic_store(&vcpu->running, false);
	}
}

static int vcpu_dump_seg(char *p, size_t n, const char *name, const struct x86_segment *s)
{
	return snprintf(p, n,
			"%-4s sel=%04x base=%016" PRIx64 " limit=%08x type=%x s=%u dpl=%u p=%u "
			"db=%u l=%u g=%u%s\n",
			name, s->selector, s->base, s->limit, s->type, s->s, s->dpl, s->present,
			s->db, s->l, s->g, s->unusable ? " unusable" : "");
}

void vcpu_dump(struct vcpu *vcpu)
{
	static const char *const gpr_name[16] = { "RAX", "RCX", "RDX", "RBX", "RSP", "RBP",
						  "RSI", "RDI", "R8",  "R9",  "R10", "R11",
						  "R12", "R13", "R14", "R15" };
	struct x86_cpu_state st;
	char buf[2048], *p = buf;
	size_t left = sizeof(buf);
	int r = vcpu->vm->accel->get_state(vcpu, &st);

#define DUMP(...)                                                                                  \
	do {                                                                                       \
		int n_ = snprintf(p, left, __VA_ARGS__);                                           \
		if (n_ > 0 && (size_t)n_ < left)                                                   \
			p += n_, left -= (size_t)n_;                                               \
	} while (0)
	if (r) {
		log_error("vCPU %u: cannot read registers: %s", vcpu->index, strerror(-r));
		return;
	}
	DUMP("vCPU %u (APIC ID %u) registers:\n", vcpu->index, vcpu->apic_id);
	for (unsigned i = 0; i < 16; i++)
		DUMP("%-3s=%016" PRIx64 "%s", gpr_name[i], st.gpr[i], i % 4 == 3 ? "\n" : " ");
	DUMP("RIP=%016" PRIx64 " RFLAGS=%08" PRIx64 "\n", st.rip, st.rflags);
	{
		const struct x86_segment *seg[] = { &st.es, &st.cs, &st.ss, &st.ds,
						    &st.fs, &st.gs, &st.ldt, &st.tr };
		static const char *const seg_name[] = { "ES", "CS", "SS", "DS",
							"FS", "GS", "LDT", "TR" };

		for (unsigned i = 0; i < 8; i++) {
			int n = vcpu_dump_seg(p, left, seg_name[i], seg[i]);

			if (n > 0 && (size_t)n < left)
				p += n, left -= (size_t)n;
		}
	}
	DUMP("GDT  base=%016" PRIx64 " limit=%04x\n", st.gdt.base, st.gdt.limit);
	DUMP("IDT  base=%016" PRIx64 " limit=%04x\n", st.idt.base, st.idt.limit);
	DUMP("CR0=%016" PRIx64 " CR2=%016" PRIx64 " CR3=%016" PRIx64 "\n", st.cr0, st.cr2,
	     st.cr3);
	DUMP("CR4=%016" PRIx64 " CR8=%016" PRIx64 " EFER=%016" PRIx64 "\n", st.cr4, st.cr8,
	     st.efer);
	DUMP("APIC_BASE=%016" PRIx64 "\n", st.apic_base);
#undef DUMP
	/* One write, so two vCPUs failing at once do not interleave. */
	fputs(buf, stderr);
}
