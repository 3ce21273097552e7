/* Choosing the accelerator for --accel. */
#include "accel/accel.h"

#include <fcntl.h>
#include <stddef.h>
#include <unistd.h>

static bool accel_path_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* KVM runs guest kernels at native speed only on hardware VT-x / AMD-V
 * (kvm_intel / kvm_amd). kvm_pvm virtualizes in software: user code runs
 * well but guest kernel code is emulated, far too slowly for Linux. */
static bool accel_kvm_is_hardware(const char **why)
{
	int fd;

	if (accel_path_exists("/sys/module/kvm_pvm")) {
		*why = "this host's KVM is kvm_pvm (software nested virtualization)";
		return false;
	}
	if (!accel_path_exists("/sys/module/kvm_intel") &&
	    !accel_path_exists("/sys/module/kvm_amd")) {
		*why = "this host has no hardware-virtualization KVM (kvm_intel or kvm_amd)";
		return false;
	}
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		*why = "/dev/kvm cannot be opened";
		return false;
	}
	close(fd);
	*why = "hardware virtualization";
	return true;
}

const struct accel_ops *accel_select(enum accel_kind kind, const char **why, struct err *err)
{
	const char *reason = "";

	*why = "";
	switch (kind) {
	case ACCEL_KVM:
		return &accel_kvm_ops;
	case ACCEL_EMU:
		return &accel_emu_ops;
	case ACCEL_AUTO:
		if (accel_kvm_is_hardware(&reason)) {
			*why = reason;
			return &accel_kvm_ops;
		}
		/* main prints "using emu (<why>)" on stderr, one line. */
		*why = reason;
		return &accel_emu_ops;
	}
	err_set(err, "unknown accelerator");
	return NULL;
}
