/* The stub's command set (GDB manual, "Packets", "General Query Packets",
 * "Stop Reply Packets"): registers, memory, breakpoints, continue and step
 * (also as vCont), threads (one per vCPU, id = index + 1), the target
 * description via qXfer, detach and kill. Unknown packets get the empty
 * reply, which tells gdb they are not supported. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "gdbstub/gdbstub_int.h"

#define GDB_E_FAULT "E0e" /* EFAULT (14): memory not accessible */
#define GDB_E_INVAL "E16" /* EINVAL (22): malformed or out of range */
#define GDB_E_IO "E05"

/* Largest m/M/X transfer: its hex must fit in one packet. */
#define GDB_MAX_MEM ((RSP_MAX_PACKET - 16) / 2)

static bool gdb_prefix(const char **s, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(*s, prefix, n))
		return false;
	*s += n;
	return true;
}

/* A thread id: hex, "-1" (all) or "0" (any); "pPID.TID" is accepted too.
 * Returns the vCPU index, -1 for all/any, or -2 if malformed/unknown. */
static int gdb_parse_thread(struct gdbstub *g, const char **s)
{
	uint64_t v;

	if (**s == 'p') {
		(*s)++;
		if (!strncmp(*s, "-1", 2))
			*s += 2;
		else if (!rsp_parse_hex(s, &v))
			return -2;
		if (**s != '.')
			return -1;
		(*s)++;
	}
	if (!strncmp(*s, "-1", 2)) {
		*s += 2;
		return -1;
	}
	if (!rsp_parse_hex(s, &v))
		return -2;
	if (v == 0)
		return -1;
	if (v > g->vm->ncpus)
		return -2;
	return (int)(v - 1);
}

static struct vcpu *gdb_g_vcpu(struct gdbstub *g)
{
	return gdb_vcpu(g, g->g_cpu);
}

/* --- Registers --- */

static int gdb_read_regs(struct gdbstub *g, uint8_t *buf)
{
	const struct accel_ops *a = g->vm->accel;
	struct vcpu *vcpu = gdb_g_vcpu(g);
	struct x86_cpu_state st;
	struct x86_fpu_state fpu;
	bool have_fpu;

	if (!vcpu || a->get_state(vcpu, &st))
		return -EIO;
	have_fpu = a->get_fpu && a->get_fpu(vcpu, &fpu) == 0;
	gdb_regs_pack(&st, have_fpu ? &fpu : NULL, buf);
	return 0;
}

static int gdb_write_regs(struct gdbstub *g, const uint8_t *buf)
{
	const struct accel_ops *a = g->vm->accel;
	struct vcpu *vcpu = gdb_g_vcpu(g);
	struct x86_cpu_state st;
	struct x86_fpu_state fpu;
	bool have_fpu;

	if (!vcpu || a->get_state(vcpu, &st))
		return -EIO;
	have_fpu = a->get_fpu && a->set_fpu && a->get_fpu(vcpu, &fpu) == 0;
	gdb_regs_unpack(buf, &st, have_fpu ? &fpu : NULL);
	if (a->set_state(vcpu, &st))
		return -EIO;
	if (have_fpu && a->set_fpu(vcpu, &fpu))
		return -EIO;
	return 0;
}

static void gdb_cmd_g(struct gdbstub *g)
{
	uint8_t regs[GDB_REGS_SIZE];

	if (gdb_read_regs(g, regs)) {
		gdb_send_str(g, GDB_E_IO);
		return;
	}
	rsp_hex_encode(regs, sizeof(regs), g->xfer_buf);
	gdb_send_str(g, g->xfer_buf);
}

static void gdb_cmd_G(struct gdbstub *g, const char *p, size_t len)
{
	uint8_t regs[GDB_REGS_SIZE];

	/* gdb may send fewer registers than it knows (a prefix); the rest
	 * keep their values. */
	if (len % 2 || len / 2 > sizeof(regs) || gdb_read_regs(g, regs) ||
	    !rsp_hex_decode(p, len / 2, regs)) {
		gdb_send_str(g, GDB_E_INVAL);
		return;
	}
	gdb_send_str(g, gdb_write_regs(g, regs) ? GDB_E_IO : "OK");
}

