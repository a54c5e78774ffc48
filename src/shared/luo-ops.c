/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns every ioctl issued on /dev/liveupdate and on session fds: the seam
 * that the host tests replace with their test double.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>

#include "luo-ops.h"

/**
 * luo_device_open() - open /dev/liveupdate.
 *
 * Return: the device fd (O_CLOEXEC), or -ENOENT when the kernel has no LUO,
 * -EBUSY when another process holds it, another -errno otherwise.
 */
int luo_device_open(void)
{
	int fd = open(LIVEUPDATE_DEVICE, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static int set_name(__u8 dst[LIVEUPDATE_SESSION_NAME_LENGTH], const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len >= LIVEUPDATE_SESSION_NAME_LENGTH)
		return -EINVAL;
	memcpy(dst, name, len + 1);
	return 0;
}

/**
 * luo_device_create_session() - create an outgoing session.
 * @dev_fd: the /dev/liveupdate fd
 * @name: 1..63 bytes
 *
 * Return: the session fd (O_CLOEXEC), or -EEXIST for a duplicate name,
 * -EINVAL for a bad name, another -errno otherwise.
 */
int luo_device_create_session(int dev_fd, const char *name)
{
	struct liveupdate_ioctl_create_session arg = { .size = sizeof(arg), .fd = -1 };
	int r = set_name(arg.name, name);

	if (r < 0)
		return r;
	if (ioctl(dev_fd, LIVEUPDATE_IOCTL_CREATE_SESSION, &arg) < 0)
		return -errno;
	return arg.fd;
}

/**
 * luo_device_retrieve_session() - take an incoming session after a live update.
 * @dev_fd: the /dev/liveupdate fd
 * @name: the session's name
 *
 * Return: the session fd, or -ENOENT (no such session), -EINVAL (already
 * retrieved in this boot), another -errno otherwise.
 */
int luo_device_retrieve_session(int dev_fd, const char *name)
{
	struct liveupdate_ioctl_retrieve_session arg = { .size = sizeof(arg), .fd = -1 };
	int r = set_name(arg.name, name);

	if (r < 0)
		return r;
	if (ioctl(dev_fd, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, &arg) < 0)
		return -errno;
	return arg.fd;
}

/**
 * luo_session_preserve_fd() - preserve @fd in an outgoing session under @token.
 * @session_fd: an outgoing session
 * @fd: the file to preserve (today: an unlinked memfd); the caller keeps it
 * @token: unique within the session
 *
 * Return: 0, or -EEXIST (token used), -EBUSY (preserved in another session),
 * -ENOENT (no handler for this file type), -EINVAL (not an outgoing
 * session), another -errno.
 */
int luo_session_preserve_fd(int session_fd, int fd, uint64_t token)
{
	struct liveupdate_session_preserve_fd arg = {
		.size = sizeof(arg),
		.fd = fd,
		.token = token,
	};

	return ioctl(session_fd, LIVEUPDATE_SESSION_PRESERVE_FD, &arg) < 0 ? -errno : 0;
}

/**
 * luo_session_retrieve_fd() - get back the file preserved under @token.
 * @session_fd: a retrieved (incoming) session
 * @token: the token it was preserved with
 *
 * Return: a new fd (O_CLOEXEC is not preserved by the kernel: the caller
 * sets it), or -ENOENT (no such token), another -errno.
 */
int luo_session_retrieve_fd(int session_fd, uint64_t token)
{
	struct liveupdate_session_retrieve_fd arg = {
		.size = sizeof(arg),
		.fd = -1,
		.token = token,
	};

	if (ioctl(session_fd, LIVEUPDATE_SESSION_RETRIEVE_FD, &arg) < 0)
		return -errno;
	return arg.fd;
}

/**
 * luo_session_finish() - release a retrieved session's preserved state.
 * @session_fd: a retrieved session; files not retrieved yet are discarded
 *
 * Return: 0 or -errno.
 */
int luo_session_finish(int session_fd)
{
	struct liveupdate_session_finish arg = { .size = sizeof(arg) };

	return ioctl(session_fd, LIVEUPDATE_SESSION_FINISH, &arg) < 0 ? -errno : 0;
}

/**
 * luo_session_get_name() - the name of a session.
 * @session_fd: any session fd
 * @buf: receives the NUL-terminated name
 * @len: size of @buf; at least LIVEUPDATE_SESSION_NAME_LENGTH is always enough
 *
 * Return: 0, -ENAMETOOLONG if @buf is too small, or -errno.
 */
int luo_session_get_name(int session_fd, char *buf, size_t len)
{
	struct liveupdate_session_get_name arg = { .size = sizeof(arg) };
	size_t n;

	if (ioctl(session_fd, LIVEUPDATE_SESSION_GET_NAME, &arg) < 0)
		return -errno;
	n = strnlen((const char *)arg.name, sizeof(arg.name));
	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(buf, arg.name, n);
	buf[n] = '\0';
	return 0;
}
