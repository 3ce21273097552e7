/* The KVM accelerator, vCPU half: creation with CPUID, MSRs and LAPIC set up,
 * the run loop (port and MMIO exits go to io_dispatch, nothing else), kicks,
 * and conversion between struct x86_cpu_state and kvm_regs/kvm_sregs. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "accel/kvm/kvm_internal.h"
#include "core/log.h"
#include "hw/bus/io.h"
#include "hw/x86/cpuid.h"
#include "vm/vm.h"

#define KVM_KICK_SIGNAL SIGUSR1

#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_IA32_MISC_ENABLE_FAST_STRING (1ULL << 0)
#define MSR_MTRR_DEF_TYPE 0x2ff
#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

/* The kvm_run of the vCPU running on this thread, for the kick handler. */
static _Thread_local struct kvm_run *volatile kvm_self_run;

/* A kick that arrives while the thread is outside KVM_RUN would be lost, so
 * the handler also sets immediate_exit: the next KVM_RUN returns at once
 * (api.rst, "immediate_exit"). Inside KVM_RUN the signal itself makes it
 * return -EINTR. */
static void kvm_kick_handler(int sig)
{
	struct kvm_run *run = kvm_self_run;

	(void)sig;
	if (run)
		__atomic_store_n(&run->immediate_exit, 1, __ATOMIC_RELAXED);
}

void kvm_vcpu_signals_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kvm_kick_handler;
	sigemptyset(&sa.sa_mask);
	/* SA_RESTART keeps device code on this thread (a chardev write, say)
	 * from seeing EINTR; KVM_RUN itself returns -EINTR, which is never
	 * restarted (api.rst, KVM_RUN; kernel/signal.c). */
	sa.sa_flags = SA_RESTART;
	sigaction(KVM_KICK_SIGNAL, &sa, NULL);
}

/* --- CPUID --- */

static int kvm_vcpu_set_cpuid(struct vcpu *vcpu, int fd, struct err *err)
{
	struct kvm_accel *k = vcpu->vm->accel_state;
	struct cpuid_table t = { 0 };
	struct cpuid_entry *e, pv;
	struct kvm_cpuid2 *c = NULL;
	int r;

	t.cap = k->cpuid->nent + 16;
	t.entry = calloc(t.cap, sizeof(*t.entry));
	if (!t.entry)
		return err_errno(err, ENOMEM, "CPUID");
	for (unsigned i = 0; i < k->cpuid->nent; i++) {
		const struct kvm_cpuid_entry2 *ke = &k->cpuid->entries[i];

		t.entry[t.n++] = (struct cpuid_entry){
			.function = ke->function,
			.index = ke->index,
			.index_significant = ke->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
			.eax = ke->eax, .ebx = ke->ebx, .ecx = ke->ecx, .edx = ke->edx,
		};
	}
	if ((r = cpuid_set_topology(&t, vcpu->apic_id, vcpu->vm->ncpus))) {
		err_errno(err, r, "CPUID topology");
		goto out;
	}
	/* KVM emulates the TSC-deadline timer in its LAPIC but leaves the bit out
	 * of the supported list (api.rst, KVM_GET_SUPPORTED_CPUID). */
	if (k->tsc_deadline && (e = cpuid_find(&t, 1, 0)))
		e->ecx |= 1u << 24;
	/* The paravirtual leaves: 0x40000000 names the hypervisor ("KVMKVMKVM\0\0\0")
	 * and the highest leaf; 0x40000001 lists the KVM features the host
	 * supports (Documentation/virt/kvm/x86/cpuid.rst). */
	pv = (struct cpuid_entry){ .function = 0x40000000, .eax = 0x40000001,
				   .ebx = 0x4b4d564b, .ecx = 0x564b4d56, .edx = 0x4d };
	if ((e = cpuid_find(&t, 0x40000000, 0)) && e->eax > pv.eax)
		pv.eax = e->eax;
	if ((r = cpuid_set(&t, &pv)))
		goto out_full;
	if (!cpuid_find(&t, 0x40000001, 0)) {
		pv = (struct cpuid_entry){ .function = 0x40000001 };
		if ((r = cpuid_set(&t, &pv)))
			goto out_full;
	}

	c = calloc(1, sizeof(*c) + t.n * sizeof(c->entries[0]));
	if (!c) {
		r = err_errno(err, ENOMEM, "CPUID");
		goto out;
	}
	c->nent = t.n;
	for (unsigned i = 0; i < t.n; i++) {
		struct kvm_cpuid_entry2 *ke = &c->entries[i];

		ke->function = t.entry[i].function;
		ke->index = t.entry[i].index;
		ke->flags = t.entry[i].index_significant ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
		ke->eax = t.entry[i].eax, ke->ebx = t.entry[i].ebx;
		ke->ecx = t.entry[i].ecx, ke->edx = t.entry[i].edx;
	}
	if (ioctl(fd, KVM_SET_CPUID2, c) < 0)
		r = err_errno(err, errno, "KVM_SET_CPUID2");
	goto out;
out_full:
	err_errno(err, r, "CPUID table");
out:
	free(c);
	free(t.entry);
	return r;
}