static void gdb_cmd_p(struct gdbstub *g, const char *p, bool write)
{
	uint8_t regs[GDB_REGS_SIZE];
	unsigned size;
	uint64_t n;
	int off;

	if (!rsp_parse_hex(&p, &n) || n >= GDB_NUM_REGS || (write && *p++ != '=') ||
	    (off = gdb_reg_offset((unsigned)n, &size)) < 0) {
		gdb_send_str(g, write ? GDB_E_INVAL : "E0f");
		return;
	}
	if (gdb_read_regs(g, regs)) {
		gdb_send_str(g, GDB_E_IO);
		return;
	}
	if (!write) {
		rsp_hex_encode(regs + off, size, g->xfer_buf);
		gdb_send_str(g, g->xfer_buf);
		return;
	}
	if (strlen(p) != 2 * size || !rsp_hex_decode(p, size, regs + off)) {
		gdb_send_str(g, GDB_E_INVAL);
		return;
	}
	gdb_send_str(g, gdb_write_regs(g, regs) ? GDB_E_IO : "OK");
}

/* --- Memory --- */

static bool gdb_parse_addr_len(const char **p, uint64_t *addr, uint64_t *len)
{
	return rsp_parse_hex(p, addr) && *(*p)++ == ',' && rsp_parse_hex(p, len);
}

static void gdb_cmd_m(struct gdbstub *g, const char *p)
{
	uint8_t buf[GDB_MAX_MEM];
	uint64_t addr, len;
	size_t done;

	if (!gdb_parse_addr_len(&p, &addr, &len) || *p) {
		gdb_send_str(g, GDB_E_INVAL);
		return;
	}
	if (len > sizeof(buf))
		len = sizeof(buf); /* gdb asks again for the rest */
	done = gdb_access_memory(g, gdb_g_vcpu(g), addr, buf, (size_t)len, false);
	if (!done && len) {
		gdb_send_str(g, GDB_E_FAULT);
		return;
	}
	rsp_hex_encode(buf, done, g->xfer_buf);
	gdb_send_str(g, g->xfer_buf);
}

/* M addr,len:HEX and X addr,len:BINARY (the parser undid the escapes). */
static void gdb_cmd_M(struct gdbstub *g, const char *p, const char *end, bool binary)
{
	uint8_t buf[GDB_MAX_MEM];
	uint64_t addr, len;

	if (!gdb_parse_addr_len(&p, &addr, &len) || *p++ != ':' || len > sizeof(buf) ||
	    (size_t)(end - p) != (binary ? len : 2 * len) ||
	    (!binary && !rsp_hex_decode(p, (size_t)len, buf))) {
		gdb_send_str(g, GDB_E_INVAL);
		return;
	}
	if (binary)
		memcpy(buf, p, (size_t)len);
	if (gdb_access_memory(g, gdb_g_vcpu(g), addr, buf, (size_t)len, true) != len) {
		gdb_send_str(g, GDB_E_FAULT);
		return;
	}
	gdb_send_str(g, "OK");
}

/* --- Breakpoints: Z/z TYPE,ADDR,KIND --- */

