/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the bzImage header checks, of the LUO ABI extraction (payloads
 * compressed each way luod reads, strings across window boundaries, the
 * limits, corrupt input) and its comparison, and of SHA-256, with synthetic
 * images broken one way each and, when available, a real kernel image
 * (argument 1, or $LUO_BZIMAGE).
 */
#include <errno.h>
#include <fcntl.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "bzimage.h"
#include "sha256.h"
#include "tap.h"

static uint8_t img[8192];

static void make(void)
{
	memset(img, 0, sizeof(img));
	img[0x1f1] = 4;
	img[0x1fe] = 0x55, img[0x1ff] = 0xaa;
	memcpy(img + 0x202, "HdrS", 4);
	img[0x206] = 0x0f, img[0x207] = 0x02;
	img[0x20e] = 0x00, img[0x20f] = 0x02; /* version string at 0x400 */
	img[0x211] = 0x01;
	img[0x234] = 1;
	img[0x236] = 0x03;
	img[0x238] = 0xff, img[0x239] = 0x07; /* cmdline_size 2047 */
	strcpy((char *)img + 0x400, "7.2.13 (test) #1 SMP\n");
}

static int parse(size_t len, size_t file_size, const char **why)
{
	struct bzimage_info info;

	return bzimage_parse(img, len, file_size, &info, why);
}

static void test_synthetic(void)
{
	struct bzimage_info info;
	const char *why;

	make();
	ok(bzimage_parse(img, sizeof(img), sizeof(img), &info, &why) == 0 && !why, "a good header passes");
	ok(info.protocol == 0x020f && info.cmdline_size == 2047 && info.relocatable, "fields are read");
	ok(!strcmp(info.version, "7.2.13 (test) #1 SMP"), "version string without newline: '%s'", info.version);
	ok(bzimage_check_cmdline(&info, 2047 - 31, &why) == 0, "a command line of cmdline_size-31 fits");
	ok(bzimage_check_cmdline(&info, 2047 - 30, &why) == -EINVAL && strstr(why, "too long"),
	   "one byte more is too long (the kernel keeps 30 bytes and the NUL)");

	ok(parse(512, 512, &why) == -ENOEXEC && strstr(why, "too short"), "truncated file: %s", why);
	make();
	ok(parse(sizeof(img), 2000, &why) == -ENOEXEC && strstr(why, "truncated"), "shorter than setup: %s", why);
	make();
	memcpy(img + 0x202, "HdrZ", 4);
	ok(parse(sizeof(img), sizeof(img), &why) == -ENOEXEC && strstr(why, "HdrS"), "wrong magic: %s", why);
	make();
	img[0x1fe] = 0;
	ok(parse(sizeof(img), sizeof(img), &why) == -ENOEXEC && strstr(why, "0xAA55"), "no boot flag: %s", why);
	make();
	img[0x206] = 0x0b;
	ok(parse(sizeof(img), sizeof(img), &why) == -ENOEXEC && strstr(why, "2.12"), "old protocol: %s", why);
	make();
	img[0x211] = 0;
	ok(parse(sizeof(img), sizeof(img), &why) == -ENOEXEC && strstr(why, "zImage"), "zImage: %s", why);
	make();
	img[0x236] = 0x02;
	ok(parse(sizeof(img), sizeof(img), &why) == -ENOEXEC && strstr(why, "64-bit"), "32-bit only: %s", why);
	make();
	img[0x236] = 0x01;
	ok(parse(sizeof(img), sizeof(img), &why) == -ENOEXEC && strstr(why, "CONFIG_RELOCATABLE"),
	   "not loadable above 4G (non-relocatable): %s", why);
	make();
	img[0x20e] = 0xff, img[0x20f] = 0xff;
	ok(parse(sizeof(img), sizeof(img), &why) == 0, "a version offset past the buffer is ignored");
}

/* A bzImage around @payload (setup_sects 4: the payload starts at 0xa00). */
static uint8_t *wrap(const uint8_t *payload, size_t plen, size_t *len)
{
	uint8_t *b;

	make();
	*len = 0xa00 + plen + 4;
	b = calloc(1, *len);
	if (!b)
		abort();
	memcpy(b, img, 0x400);
	b[0x248] = 0, b[0x249] = 0, b[0x24a] = 0, b[0x24b] = 0;
	b[0x24c] = plen & 0xff, b[0x24d] = plen >> 8 & 0xff, b[0x24e] = plen >> 16 & 0xff, b[0x24f] = plen >> 24;
	memcpy(b + 0xa00, payload, plen);
	return b;
}

