/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What kexec_file_load(2) checks in an x86 bzImage before it loads it
 * (arch/x86/kernel/kexec-bzimage64.c), checked in userspace first so that a
 * bad image gets a precise message instead of a bare ENOEXEC; and the LUO
 * ABI a kernel speaks, read from the compatible strings in its (compressed)
 * payload, so that an update into a kernel that cannot take the sessions
 * over is refused before it starts.
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
/* Larger files are not taken as kernel images (real ones are ~2-20 MiB). */
#define BZIMAGE_MAX_SIZE (128u << 20)
/* Limits of the payload's decompression: it is untrusted input. */
#define BZIMAGE_ABI_MAX_OUT (512u << 20)
#define BZIMAGE_ABI_MAX_MS 20000u

struct bzimage_info {
	uint16_t protocol;
	uint16_t xloadflags;
	uint32_t cmdline_size;
	bool relocatable;
	char version[256];
};

int bzimage_parse(const uint8_t *buf, size_t len, size_t file_size, struct bzimage_info *info, const char **why);
int bzimage_check_cmdline(const struct bzimage_info *info, size_t cmdline_len, const char **why);

/*
 * The parts of the LUO ABI, each versioned by a compatible string that the
 * next kernel must know: the KHO FDT (KHO_FDT_COMPATIBLE, "kho-vN"), LUO's
 * own state (LUO_ABI_COMPATIBLE, "luo-vN") and the memfd file handler
 * (MEMFD_LUO_FH_COMPATIBLE, "memfd-vN").
 */
enum luo_abi_part {
	LUO_ABI_KHO,
	LUO_ABI_LUO,
	LUO_ABI_MEMFD,
	LUO_ABI_PARTS,
};

#define LUO_ABI_NAME_MAX 16

/**
 * struct luo_abi - the compatible strings found in a kernel.
 * @v: per part, the first version found ("luo-v5"), "" if none
 * @n: per part, how many different versions were found (more than one:
 *     ambiguous, not comparable)
 */
struct luo_abi {
	char v[LUO_ABI_PARTS][LUO_ABI_NAME_MAX];
	unsigned n[LUO_ABI_PARTS];
};

enum luo_abi_verdict {
	LUO_ABI_COMPATIBLE,
	LUO_ABI_INCOMPATIBLE,
	LUO_ABI_UNKNOWN,
};

const char *luo_abi_part_name(enum luo_abi_part p);
const char *luo_abi_verdict_name(enum luo_abi_verdict v);
bool luo_abi_known(const struct luo_abi *abi);
void luo_abi_scan(struct luo_abi *abi, const uint8_t *buf, size_t len, bool at_start);
int luo_abi_set(struct luo_abi *abi, enum luo_abi_part p, const char *v);
enum luo_abi_verdict luo_abi_compare(const struct luo_abi *target, const struct luo_abi *running, char *msg,
				     size_t len);
const char *bzimage_compression(const uint8_t *p, size_t len);
int bzimage_abi(const uint8_t *img, size_t len, size_t max_out, unsigned max_ms, struct luo_abi *abi, const char **why);

#endif /* LUO_BZIMAGE_H */
