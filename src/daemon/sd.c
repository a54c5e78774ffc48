/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns luod's side of the systemd service protocol (sd_notify(3),
 * sd_listen_fds(3)), written out to avoid a libsystemd dependency:
 * readiness, and the fd store that keeps the sessions of the previous
 * update alive across a restart of luod.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sd.h"
#include "util.h"

#define SD_LISTEN_FDS_START 3
#define SD_MAX_FDS 253

/**
 * sd_notify_fds() - send a notification to the service manager.
 * @state: newline-separated assignments, e.g. "FDSTORE=1\nFDNAME=x"
 * @fds: fds to pass along (FDSTORE=1), or NULL
 * @n_fds: their number
 *
 * Return: 1 when sent, 0 when not run by a service manager ($NOTIFY_SOCKET
 * unset), or -errno.
 */
int sd_notify_fds(const char *state, const int *fds, size_t n_fds)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * SD_MAX_FDS)];
	} ctrl;
	struct iovec iov = { .iov_base = (void *)state, .iov_len = strlen(state) };
	struct msghdr mh = { .msg_name = &sa, .msg_iov = &iov, .msg_iovlen = 1 };
	_cleanup_close_ int fd = -1;
	size_t len;

	if (!path || !*path)
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path) || n_fds > SD_MAX_FDS)
		return -EINVAL;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	mh.msg_namelen = offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/');
	if (n_fds) {
		struct cmsghdr *cm;

		memset(&ctrl, 0, sizeof(ctrl));
		mh.msg_control = &ctrl;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
		cm = CMSG_FIRSTHDR(&mh);
		if (!cm)
			return -EINVAL;
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * n_fds);
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0)
		return -errno;
	return 1;
}

/**
 * sd_listen_fds() - take the fds the service manager passed, with names.
 * @fds: receives an array (caller frees it; the fds are the caller's, CLOEXEC)
 * @n: receives its length
 *
 * The environment variables are removed, so children do not see them.
 *
 * Return: 0 (possibly with none) or -errno.
 */
int sd_listen_fds(struct sd_fd **fds, size_t *n)
{
	const char *spid = getenv("LISTEN_PID"), *sn = getenv("LISTEN_FDS"), *names = getenv("LISTEN_FDNAMES");
	_cleanup_free_ struct sd_fd *out = NULL;
	char *end;
	long pid, count;
	int r = 0;

	*fds = NULL;
	*n = 0;
	if (!spid || !sn)
		goto done;
	pid = strtol(spid, &end, 10);
	if (*end || pid != getpid())
		goto done;
	count = strtol(sn, &end, 10);
	if (*end || count <= 0 || count > SD_MAX_FDS) {
		r = count == 0 ? 0 : -EINVAL;
		goto done;
	}
	out = calloc(count, sizeof(*out));
	if (!out) {
		r = -ENOMEM;
		goto done;
	}
	for (long i = 0; i < count; i++) {
		const char *colon = names ? strchr(names, ':') : NULL;
		size_t len = names ? (colon ? (size_t)(colon - names) : strlen(names)) : 0;

		out[i].fd = SD_LISTEN_FDS_START + i;
		fcntl(out[i].fd, F_SETFD, FD_CLOEXEC);
		if (len >= sizeof(out[i].name))
			len = sizeof(out[i].name) - 1;
		if (names)
			memcpy(out[i].name, names, len);
		names = colon ? colon + 1 : NULL;
	}
	*fds = steal_ptr(&out);
	*n = count;
done:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return r;
}