enum { PACK_GZIP, PACK_XZ, PACK_LZMA, PACK_ZSTD, PACK_NONE };

static uint8_t *pack(int how, const uint8_t *data, size_t n, size_t *len)
{
	size_t cap = n + n / 2 + 65536, out = 0;
	uint8_t *c = malloc(cap), *b;

	if (!c)
		abort();
	if (how == PACK_GZIP) {
		z_stream z = { 0 };

		deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
		z.next_in = (Bytef *)data, z.avail_in = n, z.next_out = c, z.avail_out = cap;
		deflate(&z, Z_FINISH);
		out = z.total_out;
		deflateEnd(&z);
	} else if (how == PACK_XZ) {
		lzma_easy_buffer_encode(0, LZMA_CHECK_CRC32, NULL, data, n, c, &out, cap);
	} else if (how == PACK_LZMA) {
		lzma_stream s = LZMA_STREAM_INIT;
		lzma_options_lzma o;

		lzma_lzma_preset(&o, 0);
		if (lzma_alone_encoder(&s, &o) != LZMA_OK)
			abort();
		s.next_in = data, s.avail_in = n, s.next_out = c, s.avail_out = cap;
		while (lzma_code(&s, LZMA_FINISH) == LZMA_OK)
			;
		out = s.total_out;
		lzma_end(&s);
	} else if (how == PACK_ZSTD) {
		out = ZSTD_compress(c, cap, data, n, 1);
	} else {
		memcpy(c,
		       "\x7f"
		       "ELF",
		       4);
		memcpy(c + 4, data, n);
		out = n + 4;
	}
	b = wrap(c, out, len);
	free(c);
	return b;
}

static int abi_of(const uint8_t *b, size_t len, struct luo_abi *abi, const char **why)
{
	return bzimage_abi(b, len, BZIMAGE_ABI_MAX_OUT, BZIMAGE_ABI_MAX_MS, abi, why);
}

static void test_abi_scan(void)
{
	static const char strs[] = "\0kho-v4\0xluo-v9\0luo-v5\0memfd-v2\0memfd-v\0luo-v1234567\0kho-v4";
	struct luo_abi a = { 0 };

	luo_abi_scan(&a, (const uint8_t *)strs, sizeof(strs) - 1, true);
	ok(a.n[LUO_ABI_KHO] == 1 && !strcmp(a.v[LUO_ABI_KHO], "kho-v4"), "kho-v4 found once (the unended one is not)");
	ok(a.n[LUO_ABI_LUO] == 1 && !strcmp(a.v[LUO_ABI_LUO], "luo-v5"),
	   "luo-v5 found; xluo-v9 and a 7-digit version are not: %s", a.v[LUO_ABI_LUO]);
	ok(a.n[LUO_ABI_MEMFD] == 1 && !strcmp(a.v[LUO_ABI_MEMFD], "memfd-v2"), "memfd-v2 found");
	luo_abi_scan(&a, (const uint8_t *)"luo-v6", 7, true);
	ok(a.n[LUO_ABI_LUO] == 2, "a second luo version makes it ambiguous");
	memset(&a, 0, sizeof(a));
	luo_abi_scan(&a, (const uint8_t *)"luo-v6", 7, false);
	ok(a.n[LUO_ABI_LUO] == 0, "a match at the start of a window that is not the start is skipped");
	luo_abi_scan(&a, (const uint8_t *)"\xffmemfd-v2", 10, true);
	ok(a.n[LUO_ABI_MEMFD] == 1, "memfd-v2 after a pointer byte (struct liveupdate_file_handler) is found");
}

