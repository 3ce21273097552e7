/* The KVM accelerator, VM half: /dev/kvm, the VM with its in-kernel irqchip
 * (PIC, IOAPIC, LAPICs) and PIT, memory slots, interrupt lines, MSIs,
 * ioeventfds and irqfds. The vCPU half is kvm_vcpu.c. Only the standard KVM
 * API is used (Documentation/virt/kvm/api.rst). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "accel/kvm/kvm_internal.h"
#include "core/log.h"
#include "hw/x86/layout.h"
#include "vm/vm.h"

#define KVM_DEVICE "/dev/kvm"

static int kvm_open(struct err *err)
{
	int fd = open(KVM_DEVICE, O_RDWR | O_CLOEXEC);
	int e = errno;
	const char *hint = "";

	if (fd >= 0)
		return fd;
	if (e == ENOENT || e == ENXIO || e == ENODEV)
		hint = " (is the kvm module loaded and hardware virtualization enabled?)";
	else if (e == EACCES || e == EPERM)
		hint = " (is your user in the kvm group?)";
	err_set(err, "cannot open " KVM_DEVICE ": %s%s", strerror(e), hint);
	return -e;
}

static int kvm_ioctl_retry(int fd, unsigned long req, void *arg)
{
	int r;

	do
		r = ioctl(fd, req, arg);
	while (r < 0 && (errno == EINTR || errno == EAGAIN));
	return r;
}

static unsigned kvm_query_max_vcpus(int sys_fd)
{
	int n = ioctl(sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);

	if (n <= 0)
		n = ioctl(sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	/* api.rst: "if the KVM_CAP_NR_VCPUS does not exist, assume 4". */
	return n > 0 ? (unsigned)n : 4;
}

static unsigned kvm_max_vcpus(struct vm *vm)
{
	struct kvm_accel *k = vm ? vm->accel_state : NULL;
	struct err err = { { 0 } };
	unsigned n;
	int fd;

	if (k)
		return k->max_vcpus;
	fd = kvm_open(&err);
	if (fd < 0)
		return 0;
	n = kvm_query_max_vcpus(fd);
	close(fd);
	return n;
}

static int kvm_get_supported_cpuid(struct kvm_accel *k, struct err *err)
{
	for (unsigned nent = 128; nent <= 4096; nent *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));

		if (!c)
			return err_errno(err, ENOMEM, "KVM_GET_SUPPORTED_CPUID");
		c->nent = nent;
		if (ioctl(k->sys_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			k->cpuid = c;
			return 0;
		}
		free(c);
		if (errno != E2BIG)
			return err_errno(err, errno, "KVM_GET_SUPPORTED_CPUID");
	}
	return err_set(err, "KVM_GET_SUPPORTED_CPUID: too many entries");
}

static void kvm_route_irqchip(struct kvm_accel *k, unsigned gsi, unsigned chip, unsigned pin)
{
	struct kvm_irq_routing_entry *e = &k->routes->entries[k->routes->nr++];

	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_IRQCHIP;
	e->u.irqchip.irqchip = chip;
	e->u.irqchip.pin = pin;
}

/* The routing table replaces KVM's default wholesale, so it starts with the
 * board's wiring: ISA IRQs 0-15 reach the PICs, GSIs 0-23 the IOAPIC, except
 * that ISA IRQ 0 (the PIT) is IOAPIC pin 2, as the MADT's interrupt source
 * override says (ACPI 6.5 §5.2.12.5), and pin 2 is not the cascade. */
static int kvm_routing_init(struct kvm_accel *k, struct err *err)
{
	k->routes = calloc(1, sizeof(*k->routes) + KVM_MAX_ROUTES * sizeof(k->routes->entries[0]));
	if (!k->routes)
		return err_errno(err, ENOMEM, "GSI routing table");
	for (unsigned i = 0; i < 16; i++) {
		if (i == 2)
			continue;
		kvm_route_irqchip(k, i, i < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
				  i & 7);
	}
	for (unsigned i = 0; i < LAYOUT_IOAPIC_PINS; i++) {
		if (i == 2)
			continue;
		kvm_route_irqchip(k, i, KVM_IRQCHIP_IOAPIC, i == 0 ? 2 : i);
	}
	k->next_gsi = LAYOUT_IOAPIC_PINS;
	if (ioctl(k->vm_fd, KVM_SET_GSI_ROUTING, k->routes) < 0)
		return err_errno(err, errno, "KVM_SET_GSI_ROUTING");
	return 0;
}

static void kvm_vm_destroy(struct vm *vm)
{
	struct kvm_accel *k = vm->accel_state;

	if (!k)
		return;
	if (k->vm_fd >= 0)
		close(k->vm_fd);
	if (k->sys_fd >= 0)
		close(k->sys_fd);
	pthread_mutex_destroy(&k->route_lock);
	free(k->cpuid);
	free(k->routes);
	free(k);
	vm->accel_state = NULL;
}

