/* vm_pause / vm_resume / vm_resume_vcpu and the debug-stop hook, with real
 * vCPU threads (vm/vcpu.c) on a fake accelerator whose vcpu_run counts
 * "instructions" until it is kicked, so no KVM is needed. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"
#include "vm/pause.h"
#include "vm/vcpu.h"

#define NCPUS 3

static _Atomic unsigned long runs[NCPUS];
static _Atomic bool kicked[NCPUS];
static _Atomic int debug_on_cpu = -1; /* that vCPU returns VCPU_EXIT_DEBUG once */
static _Atomic int hook_cpu = -1;

static int fake_vcpu_init(struct vcpu *vcpu, struct err *err)
{
	vcpu->accel = &runs[vcpu->index];
	return 0;
}

static void fake_vcpu_destroy(struct vcpu *vcpu)
{
	vcpu->accel = NULL;
}

static enum vcpu_exit fake_vcpu_run(struct vcpu *vcpu)
{
	struct timespec ts = { 0, 100 * 1000 };
	for (;;) {
		int expected = (int)vcpu->index;

		if (atomic_exchange(&kicked[vcpu->index], false) || vm_vcpu_must_return(vcpu->vm))
			return VCPU_EXIT_KICKED;
		if (atomic_compare_exchange_strong(&debug_on_cpu, &expected, -1)) {
			vcpu->debug_exit = (struct accel_debug_exit){ .reason = ACCEL_DEBUG_STEP };
			return VCPU_EXIT_DEBUG;
		}
		atomic_fetch_add(&runs[vcpu->index], 1);
		nanosleep(&ts, NULL);
	}
}

static void fake_vcpu_kick(struct vcpu *vcpu)
{
	atomic_store(&kicked[vcpu->index], true);
}

static int fake_state(struct vcpu *vcpu, const struct x86_cpu_state *st)
{
	return 0;
}

static const struct accel_ops fake_ops = {
	.name = "fake",
	.vcpu_init = fake_vcpu_init,
	.vcpu_destroy = fake_vcpu_destroy,
	.vcpu_run = fake_vcpu_run,
	.vcpu_kick = fake_vcpu_kick,
	.set_state = fake_state,
};

static void snapshot(unsigned long *s)
{
	for (unsigned i = 0; i < NCPUS; i++)
		s[i] = atomic_load(&runs[i]);
}

static void msleep(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Waits (up to 5 s) until every vCPU in mask ran past base. */
static bool all_ran(const unsigned long *base, unsigned mask)
{
	for (int t = 0; t < 5000; t++) {
		bool ok = true;

		for (unsigned i = 0; i < NCPUS; i++)
			if ((mask & (1u << i)) && atomic_load(&runs[i]) <= base[i])
				ok = false;
		if (ok)
			return true;
		msleep(1);
	}
	return false;
}

static void hook(void *opaque, struct vcpu *vcpu)
{
	(void)opaque;
	atomic_store(&hook_cpu, (int)vcpu->index);
}

int main(void)
{
	static struct vm_config cfg = { .cpus = NCPUS };
	struct err err = { { 0 } };
	struct vm *vm = calloc(1, sizeof(*vm));
	unsigned long a[NCPUS], b[NCPUS], zero[NCPUS] = { 0 };

	/* A hang here is a failure: the runner would otherwise wait forever. */
	alarm(60);
	if (!vm)
		return 1;
	vm->cfg = &cfg;
	vm->accel = &fake_ops;
	vm->ncpus = NCPUS;
	vm_pause_init(vm);

	TEST_BEGIN("pause_before_start_parks_vcpus");
	CHECK(vcpu_create_all(vm, &err) == 0);
	CHECK(vm_pause(vm) == 0); /* no threads yet */
	CHECK(vcpu_start_all(vm, &err) == 0);
	msleep(30);
	snapshot(a);
	CHECK_EQ(a[0] + a[1] + a[2], 0);
	CHECK(vm_is_paused(vm));
	TEST_END();

	TEST_BEGIN("resume_runs_every_vcpu");
	vm_resume(vm);
	CHECK(!vm_is_paused(vm));
	CHECK(all_ran(zero, 7));
	TEST_END();

	TEST_BEGIN("pause_waits_until_all_parked");
	CHECK(vm_pause(vm) == 0);
	pthread_mutex_lock(&vm->run.lock);
	CHECK_EQ(vm->run.parked, NCPUS);
	CHECK_EQ(vm->run.active, NCPUS);
	pthread_mutex_unlock(&vm->run.lock);
	snapshot(a);
	msleep(30);
	snapshot(b);
	CHECK(!memcmp(a, b, sizeof(a)));
	CHECK(vm_pause(vm) == 0); /* pausing a paused VM */
	TEST_END();

	TEST_BEGIN("resume_vcpu_runs_it_alone");
	snapshot(a);
	vm_resume_vcpu(vm, &vm->vcpus[1]);
	CHECK(all_ran(a, 2));
	snapshot(b);
	CHECK(b[0] == a[0] && b[2] == a[2]);
	CHECK(vm_pause(vm) == 0);
	pthread_mutex_lock(&vm->run.lock);
	CHECK_EQ(vm->run.parked, NCPUS);
	pthread_mutex_unlock(&vm->run.lock);
	TEST_END();

	TEST_BEGIN("debug_exit_pauses_all_and_calls_hook");
	vm_pause_set_debug_hook(vm, hook, NULL);
	snapshot(a);
	vm_resume(vm);
	CHECK(all_ran(a, 7));
	atomic_store(&debug_on_cpu, 2);
	for (int t = 0; t < 5000 && atomic_load(&hook_cpu) < 0; t++)
		msleep(1);
	CHECK_EQ(atomic_load(&hook_cpu), 2);
	CHECK(vm_is_paused(vm));
	CHECK(vm_pause(vm) == 0);
	snapshot(a);
	msleep(30);
	snapshot(b);
	CHECK(!memcmp(a, b, sizeof(a)));
	vm_pause_set_debug_hook(vm, NULL, NULL);
	TEST_END();

	TEST_BEGIN("request_releases_parked_vcpus");
	/* Paused, then a request: vcpu_stop_all must join every thread, and
	 * vm_pause reports the VM is ending. */
	atomic_store(&vm->request, VM_REQ_EXIT);
	vcpu_stop_all(vm);
	pthread_mutex_lock(&vm->run.lock);
	CHECK_EQ(vm->run.active, 0);
	CHECK_EQ(vm->run.parked, 0);
	pthread_mutex_unlock(&vm->run.lock);
	TEST_END();

	vcpu_destroy_all(vm);
	vm_pause_fini(vm);
	free(vm);
	return 0;
}
