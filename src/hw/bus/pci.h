/* PCI host bridge and bus 0 (PCI Local Bus 3.0; PCI Express 5.0 §7.2.2 ECAM).
 *
 * Configuration access: mechanism #1 at 0xCF8 (address, 32-bit accesses
 * only) / 0xCFC-0xCFF (data, 1/2/4 bytes), and ECAM at LAYOUT_PCIE_ECAM_BASE
 * (buses 0-255, bus 0 populated). 0xCF9, inside the 0xCF8 dword, is the reset
 * control register (byte access): writing a value with bit 2 (RST_CPU) set,
 * e.g. LAYOUT_RESET_VALUE, requests a reset. The host bridge sits at 00:00.0
 * as Red Hat 1b36:0008 (class 0600), which Linux treats as a plain host
 * bridge without chipset quirks. Absent functions read all-ones.
 *
 * Devices: fill a struct pci_device with pci_device_init() and
 * pci_device_set_bar(), then pci_register_device(). Config space is 4 KiB
 * (the first 256 bytes through mechanism #1) with per-byte write masks; BARs
 * are sized the standard way (write all-ones, read back the size mask) and
 * mapped into vm->mmio / vm->pio while the command register enables decoding
 * and the address is sane; moved on reprogramming. */
#ifndef VIREO_HW_BUS_PCI_H
#define VIREO_HW_BUS_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

struct vm;
struct io_ops;
struct pci_host;
struct pci_device;

#define PCI_CONFIG_SIZE 4096
#define PCI_NUM_BARS 6

/* Standard type 0 header registers (PCI 3.0 §6.1). */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_COMMAND_IO 0x0001
#define PCI_COMMAND_MEMORY 0x0002
#define PCI_COMMAND_MASTER 0x0004
#define PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_STATUS 0x06
#define PCI_STATUS_INTERRUPT 0x0008
#define PCI_STATUS_CAP_LIST 0x0010
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d

enum pci_bar_type { PCI_BAR_NONE, PCI_BAR_IO, PCI_BAR_MEM32, PCI_BAR_MEM64 };

struct pci_bar {
	enum pci_bar_type type;
	uint64_t size; /* power of two: IO >= 4, memory >= 16 (4096 recommended) */
	bool prefetchable;
	const struct io_ops *ops;
	void *opaque;
	/* Current mapping, owned by pci.c. */
	bool mapped;
	uint64_t addr;
};

struct pci_device_ops {
	/* Optional: a read of [reg, reg+size) (size 1, 2 or 4, naturally aligned)
	 * the device computes live; return false to use the stored config. */
	bool (*config_read)(void *opaque, struct pci_device *d, unsigned reg, unsigned size,
			    uint32_t *val);
	/* Optional: called after a write of [reg, reg+size) has been applied to
	 * config[] through wmask (BARs and command already handled). */
	void (*config_write)(void *opaque, struct pci_device *d, unsigned reg, uint32_t val,
			     unsigned size);
};

struct pci_device {
	char name[32];
	uint8_t config[PCI_CONFIG_SIZE];
	uint8_t wmask[PCI_CONFIG_SIZE]; /* writable bits per byte */
	uint8_t w1c[PCI_CONFIG_SIZE];   /* write-1-to-clear bits per byte */
	struct pci_bar bar[PCI_NUM_BARS];
	const struct pci_device_ops *ops;
	void *opaque;
	/* Config accesses and BAR remapping run under this lock, so callbacks
	 * run under it too. A device may point it at its own lock (never hold
	 * two device locks); by default it is the device's built-in config_lock. */
	pthread_mutex_t *lock;
	pthread_mutex_t config_lock;
	/* Set by pci_register_device. */
	struct pci_host *host;
	unsigned devfn; /* slot << 3 | function */
	unsigned cap_last, cap_free; /* last capability's offset, first free byte */
	bool intx_level, intx_asserted; /* device's wish; what the bus line sees */
};

/* Fills the header: IDs, class (base << 16 | sub << 8 | prog-if), type 0,
 * standard write masks (command, cache line, latency, interrupt line). */
void pci_device_init(struct pci_device *d, const char *name, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision, const struct pci_device_ops *ops,
		     void *opaque);
/* Releases what pci_device_init set up (after unregistering). */
void pci_device_fini(struct pci_device *d);
void pci_device_set_subsystem(struct pci_device *d, uint16_t vendor, uint16_t id);
/* Declares BAR idx (a 64-bit BAR also takes idx + 1). ops/opaque receive
 * offsets within the BAR once the guest maps it. */
int pci_device_set_bar(struct pci_device *d, unsigned idx, enum pci_bar_type type, uint64_t size,
		       bool prefetchable, const struct io_ops *ops, void *opaque, struct err *err);
/* Interrupt pin 1-4 (INTA-INTD), 0 for none. */
void pci_device_set_intx_pin(struct pci_device *d, unsigned pin);
/* Appends a capability of len bytes (>= 2) with id in the standard list
 * (4-byte aligned, from 0x40); returns its offset or a negative errno. The
 * caller fills bytes [off+2, off+len) and their wmask. */
int pci_device_add_capability(struct pci_device *d, uint8_t id, unsigned len, struct err *err);

/* INTx (PCI 3.0 §2.2.6): GSI of pin (1-4) of a slot on bus 0, swizzled like
 * a PCI-to-PCI bridge would: LAYOUT_GSI_PCI_INTX_BASE + ((slot + pin - 1) % 4).
 * The DSDT's _PRT must use the same formula. Lines are level-triggered and
 * shared: the host ORs the devices on each line. */
unsigned pci_intx_gsi(unsigned slot, unsigned pin);
/* Assert or deassert d's pin (honours PCI_COMMAND_INTX_DISABLE). Call with
 * *d->lock held; takes only the host's leaf interrupt lock inside it. */
void pci_device_set_intx(struct pci_device *d, bool level);

/* Little-endian helpers on config[] (reg + size within PCI_CONFIG_SIZE). */
uint32_t pci_config_get(const struct pci_device *d, unsigned reg, unsigned size);
void pci_config_set(struct pci_device *d, unsigned reg, uint32_t val, unsigned size);

struct pci_host *pci_host_create(struct vm *vm, struct err *err);
/* Unmaps every registered device's BARs and the host's ports and ECAM. */
void pci_host_destroy(struct pci_host *h);
/* Puts device d at 00:slot.fn (devfn = slot << 3 | fn) on bus 0. d must stay
 * valid until pci_host_destroy or pci_unregister_device. */
int pci_register_device(struct pci_host *h, struct pci_device *d, unsigned devfn,
			struct err *err);
void pci_unregister_device(struct pci_host *h, struct pci_device *d);
/* First free slot (function 0) from slot 1, or -ENOSPC. */
int pci_host_free_slot(struct pci_host *h);
/* Platform reset: BARs unmapped, command registers cleared, 0xCF8 latch zero. */
void pci_host_reset(struct pci_host *h);

/* Raw config access as the guest sees it (bus, devfn, reg; absent devices
 * read all-ones). For tests and a future firmware interface. */
uint32_t pci_host_config_read(struct pci_host *h, unsigned bus, unsigned devfn, unsigned reg,
			      unsigned size);
void pci_host_config_write(struct pci_host *h, unsigned bus, unsigned devfn, unsigned reg,
			   uint32_t val, unsigned size);

#endif
