/* Constants shared by the linux64 test kernel's setup header and payload. */
#ifndef GUEST_LINUX64_H
#define GUEST_LINUX64_H

#define LINUX64_SETUP_SECTS 4
#define LINUX64_LOAD_ADDR 0x100000 /* not relocatable: pref_address */
#define LINUX64_INIT_SIZE 0x80000  /* payload + bss + stack; payload.ld checks it */
#define LINUX64_CMDLINE_SIZE 2047  /* Linux's COMMAND_LINE_SIZE - 1 */
#define LINUX64_INITRD_MAX 0x7fffffff
#define LINUX64_EXIT_WRONG_ENTRY 0x12 /* isa-debug-exit value: exit status 37 */

#endif
