/* The KVM accelerator's device fast paths as an API (kvm_fastpath.c):
 * ioeventfds come and go with the arguments they were added with, irqfd
 * routes get their own GSIs above the board's, follow updates, and free
 * their GSI on del. Delivery through a guest is tests/integration/virtio_kvm.sh.
 * Skipped without a usable /dev/kvm. */
#include <sys/eventfd.h>
#include <unistd.h>

#include "accel/accel.h"
#include "fake_vm.h"
#include "hw/x86/layout.h"
#include "testlib.h"

#define NOTIFY_GPA 0xc0003000ULL

int main(void)
{
	static struct vm_config cfg = { .accel = ACCEL_KVM, .cpus = 1, .mem_size = 2 * MiB };
	const struct accel_ops *kvm = &accel_kvm_ops;
	struct err err = { { 0 } };
	struct vm vm;
	int efd[3], h[3];

	if (access("/dev/kvm", R_OK | W_OK) != 0) {
		printf("skip kvm_fastpath: /dev/kvm is not usable\n");
		return 0;
	}
	if (fake_vm_init(&vm, cfg.mem_size) < 0) {
		printf("not ok kvm_fastpath_setup: fake VM\n");
		return 0;
	}
	vm.cfg = &cfg;
	vm.accel = kvm;
	if (kvm->vm_init(&vm, &err) < 0 || kvm->irqchip_init(&vm, &err) < 0) {
		printf("not ok kvm_fastpath_setup: %s\n", err.msg);
		return 0;
	}
	for (int i = 0; i < 3; i++)
		efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	TEST_BEGIN("kvm_ioeventfd_add_del");
	CHECK(kvm->add_ioeventfd(&vm, NOTIFY_GPA, 2, false, false, 0, efd[0], &err) == 0);
	/* KVM refuses a second identical registration... */
	CHECK(kvm->add_ioeventfd(&vm, NOTIFY_GPA, 2, false, false, 0, efd[0], &err) < 0);
	CHECK(kvm->add_ioeventfd(&vm, NOTIFY_GPA + 4, 2, false, false, 0, efd[1], &err) == 0);
	CHECK(kvm->del_ioeventfd(&vm, NOTIFY_GPA, 2, false, false, 0, efd[0]) == 0);
	/* ...finds a registration only by all its arguments... */
	CHECK(kvm->del_ioeventfd(&vm, NOTIFY_GPA, 2, false, false, 0, efd[0]) < 0);
	CHECK(kvm->del_ioeventfd(&vm, NOTIFY_GPA + 4, 4, false, false, 0, efd[1]) < 0);
	CHECK(kvm->del_ioeventfd(&vm, NOTIFY_GPA + 4, 2, false, false, 0, efd[1]) == 0);
	/* ...and takes the address again once it is free (a BAR moved back). */
	CHECK(kvm->add_ioeventfd(&vm, NOTIFY_GPA, 2, false, false, 0, efd[0], &err) == 0);
	CHECK(kvm->del_ioeventfd(&vm, NOTIFY_GPA, 2, false, false, 0, efd[0]) == 0);
	TEST_END();

	TEST_BEGIN("kvm_irqfd_msi_routes");
	h[0] = kvm->add_irqfd_msi(&vm, LAYOUT_LAPIC_BASE, 0x41, efd[0], &err);
	h[1] = kvm->add_irqfd_msi(&vm, LAYOUT_LAPIC_BASE, 0x42, efd[1], &err);
	CHECK(h[0] >= LAYOUT_IOAPIC_PINS); /* never one of the board's GSIs */
	CHECK(h[1] >= LAYOUT_IOAPIC_PINS);
	CHECK(h[0] != h[1]);
	CHECK(kvm->update_irqfd_msi(&vm, h[0], LAYOUT_LAPIC_BASE | 1 << 12, 0x45, &err) == 0);
	CHECK(kvm->update_irqfd_msi(&vm, 4, LAYOUT_LAPIC_BASE, 0x45, &err) < 0); /* COM1's pin */
	CHECK(kvm->update_irqfd_msi(&vm, 999, LAYOUT_LAPIC_BASE, 0x45, &err) < 0);
	/* The same eventfd cannot be bound twice. */
	CHECK(kvm->add_irqfd_msi(&vm, LAYOUT_LAPIC_BASE, 0x43, efd[0], &err) < 0);
	kvm->del_irqfd_msi(&vm, h[0], efd[0]);
	h[2] = kvm->add_irqfd_msi(&vm, LAYOUT_LAPIC_BASE, 0x43, efd[2], &err);
	CHECK_EQ(h[2], h[0]); /* the freed GSI is reused */
	/* ...and efd[0] is free to be bound again. */
	h[0] = kvm->add_irqfd_msi(&vm, LAYOUT_LAPIC_BASE, 0x41, efd[0], &err);
	CHECK(h[0] >= LAYOUT_IOAPIC_PINS && h[0] != h[1] && h[0] != h[2]);
	for (int i = 0; i < 3; i++)
		if (h[i] >= 0)
			kvm->del_irqfd_msi(&vm, h[i], efd[i]);
	TEST_END();

	kvm->vm_destroy(&vm);
	for (int i = 0; i < 3; i++)
		close(efd[i]);
	fake_vm_fini(&vm);
	return 0;
}
