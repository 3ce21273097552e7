#include "cpu/cpu_int.h"
void cpu_exec_init_sse(void)
{
}
