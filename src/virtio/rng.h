/* virtio-rng (virtio 1.2 §5.4): the guest's /dev/hwrng, fed from the host's
 * getrandom(). One request queue, no config space, no features. */
#ifndef VIREO_VIRTIO_RNG_H
#define VIREO_VIRTIO_RNG_H

#include "core/err.h"

struct vm;
struct pci_host;
struct virtio_rng;

struct virtio_rng *virtio_rng_create(struct vm *vm, struct pci_host *host, struct err *err);
void virtio_rng_destroy(struct virtio_rng *rng);

#endif