static void test_abi_compare(void)
{
	struct luo_abi run = { 0 }, tgt = { 0 };
	char msg[512];

	ok(luo_abi_compare(&tgt, &run, msg, sizeof(msg)) == LUO_ABI_UNKNOWN && strstr(msg, "unknown"),
	   "nothing known of the running kernel: unknown (%s)", msg);
	luo_abi_set(&run, LUO_ABI_KHO, "kho-v4");
	luo_abi_set(&run, LUO_ABI_LUO, "luo-v5");
	luo_abi_set(&run, LUO_ABI_MEMFD, "memfd-v2");
	tgt = run;
	ok(luo_abi_compare(&tgt, &run, msg, sizeof(msg)) == LUO_ABI_COMPATIBLE &&
		   !strcmp(msg, "both kernels speak kho-v4 luo-v5 memfd-v2"),
	   "the same: compatible (%s)", msg);
	strcpy(tgt.v[LUO_ABI_LUO], "luo-v6");
	ok(luo_abi_compare(&tgt, &run, msg, sizeof(msg)) == LUO_ABI_INCOMPATIBLE &&
		   !strcmp(msg, "target kernel speaks luo-v6, this kernel luo-v5: the sessions cannot be handed over"),
	   "luo-v6 into luo-v5: incompatible (%s)", msg);
	tgt = run;
	tgt.n[LUO_ABI_MEMFD] = 0;
	ok(luo_abi_compare(&tgt, &run, msg, sizeof(msg)) == LUO_ABI_INCOMPATIBLE &&
		   strstr(msg, "no memfd preservation (this kernel speaks memfd-v2)"),
	   "a target without memfd: incompatible (%s)", msg);
	tgt = run;
	tgt.n[LUO_ABI_KHO] = 3;
	ok(luo_abi_compare(&tgt, &run, msg, sizeof(msg)) == LUO_ABI_UNKNOWN && strstr(msg, "several kho"),
	   "an ambiguous target: unknown (%s)", msg);
	tgt = run;
	run.n[LUO_ABI_MEMFD] = 0;
	strcpy(tgt.v[LUO_ABI_MEMFD], "memfd-v3");
	ok(luo_abi_compare(&tgt, &run, msg, sizeof(msg)) == LUO_ABI_COMPATIBLE && strstr(msg, "memfd not known"),
	   "a part unknown for the running kernel is not compared (%s)", msg);
	ok(luo_abi_compare(&tgt, &run, msg, 8) == LUO_ABI_COMPATIBLE && strlen(msg) == 7, "a short buffer is cut");
}

static void test_abi_payloads(void)
{
	static const char *const names[] = { "gzip", "xz", "lzma", "zstd", "none" };
	size_t n = 3u << 20, len;
	uint8_t *data = malloc(n), *b;
	struct luo_abi a;
	const char *why;
	int r;

	if (!data)
		abort();
	/* Pseudo-random filler (xorshift), so that the payload is large. */
	for (size_t i = 0, x = 88172645463325252u; i < n; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		data[i] = (uint8_t)x | 0x80;
	}
	/* kho straddles the first 1 MiB window's end; luo the second's. */
	memcpy(data + (1u << 20) - 3, "\0kho-v4", 8);
	memcpy(data + (2u << 20) - 32 + 3, "\0luo-v5", 8);
	memcpy(data + n - 100, "\xffmemfd-v2", 10);
	for (int how = PACK_GZIP; how <= PACK_NONE; how++) {
		b = pack(how, data, n, &len);
		r = abi_of(b, len, &a, &why);
		ok(r == 0 && !strcmp(a.v[LUO_ABI_KHO], "kho-v4") && !strcmp(a.v[LUO_ABI_LUO], "luo-v5") &&
			   !strcmp(a.v[LUO_ABI_MEMFD], "memfd-v2") && a.n[0] == 1 && a.n[1] == 1 && a.n[2] == 1,
		   "%s payload: %s %s %s (%s)", names[how], a.v[0], a.v[1], a.v[2], why ? why : "ok");
		if (how == PACK_XZ) {
			b[len - 40] ^= 0x55;
			ok(abi_of(b, len, &a, &why) == -EBADMSG && !luo_abi_known(&a), "corrupt xz: %s", why);
		}
		if (how == PACK_GZIP) {
			ok(bzimage_abi(b, len, 1u << 20, BZIMAGE_ABI_MAX_MS, &a, &why) == -EFBIG,
			   "more output than the limit: %s", why);
			/* Cut the payload in half (its length in the header too). */
			b[0x24e] = (len - 0xa00 - 4) / 2 >> 16;
			ok(len > (1u << 20), "the gzip payload is %zu bytes", len);
			ok(abi_of(b, len, &a, &why) == -EBADMSG, "truncated gzip: %s", why);
		}
		free(b);
	}
	memset(data, 0, n);
	b = pack(PACK_ZSTD, data, 0, &len);
	ok(abi_of(b, len, &a, &why) == 0 && !luo_abi_known(&a), "an empty kernel has no LUO ABI");
	free(b);
	free(data);

	/* A bomb: 256 MiB of zeros in a few KiB. */
	n = 256u << 20;
	data = calloc(1, n);
	b = pack(PACK_ZSTD, data, n, &len);
	free(data);
	ok(len < 65536, "a %zu-byte image of 256 MiB", len);
	ok(bzimage_abi(b, len, 16u << 20, BZIMAGE_ABI_MAX_MS, &a, &why) == -EFBIG, "bomb stopped by size: %s", why);
	ok(bzimage_abi(b, len, BZIMAGE_ABI_MAX_OUT, 0, &a, &why) == -ETIMEDOUT, "bomb stopped by time: %s", why);
	free(b);

	b = wrap((const uint8_t *)"BZh91AY&SY", 10, &len);
	ok(abi_of(b, len, &a, &why) == -EOPNOTSUPP && strstr(why, "bzip2"), "bzip2: %s", why);
	free(b);
	b = wrap((const uint8_t *)"whatever", 8, &len);
	ok(abi_of(b, len, &a, &why) == -EOPNOTSUPP && strstr(why, "not recognised"), "unknown payload: %s", why);
	b[0x24c] = 0xff, b[0x24d] = 0xff;
	ok(abi_of(b, len, &a, &why) == -ENOEXEC && strstr(why, "outside"), "payload past the end: %s", why);
	b[0x24c] = 8, b[0x24d] = 0;
	b[0x248] = 0xf0, b[0x249] = 0xff, b[0x24a] = 0xff, b[0x24b] = 0xff;
	ok(abi_of(b, len, &a, &why) == -ENOEXEC, "payload offset overflowing: %s", why);
	free(b);
}