static void gdb_cmd_Z(struct gdbstub *g, const char *p, bool insert)
{
	static const int8_t hw_type[] = { -1, ACCEL_HWBP_EXEC, ACCEL_HWBP_WRITE, -1,
					  ACCEL_HWBP_ACCESS };
	uint64_t type, addr, kind;
	int r;

	if (!rsp_parse_hex(&p, &type) || *p++ != ',' || !gdb_parse_addr_len(&p, &addr, &kind)) {
		gdb_send_str(g, GDB_E_INVAL);
		return;
	}
	/* Read watchpoints (Z3) have no x86 debug-register form (R/W 10 is
	 * I/O): unsupported, so gdb says so. */
	if (type > 4 || (type != 0 && hw_type[type] < 0)) {
		gdb_send_str(g, "");
		return;
	}
	if (type == 0) {
		r = insert ? gdb_swbp_insert(g, addr) : gdb_swbp_remove(g, addr);
	} else {
		uint8_t len = type == 1 ? 1 : (uint8_t)kind;

		/* DR0-3 watch 1, 2, 4 or 8 aligned bytes (SDM Vol. 3B, 18.2.5). */
		if (type != 1 && ((kind != 1 && kind != 2 && kind != 4 && kind != 8) ||
				  (addr & (kind - 1)))) {
			gdb_send_str(g, GDB_E_INVAL);
			return;
		}
		r = insert ? gdb_hwbp_insert(g, addr, (uint8_t)hw_type[type], len)
			   : gdb_hwbp_remove(g, addr, (uint8_t)hw_type[type], len);
	}
	if (r == -ENOTSUP)
		gdb_send_str(g, "");
	else if (r == -EFAULT)
		gdb_send_str(g, GDB_E_FAULT);
	else
		gdb_send_str(g, r ? (r == -ENOSPC ? "E1c" : GDB_E_INVAL) : "OK");
}

/* --- Running --- */

/* c[ADDR] / s[ADDR] (and C/S with a signal gdb wants delivered, which a
 * machine has no notion of: ignored). ADDR sets RIP first. */
static void gdb_cmd_cont(struct gdbstub *g, const char *p, bool step, bool with_signal)
{
	uint64_t sig, addr;

	if (with_signal && (!rsp_parse_hex(&p, &sig) || (*p && *p++ != ';'))) {
		gdb_send_str(g, GDB_E_INVAL);
		return;
	}
	if (*p) {
		struct vcpu *vcpu = gdb_vcpu(g, g->c_cpu);
		struct x86_cpu_state st;

		if (!rsp_parse_hex(&p, &addr) || !vcpu || g->vm->accel->get_state(vcpu, &st)) {
			gdb_send_str(g, GDB_E_INVAL);
			return;
		}
		st.rip = addr;
		g->vm->accel->set_state(vcpu, &st);
	}
	if (step && !g->vm->accel->set_guest_debug) {
		gdb_send_str(g, GDB_E_IO);
		return;
	}
	/* Legacy `s` steps the Hc thread with the others stopped. */
	gdb_resume(g, step ? (int)g->c_cpu : -1, step ? (int)g->c_cpu : -1);
}

/* vCont;ACTION[:TID]...: per vCPU the leftmost action naming it applies
 * (GDB manual, "vCont"). Supported: c, C, s, S. All-stop: vCPUs without an
 * action stay stopped; with more than one stepper only the first steps. */
static void gdb_cmd_vcont(struct gdbstub *g, const char *p)
{
	enum { NONE, CONT, STEP };
	unsigned n = g->vm->ncpus < GDB_MAX_VCPUS ? g->vm->ncpus : GDB_MAX_VCPUS;
	uint8_t act[GDB_MAX_VCPUS];
	int step_cpu = -1, only = -1;
	unsigned running = 0;

	memset(act, NONE, sizeof(act));
	while (*p == ';') {
		int a, tid = -1;
		uint64_t sig;
		char c;

		p++;
		c = *p;
		if (c)
			p++; /* never past the terminating NUL */
		a = c == 'c' || c == 'C' ? CONT : c == 's' || c == 'S' ? STEP : -1;
		/* C and S carry a signal for the guest, which a machine cannot
		 * take: parsed and ignored. */
		if ((c == 'C' || c == 'S') && !rsp_parse_hex(&p, &sig))
			a = -1;
		if (a >= 0 && *p == ':') {
			p++;
			tid = gdb_parse_thread(g, &p);
			if (tid == -2)
				a = -1;
		}
		if (a < 0 || (*p && *p != ';')) {
			gdb_send_str(g, GDB_E_INVAL);
			return;
		}
		for (unsigned i = 0; i < n; i++)
			if (act[i] == NONE && (tid < 0 || (unsigned)tid == i))
				act[i] = (uint8_t)a;
	}
	for (unsigned i = 0; i < n; i++) {
		if (act[i] == STEP && step_cpu < 0)
			step_cpu = (int)i;
		else if (act[i] == STEP)
			act[i] = CONT;
		if (act[i] != NONE) {
			running++;
			only = (int)i;
		}
	}
	if (!running) {
		gdb_send_str(g, GDB_E_INVAL);
		return;
	}
	if (step_cpu >= 0 && !g->vm->accel->set_guest_debug) {
		gdb_send_str(g, GDB_E_IO);
		return;
	}
	if (step_cpu >= 0)
		g->c_cpu = (unsigned)step_cpu;
	/* One vCPU runs alone, or all do (vm_resume_vcpu / vm_resume). */
	gdb_resume(g, step_cpu, running == 1 && n > 1 ? only : -1);
}

