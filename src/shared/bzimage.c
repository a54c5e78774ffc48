/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns the parsing of the x86 boot protocol header of a bzImage
 * (Documentation/arch/x86/boot.rst), the checks kexec_file_load applies, and
 * the LUO ABI of a kernel: its payload (the compressed vmlinux) is
 * decompressed as a stream, within limits of output and time, and scanned
 * for the compatible strings of KHO, LUO and the memfd handler.
 */
#include <errno.h>
#include <lzma.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "bzimage.h"
#include "util.h"

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
#define HDR_PAYLOAD_OFFSET 0x248
#define HDR_PAYLOAD_LENGTH 0x24c
#define HDR_PAYLOAD_END 0x250

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

static const char *const abi_part_names[LUO_ABI_PARTS] = {
	[LUO_ABI_KHO] = "kho",
	[LUO_ABI_LUO] = "luo",
	[LUO_ABI_MEMFD] = "memfd",
};

/* What a kernel without the part lacks, for people. */
static const char *const abi_part_what[LUO_ABI_PARTS] = {
	[LUO_ABI_KHO] = "KHO (kexec handover)",
	[LUO_ABI_LUO] = "LUO",
	[LUO_ABI_MEMFD] = "memfd preservation",
};

/**
 * luo_abi_part_name() - the short name of a part of the LUO ABI.
 * @p: the part
 *
 * Return: "kho", "luo" or "memfd".
 */
const char *luo_abi_part_name(enum luo_abi_part p)
{
	return abi_part_names[p];
}

/**
 * luo_abi_verdict_name() - the protocol's word for a comparison's result.
 * @v: the verdict
 *
 * Return: "compatible", "incompatible" or "unknown".
 */
const char *luo_abi_verdict_name(enum luo_abi_verdict v)
{
	static const char *const names[] = {
		[LUO_ABI_COMPATIBLE] = "compatible",
		[LUO_ABI_INCOMPATIBLE] = "incompatible",
		[LUO_ABI_UNKNOWN] = "unknown",
	};

	return names[v];
}

/**
 * luo_abi_known() - whether anything is known of an ABI.
 * @abi: the ABI
 *
 * Return: true if at least one part has a version.
 */
bool luo_abi_known(const struct luo_abi *abi)
{
	for (int p = 0; p < LUO_ABI_PARTS; p++)
		if (abi->n[p])
			return true;
	return false;
}

/**
 * luo_abi_set() - record a version of a part.
 * @abi: the ABI
 * @p: the part
 * @v: its compatible string ("luo-v5")
 *
 * A second, different version makes the part ambiguous (@abi->n > 1).
 *
 * Return: 0, or -EINVAL if @v is too long.
 */
int luo_abi_set(struct luo_abi *abi, enum luo_abi_part p, const char *v)
{
	size_t n = strlen(v);

	if (n >= LUO_ABI_NAME_MAX)
		return -EINVAL;
	if (abi->n[p] == 0) {
		memcpy(abi->v[p], v, n + 1);
		abi->n[p] = 1;
	} else if (strcmp(abi->v[p], v) && abi->n[p] < 99) {
		abi->n[p]++;
	}
	return 0;
}

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static bool is_name_char(uint8_t c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-' || c == '.';
}

/**
 * luo_abi_scan() - find the compatible strings of the LUO ABI in memory.
 * @abi: receives what is found (added to what it holds)
 * @buf: the bytes
 * @len: their number
 * @at_start: whether @buf starts the data; if not, a match at its first
 *            byte is skipped (its preceding byte is unknown; a caller that
 *            scans a stream in windows keeps enough of the previous one)
 *
 * A match is NAME-vDIGITS (1 to 6 digits) ended by a NUL within @buf and not
 * preceded by a character that could belong to a longer name.
 */
