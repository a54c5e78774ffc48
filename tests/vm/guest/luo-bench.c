// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * luo-bench: the guest half of bench/luod-bench.sh, built static by
 * tests/vm/initramfs.sh. It times on CLOCK_MONOTONIC what a live update
 * through luod costs and the same kernel work done by one process alone,
 * and prints "LUO-VM: BENCH ..." and "LUO-VM: MARK NAME LABEL" lines (the
 * host stamps the MARK lines with its own clock, across the reboot).
 *
 *   luo-bench kernel N SIZE            N sessions created and N memfds of
 *                                      SIZE preserved by this process
 *   luo-bench clients PREFIX N SIZE [--times F] [--hold FIFO]
 *                                      N client processes PREFIX.0..N-1, each
 *                                      with a memfd of SIZE; returns once all
 *                                      are subscribed, they stay
 *   luo-bench kexec LABEL [--times F] [--rss PID --hold FIFO --clients N]
 *                   [--cpu PID] [--no-kernel]
 *                                      KEXEC, time it to REBOOTING (and PID's
 *                                      CPU time meanwhile); with
 *                                      --no-kernel forced with no kernel
 *                                      loaded: reboot() fails, luod aborts
 *                                      and the barrier can run again
 *   luo-bench claim PREFIX N SIZE LABEL
 *                                      CLAIM, retrieve, verify, FINISH, DONE
 *   luo-bench direct SIZE LABEL        preserve a memfd and reboot() itself
 *   luo-bench retrieve SIZE LABEL      take it back in the next boot
 *   luo-bench start-luod LOG [ARG...]  exec luod, time it to its first reply
 *   luo-bench start-noop               fork and exec a program doing nothing
 *   luo-bench rss PID LABEL            VmHWM and VmRSS of PID
 *
 * Ids, sessions and data are the benchmark's own; every failure exits 1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <linux/reboot.h>

#include "luo-uapi.h"

#define SOCK_PATH "/run/luod/liveupdate.sock"
#define MAX_CLIENTS 256

struct conn {
	int fd;
	size_t have;
	char buf[16384];
	char line[16384];
};

static const char *who = "luo-bench";

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "LUO-VM: %s: ", who);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* One write to the console, drained before returning: a reboot may follow. */
static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void out(const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(buf))
		n = (int)strlen(buf);
	if (write(STDOUT_FILENO, buf, n) != n)
		die("cannot write to stdout");
	if (isatty(STDOUT_FILENO))
		tcdrain(STDOUT_FILENO);
}

/* The data of client @id: 64-bit words only (@id, index) produce. */
static uint64_t seed_of(const char *id)
{
	uint64_t x = 0xcbf29ce484222325ULL;

	for (; *id; id++)
		x = (x ^ (unsigned char)*id) * 0x100000001b3ULL;
	return x;
}

static uint64_t *map_memfd(int fd, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		die("mmap of %zu bytes: %s", size, strerror(errno));
	return p;
}

static int make_memfd(const char *id, size_t size)
{
	int fd = memfd_create(id, MFD_CLOEXEC);
	uint64_t *w, seed = seed_of(id);

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		die("memfd of %zu bytes: %s", size, strerror(errno));
	w = map_memfd(fd, size);
	for (size_t i = 0; i < size / 8; i++)
		w[i] = seed ^ (i * 0x9e3779b97f4a7c15ULL);
	munmap(w, size);
	return fd;
}

static void check_memfd(int fd, const char *id, size_t size)
{
	uint64_t *w, seed = seed_of(id);
	struct stat st;

	if (fstat(fd, &st) < 0 || (size_t)st.st_size != size)
		die("%s: the retrieved memfd has %lld bytes, not %zu", id, (long long)st.st_size, size);
	w = map_memfd(fd, size);
	for (size_t i = 0; i < size / 8; i++)
		if (w[i] != (seed ^ (i * 0x9e3779b97f4a7c15ULL)))
			die("%s: MISMATCH at byte %zu of the retrieved memfd", id, i * 8);
	munmap(w, size);
}