/* --- MSRs, LAPIC, FPU: what firmware leaves behind --- */

static int kvm_vcpu_set_msrs(int fd, struct err *err)
{
	static const struct {
		uint32_t index;
		uint64_t data;
	} msrs[] = {
		/* Fast-string operations enabled, as every BIOS does (SDM Vol. 4, 2.1). */
		{ MSR_IA32_MISC_ENABLE, MSR_IA32_MISC_ENABLE_FAST_STRING },
		/* MTRRs enabled with write-back as the default type: all of RAM is
		 * WB, as firmware would program it (SDM Vol. 3A, 12.11.2.1). */
		{ MSR_MTRR_DEF_TYPE, (1u << 11) | 6 },
	};
	enum { N = sizeof(msrs) / sizeof(msrs[0]) };
	/* struct kvm_msrs ends in a flexible array: build it in a buffer of the
	 * right size (a struct wrapping it would be a GNU extension). */
	union {
		struct kvm_msrs hdr;
		uint8_t bytes[sizeof(struct kvm_msrs) + N * sizeof(struct kvm_msr_entry)];
	} m;
	int r;

	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = N;
	for (unsigned i = 0; i < N; i++) {
		m.hdr.entries[i].index = msrs[i].index;
		m.hdr.entries[i].data = msrs[i].data;
	}
	r = ioctl(fd, KVM_SET_MSRS, &m);
	if (r < 0)
		return err_errno(err, errno, "KVM_SET_MSRS");
	if (r < N)
		return err_set(err, "KVM refused MSR 0x%x", m.hdr.entries[r].index);
	return 0;
}

/* The "virtual wire" mode the BIOS leaves the local APICs in: the BSP's LINT0
 * is ExtINT, through which the PIC reaches it before the OS programs the
 * IOAPIC, and every LINT1 is NMI (MultiProcessor Spec 1.4, 3.6.2.2 and 5.1).
 * The APs' LINT0 stays masked, so a PIC interrupt has exactly one taker. */
static int kvm_vcpu_set_lapic(int fd, bool bsp, struct err *err)
{
	struct kvm_lapic_state lapic;
	uint32_t v;

	if (ioctl(fd, KVM_GET_LAPIC, &lapic) < 0)
		return err_errno(err, errno, "KVM_GET_LAPIC");
	if (bsp) {
		memcpy(&v, lapic.regs + APIC_LVT0, 4);
		v = (v & ~0x10700u) | (APIC_MODE_EXTINT << 8);
		memcpy(lapic.regs + APIC_LVT0, &v, 4);
	}
	memcpy(&v, lapic.regs + APIC_LVT1, 4);
	v = (v & ~0x10700u) | (APIC_MODE_NMI << 8);
	memcpy(lapic.regs + APIC_LVT1, &v, 4);
	if (ioctl(fd, KVM_SET_LAPIC, &lapic) < 0)
		return err_errno(err, errno, "KVM_SET_LAPIC");
	return 0;
}

/* x87 control word 0x37f and MXCSR 0x1f80: the values after FNINIT and
 * reset (SDM Vol. 3A, 10.1.1). */
