// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Framing of the fake kernel's protocol (fake-proto.h): one message per
 * request or reply, at most one fd passed along with SCM_RIGHTS. Shared by
 * luo-fake-kernel and luo-fake-preload.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake-proto.h"

/**
 * fake_send() - send one message, with @fd attached unless it is negative.
 * @sock: a SOCK_SEQPACKET socket
 * @buf: the message
 * @len: its length
 * @fd: an fd to pass, or -1; the caller keeps its copy
 * @flags: extra sendmsg() flags (MSG_NOSIGNAL is always added)
 *
 * Return: 0 or -errno.
 */
int fake_send(int sock, const void *buf, size_t len, int fd, int flags)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control = {};
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *cmsg;

		msg.msg_control = control.buf;
		msg.msg_controllen = sizeof(control.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}

	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL | flags);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EPROTO;
}

/**
 * fake_recv() - receive one message and at most one fd.
 * @sock: a SOCK_SEQPACKET socket
 * @buf: where the message goes
 * @len: the size of @buf; a longer message is an error
 * @flags: extra recvmsg() flags (MSG_CMSG_CLOEXEC is always added)
 * @fdp: set to the fd received (O_CLOEXEC, the caller owns it) or -1
 *
 * A truncated message, truncated control data or more than one fd is a
 * protocol error: every fd received is closed and nothing is returned.
 *
 * Return: the message length (0 at end of stream) or -errno.
 */
long fake_recv(int sock, void *buf, size_t len, int flags, int *fdp)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof(control.buf),
	};
	struct cmsghdr *cmsg;
	int fds = 0;
	ssize_t n;

	*fdp = -1;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;

	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		size_t i, nfd;

		if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nfd; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
			if (fds++ == 0)
				*fdp = fd;
			else
				close(fd);
		}
	}

	if (fds > 1 || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		if (*fdp >= 0)
			close(*fdp);
		*fdp = -1;
		return -EPROTO;
	}
	return n;
}
