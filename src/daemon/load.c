/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns LOAD and UNLOAD: staging the next kernel from fds that luoctl opened
 * as the calling user, and remembering what was loaded for STATUS.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <time.h>

#include "bzimage.h"
#include "daemon.h"
#include "kexec.h"
#include "log.h"
#include "sha256.h"
#include "util.h"

#define CMDLINE_MAX 4096

/* Several initrds become one: the kernel unpacks concatenated cpio archives. */
static int initrd_concat(const int *fds, size_t n)
{
	_cleanup_close_ int mfd = memfd_create("luod-initrd", MFD_CLOEXEC);

	if (mfd < 0)
		return -errno;
	for (size_t i = 0; i < n; i++) {
		off_t off = 0;
		struct stat st;

		if (fstat(fds[i], &st) < 0)
			return -errno;
		while (off < st.st_size) {
			ssize_t k = sendfile(mfd, fds[i], &off, st.st_size - off);

			if (k < 0)
				return -errno;
			if (k == 0)
				return -EIO;
		}
	}
	return steal_fd(&mfd);
}

static const char *check_file(int fd, off_t *size)
{
	struct stat st;
	int fl = fcntl(fd, F_GETFL);

	if (fstat(fd, &st) < 0 || fl < 0)
		return "cannot stat";
	if (!S_ISREG(st.st_mode))
		return "not a regular file";
	if ((fl & O_ACCMODE) == O_WRONLY)
		return "not open for reading";
	if (st.st_size == 0)
		return "empty";
	*size = st.st_size;
	return NULL;
}

/**
 * load_handle() - the LOAD command.
 * @d: the daemon
 * @c: the requesting connection (root)
 * @msg: the command
 * @fds: kernel image, then initrds; the caller closes them
 * @n_fds: their number
 *
 * Return: the reply.
 */
struct json_object *load_handle(struct daemon *d, struct conn *c, struct json_object *msg, int *fds, size_t n_fds)
{
	const char *cmdline = luo_msg_string(msg, "cmdline");
	const char *kernel = luo_msg_string(msg, "kernel");
	bool dry_run = luo_msg_bool(msg, "dry_run");
	_cleanup_close_ int initrd = -1;
	struct json_object *reply, *x, *names = NULL;
	_cleanup_free_ uint8_t *head = NULL;
	struct bzimage_info info;
	off_t ksize = 0, isize = 0;
	char sha[65];
	const char *bad;
	ssize_t n;
	int r;

	if (n_fds < 1)
		return luo_msg_error(EINVAL, "LOAD needs the kernel image's fd");
	if (!cmdline)
		return luo_msg_error(EINVAL, "LOAD needs a string member \"cmdline\"");
	if (strlen(cmdline) >= CMDLINE_MAX)
		return luo_msg_error(EINVAL, "command line is %zu bytes; at most %d", strlen(cmdline), CMDLINE_MAX - 1);
	bad = check_file(fds[0], &ksize);
	if (bad)
		return luo_msg_error(EINVAL, "kernel image %s: %s", kernel ? kernel : "", bad);
	head = malloc(BZIMAGE_PROBE_SIZE);
	if (!head)
		return luo_msg_error(ENOMEM, "out of memory");
	n = pread(fds[0], head, BZIMAGE_PROBE_SIZE, 0);
	if (n < 0)
		return luo_msg_error(errno, "kernel image %s: cannot read: %m", kernel ? kernel : "");
	r = bzimage_parse(head, n, ksize, &info, &bad);
	if (r == 0)
		r = bzimage_check_cmdline(&info, strlen(cmdline), &bad);
	if (r == -EINVAL)
		return luo_msg_error(EINVAL, "%s: %zu bytes given, this kernel takes at most %u", bad, strlen(cmdline),
				     info.cmdline_size > BZIMAGE_CMDLINE_RESERVE + 1
					     ? info.cmdline_size - BZIMAGE_CMDLINE_RESERVE - 1
					     : 0);
	if (r < 0)
		return luo_msg_error(-r, "kernel image %s: %s", kernel ? kernel : "", bad);
	r = sha256_fd(fds[0], sha);
	if (r < 0)
		return luo_msg_error(-r, "kernel image %s: cannot read: %s", kernel ? kernel : "", strerror(-r));
	for (size_t i = 1; i < n_fds; i++) {
		off_t sz;

		bad = check_file(fds[i], &sz);
		if (bad)
			return luo_msg_error(EINVAL, "initrd %zu: %s", i, bad);
		isize += sz;
	}
	if (n_fds == 2) {
		initrd = fcntl(fds[1], F_DUPFD_CLOEXEC, 3);
	} else if (n_fds > 2) {
		initrd = initrd_concat(fds + 1, n_fds - 1);
		if (initrd < 0)
			return luo_msg_error(-initrd, "cannot concatenate the initrds: %s", strerror(-initrd));
	}

