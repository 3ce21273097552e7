/* Template tables of the randomly generated groups (tables_*.c). */
#ifndef VIREO_TESTS_DIFFTEST_TABLES_H
#define VIREO_TESTS_DIFFTEST_TABLES_H

#include "gen.h"

#define T(nm, ...) { .name = nm, __VA_ARGS__ }

#define DT_TABLE(n) extern const struct dt_tmpl dt_t_##n[]; extern const unsigned dt_n_##n
DT_TABLE(alu);
DT_TABLE(incdec);
DT_TABLE(shift);
DT_TABLE(shxd);
DT_TABLE(muldiv);
DT_TABLE(bitop);
DT_TABLE(bitscan);
DT_TABLE(cmov);
DT_TABLE(mov);
DT_TABLE(xchg);
DT_TABLE(cx16);
DT_TABLE(stack);
DT_TABLE(flagops);
DT_TABLE(lahf);
DT_TABLE(mix);
DT_TABLE(jitseq);
extern const unsigned dt_n_jitseq_alu;
DT_TABLE(jitimul);
DT_TABLE(sse_arith);
DT_TABLE(sse_cvt);
DT_TABLE(sse_move);
DT_TABLE(sse2_int);
DT_TABLE(sse_state);
DT_TABLE(sse_approx);
DT_TABLE(sse3);
DT_TABLE(ssse3);
DT_TABLE(sse41);
DT_TABLE(sse42);
DT_TABLE(x87);
DT_TABLE(x87_transc);
DT_TABLE(fisttp);
DT_TABLE(mmx);
DT_TABLE(popcnt);
DT_TABLE(lzcnt);
DT_TABLE(tzcnt);
DT_TABLE(movbe);

#endif
