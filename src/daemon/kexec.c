/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns the calls that stage and start the next kernel: kexec_file_load(2)
 * (glibc has no wrapper), reboot(LINUX_REBOOT_CMD_KEXEC) and the
 * /sys/kernel/kexec_loaded flag, plus what their errors mean to an operator.
 * The host tests replace these calls with their test double.
 */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <linux/reboot.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kexec.h"
#include "luo-uapi.h"
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