static int open_device(void)
{
	int fd = open(LIVEUPDATE_DEVICE, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		die("cannot open %s: %s", LIVEUPDATE_DEVICE, strerror(errno));
	return fd;
}

static int create_session(int dev, const char *name)
{
	struct liveupdate_ioctl_create_session a = { .size = sizeof(a), .fd = -1 };

	snprintf((char *)a.name, sizeof(a.name), "%s", name);
	if (ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &a) < 0)
		die("LIVEUPDATE_IOCTL_CREATE_SESSION %s: %s", name, strerror(errno));
	return a.fd;
}

static void preserve(int session, int fd)
{
	struct liveupdate_session_preserve_fd p = { .size = sizeof(p), .fd = fd, .token = 1 };

	if (ioctl(session, LIVEUPDATE_SESSION_PRESERVE_FD, &p) < 0)
		die("LIVEUPDATE_SESSION_PRESERVE_FD: %s", strerror(errno));
}

static int retrieve(int session)
{
	struct liveupdate_session_retrieve_fd r = { .size = sizeof(r), .fd = -1, .token = 1 };

	if (ioctl(session, LIVEUPDATE_SESSION_RETRIEVE_FD, &r) < 0)
		die("LIVEUPDATE_SESSION_RETRIEVE_FD: %s", strerror(errno));
	return r.fd;
}

static void finish(int session)
{
	struct liveupdate_session_finish f = { .size = sizeof(f) };

	if (ioctl(session, LIVEUPDATE_SESSION_FINISH, &f) < 0)
		die("LIVEUPDATE_SESSION_FINISH: %s", strerror(errno));
}

/* --- the luod protocol, as little of it as the benchmark needs ------------ */

static int try_connect(struct conn *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = SOCK_PATH };

	c->have = 0;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket: %s", strerror(errno));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return 0;
	close(c->fd);
	c->fd = -1;
	return -errno;
}

static void conn_open(struct conn *c)
{
	int r = try_connect(c);

	if (r < 0)
		die("cannot connect to %s: %s", SOCK_PATH, strerror(-r));
}

static void send_line(struct conn *c, const char *msg)
{
	size_t len = strlen(msg);

	if (write(c->fd, msg, len) != (ssize_t)len)
		die("cannot send %s", msg);
}

/* The next line into c->line; an fd that came with it into *@fdp. */
static void recv_line(struct conn *c, int *fdp)
{
	for (;;) {
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int) * 8)];
		} ctrl;
		struct iovec iov = { .iov_base = c->buf + c->have, .iov_len = sizeof(c->buf) - c->have };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctrl, .msg_controllen = sizeof(ctrl)
		};
		char *nl = memchr(c->buf, '\n', c->have);
		ssize_t n;

		if (nl) {
			size_t len = nl - c->buf;

			memcpy(c->line, c->buf, len);
			c->line[len] = '\0';
			memmove(c->buf, nl + 1, c->have - len - 1);
			c->have -= len + 1;
			return;
		}
		if (c->have == sizeof(c->buf))
			die("message too long");
		n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
		if (n <= 0)
			die("luod closed the connection");
		for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h))
			if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS && fdp)
				memcpy(fdp, CMSG_DATA(h), sizeof(int));
		c->have += n;
	}
}

/* Send @cmd, skip events, fail unless the reply is ok. */
static void command(struct conn *c, const char *cmd, int *fdp)
{
	send_line(c, cmd);
	do
		recv_line(c, fdp);
	while (strstr(c->line, "\"event\""));
	if (!strstr(c->line, "\"ok\":true"))
		die("%.*s failed: %s", (int)strcspn(cmd, "\n"), cmd, c->line);
}

/* The string value of "@key" in c->line, into @buf. */
static void json_str(const struct conn *c, const char *key, char *buf, size_t len)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	p = strstr(c->line, pat);
	if (!p)
		die("no %s in %s", key, c->line);
	p += strlen(pat);
	snprintf(buf, len, "%.*s", (int)strcspn(p, "\""), p);
}