static void test_real(const char *path)
{
	struct bzimage_info info;
	struct stat st;
	const char *why = NULL;
	uint8_t *buf;
	ssize_t n;
	int fd;

	if (!path || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		printf("# no real bzImage given: skipped\n");
		return;
	}
	fstat(fd, &st);
	buf = malloc(BZIMAGE_PROBE_SIZE);
	n = pread(fd, buf, BZIMAGE_PROBE_SIZE, 0);
	ok(n > 0 && bzimage_parse(buf, n, st.st_size, &info, &why) == 0, "the real kernel %s passes (%s)", path,
	   why ? why : info.version);
	ok(info.cmdline_size >= 2047 && info.relocatable, "it is relocatable and takes %u bytes", info.cmdline_size);
	free(buf);
	buf = malloc(st.st_size);
	if (buf && pread(fd, buf, st.st_size, 0) == st.st_size) {
		struct luo_abi a;

		ok(bzimage_abi(buf, st.st_size, BZIMAGE_ABI_MAX_OUT, BZIMAGE_ABI_MAX_MS, &a, &why) == 0 &&
			   a.n[LUO_ABI_LUO] == 1 && a.n[LUO_ABI_KHO] == 1,
		   "its LUO ABI: %s %s %s (%s)", a.v[0], a.v[1], a.v[2], why ? why : "ok");
	}
	free(buf);
	close(fd);
}

static void test_sha256(void)
{
	static const struct {
		const char *in;
		const char *hex;
	} v[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	uint8_t d[32];
	char hex[65];
	struct sha256 s;
	int fd;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		sha256_init(&s);
		sha256_update(&s, v[i].in, strlen(v[i].in));
		sha256_final(&s, d);
		sha256_hex(d, hex);
		ok(!strcmp(hex, v[i].hex), "sha256 of a %zu-byte vector", strlen(v[i].in));
	}
	/* One million 'a', fed through a file in odd chunks. */
	fd = memfd_create("a", MFD_CLOEXEC);
	for (int i = 0; i < 1000; i++) {
		char k[1000];

		memset(k, 'a', sizeof(k));
		if (write(fd, k, sizeof(k)) != sizeof(k))
			break;
	}
	ok(sha256_fd(fd, hex) == 0 && !strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
	   "sha256 of a million 'a' from a file");
	close(fd);
}

int main(int argc, char **argv)
{
	test_synthetic();
	test_abi_scan();
	test_abi_compare();
	test_abi_payloads();
	test_real(argc > 1 ? argv[1] : getenv("LUO_BZIMAGE"));
	test_sha256();
	return tap_done();
}
