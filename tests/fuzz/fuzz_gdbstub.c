/* libFuzzer harness: arbitrary bytes from a "debugger" into the GDB stub.
 * The input is fed through the RSP framer (rsp_feed) and every complete
 * packet (checksums are not checked, so the fuzzer need not compute them)
 * goes to gdb_handle_packet on a fake two-vCPU machine: register state in
 * memory, 64 KiB of malloc'd RAM (so ASan sees any access outside it), page
 * tables read from that RAM when the fuzzed CR0/CR4 turn paging on.
 * Replies go to a socket pair that is drained after each packet. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gdbstub/gdbstub_int.h"
#include "vm/pause.h"

#define NCPUS 2
#define RAM_SIZE 0x10000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct x86_cpu_state cpu_state[NCPUS];

static int fake_get_state(struct vcpu *vcpu, struct x86_cpu_state *st)
{
	*st = cpu_state[vcpu->index];
	return 0;
}

static int fake_set_state(struct vcpu *vcpu, const struct x86_cpu_state *st)
{
	cpu_state[vcpu->index] = *st;
	return 0;
}

static int fake_set_guest_debug(struct vcpu *vcpu, const struct accel_guest_debug *dbg)
{
	return 0;
}

static void fake_kick(struct vcpu *vcpu)
{
}

static const struct accel_ops fake_ops = {
	.name = "fake",
	.get_state = fake_get_state,
	.set_state = fake_set_state,
	.set_guest_debug = fake_set_guest_debug,
	.vcpu_kick = fake_kick,
};

static void drain(int fd)
{
	uint8_t buf[4096];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vm_config cfg = { .cpus = NCPUS };
	static struct vcpu vcpus[NCPUS];
	static struct vm vm;
	static struct gdbstub g;
	int sv[2];

	memset(&vm, 0, sizeof(vm));
	memset(&g, 0, sizeof(g));
	memset(cpu_state, 0, sizeof(cpu_state));
	vm.mem.base = calloc(1, RAM_SIZE);
	if (!vm.mem.base || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		free(vm.mem.base);
		return 0;
	}
	vm.mem.size = RAM_SIZE;
	vm.mem.region[0] = (struct guest_mem_region){ 0, RAM_SIZE, vm.mem.base };
	vm.mem.nregions = 1;
	vm.cfg = &cfg;
	vm.accel = &fake_ops;
	vm.ncpus = NCPUS;
	vm.wake_fd = -1;
	vm.vcpus = vcpus;
	for (unsigned i = 0; i < NCPUS; i++)
		vcpus[i] = (struct vcpu){ .vm = &vm, .index = i };
	vm_pause_init(&vm);
	g.vm = &vm;
	g.client_fd = sv[0];
	g.listen_fd = g.notify_fd = -1;
	pthread_mutex_init(&g.stop_lock, NULL);
	g.last.signal = GDB_SIGTRAP;
	/* Paging on for vCPU 0 with tables at 0x1000 in the fuzzed RAM. */
	cpu_state[0].cr0 = 0x80000011;
	cpu_state[0].cr3 = 0x1000;
	cpu_state[0].cr4 = 0x20;
	cpu_state[0].efer = 0x500;
	memcpy(vm.mem.base, data, size < RAM_SIZE ? size : RAM_SIZE);
	rsp_init(&g.in);
	for (size_t i = 0; i < size; i++) {
		enum rsp_event e = rsp_feed(&g.in, data[i]);

		if ((e == RSP_PACKET || e == RSP_BAD) && g.client_fd >= 0) {
			g.running = false;
			gdb_handle_packet(&g, (const char *)g.in.buf, g.in.len);
			drain(sv[1]);
		}
	}
	if (g.client_fd >= 0)
		close(g.client_fd);
	close(sv[1]);
	pthread_mutex_destroy(&g.stop_lock);
	vm_pause_fini(&vm);
	free(vm.mem.base);
	return 0;
}
