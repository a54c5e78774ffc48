/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns the calls that stage and start the next kernel: kexec_file_load(2)
 * (glibc has no wrapper), reboot(LINUX_REBOOT_CMD_KEXEC) and the
 * /sys/kernel/kexec_loaded flag, plus what their errors mean to an operator;
 * and what the running kernel tells of its LUO ABI (KHO's debugfs, the image
 * it booted from). The host tests replace these calls with their test double.
 */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <linux/reboot.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bzimage.h"
#include "kexec.h"
#include "luo-uapi.h"
#include "sha256.h"
#include "util.h"

#ifndef SYS_kexec_file_load
#define SYS_kexec_file_load 320
#endif

/**
 * kexec_load_file() - stage the next kernel with kexec_file_load(2).
 * @kernel_fd: the bzImage
 * @initrd_fd: the initramfs, or -1 for none
 * @cmdline: the next kernel's command line
 *
 * Return: 0 or -errno.
 */
int kexec_load_file(int kernel_fd, int initrd_fd, const char *cmdline)
{
	unsigned long flags = initrd_fd < 0 ? KEXEC_FILE_NO_INITRAMFS : 0;

	if (syscall(SYS_kexec_file_load, kernel_fd, initrd_fd, strlen(cmdline) + 1, cmdline, flags) < 0)
		return -errno;
	return 0;
}

/**
 * kexec_unload() - drop the staged kernel.
 *
 * Return: 0 or -errno.
 */
int kexec_unload(void)
{
	if (syscall(SYS_kexec_file_load, -1, -1, 0UL, NULL, (unsigned long)KEXEC_FILE_UNLOAD) < 0)
		return -errno;
	return 0;
}

/**
 * kexec_loaded() - whether the kernel has an image staged.
 *
 * Return: 1 or 0 as /sys/kernel/kexec_loaded says, or -errno.
 */
int kexec_loaded(void)
{
	_cleanup_close_ int fd = open("/sys/kernel/kexec_loaded", O_RDONLY | O_CLOEXEC);
	char c = 0;

	if (fd < 0)
		return -errno;
	if (read(fd, &c, 1) != 1)
		return -EIO;
	return c == '1';
}

/**
 * kexec_reboot() - reboot into the staged kernel; LUO serializes the
 * outgoing sessions on the way.
 *
 * Return: only on failure, with -errno; the system keeps running.
 */
int kexec_reboot(void)
{
	reboot(LINUX_REBOOT_CMD_KEXEC);
	return -errno;
}

/**
 * kexec_load_explain() - what a kexec_file_load(2) error means here.
 * @err: positive errno
 *
 * Return: a sentence for the operator.
 */
const char *kexec_load_explain(int err)
{
	switch (err) {
	case EPERM:
		return "not permitted: luod lacks CAP_SYS_BOOT, kernel.kexec_load_disabled is 1, "
		       "the load limit (kernel.kexec_load_limit_reboot) is used up, or the kernel is "
		       "locked down and the image is not signed";
	case ENOEXEC:
		return "the kernel refused the image: not a 64-bit bzImage that can be loaded above 4G "
		       "(build it with CONFIG_RELOCATABLE=y); dmesg tells more";
	case EINVAL:
		return "invalid arguments: command line too long for the new kernel or malformed";
	case EBUSY:
		return "a kexec is in progress or the kexec image is in use";
	case ETXTBSY:
		return "the kernel or initrd file is open for writing somewhere";
	case EADDRNOTAVAIL:
		return "no room in the KHO scratch area for the image; try a smaller initrd";
	case EKEYREJECTED:
		return "the image's signature was rejected";
	case ENOKEY:
		return "the image is signed with a key the kernel does not trust";
	case ENODATA:
		return "signatures are enforced and the image is not signed";
	case EBADMSG:
		return "the image's signature is malformed";
	case ENOMEM:
		return "not enough memory to stage the image";
	case ENOSYS:
		return "this kernel has no kexec_file_load (CONFIG_KEXEC_FILE)";
	case EBADF:
		return "a file descriptor passed to the kernel is not valid";
	default:
		return "kexec_file_load failed";
	}
}

