/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the bzImage header checks and of SHA-256, with synthetic
 * images broken one way each and, when available, a real kernel image
 * (argument 1, or $LUO_BZIMAGE).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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
	test_real(argc > 1 ? argv[1] : getenv("LUO_BZIMAGE"));
	test_sha256();
	return tap_done();
}