/* --- subcommands ---------------------------------------------------------- */

static size_t arg_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (!*s || *end || !v || v % 8)
		die("bad size %s (bytes, a multiple of 8)", s);
	return (size_t)v;
}

static int arg_n(const char *s, int max)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v < 1 || v > max)
		die("bad count %s (1..%d)", s, max);
	return (int)v;
}

/* N sessions created and N memfds preserved, as luod and its clients would. */
static int cmd_kernel(int n, size_t size)
{
	int dev = open_device(), mfd[MAX_CLIENTS], sfd[MAX_CLIENTS];
	char name[64];
	long long t0, t1;

	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "bench.kernel.%d", i);
		mfd[i] = make_memfd(name, size);
	}
	t0 = now_us();
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "bench.kernel.%d", i);
		sfd[i] = create_session(dev, name);
		preserve(sfd[i], mfd[i]);
	}
	t1 = now_us();
	for (int i = 0; i < n; i++) {
		close(sfd[i]);
		close(mfd[i]);
	}
	close(dev);
	out("LUO-VM: BENCH kernel n=%d size=%zu us=%lld\n", n, size, t1 - t0);
	return 0;
}

static void append_times(const char *path, long long sp, long long ready)
{
	char line[64];
	int fd, n;

	if (!path)
		return;
	n = snprintf(line, sizeof(line), "%lld %lld\n", sp, ready);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, line, n) != n)
		die("cannot write %s", path);
	close(fd);
}

/* Block on @fifo until the kexec sender lets us go. */
static void hold(const char *fifo)
{
	char b;
	int fd = open(fifo, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || read(fd, &b, 1) != 1)
		die("hold on %s failed", fifo);
	close(fd);
}

/* One client: subscribe, tell @notify, preserve at START_PRESERVATION, READY. */
static void client(const char *id, size_t size, int notify, const char *times, const char *fifo)
{
	static struct conn c;
	char cmd[256], session[128];
	long long sp, ready;
	int mfd = make_memfd(id, size), sfd = -1;

	who = id;
	conn_open(&c);
	snprintf(cmd, sizeof(cmd), "{\"cmd\":\"SUBSCRIBE\",\"id\":\"%s\"}\n", id);
	command(&c, cmd, NULL);
	if (write(notify, "s", 1) != 1)
		die("cannot tell the parent");
	close(notify);
	do
		recv_line(&c, &sfd);
	while (!strstr(c.line, "\"event\":\"START_PRESERVATION\""));
	sp = now_us();
	if (sfd < 0)
		die("START_PRESERVATION came without a session fd");
	json_str(&c, "session", session, sizeof(session));
	preserve(sfd, mfd);
	close(sfd);
	if (fifo)
		hold(fifo);
	snprintf(cmd, sizeof(cmd), "{\"cmd\":\"READY\",\"session\":\"%s\"}\n", session);
	command(&c, cmd, NULL);
	ready = now_us();
	append_times(times, sp, ready);
	for (;;)
		pause();
}

static int cmd_clients(char **argv, int argc)
{
	const char *prefix = argv[0], *times = NULL, *fifo = NULL;
	int n = arg_n(argv[1], MAX_CLIENTS), p[2], got = 0;
	size_t size = arg_size(argv[2]);
	char id[64], b;

	for (int i = 3; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--times"))
			times = argv[i + 1];
		else if (!strcmp(argv[i], "--hold"))
			fifo = argv[i + 1];
		else
			die("clients: unknown option %s", argv[i]);
	}
	if (fifo && mkfifo(fifo, 0600) < 0 && errno != EEXIST)
		die("mkfifo %s: %s", fifo, strerror(errno));
	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork: %s", strerror(errno));
		if (pid == 0) {
			close(p[0]);
			snprintf(id, sizeof(id), "%s.%d", prefix, i);
			client(id, size, p[1], times, i == 0 ? fifo : NULL);
		}
	}
	close(p[1]);
	while (got < n && read(p[0], &b, 1) == 1)
		got++;
	if (got < n)
		die("only %d of %d clients subscribed", got, n);
	printf("LUO-VM: INFO %d clients %s.0..%d subscribed, %zu bytes each\n", n, prefix, n - 1, size);
	return 0;
}

