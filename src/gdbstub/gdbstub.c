/* The GDB remote stub: the socket, the connection's life on the I/O loop,
 * stops and resumes, breakpoints and memory. Packet framing is rsp.c, the
 * register file gdb_regs.c, address translation pagewalk.c, and the
 * command set gdbstub_cmd.c. */
#include "gdbstub/gdbstub_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/event.h"
#include "core/log.h"
#include "vm/pause.h"

/* --- Address parsing --- */

int gdbstub_parse_addr(const char *s, uint32_t *addr, uint16_t *port, struct err *err)
{
	char host[64];
	const char *colon;
	struct in_addr in;
	char *end;
	unsigned long p;
	size_t n;

	if (strncmp(s, "tcp:", 4))
		return err_set(err, "'%s': expected tcp:HOST:PORT or tcp::PORT", s);
	s += 4;
	colon = strrchr(s, ':');
	if (!colon)
		return err_set(err, "'tcp:%s': expected tcp:HOST:PORT or tcp::PORT", s);
	n = (size_t)(colon - s);
	if (n >= sizeof(host))
		return err_set(err, "'tcp:%s': host name too long", s);
	memcpy(host, s, n);
	host[n] = 0;
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || p > 65535 || colon[1] == '-' || colon[1] == '+')
		return err_set(err, "'tcp:%s': port must be a number from 0 to 65535", s);
	if (!n || !strcmp(host, "localhost")) {
		in.s_addr = htonl(INADDR_LOOPBACK);
	} else if (inet_pton(AF_INET, host, &in) != 1) {
		return err_set(err, "'tcp:%s': host must be an IPv4 loopback address", s);
	}
	/* 127.0.0.0/8 (RFC 1122, 3.2.1.3): nothing from outside the host. */
	if ((ntohl(in.s_addr) >> 24) != 127)
		return err_set(err, "'tcp:%s': the GDB stub only listens on loopback (127.x.x.x)",
			       s);
	*addr = ntohl(in.s_addr);
	*port = (uint16_t)p;
	return 0;
}

/* --- Output --- */

static void gdb_close_client(struct gdbstub *g);

