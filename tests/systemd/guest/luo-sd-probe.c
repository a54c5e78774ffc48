// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * luo-sd-probe: a tiny service for the systemd tier (tests/systemd), built
 * static on the host and run by units in the sid guest. It checks what
 * systemd itself does with LUO, without luod:
 *
 *   luo-sd-probe fdstore NAME STATE   a memfd kept in the unit's fd store
 *                                     (FDSTORE=1, FDNAME=NAME)
 *   luo-sd-probe session NAME STATE   a memfd preserved in the LUO session
 *                                     PID 1 put in the fd store (LUOSession=NAME)
 *   luo-sd-probe own NAME STATE       a memfd preserved in a LUO session the
 *                                     probe created itself (opening
 *                                     /dev/liveupdate only for that) and put in
 *                                     the fd store (FDNAME=NAME): what luod
 *                                     would do with its clients' sessions
 *
 * On start each looks for NAME in LISTEN_FDS/LISTEN_FDNAMES. A memfd found
 * there is verified; a session found there is asked for token 1 (retrieved
 * and verified when the session came in across a kexec; a fresh, outgoing
 * session gets a new memfd preserved at token 1). "own" without a session in
 * LISTEN_FDS creates one named "luo-probe-own-NAME". One line describing the
 * outcome goes to STATE ("created", "preserved", "restored ok", "restored
 * bad: ...", "missing: ..."), then READY=1, then the probe waits to be stopped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "luo-uapi.h"

#define PROBE_SIZE (1 << 20)
#define PROBE_TOKEN 1
#define SD_LISTEN_FDS_START 3

static const char *state_path;

static void state(const char *fmt, ...)
{
	FILE *f = fopen(state_path, "we");
	va_list ap;

	va_start(ap, fmt);
	if (f) {
		vfprintf(f, fmt, ap);
		fputc('\n', f);
		fclose(f);
	}
	va_end(ap);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static uint8_t pattern(const char *name, size_t i)
{
	uint32_t h = 2166136261u;

	for (; *name; name++)
		h = (h ^ (uint8_t)*name) * 16777619u;
	return (uint8_t)((h >> (i % 4) * 8) ^ (i * 131) ^ (i >> 12));
}

/* Send MSG to the service manager, with FD attached when FD >= 0. */
static int notify(const char *msg, int fd)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl = { 0 };
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = strlen(msg) };
	struct msghdr mh = { .msg_name = &sa, .msg_iov = &iov, .msg_iovlen = 1 };
	socklen_t len;
	int s, r = 0;

	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, path, strlen(path));
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = 0;
	len = offsetof(struct sockaddr_un, sun_path) + strlen(path);
	mh.msg_namelen = len;
	if (fd >= 0) {
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		CMSG_FIRSTHDR(&mh)->cmsg_level = SOL_SOCKET;
		CMSG_FIRSTHDR(&mh)->cmsg_type = SCM_RIGHTS;
		CMSG_FIRSTHDR(&mh)->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(CMSG_FIRSTHDR(&mh)), &fd, sizeof(int));
	}
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (sendmsg(s, &mh, MSG_NOSIGNAL) < 0)
		r = -errno;
	close(s);
	return r;
}

/* The fd passed by the service manager under NAME, or -1. */
static int listen_fd(const char *name)
{
	const char *n = getenv("LISTEN_FDS"), *names = getenv("LISTEN_FDNAMES");
	int count = n ? atoi(n) : 0, i;
	size_t l = strlen(name);

	for (i = 0; names && i < count; i++) {
		if (strncmp(names, name, l) == 0 && (names[l] == ':' || names[l] == 0))
			return SD_LISTEN_FDS_START + i;
		names = strchr(names, ':');
		if (names)
			names++;
	}
	return -1;
}

static int memfd_new(const char *name)
{
	uint8_t *p;
	size_t i;
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	p = ftruncate(fd, PROBE_SIZE) < 0 ? MAP_FAILED
					  : mmap(NULL, PROBE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return -1;
	}
	for (i = 0; i < PROBE_SIZE; i++)
		p[i] = pattern(name, i);
	munmap(p, PROBE_SIZE);
	return fd;
}