void luo_abi_scan(struct luo_abi *abi, const uint8_t *buf, size_t len, bool at_start)
{
	const uint8_t *p = buf, *end = buf + len;

	while (p < end && (p = memmem(p, end - p, "-v", 2))) {
		const uint8_t *d = p + 2, *q = d;

		while (q < end && q - d < 7 && is_digit(*q))
			q++;
		if (q == d || q - d > 6 || q >= end || *q) {
			p++;
			continue;
		}
		for (int i = 0; i < LUO_ABI_PARTS; i++) {
			size_t n = strlen(abi_part_names[i]);
			const uint8_t *s = p - n;
			char v[LUO_ABI_NAME_MAX];

			if ((size_t)(p - buf) < n || memcmp(s, abi_part_names[i], n))
				continue;
			if (s == buf ? !at_start : is_name_char(s[-1]))
				continue;
			memcpy(v, s, q - s);
			v[q - s] = '\0';
			luo_abi_set(abi, i, v);
		}
		p = q;
	}
}

static int append(char *msg, size_t len, size_t *off, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int append(char *msg, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= len)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(msg + *off, len - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off = *off + n < len ? *off + n : len;
	return 0;
}

/**
 * luo_abi_compare() - can a kernel of ABI @target take over this one's state?
 * @target: the next kernel's ABI
 * @running: the running kernel's ABI (parts it does not know are skipped)
 * @msg: receives what was compared or what differs, for people
 * @len: size of @msg
 *
 * Every part the running kernel has one version of must be the same in the
 * target: a different version, or none, means the next kernel cannot read
 * what this one hands over.
 *
 * Return: the verdict.
 */
enum luo_abi_verdict luo_abi_compare(const struct luo_abi *target, const struct luo_abi *running, char *msg, size_t len)
{
	bool bad = false, unknown = false;
	size_t off = 0;

	if (len)
		msg[0] = '\0';
	if (!luo_abi_known(running)) {
		append(msg, len, &off, "the running kernel's LUO ABI is unknown");
		return LUO_ABI_UNKNOWN;
	}
	for (int p = 0; p < LUO_ABI_PARTS; p++) {
		const char *sep = bad || unknown ? "; " : "";

		if (running->n[p] > 1) {
			append(msg, len, &off, "%sthe running kernel names several %s versions", sep,
			       abi_part_names[p]);
			unknown = true;
		} else if (running->n[p] == 0) {
			continue;
		} else if (target->n[p] == 0) {
			append(msg, len, &off, "%starget kernel has no %s (this kernel speaks %s)", sep,
			       abi_part_what[p], running->v[p]);
			bad = true;
		} else if (target->n[p] > 1) {
			append(msg, len, &off, "%starget kernel names several %s versions (%s and others)", sep,
			       abi_part_names[p], target->v[p]);
			unknown = true;
		} else if (strcmp(target->v[p], running->v[p])) {
			append(msg, len, &off, "%starget kernel speaks %s, this kernel %s", sep, target->v[p],
			       running->v[p]);
			bad = true;
		}
	}
	if (bad) {
		append(msg, len, &off, ": the sessions cannot be handed over");
		return LUO_ABI_INCOMPATIBLE;
	}
	if (unknown)
		return LUO_ABI_UNKNOWN;
	append(msg, len, &off, "both kernels speak");
	for (int p = 0; p < LUO_ABI_PARTS; p++)
		if (running->n[p])
			append(msg, len, &off, " %s", running->v[p]);
	for (int p = 0; p < LUO_ABI_PARTS; p++)
		if (!running->n[p])
			append(msg, len, &off, " (%s not known for this kernel)", abi_part_names[p]);
	return LUO_ABI_COMPATIBLE;
}

/**
 * bzimage_compression() - the compression of a bzImage's payload.
 * @p: the payload
 * @len: its length
 *
 * Return: "gzip", "xz", "zstd", "lzma", "bzip2", "lzo", "lz4", "none" (an
 * ELF file) or NULL when not recognised.
 */
const char *bzimage_compression(const uint8_t *p, size_t len)
{
	static const struct {
		const char *name;
		size_t n;
		const char *magic;
	} m[] = {
		{ "gzip", 2, "\x1f\x8b" },
		{ "xz", 6,
		  "\xfd"
		  "7zXZ\0" },
		{ "zstd", 4, "\x28\xb5\x2f\xfd" },
		{ "lzma", 3, "\x5d\x00\x00" },
		{ "bzip2", 3, "BZh" },
		{ "lzo", 4, "\x89LZO" },
		{ "lz4", 4, "\x02\x21\x4c\x18" },
		{ "none", 4,
		  "\x7f"
		  "ELF" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(m); i++)
		if (len >= m[i].n && !memcmp(p, m[i].magic, m[i].n))
			return m[i].name;
	return NULL;
}

#define WIN_SIZE (1u << 20)
/* More than the longest match ("memfd-v999999" and its NUL). */
#define WIN_KEEP 32
/* Memory a decoder may use: the kernel's xz uses a 32 MiB dictionary. */
#define UNPACK_MEMLIMIT (160u << 20)
#define ZSTD_WINDOWLOG_LIMIT 27

/* A decompressed stream, scanned a window at a time. */
struct window {
	uint8_t *buf;
	size_t fill;
	size_t total;
	size_t max_out;
	uint64_t deadline_ms;
	bool carried;
	struct luo_abi *abi;
};

/* The window is full or the stream ended: scan it, keep its tail. */
static int window_flush(struct window *w, bool end)
{
	luo_abi_scan(w->abi, w->buf, w->fill, !w->carried);
	if (w->total > w->max_out)
		return -EFBIG;
	if ((uint64_t)luo_now_ms() > w->deadline_ms)
		return -ETIMEDOUT;
	if (!end && w->fill > WIN_KEEP) {
		memmove(w->buf, w->buf + w->fill - WIN_KEEP, WIN_KEEP);
		w->fill = WIN_KEEP;
		w->carried = true;
	}
	return 0;
}

/* After a decoder step that wrote @got bytes and consumed @used. */
static int window_step(struct window *w, size_t got, size_t used, bool end)
{
	w->fill += got;
	w->total += got;
	if (end)
		return window_flush(w, true);
	if (w->fill == WIN_SIZE)
		return window_flush(w, false);
	if (!got && !used)
		return -EBADMSG; /* no progress: truncated */
	return 0;
}

static int unpack_gzip(const uint8_t *in, size_t len, struct window *w)
{
	z_stream z = { 0 };
	int r = 0, zr;

	if (len > UINT32_MAX)
		return -EFBIG;
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)in;
	z.avail_in = len;
	while (r == 0) {
		uInt room = WIN_SIZE - w->fill, before = z.avail_in;

		z.next_out = w->buf + w->fill;
		z.avail_out = room;
		zr = inflate(&z, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
			r = zr == Z_MEM_ERROR ? -ENOMEM : -EBADMSG;
			break;
		}
		r = window_step(w, room - z.avail_out, before - z.avail_in, zr == Z_STREAM_END);
		if (zr == Z_STREAM_END)
			break;
	}
	inflateEnd(&z);
	return r;
}

static int unpack_lzma(const uint8_t *in, size_t len, struct window *w, bool alone)
{
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_ret lr;
	int r = 0;

	lr = alone ? lzma_alone_decoder(&s, UNPACK_MEMLIMIT) : lzma_stream_decoder(&s, UNPACK_MEMLIMIT, 0);
	if (lr != LZMA_OK)
		return -ENOMEM;
	s.next_in = in;
	s.avail_in = len;
	while (r == 0) {
		size_t room = WIN_SIZE - w->fill, before = s.avail_in;

		s.next_out = w->buf + w->fill;
		s.avail_out = room;
		lr = lzma_code(&s, LZMA_RUN);
		if (lr != LZMA_OK && lr != LZMA_STREAM_END && lr != LZMA_BUF_ERROR) {
			r = lr == LZMA_MEM_ERROR || lr == LZMA_MEMLIMIT_ERROR ? -ENOMEM : -EBADMSG;
			break;
		}
		r = window_step(w, room - s.avail_out, before - s.avail_in, lr == LZMA_STREAM_END);
		if (lr == LZMA_STREAM_END)
			break;
	}
	lzma_end(&s);
	return r;
}

static int unpack_zstd(const uint8_t *in, size_t len, struct window *w)
{
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	ZSTD_inBuffer ib = { in, len, 0 };
	int r = 0;

	if (!dc)
		return -ENOMEM;
	if (ZSTD_isError(ZSTD_DCtx_setParameter(dc, ZSTD_d_windowLogMax, ZSTD_WINDOWLOG_LIMIT))) {
		ZSTD_freeDCtx(dc);
		return -ENOMEM;
	}
	while (r == 0) {
		ZSTD_outBuffer ob = { w->buf + w->fill, WIN_SIZE - w->fill, 0 };
		size_t before = ib.pos, zr = ZSTD_decompressStream(dc, &ob, &ib);

		if (ZSTD_isError(zr)) {
			r = ZSTD_getErrorCode(zr) == ZSTD_error_memory_allocation ||
					    ZSTD_getErrorCode(zr) == ZSTD_error_frameParameter_windowTooLarge
				    ? -ENOMEM
				    : -EBADMSG;
			break;
		}
		/* One frame: the kernel appends the size after it. */
		r = window_step(w, ob.pos, ib.pos - before, zr == 0);
		if (zr == 0)
			break;
	}
	ZSTD_freeDCtx(dc);
	return r;
}

/**
 * bzimage_abi() - the LUO ABI of a kernel image, from its payload.
 * @img: the whole image, already checked by bzimage_parse()
 * @len: its length
 * @max_out: stop after this many decompressed bytes (-EFBIG)
 * @max_ms: stop after this much time (-ETIMEDOUT)
 * @abi: receives the compatible strings found (zeroed first)
 * @why: receives, on failure, what is wrong, for people
 *
 * The payload may be gzip, xz, lzma or zstd compressed (the x86 kernel's
 * usual choices: tinyconfig and Debian use xz) or an ELF file as it is.
 *
 * Return: 0 (@abi may be empty: a kernel without LUO), -ENOEXEC (no payload),
 * -EOPNOTSUPP (a compression not handled), -EBADMSG (corrupt or truncated),
 * -EFBIG, -ETIMEDOUT or -ENOMEM, each with @why set.
 */
int bzimage_abi(const uint8_t *img, size_t len, size_t max_out, unsigned max_ms, struct luo_abi *abi, const char **why)
{
	struct window w = { .max_out = max_out, .deadline_ms = (uint64_t)luo_now_ms() + max_ms, .abi = abi };
	size_t start, plen;
	const char *kind;
	unsigned setup_sects;
	int r;

	memset(abi, 0, sizeof(*abi));
	*why = NULL;
	if (len < HDR_PAYLOAD_END || memcmp(img + HDR_MAGIC, "HdrS", 4) || le16(img + HDR_VERSION) < 0x0208) {
		*why = "no payload (boot protocol older than 2.08)";
		return -ENOEXEC;
	}
	setup_sects = img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : 4;
	start = (size_t)(setup_sects + 1) * 512 + le32(img + HDR_PAYLOAD_OFFSET);
	plen = le32(img + HDR_PAYLOAD_LENGTH);
	if (start > len || plen > len - start || plen < 8) {
		*why = "the payload lies outside the file";
		return -ENOEXEC;
	}
	kind = bzimage_compression(img + start, plen);
	if (!kind || !strcmp(kind, "bzip2") || !strcmp(kind, "lzo") || !strcmp(kind, "lz4")) {
		*why = kind ? "the payload's compression (bzip2, lzo or lz4) is not one luod reads (gzip, xz, lzma, "
			      "zstd)"
			    : "the payload's compression is not recognised";
		return -EOPNOTSUPP;
	}
	if (!strcmp(kind, "none")) {
		if (plen > max_out) {
			*why = "the payload is larger than the limit";
			return -EFBIG;
		}
		luo_abi_scan(abi, img + start, plen, true);
		return 0;
	}
	w.buf = malloc(WIN_SIZE);
	if (!w.buf) {
		*why = "out of memory";
		return -ENOMEM;
	}
	if (!strcmp(kind, "gzip"))
		r = unpack_gzip(img + start, plen, &w);
	else if (!strcmp(kind, "zstd"))
		r = unpack_zstd(img + start, plen, &w);
	else
		r = unpack_lzma(img + start, plen, &w, !strcmp(kind, "lzma"));
	free(w.buf);
	switch (r) {
	case 0:
		break;
	case -EFBIG:
		*why = "the payload decompresses to more than the limit";
		break;
	case -ETIMEDOUT:
		*why = "decompressing the payload took longer than the limit";
		break;
	case -ENOMEM:
		*why = "decompressing the payload needs more memory than the limit";
		break;
	default:
		r = -EBADMSG;
		*why = "the payload is corrupt or truncated";
		break;
	}
	if (r < 0)
		memset(abi, 0, sizeof(*abi));
	return r;
}
