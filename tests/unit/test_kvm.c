/* The KVM accelerator driven directly, without the board: state round trips,
 * a real-mode guest that reports its CPUID through port I/O and touches an
 * MMIO page (both dispatched to io spaces by the run loop), kicks before and
 * during KVM_RUN, and the interrupt paths. Skipped without a usable /dev/kvm. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "accel/accel.h"
#include "fake_vm.h"
#include "hw/x86/layout.h"
#include "testlib.h"

#define NCPUS 4
#define CODE_GPA 0x1000
#define MMIO_GPA 0xa0000 /* RAM is mapped only below it */

static const struct accel_ops *kvm = &accel_kvm_ops;
static struct vm vm;
static struct vcpu vcpus[NCPUS];
static uint32_t port10[8];
static unsigned nport10;
static uint8_t port14, mmio_written;

static uint64_t port_read(void *opaque, uint64_t off, unsigned size)
{
	return 0;
}

static void port_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	if (off == 0 && nport10 < 8)
		port10[nport10++] = (uint32_t)val;
	else if (off == 4)
		port14 = (uint8_t)val;
	else if (off == 5)
		atomic_store(&vm.request, VM_REQ_EXIT);
}

static uint64_t mmio_read(void *opaque, uint64_t off, unsigned size)
{
	return 0x77;
}

static void mmio_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	if (off == 0)
		mmio_written = (uint8_t)val;
}

static const struct io_ops port_ops = { port_read, port_write, 1, 4 };
static const struct io_ops mmio_ops = { mmio_read, mmio_write, 1, 8 };

/* 16-bit code: CPUID leaves 1, 0xB.1 and 0x40000000 out to port 0x10, a
 * write and a read of the MMIO page (the value read goes to port 0x14), then
 * "done" on port 0x15 and a spin. */
static const uint8_t guest_code[] = {
	0x66, 0xb8, 0x01, 0x00, 0x00, 0x00, /* mov eax, 1 */
	0x0f, 0xa2,                         /* cpuid */
	0x66, 0x89, 0xd8, 0x66, 0xe7, 0x10, /* mov eax, ebx; out 0x10, eax */
	0x66, 0xb8, 0x0b, 0x00, 0x00, 0x00, /* mov eax, 0xb */
	0x66, 0xb9, 0x01, 0x00, 0x00, 0x00, /* mov ecx, 1 */
	0x0f, 0xa2,                         /* cpuid */
	0x66, 0x89, 0xd8, 0x66, 0xe7, 0x10, /* mov eax, ebx; out 0x10, eax */
	0x66, 0xb8, 0x00, 0x00, 0x00, 0x40, /* mov eax, 0x40000000 */
	0x0f, 0xa2,                         /* cpuid */
	0x66, 0x89, 0xd8, 0x66, 0xe7, 0x10, /* mov eax, ebx; out */
	0x66, 0x89, 0xc8, 0x66, 0xe7, 0x10, /* mov eax, ecx; out */
	0x66, 0x89, 0xd0, 0x66, 0xe7, 0x10, /* mov eax, edx; out */
	0xb8, 0x00, 0xa0, 0x8e, 0xc0,       /* mov ax, 0xa000; mov es, ax */
	0x26, 0xc6, 0x06, 0x00, 0x00, 0x5a, /* mov byte es:[0], 0x5a */
	0x26, 0xa0, 0x00, 0x00,             /* mov al, es:[0] */
	0xe6, 0x14,                         /* out 0x14, al */
	0xe6, 0x15,                         /* out 0x15, al */
	0xeb, 0xfe,                         /* jmp $ */
};

static struct x86_segment real_seg(uint8_t type)
{
	return (struct x86_segment){ .limit = 0xffff, .type = type, .s = 1, .present = 1 };
}

static void real_mode_state(struct x86_cpu_state *st, uint64_t rip)
{
	memset(st, 0, sizeof(*st));
	st->cs = real_seg(0xb);
	st->ds = st->es = st->fs = st->gs = st->ss = real_seg(0x3);
	st->gdt.limit = st->idt.limit = 0xffff;
	st->cr0 = 0x60000010;
	st->rflags = 2;
	st->rip = rip;
	st->gpr[X86_RSP] = 0x8000;
}

