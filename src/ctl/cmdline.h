/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Building the command line of the next kernel: pure string functions,
 * unit-tested by test-cmdline.c.
 */
#ifndef LUO_CTL_CMDLINE_H
#define LUO_CTL_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>

/**
 * struct cmdline_args - what the command line is made of.
 * @base: the starting line (--cmdline, or /proc/cmdline), or NULL
 * @drop_boot_image: drop BOOT_IMAGE= from @base (it came from /proc/cmdline)
 * @append: further words (--append), each string one or more words
 * @n_append: their number
 */
struct cmdline_args {
	const char *base;
	bool drop_boot_image;
	const char *const *append;
	size_t n_append;
};

/* Bits of cmdline_luo_missing(). */
enum {
	CMDLINE_NO_LIVEUPDATE = 1 << 0, /* liveupdate=on missing */
	CMDLINE_NO_KHO = 1 << 1, /* kho=on missing */
};

int cmdline_split(const char *s, char ***words, size_t *n);
void cmdline_words_free(char **words, size_t n);
bool cmdline_same_key(const char *a, const char *b);
int cmdline_build(const struct cmdline_args *a, char **out);
int cmdline_luo_missing(const char *cmdline);

#endif /* LUO_CTL_CMDLINE_H */
