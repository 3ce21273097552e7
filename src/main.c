/* Placeholder until the command line lands (issue 2). */
#include <stdio.h>

int main(void)
{
	fprintf(stderr, "vireo %s: not yet runnable\n", VIREO_VERSION);
	return 1;
}