/* VmHWM and VmRSS of @pid, in KiB, on one line. */
static void print_rss(const char *pid, const char *label)
{
	char path[64], line[256], hwm[64] = "?", rss[64] = "?";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	f = fopen(path, "re");
	if (!f)
		die("cannot read %s", path);
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "VmHWM:", 6))
			sscanf(line + 6, "%63s", hwm);
		else if (!strncmp(line, "VmRSS:", 6))
			sscanf(line + 6, "%63s", rss);
	}
	fclose(f);
	out("LUO-VM: BENCH rss %s hwm_kib=%s rss_kib=%s\n", label, hwm, rss);
}

/* The first START_PRESERVATION and the last READY of the clients' --times. */
static void client_span(const char *times, long long *first, long long *last)
{
	long long sp, ready;
	FILE *f = fopen(times, "re");

	*first = *last = 0;
	if (!f)
		die("cannot read %s", times);
	while (fscanf(f, "%lld %lld", &sp, &ready) == 2) {
		if (!*first || sp < *first)
			*first = sp;
		if (ready > *last)
			*last = ready;
	}
	fclose(f);
}

struct kexec_opts {
	const char *label, *times, *rss_pid, *fifo, *cpu_pid;
	int clients;
	int no_kernel; /* --no-kernel: KEXEC forced with nothing loaded, reboot() fails */
};

static void release_hold(const struct kexec_opts *o)
{
	int fd;

	print_rss(o->rss_pid, "update");
	fd = open(o->fifo, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "g", 1) != 1)
		die("cannot release the hold on %s", o->fifo);
	close(fd);
}

static void kexec_report(const struct kexec_opts *o, long long t0, long long t1)
{
	long long first, last;

	if (!o->times) {
		out("LUO-VM: BENCH kexec %s us=%lld\nLUO-VM: MARK rebooting %s\n", o->label, t1 - t0, o->label);
		return;
	}
	client_span(o->times, &first, &last);
	out("LUO-VM: BENCH kexec %s us=%lld kexec=%lld first_sp=%lld last_ready=%lld rebooting=%lld\n"
	    "LUO-VM: MARK rebooting %s\n",
	    o->label, t1 - t0, t0, first, last, t1, o->label);
}

/* Nanoseconds of CPU time @pid has used (its CPU clock), 0 when unknown. */
static long long cpu_ns(const char *pid)
{
	struct timespec ts;
	clockid_t clk;

	if (!pid || clock_getcpuclockid((pid_t)atoi(pid), &clk) || clock_gettime(clk, &ts))
		return 0;
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* KEXEC, then wait for REBOOTING; runs SCHED_FIFO to report before the reboot. */
static int cmd_kexec(const struct kexec_opts *o)
{
	static struct conn c;
	struct sched_param sp = { .sched_priority = 50 };
	int ready = 0;
	long long t0, t1, cpu0, cpu1;

	if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0)
		die("SCHED_FIFO: %s", strerror(errno));
	conn_open(&c);
	out("LUO-VM: MARK kexec %s\n", o->label);
	cpu0 = cpu_ns(o->cpu_pid);
	t0 = now_us();
	command(&c,
		o->no_kernel ? "{\"cmd\":\"KEXEC\",\"timeout_ms\":600000,\"force\":true}\n"
			     : "{\"cmd\":\"KEXEC\",\"timeout_ms\":600000}\n",
		NULL);
	for (;;) {
		recv_line(&c, NULL);
		if (strstr(c.line, "\"event\":\"REBOOTING\""))
			break;
		if (strstr(c.line, "\"event\":\"ABORTED\""))
			die("the update was aborted: %s", c.line);
		if (strstr(c.line, "\"state\":\"ready\"") && ++ready == o->clients - 1 && o->fifo)
			release_hold(o);
	}
	t1 = now_us();
	cpu1 = cpu_ns(o->cpu_pid);
	if (o->cpu_pid)
		out("LUO-VM: BENCH cpu %s luod_cpu_us=%lld\n", o->label, (cpu1 - cpu0) / 1000);
	kexec_report(o, t0, t1);
	if (o->no_kernel) {
		do
			recv_line(&c, NULL);
		while (!strstr(c.line, "\"event\":\"ABORTED\""));
		return 0;
	}
	sleep(60);
	die("REBOOTING came, but no reboot within 60 s");
}