/* --- Queries --- */

static void gdb_cmd_qsupported(struct gdbstub *g, const char *p)
{
	char buf[160];

	/* gdb's features: "name+" / "name-" / "name=value", ';'-separated. */
	g->swbreak = strstr(p, "swbreak+") != NULL;
	g->hwbreak = strstr(p, "hwbreak+") != NULL;
	snprintf(buf, sizeof(buf),
		 "PacketSize=%x;qXfer:features:read+;QStartNoAckMode+;swbreak+;hwbreak+;"
		 "vContSupported+",
		 RSP_MAX_PACKET);
	gdb_send_str(g, buf);
}

/* qXfer:features:read:ANNEX:OFFSET,LENGTH: 'm' + data if more follows,
 * 'l' + data for the last piece (GDB manual, "qXfer read"). */
static void gdb_cmd_qxfer_features(struct gdbstub *g, const char *p)
{
	size_t total = strlen(gdb_target_xml);
	uint64_t off, len;

	if (!gdb_prefix(&p, "target.xml:")) {
		gdb_send_str(g, "E00");
		return;
	}
	if (!gdb_parse_addr_len(&p, &off, &len) || *p) {
		gdb_send_str(g, GDB_E_INVAL);
		return;
	}
	if (len > RSP_MAX_PACKET - 8)
		len = RSP_MAX_PACKET - 8;
	if (off >= total) {
		gdb_send_str(g, "l");
		return;
	}
	if (len > total - off)
		len = total - off;
	g->xfer_buf[0] = off + len < total ? 'm' : 'l';
	memcpy(g->xfer_buf + 1, gdb_target_xml + off, (size_t)len);
	gdb_send(g, g->xfer_buf, (size_t)len + 1);
}

static void gdb_cmd_thread_info(struct gdbstub *g)
{
	size_t n = 0;

	g->xfer_buf[n++] = 'm';
	for (unsigned i = 0; i < g->vm->ncpus && n < sizeof(g->xfer_buf) - 16; i++)
		n += (size_t)snprintf(g->xfer_buf + n, sizeof(g->xfer_buf) - n, "%s%x",
				      i ? "," : "", i + 1);
	gdb_send(g, g->xfer_buf, n);
}

static void gdb_cmd_thread_extra(struct gdbstub *g, const char *p)
{
	int cpu = gdb_parse_thread(g, &p);
	char text[32];

	if (cpu < 0) {
		gdb_send_str(g, GDB_E_INVAL);
		return;
	}
	snprintf(text, sizeof(text), "vCPU %d", cpu);
	rsp_hex_encode((const uint8_t *)text, strlen(text), g->xfer_buf);
	gdb_send_str(g, g->xfer_buf);
}

static void gdb_cmd_query(struct gdbstub *g, const char *p)
{
	char buf[32];

	if (gdb_prefix(&p, "qSupported")) {
		gdb_cmd_qsupported(g, p);
	} else if (gdb_prefix(&p, "qXfer:features:read:")) {
		gdb_cmd_qxfer_features(g, p);
	} else if (!strcmp(p, "qAttached") || gdb_prefix(&p, "qAttached:")) {
		gdb_send_str(g, "1"); /* attached to an existing machine: detach, not kill */
	} else if (!strcmp(p, "qC")) {
		snprintf(buf, sizeof(buf), "QC%x", g->g_cpu + 1);
		gdb_send_str(g, buf);
	} else if (!strcmp(p, "qfThreadInfo")) {
		gdb_cmd_thread_info(g);
	} else if (!strcmp(p, "qsThreadInfo")) {
		gdb_send_str(g, "l");
	} else if (gdb_prefix(&p, "qThreadExtraInfo,")) {
		gdb_cmd_thread_extra(g, p);
	} else if (!strcmp(p, "qSymbol::")) {
		gdb_send_str(g, "OK");
	} else {
		gdb_send_str(g, "");
	}
}

