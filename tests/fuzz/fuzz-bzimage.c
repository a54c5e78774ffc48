/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer harness for the kernel image checks luod runs on a file a root
 * caller hands it: the boot header parser and the LUO ABI extractor (payload
 * decompression within limits, compatible string scan) and the comparison.
 * The first byte chooses: even, the rest is a whole image; odd, the rest is
 * the payload inside a valid header, so that the decompressors are reached
 * at once. Nothing may crash, leak, overrun or run past the limits; what is
 * found must be a well-formed compatible string.
 */
#include <stdlib.h>
#include <string.h>

#include "bzimage.h"

#define HDR_SIZE 0xa00

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_abi(const struct luo_abi *a)
{
	for (int p = 0; p < LUO_ABI_PARTS; p++) {
		const char *name = luo_abi_part_name(p);
		size_t n = strlen(name);

		if (a->n[p] == 0)
			continue;
		if (strnlen(a->v[p], LUO_ABI_NAME_MAX) == LUO_ABI_NAME_MAX || strncmp(a->v[p], name, n) ||
		    strncmp(a->v[p] + n, "-v", 2) || !a->v[p][n + 2] ||
		    strspn(a->v[p] + n + 2, "0123456789") != strlen(a->v[p] + n + 2))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char running_strs[] = "\0kho-v4\0luo-v5\0memfd-v2\0";
	struct luo_abi running = { 0 }, abi;
	struct bzimage_info info;
	const uint8_t *img = data + 1;
	uint8_t *buf = NULL;
	size_t len = size - 1;
	const char *why;
	char msg[256];

	if (size < 1 || size > (4u << 20))
		return 0;
	if (data[0] & 1) {
		/* A valid header (as the unit tests write it) before the payload. */
		len = HDR_SIZE + size - 1;
		buf = calloc(1, len);
		if (!buf)
			abort();
		buf[0x1f1] = 4;
		buf[0x1fe] = 0x55, buf[0x1ff] = 0xaa;
		memcpy(buf + 0x202, "HdrS", 4);
		buf[0x206] = 0x0f, buf[0x207] = 0x02;
		buf[0x211] = 0x01;
		buf[0x234] = 1;
		buf[0x236] = 0x03;
		buf[0x238] = 0xff, buf[0x239] = 0x07;
		buf[0x24c] = (size - 1) & 0xff, buf[0x24d] = (size - 1) >> 8 & 0xff;
		buf[0x24e] = (size - 1) >> 16 & 0xff, buf[0x24f] = (size - 1) >> 24;
		memcpy(buf + HDR_SIZE, data + 1, size - 1);
		img = buf;
	}
	if (bzimage_parse(img, len < BZIMAGE_PROBE_SIZE ? len : BZIMAGE_PROBE_SIZE, len, &info, &why) < 0 && !why)
		abort();
	if (strnlen(info.version, sizeof(info.version)) == sizeof(info.version))
		abort();
	/* Small limits: a bomb must stop, not stall the fuzzer. */
	if (bzimage_abi(img, len, 8u << 20, 2000, &abi, &why) < 0 && (!why || luo_abi_known(&abi)))
		abort();
	check_abi(&abi);
	luo_abi_scan(&running, (const uint8_t *)running_strs, sizeof(running_strs) - 1, true);
	luo_abi_compare(&abi, &running, msg, sizeof(msg));
	if (strnlen(msg, sizeof(msg)) == sizeof(msg))
		abort();
	memset(&abi, 0, sizeof(abi));
	luo_abi_scan(&abi, img, len, true);
	check_abi(&abi);
	free(buf);
	return 0;
}