/* 0 if FD holds NAME's pattern, else a reason in BUF. */
static int memfd_check(int fd, const char *name, char *buf, size_t len)
{
	struct stat st;
	uint8_t *p;
	size_t i;

	if (fstat(fd, &st) < 0)
		return snprintf(buf, len, "fstat: %s", strerror(errno)), -1;
	if (st.st_size != PROBE_SIZE)
		return snprintf(buf, len, "size %lld, expected %d", (long long)st.st_size, PROBE_SIZE), -1;
	p = mmap(NULL, PROBE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return snprintf(buf, len, "mmap: %s", strerror(errno)), -1;
	for (i = 0; i < PROBE_SIZE; i++)
		if (p[i] != pattern(name, i))
			break;
	munmap(p, PROBE_SIZE);
	if (i < PROBE_SIZE)
		return snprintf(buf, len, "byte %zu differs", i), -1;
	return 0;
}

static void fd_link(int fd, char *buf, size_t len)
{
	char p[64];
	ssize_t n;

	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	n = readlink(p, buf, len - 1);
	buf[n < 0 ? 0 : n] = 0;
}

static void probe_fdstore(const char *name)
{
	char why[128], link[256];
	int fd = listen_fd(name);

	if (fd >= 0) {
		fd_link(fd, link, sizeof(link));
		if (memfd_check(fd, name, why, sizeof(why)) == 0)
			state("restored ok (%s)", link);
		else
			state("restored bad: %s (%s)", why, link);
		return;
	}
	fd = memfd_new(name);
	if (fd < 0) {
		state("error: memfd: %s", strerror(errno));
		return;
	}
	char msg[128];
	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
	int r = notify(msg, fd);
	if (r < 0)
		state("error: FDSTORE=1: %s", strerror(-r));
	else
		state("created");
	close(fd);
}

/*
 * Verify token 1 of the incoming session S, or preserve a new memfd at token 1
 * in the outgoing session S. Returns 0 when S was outgoing and got the memfd.
 */
static int session_use(int s, const char *name)
{
	struct liveupdate_session_retrieve_fd rf = { .size = sizeof(rf), .token = PROBE_TOKEN };
	struct liveupdate_session_preserve_fd pf = { .size = sizeof(pf), .token = PROBE_TOKEN };
	char why[128], link[256];
	int fd;

	fd_link(s, link, sizeof(link));
	if (!strstr(link, "luo_session")) {
		state("missing: fd %s is %s, not a LUO session", name, link);
		return -1;
	}
	if (ioctl(s, LIVEUPDATE_SESSION_RETRIEVE_FD, &rf) == 0) {
		if (memfd_check(rf.fd, name, why, sizeof(why)) == 0)
			state("restored ok (%s)", link);
		else
			state("restored bad: %s (%s)", why, link);
		close(rf.fd);
		return -1;
	}
	if (errno != EINVAL) {
		state("missing: RETRIEVE_FD token %d: %s (%s)", PROBE_TOKEN, strerror(errno), link);
		return -1;
	}
	/* EINVAL: an outgoing session, created for this boot. */
	fd = memfd_new(name);
	if (fd < 0) {
		state("error: memfd: %s", strerror(errno));
		return -1;
	}
	pf.fd = fd;
	if (ioctl(s, LIVEUPDATE_SESSION_PRESERVE_FD, &pf) < 0) {
		state("error: PRESERVE_FD: %s (%s)", strerror(errno), link);
		close(fd);
		return -1;
	}
	state("preserved (%s)", link);
	close(fd);
	return 0;
}

static void probe_session(const char *name)
{
	int s = listen_fd(name);

	if (s < 0) {
		state("missing: no fd named %s in LISTEN_FDNAMES=%s", name, getenv("LISTEN_FDNAMES") ?: "");
		return;
	}
	session_use(s, name);
}

/* Open /dev/liveupdate, waiting up to 10 s while someone else holds it. */
static int device_open(int *busy)
{
	int fd, i;

	for (i = 0; i < 100; i++) {
		fd = open(LIVEUPDATE_DEVICE, O_RDWR | O_CLOEXEC);
		if (fd >= 0 || errno != EBUSY)
			break;
		(*busy)++;
		usleep(100 * 1000);
	}
	return fd;
}

static void probe_own(const char *name)
{
	struct liveupdate_ioctl_create_session cs = { .size = sizeof(cs) };
	char msg[128];
	int s = listen_fd(name), dev, busy = 0, r;

	if (s >= 0) {
		session_use(s, name);
		return;
	}
	dev = device_open(&busy);
	if (dev < 0) {
		state("error: open %s: %s (after %d EBUSY)", LIVEUPDATE_DEVICE, strerror(errno), busy);
		return;
	}
	snprintf((char *)cs.name, sizeof(cs.name), "luo-probe-own-%s", name);
	r = ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &cs);
	/* The session outlives the device fd: hold the device no longer. */
	close(dev);
	if (r < 0) {
		state("error: CREATE_SESSION %s: %s", (char *)cs.name, strerror(errno));
		return;
	}
	if (session_use(cs.fd, name) == 0) {
		snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
		r = notify(msg, cs.fd);
		if (r < 0)
			state("error: FDSTORE=1 of the session: %s", strerror(-r));
	}
	close(cs.fd);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s fdstore|session|own NAME STATEFILE\n", argv[0]);
		return 2;
	}
	state_path = argv[3];
	if (strcmp(argv[1], "fdstore") == 0)
		probe_fdstore(argv[2]);
	else if (strcmp(argv[1], "session") == 0)
		probe_session(argv[2]);
	else if (strcmp(argv[1], "own") == 0)
		probe_own(argv[2]);
	else
		return 2;
	notify("READY=1", -1);
	for (;;)
		pause();
}
