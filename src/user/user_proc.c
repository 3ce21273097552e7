/* Process state and guest pointer checks; see user_proc.h. */
#include "user/user_proc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "user/user_sysnames.h"

int user_proc_init(struct user_proc *p, struct cpu *cpu)
{
	memset(p, 0, sizeof(*p));
	user_map_init(&p->map);
	p->cpu = cpu;
	p->vfork_fd = -1;
	return 0;
}

void user_proc_fini(struct user_proc *p)
{
	user_map_fini(&p->map);
}

bool user_readable(struct user_proc *p, uint64_t addr, uint64_t len)
{
	return user_map_check(&p->map, addr, len, PROT_READ);
}

bool user_writable(struct user_proc *p, uint64_t addr, uint64_t len)
{
	return user_map_check(&p->map, addr, len, PROT_WRITE);
}

long user_strncpy(struct user_proc *p, uint64_t addr, char *buf, size_t len)
{
	size_t i = 0;

	/* Check page by page: a string may end just before an unmapped page. */
	while (i < len) {
		uint64_t at = addr + i;
		uint64_t chunk = USER_PAGE_SIZE - (at & USER_PAGE_MASK);
		const char *src = (const char *)(uintptr_t)at;
		const char *nul;

		if (at < addr || !user_readable(p, at, 1))
			return -EFAULT;
		if (chunk > len - i)
			chunk = len - i;
		nul = memchr(src, 0, chunk);
		if (nul) {
			memcpy(buf + i, src, (size_t)(nul - src) + 1);
			return (long)(i + (size_t)(nul - src));
		}
		memcpy(buf + i, src, chunk);
		i += chunk;
	}
	return -ENAMETOOLONG;
}

long user_path(struct user_proc *p, uint64_t addr, char *buf, bool exe)
{
	long n = user_strncpy(p, addr, buf, PATH_MAX);

	if (n >= 0 && exe && p->exe_path[0] && !strcmp(buf, "/proc/self/exe")) {
		snprintf(buf, PATH_MAX, "%s", p->exe_path);
		n = (long)strlen(buf);
	}
	return n;
}

void user_mem_changed(struct user_proc *p, uint64_t addr, uint64_t len)
{
	if (!p->cpu)
		return;
	cpu_tlb_flush(p->cpu);
	cpu_invalidate_code(p->cpu, addr, len);
}

void user_mem_written(struct user_proc *p, uint64_t addr, uint64_t len)
{
	/* Only executable pages can hold decoded code; skip the call otherwise. */
	if (p->cpu && user_map_any_prot(&p->map, addr, len, PROT_EXEC))
		cpu_invalidate_code(p->cpu, addr, len);
}

void user_msg(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "vireo-user: %s\n", line);
}

void user_report_once(struct user_proc *p, unsigned long nr, const char *why)
{
	if (nr < sizeof(p->reported) * 8) {
		if (p->reported[nr / 8] & (1u << (nr % 8)))
			return;
		p->reported[nr / 8] |= (uint8_t)(1u << (nr % 8));
	}
	user_msg("%s system call %lu (%s)", why, nr, user_sysname(nr));
}
