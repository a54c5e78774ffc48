/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns LOAD's quick checks, run in the event loop before the worker starts
 * (load.c): the request's members and the update's state, the kernel
 * image's header and the command line's length, the initrds' sizes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bzimage.h"
#include "daemon.h"
#include "load.h"
#include "util.h"

/* What kexec_file_load needs of an fd: a readable, non-empty regular file. */
static const char *check_file(int fd, off_t *size)
{
	struct stat st;
	int fl = fcntl(fd, F_GETFL);

	if (fstat(fd, &st) < 0 || fl < 0)
		return "cannot stat";
	/* An O_PATH fd cannot be read: kexec_file_load would say EBADF. */
	if (fl & O_PATH)
		return "not open for reading (an O_PATH descriptor)";
	if (!S_ISREG(st.st_mode))
		return "not a regular file";
	if ((fl & O_ACCMODE) != O_RDONLY && (fl & O_ACCMODE) != O_RDWR)
		return "not open for reading";
	if (st.st_size == 0)
		return "empty";
	*size = st.st_size;
	return NULL;
}

/**
 * load_check_request() - LOAD's members, its place in the queue and the update's state.
 * @d: the daemon
 * @cmdline: the "cmdline" member, or NULL
 * @n_fds: the number of fds that came with it
 *
 * Return: NULL, or the refusal.
 */
struct json_object *load_check_request(struct daemon *d, const char *cmdline, size_t n_fds)
{
	if (n_fds < 1)
		return luo_msg_error(EINVAL, "LOAD needs the kernel image's fd");
	if (!cmdline)
		return luo_msg_error(EINVAL, "LOAD needs a string member \"cmdline\"");
	if (strlen(cmdline) >= CMDLINE_MAX)
		return luo_msg_error(EINVAL, "command line is %zu bytes; at most %d", strlen(cmdline), CMDLINE_MAX - 1);
	if (load_busy(d))
		return luo_msg_error(EBUSY, "another LOAD is in progress");
	return update_gate(d, LUO_CMD_LOAD);
}

/**
 * load_check_image() - the kernel image: a bzImage this kernel can load, that takes @cmdline.
 * @fd: the image
 * @kernel: its name, for messages
 * @cmdline: the command line
 * @ksize: receives its size
 *
 * Return: NULL, or the refusal.
 */
struct json_object *load_check_image(int fd, const char *kernel, const char *cmdline, off_t *ksize)
{
	_cleanup_free_ uint8_t *head = NULL;
	struct bzimage_info info;
	const char *bad;
	ssize_t n;
	int r;

	bad = check_file(fd, ksize);
	if (bad)
		return luo_msg_error(EINVAL, "kernel image %s: %s", kernel, bad);
	if (*ksize > BZIMAGE_MAX_SIZE)
		return luo_msg_error(EFBIG, "kernel image %s: %lld bytes; a bzImage has at most %u", kernel,
				     (long long)*ksize, BZIMAGE_MAX_SIZE);
	head = malloc(BZIMAGE_PROBE_SIZE);
	if (!head)
		return luo_msg_error(ENOMEM, "out of memory");
	n = pread(fd, head, BZIMAGE_PROBE_SIZE, 0);
	if (n < 0)
		return luo_msg_error(errno, "kernel image %s: cannot read: %m", kernel);
	r = bzimage_parse(head, n, *ksize, &info, &bad);
	if (r == 0)
		r = bzimage_check_cmdline(&info, strlen(cmdline), &bad);
	if (r == -EINVAL)
		return luo_msg_error(EINVAL, "%s: %zu bytes given, this kernel takes at most %u", bad, strlen(cmdline),
				     info.cmdline_size > BZIMAGE_CMDLINE_RESERVE + 1
					     ? info.cmdline_size - BZIMAGE_CMDLINE_RESERVE - 1
					     : 0);
	if (r < 0)
		return luo_msg_error(-r, "kernel image %s: %s", kernel, bad);
	return NULL;
}

/**
 * load_check_initrds() - the initrds: regular files, together within what the kernel takes.
 * @fds: the kernel image, then the initrds
 * @n_fds: their number
 * @isize: receives the initrds' total size
 *
 * Return: NULL, or the refusal.
 */
struct json_object *load_check_initrds(const int *fds, size_t n_fds, off_t *isize)
{
	for (size_t i = 1; i < n_fds; i++) {
		const char *bad;
		off_t sz;

		bad = check_file(fds[i], &sz);
		if (bad)
			return luo_msg_error(EINVAL, "initrd %zu: %s", i, bad);
		*isize += sz;
		if (*isize > INITRD_MAX)
			return luo_msg_error(EFBIG,
					     "the initrds are more than %lld bytes: the kernel takes at most that",
					     INITRD_MAX);
	}
	return NULL;
}