static int read_small(const char *path, char *buf, size_t len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/**
 * kexec_eperm_reason() - find out why kexec_file_load(2) said EPERM here.
 * @buf: receives the reason, for people
 * @len: size of @buf
 *
 * Looks at what the kernel checks: CAP_SYS_BOOT, kernel.kexec_load_disabled,
 * the load limit and lockdown.
 */
void kexec_eperm_reason(char *buf, size_t len)
{
	char v[256];
	unsigned long long cap = 0;
	FILE *f;

	f = fopen("/proc/self/status", "re");
	if (f) {
		char line[256];

		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "CapEff: %llx", &cap) == 1)
				break;
		fclose(f);
	}
	if (!(cap & (1ULL << 22))) {
		snprintf(buf, len, "luod lacks CAP_SYS_BOOT");
		return;
	}
	if (read_small("/proc/sys/kernel/kexec_load_disabled", v, sizeof(v)) == 0 && !strcmp(v, "1")) {
		snprintf(buf, len,
			 "kernel.kexec_load_disabled is 1: kexec loading is off until the next "
			 "reboot (the sysctl cannot be set back to 0)");
		return;
	}
	if (read_small("/proc/sys/kernel/kexec_load_limit_reboot", v, sizeof(v)) == 0 && !strcmp(v, "0")) {
		snprintf(buf, len, "kernel.kexec_load_limit_reboot is 0: no more loads are allowed in this boot");
		return;
	}
	if (read_small("/sys/kernel/security/lockdown", v, sizeof(v)) == 0 && !strstr(v, "[none]")) {
		snprintf(buf, len, "the kernel is locked down (%s): only a signed image may be loaded", v);
		return;
	}
	snprintf(buf, len, "%s", kexec_load_explain(EPERM));
}

/**
 * kexec_reboot_explain() - what a failed reboot(LINUX_REBOOT_CMD_KEXEC) means.
 * @err: positive errno
 *
 * Return: a sentence for the operator.
 */
const char *kexec_reboot_explain(int err)
{
	switch (err) {
	case EINVAL:
		return "no kernel is loaded: run `luoctl load` first";
	case EBUSY:
		return "a kexec is already in progress";
	case EPERM:
		return "luod lacks CAP_SYS_BOOT";
	default:
		return "LUO could not serialize the sessions (see dmesg); nothing was lost, the system keeps running";
	}
}

/* Open a file that must be regular, without blocking on a FIFO or a tty. */
static int open_regular(const char *path, struct stat *st)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0)
		return -errno;
	if (!S_ISREG(st->st_mode))
		return -EINVAL;
	return steal_fd(&fd);
}

/*
 * Read a regular file of at most @cap bytes (-EFBIG if larger). Files that
 * say size 0 (debugfs, sysfs) are read to their end.
 * Return: the length or -errno.
 */
static ssize_t read_file(const char *path, uint8_t **out, size_t cap)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ uint8_t *buf = NULL;
	struct stat st;
	size_t len = 0, size;

	fd = open_regular(path, &st);
	if (fd < 0)
		return fd;
	if ((size_t)st.st_size > cap)
		return -EFBIG;
	size = st.st_size ? (size_t)st.st_size : cap;
	buf = malloc(size ? size : 1);
	if (!buf)
		return -ENOMEM;
	while (len < size) {
		ssize_t n = pread(fd, buf + len, size - len, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += n;
	}
	*out = steal_ptr(&buf);
	return len;
}

/* Whether a bzImage's version string is the running kernel's (uname(2)). */
static bool version_is_running(const char *v)
{
	struct utsname u;
	size_t n = strlen(v), rl, vl;

	if (uname(&u) < 0)
		return false;
	rl = strlen(u.release);
	vl = strlen(u.version);
	/* "RELEASE (BUILDER@HOST) VERSION", as in /proc/version. */
	return n >= rl + vl + 4 && !strncmp(v, u.release, rl) && !strncmp(v + rl, " (", 2) &&
	       !strcmp(v + n - vl, u.version) && !strncmp(v + n - vl - 2, ") ", 2);
}

/*
 * The LUO ABI of the image at @path, if it is the running kernel's. An image
 * whose sha256 is @known_sha has @known's ABI: no second decompression when
 * the running kernel's image is the one being loaded.
 */
static int image_abi(const char *path, struct luo_abi *abi, const char *known_sha, const struct luo_abi *known)
{
	_cleanup_free_ uint8_t *buf = NULL;
	struct bzimage_info info;
	const char *why;
	ssize_t n = read_file(path, &buf, BZIMAGE_MAX_SIZE);

	if (n < 0)
		return n;
	if (bzimage_parse(buf, n, n, &info, &why) < 0)
		return -ENOEXEC;
	if (!version_is_running(info.version))
		return -ESTALE;
	if (known_sha && known) {
		struct sha256 s;
		uint8_t d[32];
		char hex[65];

		sha256_init(&s);
		sha256_update(&s, buf, n);
		sha256_final(&s, d);
		sha256_hex(d, hex);
		if (!strcmp(hex, known_sha)) {
			*abi = *known;
			return 0;
		}
	}
	return bzimage_abi(buf, n, BZIMAGE_ABI_MAX_OUT, BZIMAGE_ABI_MAX_MS, abi, &why);
}

/* BOOT_IMAGE= of /proc/cmdline (a boot loader's path), or "". */
static void boot_image(char *buf, size_t len)
{
	char line[4096], *p, *e;

	buf[0] = '\0';
	if (read_small("/proc/cmdline", line, sizeof(line)) < 0)
		return;
	for (p = line; (p = strstr(p, "BOOT_IMAGE=")); p++) {
		if (p != line && p[-1] != ' ')
			continue;
		p += strlen("BOOT_IMAGE=");
		/* GRUB may name the device first: "(hd0,gpt2)/vmlinuz-...". */
		if (*p == '(' && strchr(p, ')') && strchr(p, ')') < p + strcspn(p, " "))
			p = strchr(p, ')') + 1;
		e = p + strcspn(p, " ");
		snprintf(buf, len, "%.*s", (int)(e - p), p);
		return;
	}
}

