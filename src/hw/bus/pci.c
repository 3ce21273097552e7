#include "hw/bus/pci.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "hw/bus/io.h"
#include "hw/x86/layout.h"
#include "vm/vm.h"

#define PCI_HOST_VENDOR 0x1b36 /* Red Hat, Inc. */
#define PCI_HOST_DEVICE 0x0008 /* QEMU PCIe host bridge */
#define PCI_CLASS_HOST_BRIDGE 0x060000

#define PCI_CF8_ENABLE 0x80000000u
#define PCI_CF8_MASK 0x80fffffcu /* enable, bus, device, function, dword register */
#define PCI_CF9_RST_CPU 0x04      /* 0 -> 1 starts the reset selected by bits 1 and 3 */
#define PCI_CF9_KEEP 0x0a         /* SYS_RST, FULL_RST: stored, RST_CPU self-clears */

#define PCI_NUM_DEVFN 256
#define PCI_NUM_INTX 4

struct pci_host {
	struct vm *vm;
	pthread_mutex_t lock;      /* latch, reset register, device table */
	pthread_mutex_t intx_lock; /* leaf: INTx line counts */
	uint32_t config_addr;
	uint8_t reset_ctl;
	struct pci_device *dev[PCI_NUM_DEVFN];
	unsigned intx_count[PCI_NUM_INTX];
	struct pci_device bridge;
};

/* --- config space helpers --- */

uint32_t pci_config_get(const struct pci_device *d, unsigned reg, unsigned size)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < size && reg + i < PCI_CONFIG_SIZE; i++)
		v |= (uint32_t)d->config[reg + i] << (8 * i);
	return v;
}

void pci_config_set(struct pci_device *d, unsigned reg, uint32_t val, unsigned size)
{
	for (unsigned i = 0; i < size && reg + i < PCI_CONFIG_SIZE; i++)
		d->config[reg + i] = (uint8_t)(val >> (8 * i));
}

static void pci_wmask_set(struct pci_device *d, unsigned reg, uint32_t mask, unsigned size)
{
	for (unsigned i = 0; i < size && reg + i < PCI_CONFIG_SIZE; i++)
		d->wmask[reg + i] = (uint8_t)(mask >> (8 * i));
}

void pci_device_init(struct pci_device *d, const char *name, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision, const struct pci_device_ops *ops,
		     void *opaque)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	pci_config_set(d, PCI_VENDOR_ID, vendor, 2);
	pci_config_set(d, PCI_DEVICE_ID, device, 2);
	pci_config_set(d, PCI_REVISION_ID, revision, 1);
	pci_config_set(d, PCI_CLASS_PROG, class_code, 3);
	pci_config_set(d, PCI_HEADER_TYPE, 0, 1);
	pci_wmask_set(d, PCI_COMMAND,
		      PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | 0x0040 /* parity */ |
			      0x0100 /* SERR */ | PCI_COMMAND_INTX_DISABLE,
		      2);
	/* Status: error bits are write-1-to-clear; we never set them. */
	d->w1c[PCI_STATUS + 1] = 0xf9;
	pci_wmask_set(d, 0x0c, 0xff, 1); /* cache line size */
	pci_wmask_set(d, 0x0d, 0xff, 1); /* latency timer */
	pci_wmask_set(d, PCI_INTERRUPT_LINE, 0xff, 1);
	d->ops = ops;
	d->opaque = opaque;
	pthread_mutex_init(&d->config_lock, NULL);
	d->lock = &d->config_lock;
	d->cap_free = 0x40;
}

void pci_device_fini(struct pci_device *d)
{
	pthread_mutex_destroy(&d->config_lock);
}

void pci_device_set_subsystem(struct pci_device *d, uint16_t vendor, uint16_t id)
{
	pci_config_set(d, PCI_SUBSYSTEM_VENDOR_ID, vendor, 2);
	pci_config_set(d, PCI_SUBSYSTEM_ID, id, 2);
}

