/* Platform ports: isa-debug-exit, i8042 reset, ACPI PM1 block (S5, status,
 * enable, SCI_EN) and PM timer, POST code port. */
#include <time.h>
#include <unistd.h>

#include "fake_vm.h"
#include "hw/misc/pc_misc.h"
#include "hw/x86/layout.h"
#include "testlib.h"

static struct vm vm;

static uint64_t in(unsigned port, unsigned size)
{
	return io_read(vm.pio, port, size);
}

static void out(unsigned port, uint64_t v, unsigned size)
{
	io_write(vm.pio, port, v, size);
}

int main(void)
{
	struct err err = { { 0 } };
	struct pc_misc *m;

	if (fake_vm_init(&vm, 0) < 0) {
		printf("not ok pc_misc_setup: fake vm\n");
		return 1;
	}
	m = pc_misc_create(&vm, &err);

	TEST_BEGIN("pc_misc_debug_exit");
	CHECK(m != NULL);
	out(LAYOUT_PORT_DEBUG_EXIT, 0x1f, 1);
	CHECK_EQ(fake_vm_last_request, VM_REQ_EXIT);
	CHECK_EQ(fake_vm_exit_status, 0x3f);
	fake_vm_reset();
	out(LAYOUT_PORT_DEBUG_EXIT, 0x10, 4);
	CHECK_EQ(fake_vm_last_request, VM_REQ_EXIT);
	CHECK_EQ(fake_vm_exit_status, 0x21);
	out(LAYOUT_PORT_DEBUG_EXIT, 0, 2);
	CHECK_EQ(fake_vm_exit_status, 1);
	TEST_END();

	TEST_BEGIN("pc_misc_i8042_reset");
	fake_vm_reset();
	CHECK_EQ(in(0x64, 1), 0x01); /* OBF: Linux's flush gives up; IBF clear */
	out(0x64, 0xaa, 1);          /* self-test: harmless */
	out(0x64, 0xd1, 1);
	out(0x60, 0xdf, 1);          /* A20 on, reset line high: no reset */
	CHECK_EQ(fake_vm_last_request, VM_REQ_NONE);
	out(0x64, 0xfe, 1);
	CHECK_EQ(fake_vm_last_request, VM_REQ_RESET);
	fake_vm_reset();
	out(0x64, 0xd1, 1);
	out(0x60, 0xfe, 1); /* output port bit 0 cleared */
	CHECK_EQ(fake_vm_last_request, VM_REQ_RESET);
	TEST_END();

	TEST_BEGIN("pc_misc_acpi_s5_poweroff");
	fake_vm_reset();
	CHECK_EQ(in(LAYOUT_PORT_ACPI_PM1A_CNT, 2) & 1, 1); /* SCI_EN: ACPI mode */
	/* ACPICA writes SLP_TYP first, then SLP_TYP | SLP_EN */
	out(LAYOUT_PORT_ACPI_PM1A_CNT, LAYOUT_ACPI_S5_SLP_TYP << 10, 2);
	CHECK_EQ(fake_vm_last_request, VM_REQ_NONE);
	out(LAYOUT_PORT_ACPI_PM1A_CNT, 3 << 10 | LAYOUT_ACPI_SLP_EN, 2); /* S3: not ours */
	CHECK_EQ(fake_vm_last_request, VM_REQ_NONE);
	CHECK_EQ(in(LAYOUT_PORT_ACPI_PM1A_CNT, 2) & LAYOUT_ACPI_SLP_EN, 0); /* write-only */
	out(LAYOUT_PORT_ACPI_PM1A_CNT, LAYOUT_ACPI_S5_SLP_TYP << 10 | LAYOUT_ACPI_SLP_EN, 2);
	CHECK_EQ(fake_vm_last_request, VM_REQ_POWEROFF);
	/* a byte write of the high half alone also works */
	fake_vm_reset();
	out(LAYOUT_PORT_ACPI_PM1A_CNT + 1, (LAYOUT_ACPI_S5_SLP_TYP << 2) | 0x20, 1);
	CHECK_EQ(fake_vm_last_request, VM_REQ_POWEROFF);
	TEST_END();

	TEST_BEGIN("pc_misc_pm1_status_enable");
	out(LAYOUT_PORT_ACPI_PM1A_EVT + 2, 0x0120, 2); /* GBL_EN, PWRBTN_EN */
	CHECK_EQ(in(LAYOUT_PORT_ACPI_PM1A_EVT + 2, 2), 0x0120);
	CHECK_EQ(in(LAYOUT_PORT_ACPI_PM1A_EVT, 2), 0);
	/* a dword access covers STS and EN */
	CHECK_EQ(in(LAYOUT_PORT_ACPI_PM1A_EVT, 4), 0x01200000);
	out(LAYOUT_PORT_ACPI_PM1A_EVT, 0xffff, 2); /* w1c on zero: stays zero, EN untouched */
	CHECK_EQ(in(LAYOUT_PORT_ACPI_PM1A_EVT, 4), 0x01200000);
	pc_misc_reset(m);
	CHECK_EQ(in(LAYOUT_PORT_ACPI_PM1A_EVT, 4), 0);
	CHECK_EQ(in(LAYOUT_PORT_ACPI_PM1A_CNT, 2), 1);
	TEST_END();

	TEST_BEGIN("pc_misc_pm_timer_advances");
	{
		uint32_t a = (uint32_t)in(LAYOUT_PORT_ACPI_PM_TMR, 4), b, d;
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		nanosleep(&ts, NULL);
		b = (uint32_t)in(LAYOUT_PORT_ACPI_PM_TMR, 4);
		d = (b - a) & 0xffffff;
		CHECK(a <= 0xffffff && b <= 0xffffff);
		/* 20 ms at 3.579545 MHz = 71591 ticks; allow scheduling slack */
		CHECK(d >= 71000 && d < 3579545);
		fake_vm_reset();
		out(LAYOUT_PORT_ACPI_PM_TMR, 0, 4); /* read-only */
		out(LAYOUT_PORT_ACPI_PM1A_CNT + 2, 0xffffffff, 4); /* padding + timer: ignored */
		out(LAYOUT_PORT_ACPI_PM1A_CNT, 0xffffffff, 4);     /* CNT + padding, no SLP_TYP 5 */
		CHECK_EQ(fake_vm_last_request, VM_REQ_NONE);
		CHECK(((uint32_t)in(LAYOUT_PORT_ACPI_PM_TMR, 4) - b) % 0x1000000 < 3579545);
	}
	TEST_END();

	TEST_BEGIN("pc_misc_post_ports");
	fake_vm_reset();
	out(0x80, 0x55, 1);
	out(0xed, 0x55, 1);
	CHECK_EQ(in(0x80, 1), 0xff);
	CHECK_EQ(io_space_stats(vm.pio).unmapped_writes, 0);
	CHECK_EQ(fake_vm_last_request, VM_REQ_NONE);
	TEST_END();

	pc_misc_destroy(m);
	TEST_BEGIN("pc_misc_destroy_unmaps");
	CHECK_EQ(in(0x64, 1), 0xff);
	m = pc_misc_create(&vm, &err); /* and can be created again */
	CHECK(m != NULL);
	pc_misc_destroy(m);
	TEST_END();
	fake_vm_fini(&vm);
	return 0;
}