static int parse_kexec(char **argv, int argc)
{
	struct kexec_opts o = { .label = argv[0] };

	for (int i = 1; i < argc; i += 2) {
		if (!strcmp(argv[i], "--no-kernel")) {
			o.no_kernel = 1;
			i--;
		} else if (i + 1 == argc) {
			die("kexec: %s wants a value", argv[i]);
		} else if (!strcmp(argv[i], "--times"))
			o.times = argv[i + 1];
		else if (!strcmp(argv[i], "--rss"))
			o.rss_pid = argv[i + 1];
		else if (!strcmp(argv[i], "--cpu"))
			o.cpu_pid = argv[i + 1];
		else if (!strcmp(argv[i], "--hold"))
			o.fifo = argv[i + 1];
		else if (!strcmp(argv[i], "--clients"))
			o.clients = arg_n(argv[i + 1], MAX_CLIENTS);
		else
			die("kexec: unknown option %s", argv[i]);
	}
	if (!!o.fifo != !!o.rss_pid || (o.fifo && !o.clients))
		die("kexec: --rss, --hold and --clients go together");
	return cmd_kexec(&o);
}

/* Claim and retrieve all, MARK, then verify, FINISH and DONE each. */
static int cmd_claim(const char *prefix, int n, size_t size, const char *label)
{
	static struct conn c[MAX_CLIENTS];
	int sfd[MAX_CLIENTS], mfd[MAX_CLIENTS];
	char cmd[256], id[64];
	long long t0, t1, t2;

	t0 = now_us();
	for (int i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "%s.%d", prefix, i);
		snprintf(cmd, sizeof(cmd), "{\"cmd\":\"CLAIM\",\"id\":\"%s\"}\n", id);
		conn_open(&c[i]);
		sfd[i] = -1;
		command(&c[i], cmd, &sfd[i]);
		if (sfd[i] < 0)
			die("CLAIM %s came without a session fd", id);
		mfd[i] = retrieve(sfd[i]);
	}
	t1 = now_us();
	out("LUO-VM: MARK claimed %s\n", label);
	for (int i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "%s.%d", prefix, i);
		check_memfd(mfd[i], id, size);
		finish(sfd[i]);
		command(&c[i], "{\"cmd\":\"DONE\"}\n", NULL);
		close(mfd[i]);
		close(sfd[i]);
		close(c[i].fd);
	}
	t2 = now_us();
	out("LUO-VM: MARK verified %s\nLUO-VM: BENCH claim %s n=%d size=%zu claim_us=%lld verify_us=%lld\n", label,
	    label, n, size, t1 - t0, t2 - t1);
	return 0;
}

/* The baseline of a whole update: preserve, then reboot() ourselves. */
static int cmd_direct(size_t size, const char *label)
{
	int mfd = make_memfd("bench.direct", size), dev, sfd;
	long long t0;

	sync();
	out("LUO-VM: MARK direct %s\n", label);
	t0 = now_us();
	dev = open_device();
	sfd = create_session(dev, "bench.direct");
	preserve(sfd, mfd);
	out("LUO-VM: BENCH direct %s preserve_us=%lld\n", label, now_us() - t0);
	reboot(LINUX_REBOOT_CMD_KEXEC);
	die("reboot(LINUX_REBOOT_CMD_KEXEC): %s", strerror(errno));
}