int pci_device_set_bar(struct pci_device *d, unsigned idx, enum pci_bar_type type, uint64_t size,
		       bool prefetchable, const struct io_ops *ops, void *opaque, struct err *err)
{
	unsigned reg = PCI_BAR0 + 4 * idx;
	uint64_t mask = ~(size - 1);

	if (idx >= PCI_NUM_BARS || (type == PCI_BAR_MEM64 && idx + 1 >= PCI_NUM_BARS))
		return err_set(err, "pci %s: BAR %u out of range", d->name, idx);
	if (!size || (size & (size - 1)) || (type == PCI_BAR_IO && (size < 4 || size > 256)) ||
	    (type != PCI_BAR_IO && size < 16) || (type == PCI_BAR_MEM32 && size > 2 * GiB))
		return err_set(err, "pci %s: BAR %u: bad size 0x%llx", d->name, idx,
			       (unsigned long long)size);
	d->bar[idx] = (struct pci_bar){ type, size, prefetchable, ops, opaque, false, 0 };
	switch (type) {
	case PCI_BAR_IO:
		pci_config_set(d, reg, 0x1, 4); /* I/O space indicator */
		pci_wmask_set(d, reg, (uint32_t)mask & ~0x3u, 4);
		break;
	case PCI_BAR_MEM32:
		pci_config_set(d, reg, prefetchable ? 0x8 : 0, 4);
		pci_wmask_set(d, reg, (uint32_t)mask & ~0xfu, 4);
		break;
	case PCI_BAR_MEM64:
		pci_config_set(d, reg, (prefetchable ? 0x8 : 0) | 0x4, 4);
		pci_wmask_set(d, reg, (uint32_t)mask & ~0xfu, 4);
		pci_config_set(d, reg + 4, 0, 4);
		pci_wmask_set(d, reg + 4, (uint32_t)(mask >> 32), 4);
		d->bar[idx + 1] = (struct pci_bar){ PCI_BAR_NONE };
		break;
	default:
		return err_set(err, "pci %s: BAR %u: bad type", d->name, idx);
	}
	return 0;
}

void pci_device_set_intx_pin(struct pci_device *d, unsigned pin)
{
	pci_config_set(d, PCI_INTERRUPT_PIN, pin <= 4 ? pin : 0, 1);
}

int pci_device_add_capability(struct pci_device *d, uint8_t id, unsigned len, struct err *err)
{
	unsigned off = (d->cap_free + 3) & ~3u;

	if (len < 2 || off + len > 256)
		return err_set(err, "pci %s: no room for capability 0x%02x", d->name, id);
	d->config[off] = id;
	d->config[off + 1] = 0;
	if (d->cap_last)
		d->config[d->cap_last + 1] = (uint8_t)off;
	else
		d->config[PCI_CAPABILITY_LIST] = (uint8_t)off;
	d->config[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	d->cap_last = off;
	d->cap_free = off + len;
	return (int)off;
}

/* --- BARs --- */

static uint64_t pci_bar_addr(const struct pci_device *d, unsigned idx)
{
	uint32_t lo = pci_config_get(d, PCI_BAR0 + 4 * idx, 4);

	switch (d->bar[idx].type) {
	case PCI_BAR_IO:
		return lo & ~0x3u;
	case PCI_BAR_MEM32:
		return lo & ~0xfu;
	case PCI_BAR_MEM64:
		return (uint64_t)pci_config_get(d, PCI_BAR0 + 4 * idx + 4, 4) << 32 | (lo & ~0xfu);
	default:
		return 0;
	}
}

/* Whether the guest-programmed address can be decoded. Excludes 0 (not
 * programmed), ranges that wrap or leave their space, and the all-ones
 * sizing pattern that ends at 0xffffffff (as real BIOSes never place BARs
 * at the very top of 4 GiB, where the firmware lives). */
static bool pci_bar_addr_ok(const struct pci_bar *b, uint64_t addr)
{
	uint64_t last = addr + b->size - 1;

	if (!addr || last < addr)
		return false;
	if (b->type == PCI_BAR_IO)
		return last <= 0xffff;
	if (last == 0xffffffffULL)
		return false;
	return b->type == PCI_BAR_MEM32 ? last < 0xffffffffULL : last < (1ULL << 52);
}

/* Called with *d->lock held after the command register or a BAR changed. */
static void pci_update_bars(struct pci_device *d)
{
	struct vm *vm = d->host->vm;
	uint16_t cmd = (uint16_t)pci_config_get(d, PCI_COMMAND, 2);

	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *b = &d->bar[i];
		struct io_space *space;
		uint64_t addr;
		bool want;

		if (b->type == PCI_BAR_NONE)
			continue;
		space = b->type == PCI_BAR_IO ? vm->pio : vm->mmio;
		addr = pci_bar_addr(d, i);
		want = (cmd & (b->type == PCI_BAR_IO ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY)) &&
		       pci_bar_addr_ok(b, addr);
		if (b->mapped && (!want || addr != b->addr)) {
			io_unmap(space, b->addr, b->opaque);
			b->mapped = false;
		}
		if (want && !b->mapped) {
			struct err err = { { 0 } };

			if (io_map(space, addr, b->size, b->ops, b->opaque, d->name, &err) < 0) {
				log_guest("pci %s: BAR %u at 0x%llx not decoded: %s", d->name, i,
					  (unsigned long long)addr, err.msg);
				continue;
			}
			b->mapped = true;
			b->addr = addr;
		}
	}
}

