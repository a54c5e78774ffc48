/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What kexec_file_load(2) checks in an x86 bzImage before it loads it
 * (arch/x86/kernel/kexec-bzimage64.c), checked in userspace first so that a
 * bad image gets a precise message instead of a bare ENOEXEC.
 */
#ifndef LUO_BZIMAGE_H
#define LUO_BZIMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The kernel reserves this much of cmdline_size for "elfcorehdr=0x...". */
#define BZIMAGE_CMDLINE_RESERVE 30
/* Enough of the file to parse the setup header and the version string. */
#define BZIMAGE_PROBE_SIZE 65536

struct bzimage_info {
	uint16_t protocol;
	uint16_t xloadflags;
	uint32_t cmdline_size;
	bool relocatable;
	char version[128];
};

int bzimage_parse(const uint8_t *buf, size_t len, size_t file_size, struct bzimage_info *info, const char **why);
int bzimage_check_cmdline(const struct bzimage_info *info, size_t cmdline_len, const char **why);

#endif /* LUO_BZIMAGE_H */
