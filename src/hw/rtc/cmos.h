/* MC146818 real-time clock and CMOS RAM at ports 0x70 (index) and 0x71
 * (data). The clock runs on the host's UTC time plus an offset the guest sets
 * by writing the time registers; the memory-size bytes are filled from
 * vm->mem the way PC firmware (SeaBIOS) expects. No periodic, alarm or
 * update-ended interrupts: register C always reads 0 and IRQ 8 stays low. */
#ifndef VIREO_HW_RTC_CMOS_H
#define VIREO_HW_RTC_CMOS_H

#include <stdint.h>

#include "core/err.h"

struct vm;
struct cmos;

struct cmos *cmos_create(struct vm *vm, struct err *err);
void cmos_destroy(struct cmos *c);

/* Raw CMOS byte access for the board and tests (e.g. boot order bytes). */
uint8_t cmos_get(struct cmos *c, uint8_t index);
void cmos_set(struct cmos *c, uint8_t index, uint8_t val);

#endif
