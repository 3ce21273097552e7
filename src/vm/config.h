/* The validated machine description: main() parses the command line into
 * this struct, and nothing below main() sees argv. */
#ifndef VIREO_VM_CONFIG_H
#define VIREO_VM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/blk.h"

enum accel_kind { ACCEL_AUTO, ACCEL_KVM, ACCEL_EMU };
enum serial_kind { SERIAL_STDIO, SERIAL_FILE, SERIAL_NONE };
/* Which device carries the guest console (and the --serial backend). */
enum console_kind { CONSOLE_SERIAL, CONSOLE_VIRTIO };

#define VM_MAX_DISKS 16

struct vm_config {
	enum accel_kind accel;
	const char *kernel;   /* bzImage or multiboot ELF; NULL if firmware boots */
	const char *initrd;   /* optional */
	const char *cmdline;  /* as given; the loader appends console=ttyS0 if no console= */
	const char *firmware; /* flat image ending at 4 GiB, entered at the reset vector */
	unsigned cpus;        /* >= 1 */
	uint64_t mem_size;    /* bytes, > 0, multiple of 4 KiB */
	enum serial_kind serial;
	const char *serial_path; /* for SERIAL_FILE */
	enum console_kind console; /* CONSOLE_VIRTIO: the backend goes to hvc0, COM1 idles */
	bool no_reboot;
	bool rng;                /* virtio-rng */
	unsigned ndisks;         /* virtio-blk disks: vda, vdb, ... in this order */
	struct virtio_blk_opts disks[VM_MAX_DISKS];
};

#endif
