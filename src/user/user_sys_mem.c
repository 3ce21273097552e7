/* Memory system calls: mmap family and brk. Guest mappings are host
 * mappings at the same address; the guest map (user_map.h) records which
 * are the guest's, so MAP_FIXED, munmap, mprotect and mremap can only
 * touch guest-owned ranges or host-free address space, never the emulator. */
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "user/user_sys.h"

#define USER_TASK_SIZE (1ULL << 47) /* top of the x86-64 user half (4-level paging) */

struct user_claim {
	uint64_t done[64][2];
	int n;
};

static int user_claim_gap(void *opaque, uint64_t gap, uint64_t len)
{
	struct user_claim *c = opaque;
	void *m;

	if (c->n == 64)
		return -ENOMEM;
	m = mmap(USER_PTR(gap), len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
		 MAP_FIXED_NOREPLACE, -1, 0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	if (m != USER_PTR(gap)) {
		/* Old kernels ignore MAP_FIXED_NOREPLACE: treat like EEXIST. */
		munmap(m, len);
		return -ENOMEM;
	}
	c->done[c->n][0] = gap;
	c->done[c->n++][1] = len;
	return 0;
}

static void user_claim_undo(struct user_claim *c)
{
	while (c->n--)
		munmap(USER_PTR(c->done[c->n][0]), c->done[c->n][1]);
}

/* Make [addr, addr+len) safe for a MAP_FIXED host call: every part is
 * either the guest's already or was host-free and is now reserved. A part
 * the emulator itself uses fails with -ENOMEM (Linux would silently
 * replace it; vireo-user never lets the guest overwrite itself). */
static int user_claim(struct user_proc *p, uint64_t addr, uint64_t len, struct user_claim *c)
{
	int rc;

	c->n = 0;
	if (addr + len < addr || addr + len > USER_TASK_SIZE)
		return -ENOMEM;
	rc = user_map_for_each_gap(&p->map, addr, len, user_claim_gap, c);
	if (rc)
		user_claim_undo(c);
	return rc;
}

static long user_sys_mmap(struct user_proc *p, const uint64_t *a)
{
	uint64_t addr = a[0], len = user_page_up(a[1]);
	int prot = (int)a[2], flags = (int)a[3];
	const int known = MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE | MAP_ANONYMOUS |
			  MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_NORESERVE | MAP_POPULATE |
			  MAP_GROWSDOWN | MAP_STACK | MAP_32BIT | MAP_DENYWRITE | MAP_EXECUTABLE |
			  MAP_LOCKED | MAP_NONBLOCK;
	struct user_claim claim = { .n = 0 };
	void *m;
	long rc;

	if (!a[1] || len < a[1] || a[5] & USER_PAGE_MASK || prot & ~(PROT_READ | PROT_WRITE |
								 PROT_EXEC))
		return -EINVAL;
	if (flags & ~known)
		return -EINVAL;
	/* The stack grows by the guest's own mmaps, not by host fault handling. */
	flags &= ~(MAP_GROWSDOWN | MAP_LOCKED);
	if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
		if (addr & USER_PAGE_MASK)
			return -EINVAL;
		if (addr + len < addr || addr + len > USER_TASK_SIZE)
			return -ENOMEM;
	}
	if (flags & MAP_FIXED_NOREPLACE) {
		/* Wins over MAP_FIXED, as in the kernel; the host refuses its own ranges. */
		flags &= ~MAP_FIXED;
		if (user_map_overlaps(&p->map, addr, len))
			return -EEXIST;
	} else if (flags & MAP_FIXED) {
		rc = user_claim(p, addr, len, &claim);
		if (rc)
			return rc;
	}
	m = mmap(USER_PTR(addr), len, user_host_prot(prot), flags, (int)a[4], (off_t)a[5]);
	if (m == MAP_FAILED) {
		rc = -errno;
		user_claim_undo(&claim);
		return rc;
	}
	if ((uint64_t)(uintptr_t)m + len > USER_TASK_SIZE) {
		munmap(m, len);
		return -ENOMEM;
	}
	if (user_map_add(&p->map, (uint64_t)(uintptr_t)m, len, prot)) {
		munmap(m, len);
		return -ENOMEM;
	}
	user_mem_changed(p, (uint64_t)(uintptr_t)m, len);
	return (long)(uintptr_t)m;
}


static long user_sys_munmap(struct user_proc *p, uint64_t addr, uint64_t len)
{
	uint64_t end;
	size_t i;

	len = user_page_up(len);
	if (addr & USER_PAGE_MASK || !len || addr + len < addr)
		return -EINVAL;
	end = addr + len;
	/* Unmap only guest-owned pieces; the rest is not the guest's to drop. */
	for (i = 0; i < p->map.n; i++) {
		uint64_t s = p->map.r[i].start > addr ? p->map.r[i].start : addr;
		uint64_t e = p->map.r[i].end < end ? p->map.r[i].end : end;

		if (s < e)
			munmap(USER_PTR(s), e - s);
	}
	if (user_map_remove(&p->map, addr, len))
		return -ENOMEM;
	user_mem_changed(p, addr, len);
	return 0;
}