static int kvm_vm_setup(struct kvm_accel *k, struct err *err)
{
	static const struct {
		int cap;
		const char *name;
	} required[] = {
		{ KVM_CAP_IRQCHIP, "in-kernel irqchip" },
		{ KVM_CAP_PIT2, "in-kernel PIT" },
		{ KVM_CAP_USER_MEMORY, "user memory slots" },
		{ KVM_CAP_SET_TSS_ADDR, "KVM_SET_TSS_ADDR" },
		{ KVM_CAP_EXT_CPUID, "KVM_GET_SUPPORTED_CPUID" },
		{ KVM_CAP_IMMEDIATE_EXIT, "immediate_exit" },
		{ KVM_CAP_IRQ_ROUTING, "GSI routing" },
		{ KVM_CAP_SIGNAL_MSI, "KVM_SIGNAL_MSI" },
		{ KVM_CAP_IRQFD, "irqfd" },
		{ KVM_CAP_IOEVENTFD, "ioeventfd" },
	};
	uint64_t ident = LAYOUT_KVM_IDENTITY_MAP;
	int r;

	r = ioctl(k->sys_fd, KVM_GET_API_VERSION, 0);
	if (r != KVM_API_VERSION)
		return err_set(err, KVM_DEVICE ": KVM API version %d, expected %d", r,
			       KVM_API_VERSION);
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (ioctl(k->sys_fd, KVM_CHECK_EXTENSION, required[i].cap) <= 0)
			return err_set(err, "this host's KVM lacks %s", required[i].name);
	k->readonly_mem = ioctl(k->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) > 0;
	k->tsc_deadline = ioctl(k->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	k->max_vcpus = kvm_query_max_vcpus(k->sys_fd);
	k->run_size = ioctl(k->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (k->run_size < (int)sizeof(struct kvm_run))
		return err_errno(err, k->run_size < 0 ? errno : EINVAL, "KVM_GET_VCPU_MMAP_SIZE");
	if ((r = kvm_get_supported_cpuid(k, err)))
		return r;

	k->vm_fd = kvm_ioctl_retry(k->sys_fd, KVM_CREATE_VM, 0);
	if (k->vm_fd < 0)
		return err_errno(err, errno, "KVM_CREATE_VM");
	if (ioctl(k->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_KVM_TSS) < 0)
		return err_errno(err, errno, "KVM_SET_TSS_ADDR");
	if (ioctl(k->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0 &&
	    ioctl(k->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0)
		return err_errno(err, errno, "KVM_SET_IDENTITY_MAP_ADDR");
	return 0;
}

/* Separate from vm_init because memory slots are much cheaper to add before
 * the in-kernel irqchip exists (measured: 0.3 ms instead of 5-10 ms for
 * 128 MiB on a shadow-paging KVM), so the board maps RAM first. */
static int kvm_irqchip_init(struct vm *vm, struct err *err)
{
	struct kvm_accel *k = vm->accel_state;
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

	if (ioctl(k->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return err_errno(err, errno, "KVM_CREATE_IRQCHIP");
	/* SPEAKER_DUMMY: port 0x61 (PIT channel 2 gate, used by Linux to
	 * calibrate the TSC) is handled in the kernel too. */
	if (ioctl(k->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return err_errno(err, errno, "KVM_CREATE_PIT2");
	return kvm_routing_init(k, err);
}

static int kvm_vm_init(struct vm *vm, struct err *err)
{
	struct kvm_accel *k = calloc(1, sizeof(*k));
	int r;

	if (!k)
		return err_errno(err, ENOMEM, "KVM");
	k->vm_fd = -1;
	pthread_mutex_init(&k->route_lock, NULL);
	vm->accel_state = k;
	k->sys_fd = kvm_open(err);
	if (k->sys_fd < 0) {
		r = k->sys_fd;
		goto fail;
	}
	if ((r = kvm_vm_setup(k, err)))
		goto fail;
	kvm_vcpu_signals_init();
	return 0;
fail:
	kvm_vm_destroy(vm);
	return r;
}

static int kvm_set_slot(struct vm *vm, unsigned slot, uint64_t gpa, uint64_t size, void *hva,
			uint32_t flags, struct err *err)
{
	struct kvm_accel *k = vm->accel_state;
	struct kvm_userspace_memory_region mr = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	if (ioctl(k->vm_fd, KVM_SET_USER_MEMORY_REGION, &mr) < 0)
		return err_errno(err, errno, "KVM memory slot %u at 0x%llx (%llu KiB)", slot,
				 (unsigned long long)gpa, (unsigned long long)(size >> 10));
	return 0;
}

static int kvm_map_ram(struct vm *vm, unsigned slot, uint64_t gpa, uint64_t size, void *hva,
		       struct err *err)
{
	return kvm_set_slot(vm, slot, gpa, size, hva, 0, err);
}

/* Guest writes to a read-only slot exit as MMIO and are dropped by the
 * unmapped-access path, like writes to a ROM. */
static int kvm_map_rom(struct vm *vm, unsigned slot, uint64_t gpa, uint64_t size, void *hva,
		       struct err *err)
{
	struct kvm_accel *k = vm->accel_state;

	return kvm_set_slot(vm, slot, gpa, size, hva, k->readonly_mem ? KVM_MEM_READONLY : 0,
			    err);
}

static int kvm_set_irq(struct vm *vm, unsigned gsi, bool level)
{
	struct kvm_accel *k = vm->accel_state;
	struct kvm_irq_level irq = { .irq = gsi, .level = level };

	return ioctl(k->vm_fd, KVM_IRQ_LINE, &irq) < 0 ? -errno : 0;
}

static int kvm_send_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	struct kvm_accel *k = vm->accel_state;
	struct kvm_msi msi = {
		.address_lo = (uint32_t)addr,
		.address_hi = (uint32_t)(addr >> 32),
		.data = data,
	};

	/* > 0: delivered; 0: the guest blocked it (both fine). */
	return ioctl(k->vm_fd, KVM_SIGNAL_MSI, &msi) < 0 ? -errno : 0;
}

static int kvm_add_ioeventfd(struct vm *vm, uint64_t addr, unsigned len, bool pio, bool match,
			     uint64_t datamatch, int fd, struct err *err)
{
	struct kvm_accel *k = vm->accel_state;
	struct kvm_ioeventfd ioe = {
		.datamatch = datamatch,
		.addr = addr,
		.len = len,
		.fd = fd,
		.flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
			 (match ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0),
	};

	if (ioctl(k->vm_fd, KVM_IOEVENTFD, &ioe) < 0)
		return err_errno(err, errno, "KVM_IOEVENTFD at %s 0x%llx", pio ? "port" : "address",
				 (unsigned long long)addr);
	return 0;
}

/* Each irqfd gets its own GSI routed to the MSI message; the whole table is
 * resent because KVM_SET_GSI_ROUTING replaces it. */
static int kvm_add_irqfd_msi(struct vm *vm, uint64_t addr, uint32_t data, int fd,
			     struct err *err)
{
	struct kvm_accel *k = vm->accel_state;
	struct kvm_irq_routing_entry *e;
	struct kvm_irqfd irqfd = { .fd = (uint32_t)fd };
	int r = 0;

	pthread_mutex_lock(&k->route_lock);
	if (k->routes->nr >= KVM_MAX_ROUTES) {
		r = err_set(err, "out of KVM GSI routes (%u)", KVM_MAX_ROUTES);
		goto out;
	}
	e = &k->routes->entries[k->routes->nr];
	memset(e, 0, sizeof(*e));
	e->gsi = k->next_gsi;
	e->type = KVM_IRQ_ROUTING_MSI;
	e->u.msi.address_lo = (uint32_t)addr;
	e->u.msi.address_hi = (uint32_t)(addr >> 32);
	e->u.msi.data = data;
	k->routes->nr++;
	if (ioctl(k->vm_fd, KVM_SET_GSI_ROUTING, k->routes) < 0) {
		r = err_errno(err, errno, "KVM_SET_GSI_ROUTING");
		k->routes->nr--;
		goto out;
	}
	/* The GSI is used up even if KVM_IRQFD fails: its route stays, unused. */
	irqfd.gsi = k->next_gsi++;
	if (ioctl(k->vm_fd, KVM_IRQFD, &irqfd) < 0)
		r = err_errno(err, errno, "KVM_IRQFD");
out:
	pthread_mutex_unlock(&k->route_lock);
	return r;
}

const struct accel_ops accel_kvm_ops = {
	.name = "kvm",
	.max_vcpus = kvm_max_vcpus,
	.vm_init = kvm_vm_init,
	.vm_destroy = kvm_vm_destroy,
	.irqchip_init = kvm_irqchip_init,
	.map_ram = kvm_map_ram,
	.map_rom = kvm_map_rom,
	.vcpu_init = kvm_vcpu_init,
	.vcpu_destroy = kvm_vcpu_destroy,
	.vcpu_run = kvm_vcpu_run,
	.vcpu_kick = kvm_vcpu_kick,
	.get_state = kvm_get_state,
	.set_state = kvm_set_state,
	.set_irq = kvm_set_irq,
	.send_msi = kvm_send_msi,
	.add_ioeventfd = kvm_add_ioeventfd,
	.add_irqfd_msi = kvm_add_irqfd_msi,
};