static int kvm_vcpu_set_fpu(int fd, struct err *err)
{
	struct kvm_fpu fpu;

	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	if (ioctl(fd, KVM_SET_FPU, &fpu) < 0)
		return err_errno(err, errno, "KVM_SET_FPU");
	return 0;
}

int kvm_vcpu_init(struct vcpu *vcpu, struct err *err)
{
	struct kvm_accel *k = vcpu->vm->accel_state;
	struct kvm_accel_vcpu *kv = calloc(1, sizeof(*kv));
	int r;

	if (!kv)
		return err_errno(err, ENOMEM, "vCPU %u", vcpu->index);
	kv->fd = -1;
	kv->run = MAP_FAILED;
	vcpu->accel = kv;
	/* The vCPU id is its APIC ID; KVM makes id 0 the BSP and leaves the
	 * others waiting for INIT/SIPI in the in-kernel LAPIC. */
	kv->fd = ioctl(k->vm_fd, KVM_CREATE_VCPU, (unsigned long)vcpu->apic_id);
	if (kv->fd < 0) {
		r = err_errno(err, errno, "KVM_CREATE_VCPU %u", vcpu->index);
		goto fail;
	}
	kv->run = mmap(NULL, (size_t)k->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, kv->fd, 0);
	if (kv->run == MAP_FAILED) {
		r = err_errno(err, errno, "vCPU %u: mmap kvm_run", vcpu->index);
		goto fail;
	}
	if ((r = kvm_vcpu_set_cpuid(vcpu, kv->fd, err)) || (r = kvm_vcpu_set_msrs(kv->fd, err)) ||
	    (r = kvm_vcpu_set_lapic(kv->fd, vcpu->index == 0, err)) ||
	    (r = kvm_vcpu_set_fpu(kv->fd, err))) {
		err_prefix(err, "vCPU %u", vcpu->index);
		goto fail;
	}
	return 0;
fail:
	kvm_vcpu_destroy(vcpu);
	return r;
}

void kvm_vcpu_destroy(struct vcpu *vcpu)
{
	struct kvm_accel *k = vcpu->vm->accel_state;
	struct kvm_accel_vcpu *kv = vcpu->accel;

	if (!kv)
		return;
	if (kv->run != MAP_FAILED)
		munmap(kv->run, (size_t)k->run_size);
	if (kv->fd >= 0)
		close(kv->fd);
	free(kv);
	vcpu->accel = NULL;
}

/* --- Running --- */

static bool kvm_handle_io(struct vcpu *vcpu, struct kvm_run *run, size_t run_size)
{
	uint64_t bytes = (uint64_t)run->io.size * run->io.count;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;

	/* KVM fills these, but a bad offset would let us scribble past the page. */
	if (run->io.data_offset > run_size || bytes > run_size - run->io.data_offset)
		return false;
	for (uint32_t i = 0; i < run->io.count; i++)
		io_dispatch(vcpu->vm->pio, run->io.port, data + (size_t)i * run->io.size,
			    run->io.size, is_write);
	return true;
}

enum vcpu_exit kvm_vcpu_run(struct vcpu *vcpu)
{
	struct kvm_accel *k = vcpu->vm->accel_state;
	struct kvm_accel_vcpu *kv = vcpu->accel;
	struct kvm_run *run = kv->run;

