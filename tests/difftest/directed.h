/* Directed groups (directed.c): systematic edge cases by case index. */
#ifndef VIREO_TESTS_DIFFTEST_DIRECTED_H
#define VIREO_TESTS_DIFFTEST_DIRECTED_H

#include "gen.h"

/* Number of systematic combinations of each (one run covers them all when
 * the group gets at least that many cases). */
#define DT_DIR_SHIFT_N (7 * 4 * 10 * 2 * 2)
#define DT_DIR_DIV_N (2 * 4 * 14)
#define DT_DIR_ARITH_N (7 * 4 * 2)
#define DT_DIR_SSE_N (13 * 2 * 4 * 4)
#define DT_DIR_X87_N (17 * 4 * 3)
#define DT_DIR_MMX_N (57 * 10 + 8 * 12 + 11)

void dt_gen_dir_shift(struct dt_gen *g);
void dt_gen_dir_div(struct dt_gen *g);
void dt_gen_dir_arith(struct dt_gen *g);
void dt_gen_dir_sse(struct dt_gen *g);
void dt_gen_dir_x87(struct dt_gen *g);
void dt_gen_dir_mmx(struct dt_gen *g);

#endif
