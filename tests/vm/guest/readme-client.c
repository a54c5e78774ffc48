// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * luo-readme-client: a luod client written only from the upstream README's
 * client protocol, for the VM tier (built static by tests/vm/initramfs.sh).
 * No libluo-client, no json-c, and none of luod's extensions: no DONE, no
 * session name in READY. It must survive any number of chained updates.
 *
 *   luo-readme-client --id ID --gen N [--claim] [--size BYTES] [--socket P]
 *
 * --claim: connect, CLAIM ID, RETRIEVE_FD token 1, check that it holds
 * generation N-1's data, FINISH, close everything. Then (always): connect,
 * SUBSCRIBE ID, wait for START_PRESERVATION and its session fd, preserve a
 * memfd with generation N's data as token 1, READY, and stay connected.
 * Prints one line per step; exits 1 on any failure.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* From the kernel's include/uapi/linux/liveupdate.h. */
#define LIVEUPDATE_IOCTL_TYPE 0xBA
#define LIVEUPDATE_SESSION_PRESERVE_FD _IO(LIVEUPDATE_IOCTL_TYPE, 0x40)
#define LIVEUPDATE_SESSION_RETRIEVE_FD _IO(LIVEUPDATE_IOCTL_TYPE, 0x41)
#define LIVEUPDATE_SESSION_FINISH _IO(LIVEUPDATE_IOCTL_TYPE, 0x42)

struct session_fd_arg {
	uint32_t size;
	int32_t fd;
	uint64_t token __attribute__((aligned(8)));
};

struct session_finish_arg {
	uint32_t size;
	uint32_t reserved;
};

static const char *id;
static char inbuf[65536], cur[65536];
static size_t have;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "luo-readme-client[%s]: ", id ? id : "?");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static void say(const char *what, long n)
{
	printf("luo-readme-client[%s]: %s %ld\n", id, what, n);
	fflush(stdout);
}

/* Generation @gen's data: a byte stream only this (id, gen) produces. */
static void fill(unsigned char *buf, size_t size, long gen)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL * (uint64_t)(gen + 1);

	for (const char *p = id; *p; p++)
		x = (x ^ (unsigned char)*p) * 0x100000001b3ULL;
	for (size_t i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)x;
	}
}

static int connect_luod(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		die("cannot create a socket for %s", path);
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("cannot connect to %s", path);
	have = 0;
	return fd;
}

static void send_line(int fd, const char *msg)
{
	size_t len = strlen(msg);

	if (write(fd, msg, len) != (ssize_t)len)
		die("cannot send %s", msg);
}

/* Receive the next line into @cur; an fd that came along goes to *@fdp. */
static void recv_line(int sock, int *fdp)
{
	for (;;) {
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int) * 8)];
		} ctrl;
		struct iovec iov = { .iov_base = inbuf + have, .iov_len = sizeof(inbuf) - have };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctrl, .msg_controllen = sizeof(ctrl)
		};
		char *nl = memchr(inbuf, '\n', have);
		ssize_t n;

		if (nl) {
			size_t len = nl - inbuf;

			memcpy(cur, inbuf, len);
			cur[len] = '\0';
			memmove(inbuf, nl + 1, have - len - 1);
			have -= len + 1;
			return;
		}
		if (have == sizeof(inbuf))
			die("%s", "message too long");
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (n <= 0)
			die("%s", "luod closed the connection");
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && fdp)
				memcpy(fdp, CMSG_DATA(c), sizeof(int));
		have += n;
	}
}

static const char *msg(void)
{
	return cur;
}

