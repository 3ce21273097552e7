/* The guest's address space in vireo-user: every range the guest owns
 * (ELF segments, stack, brk heap, guest mmaps), sorted and non-overlapping,
 * with the guest's protection. Guest addresses equal host addresses (as in
 * qemu-user with guest_base 0); this map is what keeps the guest away from
 * the emulator's own memory: the CPU's translate() and every system call
 * pointer are checked against it. */
#ifndef VIREO_USER_MAP_H
#define VIREO_USER_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Guest protections use the mmap PROT_* bits (PROT_READ, PROT_WRITE, PROT_EXEC). */
struct user_map_range {
	uint64_t start, end; /* [start, end), page aligned */
	int prot;
};

struct user_map {
	struct user_map_range *r;
	size_t n, cap;
	size_t hint; /* index of the last lookup hit */
};

#define USER_PAGE_SIZE 4096ULL
#define USER_PAGE_MASK (USER_PAGE_SIZE - 1)

void user_map_init(struct user_map *map);
void user_map_fini(struct user_map *map);

/* Record [start, start+len) as guest-owned with PROT, replacing whatever
 * part of it was recorded before. Page aligned. Returns 0 or -ENOMEM. */
int user_map_add(struct user_map *map, uint64_t start, uint64_t len, int prot);

/* Forget [start, start+len); parts not recorded are ignored. Returns 0 or -ENOMEM. */
int user_map_remove(struct user_map *map, uint64_t start, uint64_t len);

/* Change the protection of [start, start+len), which must be wholly
 * recorded (else -ENOMEM, as mprotect(2) answers for unmapped pages). */
int user_map_protect(struct user_map *map, uint64_t start, uint64_t len, int prot);

/* Is every byte of [addr, addr+len) guest-owned with the access ACCESS
 * (PROT_READ, PROT_WRITE or PROT_EXEC; 0 means any)? len 0 is true.
 * Reads are allowed on any mapped page with some permission, as on x86
 * without protection keys (write and execute imply read). */
bool user_map_check(struct user_map *map, uint64_t addr, uint64_t len, int access);

/* Does any byte of [addr, addr+len) belong to the guest? */
bool user_map_overlaps(const struct user_map *map, uint64_t addr, uint64_t len);

/* Does any range overlapping [addr, addr+len) have a bit of PROT? */
bool user_map_any_prot(const struct user_map *map, uint64_t addr, uint64_t len, int prot);

/* The range holding ADDR, or NULL. */
const struct user_map_range *user_map_find(struct user_map *map, uint64_t addr);

/* Highest end address of all ranges (0 if empty). */
uint64_t user_map_top(const struct user_map *map);

/* Calls FN for each gap of [start, start+len) that is not guest-owned;
 * stops at the first non-zero return and returns it. */
int user_map_for_each_gap(const struct user_map *map, uint64_t start, uint64_t len,
			  int (*fn)(void *opaque, uint64_t gap, uint64_t gap_len), void *opaque);

#endif