static void gdb_cmd_H(struct gdbstub *g, const char *p)
{
	char op = *p;
	int cpu;

	if (op != 'g' && op != 'c') {
		gdb_send_str(g, GDB_E_INVAL);
		return;
	}
	p++;
	cpu = gdb_parse_thread(g, &p);
	if (cpu == -2 || *p) {
		gdb_send_str(g, GDB_E_INVAL);
		return;
	}
	/* -1/0 (all/any) keep the current choice. */
	if (cpu >= 0) {
		if (op == 'g')
			g->g_cpu = (unsigned)cpu;
		else
			g->c_cpu = (unsigned)cpu;
	}
	gdb_send_str(g, "OK");
}

void gdb_handle_packet(struct gdbstub *g, const char *pkt, size_t len)
{
	const char *p = pkt + 1;
	const char *end = pkt + len;

	if (!len) {
		gdb_send_str(g, "");
		return;
	}
	if (g->running) {
		/* All-stop: while the guest runs gdb only sends the interrupt byte. */
		gdb_send_str(g, "E10");
		return;
	}
	switch (pkt[0]) {
	case '?':
		gdb_stop_reply(g);
		break;
	case 'g':
		gdb_cmd_g(g);
		break;
	case 'G':
		gdb_cmd_G(g, p, len - 1);
		break;
	case 'p':
		gdb_cmd_p(g, p, false);
		break;
	case 'P':
		gdb_cmd_p(g, p, true);
		break;
	case 'm':
		gdb_cmd_m(g, p);
		break;
	case 'M':
		gdb_cmd_M(g, p, end, false);
		break;
	case 'X':
		gdb_cmd_M(g, p, end, true);
		break;
	case 'c':
		gdb_cmd_cont(g, p, false, false);
		break;
	case 'C':
		gdb_cmd_cont(g, p, false, true);
		break;
	case 's':
		gdb_cmd_cont(g, p, true, false);
		break;
	case 'S':
		gdb_cmd_cont(g, p, true, true);
		break;
	case 'Z':
		gdb_cmd_Z(g, p, true);
		break;
	case 'z':
		gdb_cmd_Z(g, p, false);
		break;
	case 'H':
		gdb_cmd_H(g, p);
		break;
	case 'T':
		gdb_send_str(g, gdb_parse_thread(g, &p) >= 0 && !*p ? "OK" : "E01");
		break;
	case 'q':
		gdb_cmd_query(g, pkt);
		break;
	case 'Q':
		if (!strcmp(pkt, "QStartNoAckMode")) {
			/* The OK still travels with an ack; from then on none. */
			gdb_send_str(g, "OK");
			g->no_ack = true;
		} else {
			gdb_send_str(g, "");
		}
		break;
	case 'v':
		if (!strcmp(pkt, "vCont?"))
			gdb_send_str(g, "vCont;c;C;s;S");
		else if (!strncmp(pkt, "vCont;", 6))
			gdb_cmd_vcont(g, pkt + 5);
		else if (!strncmp(pkt, "vKill", 5)) {
			gdb_send_str(g, "OK");
			log_info("gdb: kill requested, stopping the VM");
			vm_request_exit(g->vm, 128 + SIGTERM);
			gdb_disconnect(g);
		} else
			gdb_send_str(g, "");
		break;
	case 'D':
		gdb_send_str(g, "OK");
		gdb_disconnect(g);
		break;
	case 'k':
		/* No reply (GDB manual, "k"): the machine ends as on SIGTERM. */
		log_info("gdb: kill requested, stopping the VM");
		vm_request_exit(g->vm, 128 + SIGTERM);
		gdb_disconnect(g);
		break;
	default:
		gdb_send_str(g, "");
		break;
	}
}