static void pci_unmap_bars(struct pci_device *d)
{
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *b = &d->bar[i];

		if (b->mapped)
			io_unmap(b->type == PCI_BAR_IO ? d->host->vm->pio : d->host->vm->mmio,
				 b->addr, b->opaque);
		b->mapped = false;
	}
}

/* --- INTx --- */

unsigned pci_intx_gsi(unsigned slot, unsigned pin)
{
	return LAYOUT_GSI_PCI_INTX_BASE + (slot + pin - 1) % PCI_NUM_INTX;
}

/* With *d->lock held: make the bus line match the device's wish. */
static void pci_intx_sync(struct pci_device *d)
{
	struct pci_host *h = d->host;
	unsigned pin = d->config[PCI_INTERRUPT_PIN];
	bool want = d->intx_level &&
		    !(pci_config_get(d, PCI_COMMAND, 2) & PCI_COMMAND_INTX_DISABLE);
	unsigned line;

	if (d->intx_level)
		d->config[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
	else
		d->config[PCI_STATUS] &= (uint8_t)~PCI_STATUS_INTERRUPT;
	if (!h || pin < 1 || pin > 4 || want == d->intx_asserted)
		return;
	line = ((d->devfn >> 3) + pin - 1) % PCI_NUM_INTX;
	pthread_mutex_lock(&h->intx_lock);
	d->intx_asserted = want;
	if (want && h->intx_count[line]++ == 0)
		vm_set_irq(h->vm, LAYOUT_GSI_PCI_INTX_BASE + line, true);
	else if (!want && --h->intx_count[line] == 0)
		vm_set_irq(h->vm, LAYOUT_GSI_PCI_INTX_BASE + line, false);
	pthread_mutex_unlock(&h->intx_lock);
}

void pci_device_set_intx(struct pci_device *d, bool level)
{
	d->intx_level = level;
	pci_intx_sync(d);
}

/* --- config accesses --- */

static uint32_t pci_dev_read(struct pci_device *d, unsigned reg, unsigned size)
{
	uint32_t v;

	pthread_mutex_lock(d->lock);
	if (!d->ops || !d->ops->config_read || !d->ops->config_read(d->opaque, d, reg, size, &v))
		v = pci_config_get(d, reg, size);
	pthread_mutex_unlock(d->lock);
	return v;
}

static bool pci_overlaps(unsigned reg, unsigned size, unsigned start, unsigned len)
{
	return reg < start + len && start < reg + size;
}

static void pci_dev_write(struct pci_device *d, unsigned reg, uint32_t val, unsigned size)
{
	pthread_mutex_lock(d->lock);
	for (unsigned i = 0; i < size; i++) {
		unsigned r = reg + i;
		uint8_t b = (uint8_t)(val >> (8 * i));

		d->config[r] = (uint8_t)((d->config[r] & ~d->wmask[r]) | (b & d->wmask[r]));
		d->config[r] &= (uint8_t)~(b & d->w1c[r]);
	}
	if (pci_overlaps(reg, size, PCI_COMMAND, 2) ||
	    pci_overlaps(reg, size, PCI_BAR0, 4 * PCI_NUM_BARS))
		pci_update_bars(d);
	if (pci_overlaps(reg, size, PCI_COMMAND, 2))
		pci_intx_sync(d);
	if (d->ops && d->ops->config_write)
		d->ops->config_write(d->opaque, d, reg, val, size);
	pthread_mutex_unlock(d->lock);
}

static struct pci_device *pci_lookup(struct pci_host *h, unsigned bus, unsigned devfn)
{
	struct pci_device *d;

	if (bus != 0 || devfn >= PCI_NUM_DEVFN)
		return NULL;
	pthread_mutex_lock(&h->lock);
	d = h->dev[devfn];
	pthread_mutex_unlock(&h->lock);
	return d;
}

static bool pci_access_ok(unsigned reg, unsigned size)
{
	return (size == 1 || size == 2 || size == 4) && reg < PCI_CONFIG_SIZE &&
	       !(reg & (size - 1));
}

uint32_t pci_host_config_read(struct pci_host *h, unsigned bus, unsigned devfn, unsigned reg,
			      unsigned size)
{
	uint32_t ones = size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
	struct pci_device *d = pci_lookup(h, bus, devfn);

	if (!d || size > 4 || !size)
		return ones;
	if (!pci_access_ok(reg, size)) {
		/* Unaligned (ECAM allows it): assemble from byte reads. */
		uint32_t v = 0;

		for (unsigned i = 0; i < size; i++)
			v |= (reg + i < PCI_CONFIG_SIZE ? pci_dev_read(d, reg + i, 1) : 0xff)
			     << (8 * i);
		return v;
	}
	return pci_dev_read(d, reg, size);
}

void pci_host_config_write(struct pci_host *h, unsigned bus, unsigned devfn, unsigned reg,
			   uint32_t val, unsigned size)
{
	struct pci_device *d = pci_lookup(h, bus, devfn);

	if (!d || size > 4 || !size)
		return;
	if (!pci_access_ok(reg, size)) {
		for (unsigned i = 0; i < size; i++)
			if (reg + i < PCI_CONFIG_SIZE)
				pci_dev_write(d, reg + i, (val >> (8 * i)) & 0xff, 1);
		return;
	}
	pci_dev_write(d, reg, val, size);
}

/* --- mechanism #1 and the reset control register: ports 0xCF8-0xCFF --- */

static uint64_t pci_cf8_read(void *opaque, uint64_t off, unsigned size)
{
	struct pci_host *h = opaque;
	uint32_t addr;
	uint64_t v = ~0ULL;

	if (off >= 4) {
		pthread_mutex_lock(&h->lock);
		addr = h->config_addr;
		pthread_mutex_unlock(&h->lock);
		if (!(addr & PCI_CF8_ENABLE))
			return v;
		return pci_host_config_read(h, (addr >> 16) & 0xff, (addr >> 8) & 0xff,
					    (addr & 0xfc) + (unsigned)(off - 4), size);
	}
	pthread_mutex_lock(&h->lock);
	if (off == 0 && size == 4)
		v = h->config_addr;
	else if (off == 1 && size == 1)
		v = h->reset_ctl;
	pthread_mutex_unlock(&h->lock);
	return v;
}

static void pci_cf8_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct pci_host *h = opaque;
	uint32_t addr;

	if (off >= 4) {
		pthread_mutex_lock(&h->lock);
		addr = h->config_addr;
		pthread_mutex_unlock(&h->lock);
		if (addr & PCI_CF8_ENABLE)
			pci_host_config_write(h, (addr >> 16) & 0xff, (addr >> 8) & 0xff,
					      (addr & 0xfc) + (unsigned)(off - 4), (uint32_t)val,
					      size);
		return;
	}
	if (off == 0 && size == 4) {
		pthread_mutex_lock(&h->lock);
		h->config_addr = (uint32_t)val & PCI_CF8_MASK;
		pthread_mutex_unlock(&h->lock);
	} else if (off == 1 && size == 1) {
		/* Reset control register (PIIX/ICH "RST_CNT"; the FADT's
		 * RESET_REG with value LAYOUT_RESET_VALUE). */
		pthread_mutex_lock(&h->lock);
		h->reset_ctl = (uint8_t)val & PCI_CF9_KEEP;
		pthread_mutex_unlock(&h->lock);
		if (val & PCI_CF9_RST_CPU)
			vm_request(h->vm, VM_REQ_RESET);
	}
	/* Other narrow accesses (Linux's type-1 probe writes 0xCFB) are ignored. */
}

