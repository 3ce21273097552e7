/* virtio-console (virtio 1.2 §5.3), single port: the guest's /dev/hvc0,
 * connected to a chardev (stdio when it is the guest's console). */
#ifndef VIREO_VIRTIO_CONSOLE_H
#define VIREO_VIRTIO_CONSOLE_H

#include "core/err.h"

struct vm;
struct pci_host;
struct chardev;
struct virtio_console;

/* cd stays owned by the caller and must outlive the device. */
struct virtio_console *virtio_console_create(struct vm *vm, struct pci_host *host,
					     struct chardev *cd, struct err *err);
void virtio_console_destroy(struct virtio_console *con);

#endif
