/* Kernel detection, the protected/long-mode entry state shared by the Linux
 * and multiboot loaders, and file reading. */
#include "hw/x86/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hw/x86/layout.h"
#include "vm/vm.h"

/* Kernels bigger than this are certainly not what the user meant. */
#define BOOT_KERNEL_MAX (512 * MiB)

int boot_read_file(const char *what, const char *path, uint64_t max, uint8_t **buf,
		   size_t *len, struct err *err)
{
	struct stat st;
	uint8_t *p;
	size_t done = 0;
	int fd, ret;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_errno(err, errno, "%s '%s'", what, path);
	if (fstat(fd, &st) < 0) {
		ret = err_errno(err, errno, "%s '%s'", what, path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = err_set(err, "%s '%s': not a regular file", what, path);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		ret = err_set(err, "%s '%s' is %llu MiB; at most %llu MiB are supported", what, path,
			      (unsigned long long)st.st_size >> 20, (unsigned long long)max >> 20);
		ret = -EFBIG;
		goto out;
	}
	/* +1 so that an empty file still gets a buffer the caller can free. */
	p = malloc((size_t)st.st_size + 1);
	if (!p) {
		ret = err_errno(err, ENOMEM, "%s '%s'", what, path);
		goto out;
	}
	while (done < (size_t)st.st_size) {
		ssize_t r = read(fd, p + done, (size_t)st.st_size - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ret = r < 0 ? err_errno(err, errno, "%s '%s'", what, path)
				    : err_set(err, "%s '%s': file shrank while reading", what, path);
			free(p);
			goto out;
		}
		done += (size_t)r;
	}
	*buf = p;
	*len = done;
	ret = 0;
out:
	close(fd);
	return ret;
}

static struct x86_segment boot_seg(uint16_t sel, uint8_t type, int l, int db)
{
	return (struct x86_segment){ .base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
				     .s = 1, .dpl = 0, .present = 1, .l = (uint8_t)l,
				     .db = (uint8_t)db, .g = 1 };
}

static void boot_system_segments(struct x86_cpu_state *st)
{
	/* Hardware needs a usable TR even if nothing ever switches tasks (VMX
	 * guest-state checks, Intel SDM Vol. 3C §27.3.1.2): a busy 32-bit TSS. */
	st->tr = (struct x86_segment){ .limit = 0xffff, .type = 11, .present = 1 };
	st->ldt = (struct x86_segment){ .limit = 0xffff, .type = 2, .present = 1 };
	/* The BSP's APIC at its reset address, enabled (SDM Vol. 3A §10.4.4). */
	st->apic_base = LAYOUT_LAPIC_BASE | (1u << 11) | (1u << 8);
}

int boot_protected_mode(const struct guest_mem *gm, int long_mode, struct x86_cpu_state *st,
			struct err *err)
{
	/* Descriptors: base 0, limit 0xfffff pages, present, DPL 0. Code is
	 * execute/read (type 0xb with accessed), data read/write (0x3). The
	 * 64-bit code segment has L=1, D=0 (SDM Vol. 3A §3.4.5). */
	const uint64_t gdt[4] = {
		0,
		0,
		long_mode ? 0x00af9b000000ffffULL : 0x00cf9b000000ffffULL,
		0x00cf93000000ffffULL,
	};
	const uint64_t idt = 0;

	if (!gm_write(gm, LAYOUT_BOOT_GDT, gdt, sizeof(gdt)) ||
	    !gm_write(gm, LAYOUT_BOOT_IDT, &idt, sizeof(idt)))
		return err_set(err, "guest RAM too small for the boot GDT");
	memset(st, 0, sizeof(*st));
	st->cs = boot_seg(BOOT_SEL_CS, 0xb, long_mode, !long_mode);
	st->ds = st->es = st->fs = st->gs = st->ss = boot_seg(BOOT_SEL_DS, 0x3, 0, 1);
	boot_system_segments(st);
	st->gdt = (struct x86_dtable){ LAYOUT_BOOT_GDT, sizeof(gdt) - 1 };
	st->idt = (struct x86_dtable){ LAYOUT_BOOT_IDT, 0 };
	st->rflags = 2; /* bit 1 is reserved as 1; IF clear */
	st->gpr[X86_RSP] = LAYOUT_BOOT_STACK;
	/* PE, ET (always 1 on modern CPUs), NE (native FPU errors). */
	st->cr0 = 0x31;
	if (long_mode) {
		st->cr0 |= 1ULL << 31;     /* PG */
		st->cr3 = LAYOUT_PML4;
		st->cr4 = 1u << 5;         /* PAE */
		st->efer = (1u << 8) | (1u << 10); /* LME | LMA */
	}
	return 0;
}

int boot_write_page_tables(const struct guest_mem *gm, struct err *err)
{
	uint64_t *pml4 = gm_hva(gm, LAYOUT_PML4, 4096);
	uint64_t *pdpt = gm_hva(gm, LAYOUT_PDPT, 4096);
	uint64_t *pd = gm_hva(gm, LAYOUT_PD, 4 * 4096);

	if (!pml4 || !pdpt || !pd)
		return err_set(err, "guest RAM too small for the boot page tables");
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	/* Present | writable for the upper levels; PS for 2 MiB leaves
	 * (SDM Vol. 3A §4.5, tables 4-15 to 4-18). */
	pml4[0] = LAYOUT_PDPT | 0x3;
	for (unsigned i = 0; i < 4; i++)
		pdpt[i] = (LAYOUT_PD + i * 4096) | 0x3;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | 0x83;
	return 0;
}

int boot_load(const struct guest_mem *gm, const struct vm_config *cfg,
	      struct x86_cpu_state *entry, struct err *err)
{
	const char *cmdline = cfg->cmdline ? cfg->cmdline : "";
	char *with_console = NULL;
	uint8_t *image;
	size_t len;
	int ret;

	if (!cfg->kernel)
		return err_set(err, "no kernel to load");
	/* With the console on virtio-console, a Linux guest's default console
	 * is hvc0 (the loader adds console=ttyS0 only when none is given). */
	if (cfg->console == CONSOLE_VIRTIO && !strstr(cmdline, "console=")) {
		if (asprintf(&with_console, "%s%sconsole=hvc0", cmdline, cmdline[0] ? " " : "") < 0)
			return err_errno(err, ENOMEM, "kernel command line");
		cmdline = with_console;
	}
	ret = boot_read_file("kernel", cfg->kernel, BOOT_KERNEL_MAX, &image, &len, err);
	if (ret < 0) {
		free(with_console);
		return ret;
	}
	/* A bzImage is recognised first: its setup header is at a fixed
	 * offset, while a multiboot header could in theory appear inside one. */
	if (linux_boot_probe(image, len))
		ret = linux_boot_load(gm, cfg->kernel, image, len, cfg->initrd, cmdline, entry,
				      err);
	else if (multiboot_probe(image, len))
		ret = multiboot_load(gm, cfg->kernel, image, len, cfg->initrd, cmdline, entry,
				     err);
	else
		ret = err_set(err,
			      "kernel '%s': not a bzImage (boot protocol >= 2.06) or multiboot ELF kernel",
			      cfg->kernel);
	free(image);
	free(with_console);
	return ret;
}

int boot_load_kernel(struct vm *vm, struct x86_cpu_state *entry, struct err *err)
{
	return boot_load(&vm->mem, vm->cfg, entry, err);
}
