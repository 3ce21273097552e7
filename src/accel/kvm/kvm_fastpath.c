/* The KVM accelerator's device fast paths (Documentation/virt/kvm/api.rst):
 * ioeventfds, where a guest write to a register signals an eventfd inside the
 * kernel instead of exiting to the vCPU thread (KVM_IOEVENTFD), and irqfds,
 * where a write to an eventfd injects an MSI without an ioctl per interrupt
 * (KVM_IRQFD on a GSI whose routing entry holds the message). */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "accel/kvm/kvm_internal.h"
#include "vm/vm.h"

static int kvm_ioeventfd(struct vm *vm, uint64_t addr, unsigned len, bool pio, bool match,
			 uint64_t datamatch, int fd, uint32_t flags)
{
	struct kvm_accel *k = vm->accel_state;
	struct kvm_ioeventfd ioe = {
		.datamatch = datamatch,
		.addr = addr,
		.len = len,
		.fd = fd,
		.flags = flags | (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
			 (match ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0),
	};

	return ioctl(k->vm_fd, KVM_IOEVENTFD, &ioe) < 0 ? -errno : 0;
}

int kvm_add_ioeventfd(struct vm *vm, uint64_t addr, unsigned len, bool pio, bool match,
		      uint64_t datamatch, int fd, struct err *err)
{
	int r = kvm_ioeventfd(vm, addr, len, pio, match, datamatch, fd, 0);

	if (r < 0)
		return err_errno(err, -r, "KVM_IOEVENTFD at %s 0x%llx", pio ? "port" : "address",
				 (unsigned long long)addr);
	return 0;
}

/* The arguments must equal the add's: KVM finds the ioeventfd by all of them. */
int kvm_del_ioeventfd(struct vm *vm, uint64_t addr, unsigned len, bool pio, bool match,
		      uint64_t datamatch, int fd)
{
	return kvm_ioeventfd(vm, addr, len, pio, match, datamatch, fd,
			     KVM_IOEVENTFD_FLAG_DEASSIGN);
}

/* --- MSI routes for irqfds; with k->route_lock held --- */

static struct kvm_irq_routing_entry *kvm_route_find(struct kvm_accel *k, unsigned gsi)
{
	for (unsigned i = 0; i < k->routes->nr; i++)
		if (k->routes->entries[i].gsi == gsi)
			return &k->routes->entries[i];
	return NULL;
}

static void kvm_route_remove(struct kvm_accel *k, struct kvm_irq_routing_entry *e)
{
	*e = k->routes->entries[--k->routes->nr];
}

static void kvm_route_set_msi(struct kvm_irq_routing_entry *e, uint64_t addr, uint32_t data)
{
	e->u.msi.address_lo = (uint32_t)addr;
	e->u.msi.address_hi = (uint32_t)(addr >> 32);
	e->u.msi.data = data;
}

/* KVM_SET_GSI_ROUTING replaces the whole table, so every change resends it,
 * board wiring (kvm.c's kvm_routing_init) included. */
static int kvm_route_commit(struct kvm_accel *k)
{
	return ioctl(k->vm_fd, KVM_SET_GSI_ROUTING, k->routes) < 0 ? -errno : 0;
}

/* Each irqfd gets its own GSI, the lowest one free above the board's. */
int kvm_add_irqfd_msi(struct vm *vm, uint64_t addr, uint32_t data, int fd, struct err *err)
{
	struct kvm_accel *k = vm->accel_state;
	struct kvm_irq_routing_entry *e;
	struct kvm_irqfd irqfd = { .fd = (uint32_t)fd };
	unsigned gsi = k->next_gsi;
	int r;

	pthread_mutex_lock(&k->route_lock);
	if (k->routes->nr >= KVM_MAX_ROUTES) {
		r = err_set(err, "out of KVM GSI routes (%u)", KVM_MAX_ROUTES);
		goto out;
	}
	while (kvm_route_find(k, gsi))
		gsi++;
	e = &k->routes->entries[k->routes->nr++];
	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_MSI;
	kvm_route_set_msi(e, addr, data);
	if ((r = kvm_route_commit(k)) < 0) {
		k->routes->nr--;
		r = err_errno(err, -r, "KVM_SET_GSI_ROUTING");
		goto out;
	}
	irqfd.gsi = gsi;
	if (ioctl(k->vm_fd, KVM_IRQFD, &irqfd) < 0) {
		r = err_errno(err, errno, "KVM_IRQFD");
		kvm_route_remove(k, e);
		kvm_route_commit(k);
		goto out;
	}
	r = (int)gsi;
out:
	pthread_mutex_unlock(&k->route_lock);
	return r;
}

/* The guest rewrote the MSI-X table entry: the bound irqfd follows the route. */
int kvm_update_irqfd_msi(struct vm *vm, int handle, uint64_t addr, uint32_t data,
			 struct err *err)
{
	struct kvm_accel *k = vm->accel_state;
	struct kvm_irq_routing_entry *e, old;
	int r;

	pthread_mutex_lock(&k->route_lock);
	e = handle >= (int)k->next_gsi ? kvm_route_find(k, (unsigned)handle) : NULL;
	if (!e || e->type != KVM_IRQ_ROUTING_MSI) {
		r = err_set(err, "KVM irqfd route %d does not exist", handle);
		goto out;
	}
	old = *e;
	kvm_route_set_msi(e, addr, data);
	if ((r = kvm_route_commit(k)) < 0) {
		*e = old;
		r = err_errno(err, -r, "KVM_SET_GSI_ROUTING");
	}
out:
	pthread_mutex_unlock(&k->route_lock);
	return r;
}

void kvm_del_irqfd_msi(struct vm *vm, int handle, int fd)
{
	struct kvm_accel *k = vm->accel_state;
	struct kvm_irqfd irqfd = { .fd = (uint32_t)fd, .gsi = (uint32_t)handle,
				   .flags = KVM_IRQFD_FLAG_DEASSIGN };
	struct kvm_irq_routing_entry *e;

	pthread_mutex_lock(&k->route_lock);
	e = handle >= (int)k->next_gsi ? kvm_route_find(k, (unsigned)handle) : NULL;
	if (e) {
		/* Unbind first: a route must not vanish under a live irqfd. */
		ioctl(k->vm_fd, KVM_IRQFD, &irqfd);
		kvm_route_remove(k, e);
		kvm_route_commit(k);
	}
	pthread_mutex_unlock(&k->route_lock);
}