/**
 * kexec_running_abi() - the LUO ABI of the running kernel.
 * @abi: receives what was found (nothing known: luo_abi_known() is false)
 * @src: receives where it came from, or why nothing was found, for people
 * @len: size of @src
 * @known_sha: sha256 (hex) of an image whose ABI is already known, or NULL
 * @known: that ABI
 *
 * Two sources: KHO's debugfs (CONFIG_KEXEC_HANDOVER_DEBUGFS, debugfs
 * mounted): the compatible string of the outgoing FDT (kho) and of the LUO
 * blob (luo); and the image the kernel booted from ($LUOD_KERNEL_IMAGE,
 * BOOT_IMAGE=, /boot/vmlinuz-RELEASE and other usual places), taken only
 * when its version string is the running kernel's (uname), for every part.
 * Where both tell, debugfs wins. May take a second or two (decompression):
 * not for the event loop.
 */
void kexec_running_abi(struct luo_abi *abi, char *src, size_t len, const char *known_sha, const struct luo_abi *known)
{
	/* PRE RELEASE POST, or PRE alone when POST is NULL. */
	static const struct {
		const char *pre, *post;
	} fmt[] = {
		{ "/boot/vmlinuz-", "" },	 { "/boot/bzImage-", "" },
		{ "/lib/modules/", "/vmlinuz" }, { "/usr/lib/modules/", "/vmlinuz" },
		{ "/boot/vmlinuz", NULL },	 { "/vmlinuz", NULL },
		{ "/boot/bzImage", NULL },
	};
	char path[4096], bi[2048], image[4096] = "";
	const char *env = getenv("LUOD_KERNEL_IMAGE");
	struct luo_abi dbg = { 0 };
	_cleanup_free_ uint8_t *buf = NULL;
	struct utsname u;
	ssize_t n;
	size_t off = 0;

	memset(abi, 0, sizeof(*abi));
	uname(&u);
	boot_image(bi, sizeof(bi));
	for (int i = -3; i < (int)ARRAY_SIZE(fmt) && !image[0]; i++) {
		if (i == -3 && env && *env)
			snprintf(path, sizeof(path), "%s", env);
		else if (i == -2 && bi[0])
			snprintf(path, sizeof(path), "%s", bi);
		else if (i == -1 && bi[0] == '/')
			snprintf(path, sizeof(path), "/boot%s", bi);
		else if (i >= 0)
			snprintf(path, sizeof(path), "%s%s%s", fmt[i].pre, fmt[i].post ? u.release : "",
				 fmt[i].post ? fmt[i].post : "");
		else
			continue;
		if (image_abi(path, abi, known_sha, known) == 0)
			snprintf(image, sizeof(image), "%s", path);
	}
	if (!image[0])
		memset(abi, 0, sizeof(*abi));

	n = read_file(KEXEC_KHO_DEBUGFS "/out/fdt", &buf, 1u << 20);
	if (n > 0)
		luo_abi_scan(&dbg, buf, n, true);
	free(steal_ptr(&buf));
	if (dbg.n[LUO_ABI_KHO] == 1)
		memcpy(abi->v[LUO_ABI_KHO], dbg.v[LUO_ABI_KHO], LUO_ABI_NAME_MAX), abi->n[LUO_ABI_KHO] = 1;
	n = read_file(KEXEC_KHO_DEBUGFS "/out/sub_fdts/LUO", &buf, 1u << 20);
	/* struct luo_ser starts with its compatible string. */
	if (n > 0)
		luo_abi_scan(&dbg, buf, n < LUO_ABI_NAME_MAX ? n : LUO_ABI_NAME_MAX, true);
	if (dbg.n[LUO_ABI_LUO] == 1)
		memcpy(abi->v[LUO_ABI_LUO], dbg.v[LUO_ABI_LUO], LUO_ABI_NAME_MAX), abi->n[LUO_ABI_LUO] = 1;

	src[0] = '\0';
	if (image[0])
		off += snprintf(src + off, len - off, "image %s", image);
	if (dbg.n[LUO_ABI_KHO] == 1 || dbg.n[LUO_ABI_LUO] == 1)
		snprintf(src + off, len > off ? len - off : 0, "%s%s", off ? " and " : "", KEXEC_KHO_DEBUGFS);
	if (!src[0])
		snprintf(src, len,
			 "neither %s (CONFIG_KEXEC_HANDOVER_DEBUGFS, debugfs mounted) nor an image of the running "
			 "kernel %s was found (set LUOD_KERNEL_IMAGE)",
			 KEXEC_KHO_DEBUGFS, u.release);
}
