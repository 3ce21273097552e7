/* State shared by the KVM accelerator's VM half (kvm.c) and vCPU half
 * (kvm_vcpu.c). Nothing outside src/accel/kvm/ includes this. */
#ifndef VIREO_ACCEL_KVM_INTERNAL_H
#define VIREO_ACCEL_KVM_INTERNAL_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>

#include "accel/accel.h"

#define KVM_MAX_ROUTES 1024

struct kvm_accel {
	int sys_fd, vm_fd;
	int run_size;          /* bytes of each vCPU's struct kvm_run mapping */
	unsigned max_vcpus;
	bool readonly_mem;     /* KVM_MEM_READONLY slots */
	bool tsc_deadline;     /* the in-kernel LAPIC emulates the TSC-deadline timer */
	struct kvm_cpuid2 *cpuid; /* KVM_GET_SUPPORTED_CPUID */
	pthread_mutex_t route_lock;
	struct kvm_irq_routing *routes; /* the whole table, resent on every change */
	unsigned next_gsi;
};

struct kvm_accel_vcpu {
	int fd;
	struct kvm_run *run;
};

int kvm_vcpu_init(struct vcpu *vcpu, struct err *err);
void kvm_vcpu_destroy(struct vcpu *vcpu);
enum vcpu_exit kvm_vcpu_run(struct vcpu *vcpu);
void kvm_vcpu_kick(struct vcpu *vcpu);
int kvm_get_state(struct vcpu *vcpu, struct x86_cpu_state *st);
int kvm_set_state(struct vcpu *vcpu, const struct x86_cpu_state *st);
/* Installs the SIGUSR1 handler used for kicks (idempotent). */
void kvm_vcpu_signals_init(void);

#endif
