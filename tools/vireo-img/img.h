/* vireo-img: shared helpers of the subcommands. */
#ifndef VIREO_IMG_H
#define VIREO_IMG_H

#include <stdbool.h>
#include <stdint.h>

#include "block/block.h"

int img_parse_size(const char *s, uint64_t *out);
/* Prints "vireo-img: MSG" and returns status. */
int img_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct block_dev *img_open(const char *path, const char *fmt, bool rw, bool no_backing,
			   struct err *err);
void img_json_string(const char *s);
void img_human_size(uint64_t v, char *buf, size_t n);

int img_cmd_create(int argc, char **argv);
int img_cmd_info(int argc, char **argv);
int img_cmd_check(int argc, char **argv);
int img_cmd_map(int argc, char **argv);
int img_cmd_snapshot(int argc, char **argv);
int img_cmd_convert(int argc, char **argv);
int img_cmd_resize(int argc, char **argv);
int img_cmd_commit(int argc, char **argv);
int img_cmd_rebase(int argc, char **argv);
int img_cmd_compare(int argc, char **argv);
int img_cmd_bench(int argc, char **argv);
int img_cmd_debug_writer(int argc, char **argv);

#endif