static long user_sys_mprotect(struct user_proc *p, uint64_t addr, uint64_t len, int prot)
{
	len = user_page_up(len);
	if (addr & USER_PAGE_MASK || addr + len < addr)
		return -EINVAL;
	/* PROT_GROWSDOWN/UP apply to stack vmas; the guest stack is one fixed range. */
	prot &= ~(PROT_GROWSDOWN | PROT_GROWSUP);
	if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC))
		return -EINVAL;
	if (!len)
		return 0;
	if (!user_map_check(&p->map, addr, len, 0))
		return -ENOMEM;
	if (mprotect(USER_PTR(addr), len, user_host_prot(prot)))
		return -errno;
	if (user_map_protect(&p->map, addr, len, prot))
		return -ENOMEM;
	user_mem_changed(p, addr, len);
	return 0;
}

static long user_sys_mremap(struct user_proc *p, const uint64_t *a)
{
	uint64_t old = a[0], old_len = user_page_up(a[1]), new_len = user_page_up(a[2]);
	int flags = (int)a[3];
	const struct user_map_range *r;
	struct user_claim claim = { .n = 0 };
	void *m;
	int prot;
	long rc;

	if (old & USER_PAGE_MASK || !new_len || new_len < a[2] || old_len < a[1] ||
	    flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED) ||
	    (flags & MREMAP_FIXED && !(flags & MREMAP_MAYMOVE)))
		return -EINVAL;
	/* old_len 0 duplicates a shared mapping: not needed by static programs. */
	if (!old_len)
		return -EINVAL;
	r = user_map_find(&p->map, old);
	if (!r || !user_map_check(&p->map, old, old_len, 0))
		return -EFAULT;
	prot = r->prot;
	if (flags & MREMAP_FIXED) {
		if (a[4] & USER_PAGE_MASK)
			return -EINVAL;
		if (a[4] < old + old_len && old < a[4] + new_len)
			return -EINVAL;
		rc = user_claim(p, a[4], new_len, &claim);
		if (rc)
			return rc;
	}
	m = mremap(USER_PTR(old), old_len, new_len, flags, USER_PTR(a[4]));
	if (m == MAP_FAILED) {
		rc = -errno;
		user_claim_undo(&claim);
		return rc;
	}
	user_map_remove(&p->map, old, old_len);
	if (user_map_add(&p->map, (uint64_t)(uintptr_t)m, new_len, prot))
		return -ENOMEM;
	user_mem_changed(p, old, old_len);
	user_mem_changed(p, (uint64_t)(uintptr_t)m, new_len);
	return (long)(uintptr_t)m;
}

static long user_sys_range(struct user_proc *p, long nr, const uint64_t *a)
{
	uint64_t len = user_page_up(a[1]);

	if (a[0] & USER_PAGE_MASK || len < a[1])
		return -EINVAL;
	if (!len)
		return 0;
	if (!user_map_check(&p->map, a[0], len, 0))
		return -ENOMEM;
	if (nr == SYS_madvise)
		user_mem_changed(p, a[0], len); /* MADV_DONTNEED zeroes pages */
	return user_host_ret(syscall(nr, a[0], len, a[2]));
}

/* brk: the heap is host memory right after the highest ELF segment. */
static long user_sys_brk(struct user_proc *p, uint64_t addr)
{
	uint64_t old_top = user_page_up(p->brk_cur), new_top = user_page_up(addr);

	if (addr < p->brk_start || addr > USER_TASK_SIZE)
		return (long)p->brk_cur;
	if (new_top > old_top) {
		void *m = mmap(USER_PTR(old_top), new_top - old_top, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

		if (m == MAP_FAILED)
			return (long)p->brk_cur;
		if (m != USER_PTR(old_top) ||
		    user_map_add(&p->map, old_top, new_top - old_top, PROT_READ | PROT_WRITE)) {
			munmap(m, new_top - old_top);
			return (long)p->brk_cur;
		}
		user_mem_changed(p, old_top, new_top - old_top);
	} else if (new_top < old_top) {
		munmap(USER_PTR(new_top), old_top - new_top);
		user_map_remove(&p->map, new_top, old_top - new_top);
		user_mem_changed(p, new_top, old_top - new_top);
	}
	p->brk_cur = addr;
	return (long)addr;
}

long user_sys_mem(struct user_proc *p, long nr, const uint64_t *a)
{
	switch (nr) {
	case SYS_mmap:
		return user_sys_mmap(p, a);
	case SYS_munmap:
		return user_sys_munmap(p, a[0], a[1]);
	case SYS_mprotect:
		return user_sys_mprotect(p, a[0], a[1], (int)a[2]);
	case SYS_mremap:
		return user_sys_mremap(p, a);
	case SYS_madvise: case SYS_msync:
		return user_sys_range(p, nr, a);
	case SYS_brk:
		return user_sys_brk(p, a[0]);
	}
	return USER_SYS_NONE;
}