static void *kicker(void *opaque)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	nanosleep(&ts, NULL);
	kvm->vcpu_kick(opaque);
	return NULL;
}

static enum vcpu_exit run_until_request(struct vcpu *v)
{
	enum vcpu_exit e = VCPU_EXIT_KICKED;

	for (int i = 0; i < 1000 && atomic_load(&vm.request) == VM_REQ_NONE; i++) {
		e = kvm->vcpu_run(v);
		if (e != VCPU_EXIT_KICKED)
			break;
	}
	return e;
}

int main(void)
{
	static struct vm_config cfg = { .accel = ACCEL_KVM, .cpus = NCPUS, .mem_size = 2 * MiB };
	struct err err = { { 0 } };
	struct x86_cpu_state st, got;
	unsigned created = 0;
	pthread_t t;
	int efd;

	if (access("/dev/kvm", R_OK | W_OK) != 0) {
		printf("skip kvm: /dev/kvm is not usable\n");
		return 0;
	}
	if (fake_vm_init(&vm, cfg.mem_size) < 0) {
		printf("not ok kvm_setup: fake VM\n");
		return 0;
	}
	vm.cfg = &cfg;
	vm.accel = kvm;
	vm.ncpus = NCPUS;

	TEST_BEGIN("kvm_vm_init_and_vcpus");
	CHECK(kvm->max_vcpus(NULL) >= 1);
	CHECK(kvm->vm_init(&vm, &err) == 0);
	if (!vm.accel_state) {
		printf("not ok kvm_vm_init_and_vcpus: %s\n", err.msg);
		return 0;
	}
	CHECK(kvm->max_vcpus(&vm) >= NCPUS);
	CHECK(kvm->map_ram(&vm, 0, 0, MMIO_GPA, vm.mem.base, &err) == 0);
	CHECK(kvm->irqchip_init(&vm, &err) == 0);
	CHECK(io_map(vm.pio, 0x10, 8, &port_ops, NULL, "test ports", &err) == 0);
	CHECK(io_map(vm.mmio, MMIO_GPA, 0x1000, &mmio_ops, NULL, "test mmio", &err) == 0);
	for (unsigned i = 0; i < NCPUS; i++) {
		vcpus[i] = (struct vcpu){ .vm = &vm, .index = i, .apic_id = i };
		if (kvm->vcpu_init(&vcpus[i], &err) == 0)
			created++;
	}
	CHECK_EQ(created, NCPUS);
	TEST_END();
	if (created != NCPUS) {
		printf("# %s\n", err.msg);
		return 0;
	}

	TEST_BEGIN("kvm_state_round_trip_real_mode");
	real_mode_state(&st, CODE_GPA);
	st.gpr[X86_RSI] = 0x1234;
	CHECK(kvm->set_state(&vcpus[0], &st) == 0);
	CHECK(kvm->get_state(&vcpus[0], &got) == 0);
	CHECK_EQ(got.rip, CODE_GPA);
	CHECK_EQ(got.gpr[X86_RSI], 0x1234);
	CHECK_EQ(got.cs.limit, 0xffff);
	CHECK_EQ(got.cr0 & 1, 0);
	CHECK_EQ(got.tr.type, 11); /* a zeroed TR became a busy TSS */
	CHECK_EQ(got.apic_base & ~0xfffULL, LAYOUT_LAPIC_BASE);
	CHECK(got.apic_base & (1 << 8)); /* vCPU 0 is the BSP */
	CHECK(kvm->get_state(&vcpus[1], &got) == 0);
	CHECK(!(got.apic_base & (1 << 8)));
	TEST_END();

	TEST_BEGIN("kvm_state_round_trip_long_mode");
	memset(&st, 0, sizeof(st));
	st.cs = (struct x86_segment){ .selector = 0x10, .limit = 0xffffffff, .type = 0xb, .s = 1,
				      .present = 1, .l = 1, .g = 1 };
	st.ds = st.es = st.ss = (struct x86_segment){ .selector = 0x18, .limit = 0xffffffff,
						      .type = 3, .s = 1, .present = 1, .db = 1,
						      .g = 1 };
	st.fs = st.gs = st.ds;
	st.tr = (struct x86_segment){ .limit = 0x67, .type = 11, .present = 1 };
	st.cr0 = 0x80000011;
	st.cr3 = 0x9000;
	st.cr4 = 0x20;
	st.efer = 0x500; /* LME | LMA */
	st.rip = 0x100000;
	st.rflags = 2;
	CHECK(kvm->set_state(&vcpus[2], &st) == 0);
	CHECK(kvm->get_state(&vcpus[2], &got) == 0);
	CHECK_EQ(got.efer & 0x500, 0x500);
	CHECK_EQ(got.cs.l, 1);
	CHECK_EQ(got.cs.selector, 0x10);
	CHECK_EQ(got.cr3, 0x9000);
	CHECK_EQ(got.rip, 0x100000);
	TEST_END();

	memcpy(vm.mem.base + CODE_GPA, guest_code, sizeof(guest_code));
	real_mode_state(&st, CODE_GPA);
	kvm->set_state(&vcpus[0], &st);

	TEST_BEGIN("kvm_kick_before_run");
	kvm->vcpu_kick(&vcpus[0]);
	CHECK_EQ(kvm->vcpu_run(&vcpus[0]), VCPU_EXIT_KICKED);
	CHECK_EQ(nport10, 0);
	TEST_END();

	TEST_BEGIN("kvm_cpuid_pio_mmio");
	CHECK_EQ(run_until_request(&vcpus[0]), VCPU_EXIT_KICKED);
	CHECK_EQ(atomic_load(&vm.request), VM_REQ_EXIT);
	CHECK_EQ(nport10, 5);
	CHECK_EQ(port10[0] >> 24, 0);          /* leaf 1: initial APIC ID of vCPU 0 */
	CHECK_EQ((port10[0] >> 16) & 0xff, 4); /* logical processors per package */
	CHECK_EQ(port10[1] & 0xffff, NCPUS);   /* leaf 0xB core level: all vCPUs */
	CHECK(memcmp(&port10[2], "KVMKVMKVM\0\0\0", 12) == 0);
	CHECK_EQ(mmio_written, 0x5a);
	CHECK_EQ(port14, 0x77);
	TEST_END();

	TEST_BEGIN("kvm_kick_during_run");
	atomic_store(&vm.request, VM_REQ_NONE);
	vcpus[0].thread = pthread_self();
	atomic_store(&vcpus[0].running, true);
	CHECK(pthread_create(&t, NULL, kicker, &vcpus[0]) == 0);
	/* The guest spins in "jmp $": only the kick can end this run. */
	CHECK_EQ(kvm->vcpu_run(&vcpus[0]), VCPU_EXIT_KICKED);
	pthread_join(t, NULL);
	atomic_store(&vcpus[0].running, false);
	TEST_END();

	TEST_BEGIN("kvm_interrupt_paths");
	CHECK(kvm->set_irq(&vm, 4, true) == 0);
	CHECK(kvm->set_irq(&vm, 4, false) == 0);
	CHECK(kvm->send_msi(&vm, LAYOUT_LAPIC_BASE, 0x30) == 0);
	efd = eventfd(0, EFD_CLOEXEC);
	CHECK(efd >= 0);
	CHECK(kvm->add_ioeventfd(&vm, 0x700, 2, true, true, 1, efd, &err) == 0);
	CHECK(kvm->add_irqfd_msi(&vm, LAYOUT_LAPIC_BASE, 0x31, efd, &err) == 0);
	TEST_END();

	for (unsigned i = 0; i < NCPUS; i++)
		kvm->vcpu_destroy(&vcpus[i]);
	kvm->vm_destroy(&vm);
	close(efd);
	fake_vm_fini(&vm);
	return 0;
}
