/* ELF loader for vireo-user (System V gABI, x86-64 psABI §5). Segments are
 * host-mmapped at their guest addresses with MAP_FIXED_NOREPLACE, so a
 * guest that wants memory the emulator already uses gets a clear error
 * instead of silently overwriting vireo-user. */
#include "user/user_elf.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define USER_ELF_MAX_PHNUM 128

int user_elf_check(const uint8_t *head, uint64_t len, struct err *err)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)head;

	if (len < EI_NIDENT || memcmp(head, ELFMAG, SELFMAG))
		return err_set(err, "not an ELF executable"), -ENOEXEC;
	if (head[EI_CLASS] == ELFCLASS32)
		return err_set(err, "32-bit ELF executables are not supported (x86-64 only)"),
		       -ENOEXEC;
	if (head[EI_CLASS] != ELFCLASS64 || head[EI_DATA] != ELFDATA2LSB ||
	    len < sizeof(Elf64_Ehdr))
		return err_set(err, "unsupported ELF class or byte order"), -ENOEXEC;
	if (eh->e_machine != EM_X86_64)
		return err_set(err, "ELF machine %u is not x86-64", eh->e_machine), -ENOEXEC;
	if (eh->e_type != ET_EXEC && eh->e_type != ET_DYN)
		return err_set(err, "ELF type %u is not an executable", eh->e_type), -ENOEXEC;
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || !eh->e_phnum ||
	    eh->e_phnum > USER_ELF_MAX_PHNUM)
		return err_set(err, "bad ELF program header table"), -ENOEXEC;
	return 0;
}

static int user_elf_prot(uint32_t flags)
{
	return (flags & PF_R ? PROT_READ : 0) | (flags & PF_W ? PROT_WRITE : 0) |
	       (flags & PF_X ? PROT_EXEC : 0);
}

int user_host_prot(int prot)
{
	return (prot & (PROT_READ | PROT_WRITE)) | (prot & PROT_EXEC ? PROT_READ : 0);
}