static void gdb_write_all(struct gdbstub *g, const uint8_t *buf, size_t len)
{
	while (len && g->client_fd >= 0) {
		ssize_t n = send(g->client_fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_warn("gdb: sending to the debugger: %s",
				 n < 0 ? strerror(errno) : "connection closed");
			/* As if it detached: no breakpoint stays, the guest runs. */
			gdb_disconnect(g);
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

void gdb_send(struct gdbstub *g, const void *data, size_t len)
{
	size_t n = rsp_frame(data, len, g->out, sizeof(g->out));

	if (!n) {
		/* Replies are sized to fit; this is a bug, but not a fatal one. */
		static const char e[] = "E01";

		n = rsp_frame((const uint8_t *)e, 3, g->out, sizeof(g->out));
	}
	g->out_len = n;
	gdb_write_all(g, g->out, n);
}

void gdb_send_str(struct gdbstub *g, const char *s)
{
	gdb_send(g, s, strlen(s));
}

/* --- vCPU state --- */

struct vcpu *gdb_vcpu(struct gdbstub *g, unsigned index)
{
	struct vm *vm = g->vm;

	return vm->vcpus && index < vm->ncpus ? &vm->vcpus[index] : NULL;
}

/* --- Memory --- */

static bool gdb_read_phys(void *opaque, uint64_t gpa, void *buf, unsigned len)
{
	struct gdbstub *g = opaque;

	return gm_read(&g->vm->mem, gpa, buf, len);
}

/* Translates through vcpu's page tables (see pagewalk.h). */
int gdb_translate(struct gdbstub *g, struct vcpu *vcpu, uint64_t gva, uint64_t *gpa,
		  uint64_t *left)
{
	struct x86_cpu_state st;
	struct pagewalk_regs r;

	if (!vcpu || g->vm->accel->get_state(vcpu, &st))
		return -EIO;
	r = (struct pagewalk_regs){ .cr0 = st.cr0, .cr3 = st.cr3, .cr4 = st.cr4, .efer = st.efer };
	return pagewalk_translate(&r, gva, gdb_read_phys, g, gpa, left);
}

/* Copies guest-virtual memory as vcpu sees it, page by page. Returns the
 * bytes done (fewer than len at the first unmapped page or non-RAM byte). */
size_t gdb_access_memory(struct gdbstub *g, struct vcpu *vcpu, uint64_t gva, uint8_t *buf,
			 size_t len, bool write)
{
	size_t done = 0;

	while (done < len) {
		uint64_t gpa, left;
		size_t chunk;

		if (gdb_translate(g, vcpu, gva + done, &gpa, &left))
			break;
		chunk = left < len - done ? (size_t)left : len - done;
		if (write ? !gm_write(&g->vm->mem, gpa, buf + done, chunk)
			  : !gm_read(&g->vm->mem, gpa, buf + done, chunk))
			break;
		if (!write) {
			/* Show the original bytes under inserted breakpoints. */
			for (unsigned i = 0; i < GDB_MAX_SWBP; i++) {
				const struct gdb_swbp *b = &g->swbp[i];

				if (b->used && b->gpa >= gpa && b->gpa - gpa < chunk)
					buf[done + (b->gpa - gpa)] = b->orig;
			}
		}
		done += chunk;
	}
	return done;
}

/* --- Breakpoints and debug state --- */

/* Hands every vCPU the debug state: #BP intercepted while a software
 * breakpoint is inserted (only then: Linux patches its own text with INT3),
 * the hardware slots, and single-step for the stepping vCPU. */
int gdb_update_debug(struct gdbstub *g)
{
	const struct accel_ops *a = g->vm->accel;
	struct accel_guest_debug dbg;
	bool any_sw = false;
	int r = 0;

	if (!a->set_guest_debug)
		return -ENOTSUP;
	memset(&dbg, 0, sizeof(dbg));
	for (unsigned i = 0; i < GDB_MAX_SWBP; i++)
		any_sw |= g->swbp[i].used;
	dbg.intercept_bp = any_sw;
	for (unsigned i = 0; i < ACCEL_NUM_HWBP; i++) {
		if (!g->hwbp[i].used)
			continue;
		dbg.hw[dbg.nhw].addr = g->hwbp[i].addr;
		dbg.hw[dbg.nhw].type = g->hwbp[i].type;
		dbg.hw[dbg.nhw].len = g->hwbp[i].len;
		dbg.nhw++;
	}
	for (unsigned i = 0; i < g->vm->ncpus && i < GDB_MAX_VCPUS; i++) {
		struct vcpu *vcpu = gdb_vcpu(g, i);
		struct accel_guest_debug d = dbg;
		bool on;

		if (!vcpu)
			break;
		d.single_step = g->step[i];
		d.reinject_bp = g->reinject_bp[i];
		g->reinject_bp[i] = false;
		on = d.single_step || d.intercept_bp || d.nhw || d.reinject_bp;
		if (a->set_guest_debug(vcpu, on ? &d : NULL))
			r = -EIO;
	}
	return r;
}

static struct gdb_swbp *gdb_swbp_find(struct gdbstub *g, uint64_t gva)
{
	for (unsigned i = 0; i < GDB_MAX_SWBP; i++)
		if (g->swbp[i].used && g->swbp[i].gva == gva)
			return &g->swbp[i];
	return NULL;
}

/* INT3 (0xCC) over the first byte of the instruction (SDM Vol. 2A, INT n). */
static int gdb_swbp_arm(struct gdbstub *g, struct gdb_swbp *b)
{
	static const uint8_t int3 = 0xcc;

	if (!gm_read(&g->vm->mem, b->gpa, &b->orig, 1) ||
	    !gm_write(&g->vm->mem, b->gpa, &int3, 1))
		return -EFAULT;
	return 0;
}

static void gdb_swbp_disarm(struct gdbstub *g, struct gdb_swbp *b)
{
	uint8_t cur;

	/* If the guest rewrote the byte meanwhile, its value wins. */
	if (gm_read(&g->vm->mem, b->gpa, &cur, 1) && cur == 0xcc)
		gm_write(&g->vm->mem, b->gpa, &b->orig, 1);
}

int gdb_swbp_insert(struct gdbstub *g, uint64_t gva)
{
	struct gdb_swbp *b = gdb_swbp_find(g, gva);
	uint64_t left;
	int r;

	if (b)
		return 0;
	for (unsigned i = 0; i < GDB_MAX_SWBP && !b; i++)
		if (!g->swbp[i].used)
			b = &g->swbp[i];
	if (!b)
		return -ENOSPC;
	if (!g->vm->accel->set_guest_debug)
		return -ENOTSUP;
	if ((r = gdb_translate(g, gdb_vcpu(g, g->g_cpu), gva, &b->gpa, &left)))
		return r;
	b->gva = gva;
	if ((r = gdb_swbp_arm(g, b)))
		return r;
	b->used = true;
	if (gdb_update_debug(g)) {
		gdb_swbp_disarm(g, b);
		b->used = false;
		return -EIO;
	}
	return 0;
}

int gdb_swbp_remove(struct gdbstub *g, uint64_t gva)
{
	struct gdb_swbp *b = gdb_swbp_find(g, gva);

	if (!b)
		return -ENOENT;
	gdb_swbp_disarm(g, b);
	b->used = false;
	return gdb_update_debug(g);
}

int gdb_hwbp_insert(struct gdbstub *g, uint64_t addr, uint8_t type, uint8_t len)
{
	for (unsigned i = 0; i < ACCEL_NUM_HWBP; i++) {
		struct gdb_hwbp *h = &g->hwbp[i];

		if (h->used)
			continue;
		*h = (struct gdb_hwbp){ .used = true, .addr = addr, .type = type, .len = len };
		if (gdb_update_debug(g)) {
			h->used = false;
			gdb_update_debug(g);
			return -EIO;
		}
		return 0;
	}
	return -ENOSPC;
}

int gdb_hwbp_remove(struct gdbstub *g, uint64_t addr, uint8_t type, uint8_t len)
{
	for (unsigned i = 0; i < ACCEL_NUM_HWBP; i++) {
		struct gdb_hwbp *h = &g->hwbp[i];

		if (h->used && h->addr == addr && h->type == type && h->len == len) {
			h->used = false;
			return gdb_update_debug(g);
		}
	}
	return -ENOENT;
}

static void gdb_remove_all(struct gdbstub *g)
{
	for (unsigned i = 0; i < GDB_MAX_SWBP; i++) {
		if (g->swbp[i].used)
			gdb_swbp_disarm(g, &g->swbp[i]);
		g->swbp[i].used = false;
	}
	memset(g->hwbp, 0, sizeof(g->hwbp));
	memset(g->step, 0, sizeof(g->step));
	gdb_update_debug(g);
}

/* --- Stops and resumes --- */

/* Runs on the vCPU thread that hit a debug event, under the run-state lock
 * (vm_pause_debug_stop): the first event wins until the stub consumes it. */
static void gdb_debug_hook(void *opaque, struct vcpu *vcpu)
{
	struct gdbstub *g = opaque;
	uint64_t one = 1;

	pthread_mutex_lock(&g->stop_lock);
	if (!g->stop.pending) {
		g->stop.pending = true;
		g->stop.vcpu = vcpu->index;
		g->stop.ev = vcpu->debug_exit;
	}
	pthread_mutex_unlock(&g->stop_lock);
	if (write(g->notify_fd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow; the flag carries the event. */
	}
}

void gdb_resume(struct gdbstub *g, int step_cpu, int only_cpu)
{
	struct vcpu *only = only_cpu >= 0 ? gdb_vcpu(g, (unsigned)only_cpu) : NULL;

	memset(g->step, 0, sizeof(g->step));
	if (step_cpu >= 0 && (unsigned)step_cpu < GDB_MAX_VCPUS)
		g->step[step_cpu] = true;
	if (gdb_update_debug(g) && step_cpu >= 0)
		log_warn("gdb: the accelerator cannot single-step");
	pthread_mutex_lock(&g->stop_lock);
	g->stop.pending = false;
	pthread_mutex_unlock(&g->stop_lock);
	g->running = true;
	if (only)
		vm_resume_vcpu(g->vm, only);
	else
		vm_resume(g->vm);
}

/* Builds the stop reply for the last stop: T<sig>thread:<id>; plus why
 * (GDB manual, "Stop Reply Packets"). */
void gdb_stop_reply(struct gdbstub *g)
{
	char buf[128];
	int n = snprintf(buf, sizeof(buf), "T%02xthread:%x;", g->last.signal,
			 g->last.vcpu + 1);

	if (g->last.has_ev) {
		const struct accel_debug_exit *e = &g->last.ev;

		if (e->reason == ACCEL_DEBUG_SWBP && g->swbreak)
			n += snprintf(buf + n, sizeof(buf) - (size_t)n, "swbreak:;");
		else if (e->reason == ACCEL_DEBUG_HWBP && g->hwbreak)
			n += snprintf(buf + n, sizeof(buf) - (size_t)n, "hwbreak:;");
		else if (e->reason == ACCEL_DEBUG_WATCH)
			n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%s:%llx;",
				      e->index < ACCEL_NUM_HWBP &&
						      g->hwbp_type_at[e->index] == ACCEL_HWBP_ACCESS
					      ? "awatch"
					      : "watch",
				      (unsigned long long)e->addr);
	}
	(void)n;
	gdb_send_str(g, buf);
}

/* Pauses the VM for a stop gdb must hear about and reports it. */
static void gdb_report_stop(struct gdbstub *g, int signal, unsigned vcpu,
			    const struct accel_debug_exit *ev)
{
	if (vm_pause(g->vm))
		return; /* the VM is ending: gdbstub_vm_exited reports it */
	g->running = false;
	memset(g->step, 0, sizeof(g->step));
	gdb_update_debug(g);
	g->last.signal = signal;
	g->last.vcpu = vcpu;
	g->last.has_ev = ev != NULL;
	if (ev) {
		g->last.ev = *ev;
		/* Record which hw slot type the accelerator meant, for awatch. */
		for (unsigned i = 0, n = 0; i < ACCEL_NUM_HWBP; i++)
			if (g->hwbp[i].used)
				g->hwbp_type_at[n++] = g->hwbp[i].type;
	}
	g->g_cpu = g->c_cpu = vcpu;
	gdb_stop_reply(g);
}

static void gdb_notify_cb(void *opaque, uint32_t events)
{
	struct gdbstub *g = opaque;
	struct accel_debug_exit ev;
	unsigned vcpu;
	uint64_t v;
	bool pending;

	(void)events;
	if (read(g->notify_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: the flag decides. */
	}
	pthread_mutex_lock(&g->stop_lock);
	pending = g->stop.pending;
	vcpu = g->stop.vcpu;
	ev = g->stop.ev;
	g->stop.pending = false;
	pthread_mutex_unlock(&g->stop_lock);
	if (!pending)
		return;
	if (!g->running || g->client_fd < 0) {
		/* Already stopped (Ctrl-C won the race), or nobody to tell: the
		 * event is dropped; a breakpoint hits again when resumed. */
		if (g->client_fd < 0)
			vm_resume(g->vm);
		return;
	}
	if (ev.reason == ACCEL_DEBUG_SWBP && !gdb_swbp_find(g, ev.addr)) {
		/* The guest's own INT3 (Linux patches code with it): deliver it
		 * to the guest and go on, as if no debugger were attached. */
		if (vm_pause(g->vm))
			return;
		if (vcpu < GDB_MAX_VCPUS)
			g->reinject_bp[vcpu] = true;
		gdb_resume(g, -1, -1);
		return;
	}
	if (ev.reason == ACCEL_DEBUG_STEP && (vcpu >= GDB_MAX_VCPUS || !g->step[vcpu])) {
		/* A late step event from a step gdb no longer waits for. */
		if (vm_pause(g->vm) == 0)
			gdb_resume(g, -1, -1);
		return;
	}
	gdb_report_stop(g, GDB_SIGTRAP, vcpu, &ev);
}

/* --- The connection --- */

static void gdb_close_client(struct gdbstub *g)
{
	if (g->client_fd < 0)
		return;
	if (g->loop_attached)
		event_loop_del_fd(g->vm->loop, g->client_fd);
	close(g->client_fd);
	g->client_fd = -1;
}

/* The debugger went away (D, EOF, error): nothing it set stays behind, and
 * the guest runs on. */
void gdb_disconnect(struct gdbstub *g)
{
	bool had = g->client_fd >= 0;

	gdb_close_client(g);
	if (!had)
		return;
	log_info("gdb: debugger detached");
	if (g->vm->vcpus && vm_pause(g->vm) == 0)
		gdb_remove_all(g);
	g->running = true;
	vm_resume(g->vm);
}

static void gdb_client_cb(void *opaque, uint32_t events)
{
	struct gdbstub *g = opaque;
	uint8_t buf[4096];
	ssize_t n;

	n = recv(g->client_fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		gdb_disconnect(g);
		return;
	}
	for (ssize_t i = 0; i < n && g->client_fd >= 0; i++) {
		switch (rsp_feed(&g->in, buf[i])) {
		case RSP_PACKET:
			if (!g->no_ack)
				gdb_write_all(g, (const uint8_t *)"+", 1);
			gdb_handle_packet(g, (const char *)g->in.buf, g->in.len);
			break;
		case RSP_BAD:
			if (!g->no_ack)
				gdb_write_all(g, (const uint8_t *)"-", 1);
			break;
		case RSP_NAK:
			if (!g->no_ack && g->out_len)
				gdb_write_all(g, g->out, g->out_len);
			break;
		case RSP_INTERRUPT:
			if (g->running)
				gdb_report_stop(g, GDB_SIGINT, g->c_cpu, NULL);
			break;
		case RSP_ACK:
		case RSP_NONE:
			break;
		}
	}
	(void)events;
}

static void gdb_accept_cb(void *opaque, uint32_t events)
{
	struct gdbstub *g = opaque;
	struct err err = { { 0 } };
	int one = 1;
	int fd = accept4(g->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	(void)events;
	if (fd < 0)
		return;
	if (g->client_fd >= 0) {
		/* One debugger at a time. */
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	{
		/* A debugger that stops reading must not wedge the I/O thread. */
		struct timeval tv = { .tv_sec = 10 };

		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	g->client_fd = fd;
	if (event_loop_add_fd(g->vm->loop, fd, EPOLLIN, gdb_client_cb, g, &err)) {
		log_warn("gdb: %s", err.msg);
		close(fd);
		g->client_fd = -1;
		return;
	}
	rsp_init(&g->in);
	g->no_ack = false;
	g->swbreak = g->hwbreak = false;
	g->out_len = 0;
	log_info("gdb: debugger connected");
	/* Attaching stops the machine, as gdb expects of a target it attaches to. */
	if (vm_pause(g->vm))
		return;
	g->running = false;
	g->g_cpu = g->c_cpu = 0;
	g->last.signal = GDB_SIGTRAP;
	g->last.vcpu = 0;
	g->last.has_ev = false;
}

/* --- Lifecycle --- */

struct gdbstub *gdbstub_create(struct vm *vm, struct err *err)
{
	struct gdbstub *g = calloc(1, sizeof(*g));
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	int one = 1;

	if (!g) {
		err_errno(err, ENOMEM, "gdb stub");
		return NULL;
	}
	g->vm = vm;
	g->client_fd = -1;
	g->running = true;
	pthread_mutex_init(&g->stop_lock, NULL);
	g->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	g->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (g->notify_fd < 0 || g->listen_fd < 0) {
		err_errno(err, errno, "gdb stub: socket");
		goto fail;
	}
	setsockopt(g->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_addr.s_addr = htonl(vm->cfg->gdb.addr);
	sa.sin_port = htons(vm->cfg->gdb.port);
	if (bind(g->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(g->listen_fd, 1) < 0 ||
	    getsockname(g->listen_fd, (struct sockaddr *)&sa, &salen) < 0) {
		err_errno(err, errno, "--gdb tcp:%s:%u", inet_ntoa(sa.sin_addr),
			  vm->cfg->gdb.port);
		goto fail;
	}
	log_info("gdb stub listening on tcp:%s:%u%s", inet_ntoa(sa.sin_addr),
		 ntohs(sa.sin_port), vm->cfg->gdb.wait ? ", vCPUs wait for gdb to continue" : "");
	vm_pause_set_debug_hook(vm, gdb_debug_hook, g);
	if (vm->cfg->gdb.wait) {
		vm_pause(vm); /* no vCPU thread yet: they park as they start */
		g->running = false;
	}
	return g;
fail:
	gdbstub_destroy(g);
	return NULL;
}

int gdbstub_attach(struct gdbstub *g, struct err *err)
{
	struct vm *vm = g->vm;
	int r;

	if ((r = event_loop_add_fd(vm->loop, g->listen_fd, EPOLLIN, gdb_accept_cb, g, err)) ||
	    (r = event_loop_add_fd(vm->loop, g->notify_fd, EPOLLIN, gdb_notify_cb, g, err)))
		return r;
	if (g->client_fd >= 0 &&
	    (r = event_loop_add_fd(vm->loop, g->client_fd, EPOLLIN, gdb_client_cb, g, err)))
		return r;
	g->loop_attached = true;
	/* A reset rebuilt RAM and the vCPUs: put the breakpoints back. */
	for (unsigned i = 0; i < GDB_MAX_SWBP; i++)
		if (g->swbp[i].used && gdb_swbp_arm(g, &g->swbp[i]))
			g->swbp[i].used = false;
	gdb_update_debug(g);
	return 0;
}

void gdbstub_detach(struct gdbstub *g)
{
	struct vm *vm = g->vm;

	if (!g->loop_attached || !vm->loop)
		return;
	event_loop_del_fd(vm->loop, g->listen_fd);
	event_loop_del_fd(vm->loop, g->notify_fd);
	if (g->client_fd >= 0)
		event_loop_del_fd(vm->loop, g->client_fd);
	g->loop_attached = false;
	pthread_mutex_lock(&g->stop_lock);
	g->stop.pending = false;
	pthread_mutex_unlock(&g->stop_lock);
}

void gdbstub_vm_exited(struct gdbstub *g, int status)
{
	char buf[16];

	if (!g || g->client_fd < 0)
		return;
	/* "W": the process exited (GDB manual, "Stop Reply Packets"). */
	snprintf(buf, sizeof(buf), "W%02x", status & 0xff);
	gdb_send_str(g, buf);
	gdb_close_client(g);
}

void gdbstub_destroy(struct gdbstub *g)
{
	if (!g)
		return;
	gdbstub_detach(g);
	vm_pause_set_debug_hook(g->vm, NULL, NULL);
	if (g->client_fd >= 0)
		close(g->client_fd);
	if (g->listen_fd >= 0)
		close(g->listen_fd);
	if (g->notify_fd >= 0)
		close(g->notify_fd);
	pthread_mutex_destroy(&g->stop_lock);
	free(g);
}