static void claim(const char *path, long gen, size_t size)
{
	struct session_fd_arg r = { .size = sizeof(r), .fd = -1, .token = 1 };
	struct session_finish_arg f = { .size = sizeof(f) };
	unsigned char *want = malloc(size), *got = malloc(size + 1);
	char cmd[128];
	int sock = connect_luod(path), sfd = -1;
	ssize_t n;

	if (!want || !got)
		die("%s", "out of memory");
	snprintf(cmd, sizeof(cmd), "{\"cmd\":\"CLAIM\",\"id\":\"%s\"}\n", id);
	send_line(sock, cmd);
	do
		recv_line(sock, &sfd);
	while (strstr(msg(), "\"event\""));
	if (!strstr(msg(), "\"ok\":true") || sfd < 0)
		die("CLAIM failed: %s", msg());
	if (ioctl(sfd, LIVEUPDATE_SESSION_RETRIEVE_FD, &r) < 0)
		die("LIVEUPDATE_SESSION_RETRIEVE_FD: %s", strerror(errno));
	fill(want, size, gen - 1);
	n = pread(r.fd, got, size + 1, 0);
	if (n != (ssize_t)size || memcmp(want, got, size))
		die("%s", "MISMATCH: token 1 does not hold the previous generation's data");
	if (ioctl(sfd, LIVEUPDATE_SESSION_FINISH, &f) < 0)
		die("LIVEUPDATE_SESSION_FINISH: %s", strerror(errno));
	close(r.fd);
	close(sfd);
	close(sock);
	free(want);
	free(got);
	say("claimed, finished and verified generation", gen - 1);
}

static void preserve(const char *path, long gen, size_t size)
{
	struct session_fd_arg p = { .size = sizeof(p), .token = 1 };
	unsigned char *buf = malloc(size);
	char cmd[128];
	int sock = connect_luod(path), sfd = -1, mfd;

	if (!buf)
		die("%s", "out of memory");
	snprintf(cmd, sizeof(cmd), "{\"cmd\":\"SUBSCRIBE\",\"id\":\"%s\"}\n", id);
	send_line(sock, cmd);
	recv_line(sock, NULL);
	if (!strstr(msg(), "\"ok\":true"))
		die("SUBSCRIBE failed: %s", msg());
	say("subscribed for generation", gen);
	do
		recv_line(sock, &sfd);
	while (!strstr(msg(), "\"event\":\"START_PRESERVATION\""));
	if (sfd < 0)
		die("%s", "START_PRESERVATION came without a session fd");
	mfd = memfd_create("luo-readme-client", MFD_CLOEXEC);
	fill(buf, size, gen);
	if (mfd < 0 || write(mfd, buf, size) != (ssize_t)size)
		die("cannot fill a memfd: %s", strerror(errno));
	p.fd = mfd;
	if (ioctl(sfd, LIVEUPDATE_SESSION_PRESERVE_FD, &p) < 0)
		die("LIVEUPDATE_SESSION_PRESERVE_FD: %s", strerror(errno));
	close(mfd);
	free(buf);
	say("preserved generation", gen);
	send_line(sock, "{\"cmd\":\"READY\"}\n");
	do
		recv_line(sock, NULL);
	while (strstr(msg(), "\"event\""));
	if (!strstr(msg(), "\"ok\":true"))
		die("READY failed: %s", msg());
	say("ready with generation", gen);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	const char *path = "/run/luod/liveupdate.sock";
	size_t size = 4 << 20;
	long gen = 0;
	int do_claim = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--claim"))
			do_claim = 1;
		else if (!strcmp(argv[i], "--id") && i + 1 < argc)
			id = argv[++i];
		else if (!strcmp(argv[i], "--gen") && i + 1 < argc)
			gen = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--size") && i + 1 < argc)
			size = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			path = argv[++i];
		else
			die("usage: luo-readme-client --id ID --gen N [--claim] [--size BYTES] [--socket P] (%s)",
			    argv[i]);
	}
	if (!id || gen < 1 || !size || strlen(id) > 48)
		die("%s", "usage: luo-readme-client --id ID --gen N [--claim] [--size BYTES] [--socket P]");
	if (do_claim)
		claim(path, gen, size);
	preserve(path, gen, size);
	return 0;
}