static int cmd_retrieve(size_t size, const char *label)
{
	struct liveupdate_ioctl_retrieve_session a = { .size = sizeof(a), .fd = -1, .name = "bench.direct" };
	int dev = open_device(), mfd;
	long long t0 = now_us();

	if (ioctl(dev, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, &a) < 0)
		die("LIVEUPDATE_IOCTL_RETRIEVE_SESSION bench.direct: %s", strerror(errno));
	mfd = retrieve(a.fd);
	out("LUO-VM: MARK retrieved %s\nLUO-VM: BENCH retrieve %s us=%lld\n", label, label, now_us() - t0);
	check_memfd(mfd, "bench.direct", size);
	finish(a.fd);
	close(mfd);
	close(a.fd);
	close(dev);
	return 0;
}

/* exec luod; done when it answers VERSION (it restores before it listens). */
static int cmd_start_luod(const char *log, char **args)
{
	static struct conn c;
	long long t0, t1;
	pid_t pid;

	out("LUO-VM: MARK luod-exec\n");
	t0 = now_us();
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		execvp(args[0], args);
		_exit(127);
	}
	/*
	 * Not SCHED_IDLE: early in a boot the kernel's own threads keep the
	 * CPU busy, and an idle-class poll would see luod serving late.
	 */
	while (try_connect(&c) < 0) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			die("luod exited before it served (see %s)", log);
		if (now_us() - t0 > 300000000LL)
			die("luod did not serve within 300 s");
		usleep(1000);
	}
	command(&c, "{\"cmd\":\"VERSION\"}\n", NULL);
	t1 = now_us();
	close(c.fd);
	out("LUO-VM: BENCH start-luod us=%lld pid=%d\n", t1 - t0, (int)pid);
	return 0;
}

/* The same fork, exec and first instructions, of a program that does nothing. */
static int cmd_start_noop(void)
{
	long long t0, t1, best = 0;
	int st;

	for (int i = 0; i < 5; i++) {
		pid_t pid;

		t0 = now_us();
		pid = fork();
		if (pid == 0) {
			execl("/proc/self/exe", "luo-bench", "noop", (char *)NULL);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
			die("the no-op program failed");
		t1 = now_us();
		if (!best || t1 - t0 < best)
			best = t1 - t0;
	}
	out("LUO-VM: BENCH start-noop us=%lld (best of 5)\n", best);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: luo-bench kernel|clients|kexec|claim|direct|retrieve|start-luod|start-noop|rss ...\n"
			"(see the comment at the top of tests/vm/guest/luo-bench.c)\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(cmd, "noop"))
		return 0;
	if (!strcmp(cmd, "kernel") && argc == 4)
		return cmd_kernel(arg_n(argv[2], MAX_CLIENTS), arg_size(argv[3]));
	if (!strcmp(cmd, "clients") && argc >= 5)
		return cmd_clients(argv + 2, argc - 2);
	if (!strcmp(cmd, "kexec") && argc >= 3)
		return parse_kexec(argv + 2, argc - 2);
	if (!strcmp(cmd, "claim") && argc == 6)
		return cmd_claim(argv[2], arg_n(argv[3], MAX_CLIENTS), arg_size(argv[4]), argv[5]);
	if (!strcmp(cmd, "direct") && argc == 4)
		return cmd_direct(arg_size(argv[2]), argv[3]);
	if (!strcmp(cmd, "retrieve") && argc == 4)
		return cmd_retrieve(arg_size(argv[2]), argv[3]);
	if (!strcmp(cmd, "start-luod") && argc >= 4)
		return cmd_start_luod(argv[2], argv + 3);
	if (!strcmp(cmd, "rss") && argc == 4)
		return print_rss(argv[2], argv[3]), 0;
	if (!strcmp(cmd, "start-noop") && argc == 2)
		return cmd_start_noop();
	return usage();
}
