#ifndef VIREO_USER_SYSNAMES_H
#define VIREO_USER_SYSNAMES_H

/* Name of x86-64 Linux system call NR, or "unknown". */
const char *user_sysname(unsigned long nr);

#endif