	if (!dry_run) {
		r = kexec_load_file(fds[0], initrd, cmdline);
		if (r == -EPERM) {
			char why[512];

			kexec_eperm_reason(why, sizeof(why));
			return luo_msg_error(EPERM, "kexec_file_load: %s (EPERM): %s", strerror(EPERM), why);
		}
		if (r < 0)
			return luo_msg_error(-r, "kexec_file_load: %s (%s): %s", strerror(-r), luo_errno_name(-r),
					     kexec_load_explain(-r));
		json_object_put(d->loaded);
		d->loaded = x = json_object_new_object();
		json_object_object_add(x, "kernel", json_object_new_string(kernel ? kernel : "?"));
		if (json_object_object_get_ex(msg, "initrds", &names) && json_object_is_type(names, json_type_array))
			json_object_object_add(x, "initrds", json_object_get(names));
		json_object_object_add(x, "cmdline", json_object_new_string(cmdline));
		json_object_object_add(x, "size", json_object_new_int64(ksize));
		json_object_object_add(x, "sha256", json_object_new_string(sha));
		json_object_object_add(x, "version", json_object_new_string(info.version));
		json_object_object_add(x, "initrd_size", json_object_new_int64(isize));
		json_object_object_add(x, "loaded_at", json_object_new_int64(time(NULL)));
		json_object_object_add(x, "loaded_by", json_object_new_int64(c->uid));
		d->loaded_expect = 1;
		log_notice("kernel %s loaded by uid %u (%lld bytes, initrd %lld bytes), command line: %s",
			   kernel ? kernel : "?", (unsigned)c->uid, (long long)ksize, (long long)isize, cmdline);
	}
	reply = luo_msg_ok();
	json_object_object_add(reply, "cmdline", json_object_new_string(cmdline));
	json_object_object_add(reply, "size", json_object_new_int64(ksize));
	json_object_object_add(reply, "sha256", json_object_new_string(sha));
	json_object_object_add(reply, "version", json_object_new_string(info.version));
	json_object_object_add(reply, "cmdline_max",
			       json_object_new_int64(info.cmdline_size - BZIMAGE_CMDLINE_RESERVE - 1));
	json_object_object_add(reply, "initrd_size", json_object_new_int64(isize));
	json_object_object_add(reply, "dry_run", json_object_new_boolean(dry_run));
	return reply;
}

/**
 * load_unload() - the UNLOAD command.
 * @d: the daemon
 *
 * Return: the reply.
 */
struct json_object *load_unload(struct daemon *d)
{
	int r = kexec_unload();

	if (r < 0)
		return luo_msg_error(-r, "unload: %s: %s", strerror(-r), kexec_load_explain(-r));
	json_object_put(d->loaded);
	d->loaded = NULL;
	d->loaded_expect = 0;
	log_notice("kexec image unloaded");
	return luo_msg_ok();
}