static int user_elf_read_all(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* Map one PT_LOAD segment at BIAS (its page range is already reserved or free). */
static int user_elf_map_segment(struct user_proc *p, int fd, const Elf64_Phdr *ph, uint64_t bias,
				int fixed_flag, struct err *err)
{
	uint64_t va = ph->p_vaddr + bias;
	uint64_t start = user_page_down(va);
	uint64_t file_end = va + ph->p_filesz;
	uint64_t mem_end = user_page_up(va + ph->p_memsz);
	uint64_t file_map_end = user_page_up(file_end);
	int prot = user_elf_prot(ph->p_flags);
	void *m;

	if (ph->p_filesz) {
		m = mmap((void *)(uintptr_t)start, file_map_end - start, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | fixed_flag, fd, (off_t)(ph->p_offset - (va - start)));
		if (m == MAP_FAILED)
			goto fail;
		if (m != (void *)(uintptr_t)start) {
			munmap(m, file_map_end - start);
			errno = EEXIST;
			goto fail;
		}
		/* Zero the bss part of the last file page (gABI: p_memsz > p_filesz). */
		if (ph->p_memsz > ph->p_filesz && file_map_end > file_end)
			memset((void *)(uintptr_t)file_end, 0, file_map_end - file_end);
	} else {
		file_map_end = start;
	}
	if (mem_end > file_map_end) {
		m = mmap((void *)(uintptr_t)file_map_end, mem_end - file_map_end,
			 PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | fixed_flag, -1, 0);
		if (m != MAP_FAILED && m != (void *)(uintptr_t)file_map_end) {
			munmap(m, mem_end - file_map_end);
			m = MAP_FAILED;
			errno = EEXIST;
		}
		if (m == MAP_FAILED) {
			int e = errno;

			/* Not recorded yet: undo the file part here. */
			if (file_map_end > start && fixed_flag != MAP_FIXED)
				munmap((void *)(uintptr_t)start, file_map_end - start);
			errno = e;
			goto fail;
		}
	}
	if (mprotect((void *)(uintptr_t)start, mem_end - start, user_host_prot(prot)))
		return err_errno(err, errno, "mprotect segment at 0x%llx",
				 (unsigned long long)start);
	if (user_map_add(&p->map, start, mem_end - start, prot))
		return err_errno(err, ENOMEM, "segment map");
	return 0;
fail:
	if (errno == EEXIST)
		return err_set(err, "segment at 0x%llx-0x%llx overlaps memory vireo-user already uses",
			       (unsigned long long)start, (unsigned long long)mem_end),
		       -EEXIST;
	return err_errno(err, errno, "mapping segment at 0x%llx", (unsigned long long)start);
}

int user_elf_load(struct user_proc *p, const char *path, struct user_elf_info *info,
		  struct err *err)
{
	uint8_t head[sizeof(Elf64_Ehdr)];
	Elf64_Phdr *ph = NULL;
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)head;
	uint64_t lo = UINT64_MAX, hi = 0, bias = 0, reserve = 0;
	ssize_t n;
	int fd, rc, i, fixed = MAP_FIXED_NOREPLACE;

	memset(info, 0, sizeof(*info));
	info->stack_prot = PROT_READ | PROT_WRITE;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_errno(err, errno, "%s", path);
	n = pread(fd, head, sizeof(head), 0);
	if (n < 0) {
		rc = err_errno(err, errno, "%s", path);
		goto out;
	}
	rc = user_elf_check(head, (uint64_t)n, err);
	if (rc)
		goto out_prefix;
	ph = calloc(eh->e_phnum, sizeof(*ph));
	if (!ph) {
		rc = err_errno(err, ENOMEM, "%s", path);
		goto out;
	}
	rc = user_elf_read_all(fd, ph, eh->e_phnum * sizeof(*ph), (off_t)eh->e_phoff);
	if (rc) {
		rc = err_errno(err, rc, "%s: reading program headers", path);
		goto out;
	}
	for (i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_INTERP) {
			/* A NUL-terminated path that fits (binfmt_elf's rules). */
			if (ph[i].p_filesz < 2 || ph[i].p_filesz > sizeof(info->interp) ||
			    user_elf_read_all(fd, info->interp, ph[i].p_filesz,
					      (off_t)ph[i].p_offset) ||
			    info->interp[ph[i].p_filesz - 1] || !info->interp[0]) {
				info->interp[0] = 0;
				rc = err_set(err, "bad PT_INTERP (the ELF interpreter's path)");
				rc = -ENOEXEC;
				goto out_prefix;
			}
			continue;
		}
		if (ph[i].p_type == PT_GNU_STACK)
			info->stack_prot = user_elf_prot(ph[i].p_flags) | PROT_READ | PROT_WRITE;
		if (ph[i].p_type != PT_LOAD || !ph[i].p_memsz)
			continue;
		/* Reject sizes that wrap or leave the user half, and segments whose
		 * file offset and address disagree within a page (mmap needs them equal). */
		if (ph[i].p_filesz > ph[i].p_memsz || ph[i].p_vaddr + ph[i].p_memsz < ph[i].p_vaddr ||
		    ph[i].p_vaddr + ph[i].p_memsz > (1ULL << 47) ||
		    (ph[i].p_vaddr & USER_PAGE_MASK) != (ph[i].p_offset & USER_PAGE_MASK)) {
			rc = err_set(err, "bad PT_LOAD segment %d", i);
			rc = -ENOEXEC;
			goto out_prefix;
		}
		if (user_page_down(ph[i].p_vaddr) < lo)
			lo = user_page_down(ph[i].p_vaddr);
		if (user_page_up(ph[i].p_vaddr + ph[i].p_memsz) > hi)
			hi = user_page_up(ph[i].p_vaddr + ph[i].p_memsz);
	}
	if (hi <= lo) {
		rc = err_set(err, "no loadable segment");
		rc = -ENOEXEC;
		goto out_prefix;
	}
	if (eh->e_type == ET_DYN) {
		/* Static PIE: let the host choose a free span, then map into it. */
		void *m = mmap(NULL, hi - lo, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (m == MAP_FAILED) {
			rc = err_errno(err, errno, "%s: reserving %llu bytes", path,
				       (unsigned long long)(hi - lo));
			goto out;
		}
		reserve = hi - lo;
		bias = (uint64_t)(uintptr_t)m - lo;
		fixed = MAP_FIXED;
	} else if (lo < 0x10000) {
		/* vm.mmap_min_addr: the host would refuse it anyway. */
		rc = err_set(err, "segment at 0x%llx below the minimum mmap address",
			     (unsigned long long)lo);
		rc = -ENOEXEC;
		goto out_prefix;
	}
	for (i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD || !ph[i].p_memsz)
			continue;
		rc = user_elf_map_segment(p, fd, &ph[i], bias, fixed, err);
		if (rc)
			goto out_unmap;
		if (!info->phdr && ph[i].p_offset == 0 && eh->e_phoff < ph[i].p_filesz)
			info->phdr = ph[i].p_vaddr + bias + eh->e_phoff;
	}
	for (i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_PHDR)
			info->phdr = ph[i].p_vaddr + bias;
	/* Unused gaps of a static-PIE reservation stay PROT_NONE and unowned. */
	info->entry = eh->e_entry + bias;
	info->phnum = eh->e_phnum;
	info->phent = sizeof(Elf64_Phdr);
	info->bias = bias;
	info->brk = hi + bias;
	info->lo = lo + bias;
	rc = 0;
	goto out;
out_unmap:
	if (reserve) {
		/* Segments were mapped inside the reservation: drop it all. */
		user_map_remove(&p->map, lo + bias, reserve);
		munmap((void *)(uintptr_t)(lo + bias), reserve);
	} else {
		/* Recorded segments are exactly those that were mapped. */
		for (i = 0; i < eh->e_phnum; i++) {
			uint64_t s = user_page_down(ph[i].p_vaddr);
			uint64_t e = user_page_up(ph[i].p_vaddr + ph[i].p_memsz);

			if (ph[i].p_type == PT_LOAD && ph[i].p_memsz &&
			    user_map_check(&p->map, s, e - s, 0)) {
				munmap((void *)(uintptr_t)s, e - s);
				user_map_remove(&p->map, s, e - s);
			}
		}
	}
out_prefix:
	err_prefix(err, "%s", path);
out:
	free(ph);
	close(fd);
	return rc;
}