	kvm_self_run = run;
	for (;;) {
		int r = ioctl(kv->fd, KVM_RUN, 0);
		int e = errno;

		__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_RELAXED);
		if (r < 0) {
			if (e == EINTR || e == EAGAIN)
				return VCPU_EXIT_KICKED;
			err_errno(&vcpu->err, e, "KVM_RUN");
			return VCPU_EXIT_ERROR;
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			if (!kvm_handle_io(vcpu, run, (size_t)k->run_size)) {
				err_set(&vcpu->err, "KVM_EXIT_IO with a bad data offset");
				return VCPU_EXIT_ERROR;
			}
			break;
		case KVM_EXIT_MMIO:
			io_dispatch(vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data,
				    run->mmio.len <= 8 ? run->mmio.len : 8, run->mmio.is_write);
			break;
		case KVM_EXIT_INTR:
			return VCPU_EXIT_KICKED;
		case KVM_EXIT_SHUTDOWN:
			return VCPU_EXIT_SHUTDOWN;
		case KVM_EXIT_SYSTEM_EVENT:
			switch (run->system_event.type) {
			case KVM_SYSTEM_EVENT_SHUTDOWN:
				return VCPU_EXIT_POWEROFF;
			case KVM_SYSTEM_EVENT_RESET:
				return VCPU_EXIT_RESET;
			default:
				err_set(&vcpu->err, "KVM system event %u", run->system_event.type);
				return VCPU_EXIT_ERROR;
			}
		case KVM_EXIT_INTERNAL_ERROR:
			err_set(&vcpu->err, "KVM internal error (suberror %u%s)",
				run->internal.suberror,
				run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
					? ": instruction emulation failed"
					: "");
			return VCPU_EXIT_ERROR;
		case KVM_EXIT_FAIL_ENTRY:
			err_set(&vcpu->err, "KVM entry failed (hardware reason 0x%llx)",
				(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
			return VCPU_EXIT_ERROR;
		default:
			err_set(&vcpu->err, "unhandled KVM exit reason %u", run->exit_reason);
			return VCPU_EXIT_ERROR;
		}
		/* A device may have asked for reset, power-off or exit. */
		if (atomic_load_explicit(&vcpu->vm->request, memory_order_acquire) != VM_REQ_NONE)
			return VCPU_EXIT_KICKED;
	}
}

void kvm_vcpu_kick(struct vcpu *vcpu)
{
	struct kvm_accel_vcpu *kv = vcpu->accel;

	if (!kv)
		return;
	__atomic_store_n(&kv->run->immediate_exit, 1, __ATOMIC_RELAXED);
	if (atomic_load(&vcpu->running))
		pthread_kill(vcpu->thread, KVM_KICK_SIGNAL);
}

/* --- State --- */

static void kvm_seg_from(struct kvm_segment *ks, const struct x86_segment *s)
{
	*ks = (struct kvm_segment){
		.base = s->base, .limit = s->limit, .selector = s->selector, .type = s->type,
		.present = s->present, .dpl = s->dpl, .db = s->db, .s = s->s, .l = s->l,
		.g = s->g, .avl = s->avl, .unusable = s->unusable,
	};
}

static void kvm_seg_to(struct x86_segment *s, const struct kvm_segment *ks)
{
	*s = (struct x86_segment){
		.base = ks->base, .limit = ks->limit, .selector = ks->selector, .type = ks->type,
		.present = ks->present, .dpl = ks->dpl, .db = ks->db, .s = ks->s, .l = ks->l,
		.g = ks->g, .avl = ks->avl, .unusable = ks->unusable,
	};
}

int kvm_get_state(struct vcpu *vcpu, struct x86_cpu_state *st)
{
	struct kvm_accel_vcpu *kv = vcpu->accel;
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	if (ioctl(kv->fd, KVM_GET_REGS, &regs) < 0 || ioctl(kv->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	memset(st, 0, sizeof(*st));
	st->gpr[X86_RAX] = regs.rax, st->gpr[X86_RCX] = regs.rcx;
	st->gpr[X86_RDX] = regs.rdx, st->gpr[X86_RBX] = regs.rbx;
	st->gpr[X86_RSP] = regs.rsp, st->gpr[X86_RBP] = regs.rbp;
	st->gpr[X86_RSI] = regs.rsi, st->gpr[X86_RDI] = regs.rdi;
	st->gpr[X86_R8] = regs.r8, st->gpr[X86_R9] = regs.r9;
	st->gpr[X86_R10] = regs.r10, st->gpr[X86_R11] = regs.r11;
	st->gpr[X86_R12] = regs.r12, st->gpr[X86_R13] = regs.r13;
	st->gpr[X86_R14] = regs.r14, st->gpr[X86_R15] = regs.r15;
	st->rip = regs.rip, st->rflags = regs.rflags;
	kvm_seg_to(&st->cs, &sregs.cs), kvm_seg_to(&st->ds, &sregs.ds);
	kvm_seg_to(&st->es, &sregs.es), kvm_seg_to(&st->fs, &sregs.fs);
	kvm_seg_to(&st->gs, &sregs.gs), kvm_seg_to(&st->ss, &sregs.ss);
	kvm_seg_to(&st->tr, &sregs.tr), kvm_seg_to(&st->ldt, &sregs.ldt);
	st->gdt.base = sregs.gdt.base, st->gdt.limit = sregs.gdt.limit;
	st->idt.base = sregs.idt.base, st->idt.limit = sregs.idt.limit;
	st->cr0 = sregs.cr0, st->cr2 = sregs.cr2, st->cr3 = sregs.cr3;
	st->cr4 = sregs.cr4, st->cr8 = sregs.cr8;
	st->efer = sregs.efer;
	st->apic_base = sregs.apic_base;
	return 0;
}

int kvm_set_state(struct vcpu *vcpu, const struct x86_cpu_state *st)
{
	struct kvm_accel_vcpu *kv = vcpu->accel;
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	/* Start from KVM's view so fields the neutral state lacks (the pending
	 * interrupt bitmap, a zero apic_base meaning "keep") stay as they are. */
	if (ioctl(kv->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	memset(&regs, 0, sizeof(regs));
	regs.rax = st->gpr[X86_RAX], regs.rcx = st->gpr[X86_RCX];
	regs.rdx = st->gpr[X86_RDX], regs.rbx = st->gpr[X86_RBX];
	regs.rsp = st->gpr[X86_RSP], regs.rbp = st->gpr[X86_RBP];
	regs.rsi = st->gpr[X86_RSI], regs.rdi = st->gpr[X86_RDI];
	regs.r8 = st->gpr[X86_R8], regs.r9 = st->gpr[X86_R9];
	regs.r10 = st->gpr[X86_R10], regs.r11 = st->gpr[X86_R11];
	regs.r12 = st->gpr[X86_R12], regs.r13 = st->gpr[X86_R13];
	regs.r14 = st->gpr[X86_R14], regs.r15 = st->gpr[X86_R15];
	regs.rip = st->rip;
	/* Bit 1 of RFLAGS is reserved and always 1 (SDM Vol. 1, 3.4.3). */
	regs.rflags = st->rflags | 2;
	kvm_seg_from(&sregs.cs, &st->cs), kvm_seg_from(&sregs.ds, &st->ds);
	kvm_seg_from(&sregs.es, &st->es), kvm_seg_from(&sregs.fs, &st->fs);
	kvm_seg_from(&sregs.gs, &st->gs), kvm_seg_from(&sregs.ss, &st->ss);
	kvm_seg_from(&sregs.tr, &st->tr), kvm_seg_from(&sregs.ldt, &st->ldt);
	/* VM entry needs a present busy TSS and a valid or unusable LDT even
	 * when the guest never loaded them (SDM Vol. 3C, 28.3.1.2); a zeroed
	 * descriptor gets the values the CPU has after reset (10.1.1). */
	if (!st->tr.present && !st->tr.type) {
		sregs.tr.type = 11;
		sregs.tr.present = 1;
		if (!sregs.tr.limit)
			sregs.tr.limit = 0xffff;
	}
	if (!st->ldt.present && !st->ldt.type) {
		sregs.ldt.type = 2;
		sregs.ldt.present = 1;
		if (!sregs.ldt.limit)
			sregs.ldt.limit = 0xffff;
	}
	sregs.gdt.base = st->gdt.base, sregs.gdt.limit = st->gdt.limit;
	sregs.idt.base = st->idt.base, sregs.idt.limit = st->idt.limit;
	sregs.cr0 = st->cr0, sregs.cr2 = st->cr2, sregs.cr3 = st->cr3;
	sregs.cr4 = st->cr4, sregs.cr8 = st->cr8;
	sregs.efer = st->efer;
	if (st->apic_base)
		sregs.apic_base = st->apic_base;
	if (ioctl(kv->fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(kv->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}