static const struct io_ops pci_cf8_ops = { pci_cf8_read, pci_cf8_write, 1, 4 };

/* --- ECAM (PCIe 5.0 §7.2.2): bus << 20 | device << 15 | function << 12 | reg --- */

static uint64_t pci_ecam_read(void *opaque, uint64_t off, unsigned size)
{
	return pci_host_config_read(opaque, (unsigned)(off >> 20), (unsigned)(off >> 12) & 0xff,
				    (unsigned)off & 0xfff, size);
}

static void pci_ecam_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	pci_host_config_write(opaque, (unsigned)(off >> 20), (unsigned)(off >> 12) & 0xff,
			      (unsigned)off & 0xfff, (uint32_t)val, size);
}

static const struct io_ops pci_ecam_ops = { pci_ecam_read, pci_ecam_write, 1, 4 };

/* --- host --- */

int pci_register_device(struct pci_host *h, struct pci_device *d, unsigned devfn,
			struct err *err)
{
	int ret = 0;

	if (devfn >= PCI_NUM_DEVFN)
		return err_set(err, "pci %s: bad device/function 0x%x", d->name, devfn);
	pthread_mutex_lock(&h->lock);
	if (h->dev[devfn]) {
		ret = err_set(err, "pci %s: 00:%02x.%u is taken by %s", d->name, devfn >> 3,
			      devfn & 7, h->dev[devfn]->name);
	} else {
		d->host = h;
		d->devfn = devfn;
		h->dev[devfn] = d;
		/* Functions other than 0 make function 0 multi-function. */
		for (unsigned fn = 1; fn < 8; fn++)
			if (h->dev[(devfn & ~7u) | fn] && h->dev[devfn & ~7u])
				h->dev[devfn & ~7u]->config[PCI_HEADER_TYPE] |= 0x80;
	}
	pthread_mutex_unlock(&h->lock);
	return ret;
}

