/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns the parsing of the x86 boot protocol header of a bzImage
 * (Documentation/arch/x86/boot.rst) and the checks kexec_file_load applies.
 */
#include <errno.h>
#include <string.h>

#include "bzimage.h"

#define HDR_SETUP_SECTS 0x1f1
#define HDR_BOOT_FLAG 0x1fe
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_KERNEL_VERSION 0x20e
#define HDR_LOADFLAGS 0x211
#define HDR_RELOCATABLE 0x234
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_END 0x23c

#define LOADED_HIGH 0x01
#define XLF_KERNEL_64 0x01
#define XLF_CAN_BE_LOADED_ABOVE_4G 0x02

static uint16_t le16(const uint8_t *p)
{
	return p[0] | (uint16_t)p[1] << 8;
}

static uint32_t le32(const uint8_t *p)
{
	return le16(p) | (uint32_t)le16(p + 2) << 16;
}

/**
 * bzimage_parse() - check that an image is one kexec_file_load(2) takes.
 * @buf: the start of the file
 * @len: bytes in @buf (BZIMAGE_PROBE_SIZE is enough)
 * @file_size: the size of the whole file
 * @info: receives what the header says
 * @why: receives, on failure, what is wrong, for people
 *
 * Return: 0, or -ENOEXEC with @why set.
 */
int bzimage_parse(const uint8_t *buf, size_t len, size_t file_size, struct bzimage_info *info, const char **why)
{
	unsigned setup_sects;
	uint16_t off;

	memset(info, 0, sizeof(*info));
	*why = NULL;
	if (file_size < 2 * 512 || len < HDR_END) {
		*why = "file too short to be a bzImage";
		return -ENOEXEC;
	}
	if (memcmp(buf + HDR_MAGIC, "HdrS", 4)) {
		*why = "not a bzImage (no \"HdrS\" boot header magic)";
		return -ENOEXEC;
	}
	if (le16(buf + HDR_BOOT_FLAG) != 0xaa55) {
		*why = "no x86 boot sector (boot flag is not 0xAA55)";
		return -ENOEXEC;
	}
	info->protocol = le16(buf + HDR_VERSION);
	if (info->protocol < 0x020c) {
		*why = "boot protocol older than 2.12: kexec_file_load needs 2.12 or later";
		return -ENOEXEC;
	}
	info->xloadflags = le16(buf + HDR_XLOADFLAGS);
	info->cmdline_size = le32(buf + HDR_CMDLINE_SIZE);
	info->relocatable = buf[HDR_RELOCATABLE] != 0;
	off = le16(buf + HDR_KERNEL_VERSION);
	if (off && (size_t)off + 0x200 < len) {
		const char *v = (const char *)buf + off + 0x200;
		size_t n = strnlen(v, len - off - 0x200);

		if (n >= sizeof(info->version))
			n = sizeof(info->version) - 1;
		memcpy(info->version, v, n);
		info->version[strcspn(info->version, "\n")] = '\0';
	}
	if (!(buf[HDR_LOADFLAGS] & LOADED_HIGH)) {
		*why = "a zImage, not a bzImage (LOADED_HIGH not set)";
		return -ENOEXEC;
	}
	if (!(info->xloadflags & XLF_KERNEL_64)) {
		*why = "not a 64-bit kernel (XLF_KERNEL_64 not set)";
		return -ENOEXEC;
	}
	if (!(info->xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G)) {
		*why = "the kernel cannot be loaded above 4G (XLF_CAN_BE_LOADED_ABOVE_4G not set): "
		       "build it with CONFIG_RELOCATABLE=y";
		return -ENOEXEC;
	}
	setup_sects = buf[HDR_SETUP_SECTS] ? buf[HDR_SETUP_SECTS] : 4;
	if (file_size < (setup_sects + 1) * 512) {
		*why = "bzImage truncated (shorter than its setup sectors)";
		return -ENOEXEC;
	}
	return 0;
}

/**
 * bzimage_check_cmdline() - whether the kernel takes a command line this long.
 * @info: from bzimage_parse()
 * @cmdline_len: its length without the NUL
 * @why: receives what is wrong
 *
 * Return: 0, or -EINVAL with @why set.
 */
int bzimage_check_cmdline(const struct bzimage_info *info, size_t cmdline_len, const char **why)
{
	/* The kernel counts the NUL and keeps room for elfcorehdr=. */
	if (cmdline_len + 1 + BZIMAGE_CMDLINE_RESERVE > info->cmdline_size) {
		*why = "command line too long for this kernel (its header's cmdline_size, less 30 bytes "
		       "the kernel reserves)";
		return -EINVAL;
	}
	return 0;
}