void pci_unregister_device(struct pci_host *h, struct pci_device *d)
{
	pthread_mutex_lock(d->lock);
	pci_unmap_bars(d);
	pci_device_set_intx(d, false);
	pthread_mutex_unlock(d->lock);
	pthread_mutex_lock(&h->lock);
	if (d->devfn < PCI_NUM_DEVFN && h->dev[d->devfn] == d)
		h->dev[d->devfn] = NULL;
	pthread_mutex_unlock(&h->lock);
}

int pci_host_free_slot(struct pci_host *h)
{
	int slot = -ENOSPC;

	pthread_mutex_lock(&h->lock);
	for (unsigned s = 1; s < 32; s++) {
		if (!h->dev[s << 3]) {
			slot = (int)s;
			break;
		}
	}
	pthread_mutex_unlock(&h->lock);
	return slot;
}

void pci_host_reset(struct pci_host *h)
{
	pthread_mutex_lock(&h->lock);
	h->config_addr = 0;
	h->reset_ctl = 0;
	pthread_mutex_unlock(&h->lock);
	for (unsigned i = 0; i < PCI_NUM_DEVFN; i++) {
		struct pci_device *d = pci_lookup(h, 0, i);

		if (!d)
			continue;
		pthread_mutex_lock(d->lock);
		pci_config_set(d, PCI_COMMAND, 0, 2);
		for (unsigned b = 0; b < PCI_NUM_BARS; b++)
			if (d->bar[b].type != PCI_BAR_NONE)
				pci_config_set(d, PCI_BAR0 + 4 * b,
					       pci_config_get(d, PCI_BAR0 + 4 * b, 4) & 0xf, 4);
		pci_update_bars(d);
		pci_intx_sync(d);
		pthread_mutex_unlock(d->lock);
	}
}

struct pci_host *pci_host_create(struct vm *vm, struct err *err)
{
	struct pci_host *h = calloc(1, sizeof(*h));

	if (!h) {
		err_errno(err, ENOMEM, "pci host");
		return NULL;
	}
	h->vm = vm;
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->intx_lock, NULL);
	pci_device_init(&h->bridge, "host bridge", PCI_HOST_VENDOR, PCI_HOST_DEVICE,
			PCI_CLASS_HOST_BRIDGE, 0, NULL, NULL);
	pci_device_set_subsystem(&h->bridge, 0x1af4, 0x1100); /* Red Hat Qumranet: "QEMU" */
	if (pci_register_device(h, &h->bridge, 0, err) < 0)
		goto fail;
	if (io_map(vm->pio, LAYOUT_PORT_PCI_CONFIG, 8, &pci_cf8_ops, h, "pci config", err) < 0)
		goto fail;
	if (io_map(vm->mmio, LAYOUT_PCIE_ECAM_BASE, LAYOUT_PCIE_ECAM_SIZE, &pci_ecam_ops, h,
		   "pcie ecam", err) < 0) {
		io_unmap(vm->pio, LAYOUT_PORT_PCI_CONFIG, h);
		goto fail;
	}
	return h;
fail:
	err_prefix(err, "pci host");
	pthread_mutex_destroy(&h->bridge.config_lock);
	pthread_mutex_destroy(&h->lock);
	pthread_mutex_destroy(&h->intx_lock);
	free(h);
	return NULL;
}

void pci_host_destroy(struct pci_host *h)
{
	if (!h)
		return;
	io_unmap(h->vm->mmio, LAYOUT_PCIE_ECAM_BASE, h);
	io_unmap(h->vm->pio, LAYOUT_PORT_PCI_CONFIG, h);
	for (unsigned i = 0; i < PCI_NUM_DEVFN; i++) {
		struct pci_device *d = h->dev[i];

		if (!d)
			continue;
		pthread_mutex_lock(d->lock);
		pci_unmap_bars(d);
		pthread_mutex_unlock(d->lock);
	}
	pthread_mutex_destroy(&h->bridge.config_lock);
	pthread_mutex_destroy(&h->lock);
	pthread_mutex_destroy(&h->intx_lock);
	free(h);
}
