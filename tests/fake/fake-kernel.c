// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * luo-fake-kernel: the kernel half of the /dev/liveupdate test double.
 *
 * It owns the state a Live Update Orchestrator kernel would hold: who has
 * /dev/liveupdate open, the outgoing and incoming sessions, the files LUO
 * keeps a reference to, whether a kexec image is loaded, the boot number,
 * and the failure knobs tests turn. The rules are those of the Linux 7.2
 * sources (kernel/liveupdate/luo_core.c, luo_session.c, luo_file.c,
 * mm/memfd_luo.c, kernel/kexec_core.c); luo-fake-preload carries each
 * intercepted libc call here (fake-proto.h).
 *
 * A session is a socketpair: the fake keeps one end, the program gets the
 * other as its session fd. When the last reference to that end goes (close,
 * exit, whatever happened to dups, forks and SCM_RIGHTS copies), our end
 * hangs up and the session is released as the kernel's release() does.
 * Because the kernel releases synchronously, hang-ups are reaped before
 * every request is handled. Two processes issuing ioctls on the same
 * session fd at the same instant may get each other's replies: the double
 * does not support that.
 *
 *   luo-fake-kernel --socket PATH [--no-luo]
 *	Serve; prints "fake-kernel: boot 0" once listening and
 *	"fake-kernel: boot N" after each kexec reboot. SIGINT/SIGTERM stop it.
 *	--no-luo: a kernel without liveupdate=on (no /dev/liveupdate).
 *   luo-fake-kernel ctl --socket PATH CMD
 *	CMD: status | load | unload | fail-open E | fail-load E | fail-reboot E
 *	E is an errno number or name (EIO); 0 clears the knob. A knob stays
 *	set until cleared.
 *
 * The status output, one fact per line:
 *	boot N			live updates since the fake started
 *	luo on|off
 *	loaded 0|1		what /sys/kernel/kexec_loaded says
 *	device held|free
 *	fail-open E, fail-load E, fail-reboot E	(errno numbers)
 *	outgoing NAME tokens=T,T...
 *	incoming NAME retrieved=0|1 tokens=T,T+...
 * NAME has bytes outside '!'..'~' and the backslash written as \xHH. Tokens
 * are decimal; in an incoming session "+" marks a file already retrieved.
 * An empty file list prints "tokens=".
 *
 * Where the double differs from the kernel, knowingly:
 * - the device and session fds are sockets (/proc shows socket:[N]), and
 *   ioctls other than LUO's reach the socket;
 * - a retrieved file is the very file preserved (same inode, offset shared
 *   with any copy an old-boot process still has), not a new memfd; the
 *   size freeze that follows PRESERVE_FD is not applied;
 * - kexec_file_load() does not parse the image (no ENOEXEC) and nothing
 *   checks CAP_SYS_BOOT (no EPERM but the knob's);
 * - the caller's fd table being full shows as EIO, not EMFILE.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>

#include "fake-proto.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define offsetofend(type, member) (offsetof(type, member) + sizeof(((type *)0)->member))

struct list {
	struct list *prev, *next;
};

static void list_init(struct list *h)
{
	h->prev = h->next = h;
}

static void list_add_tail(struct list *n, struct list *h)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static void list_del(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
}

#define list_for_each(pos, head) for (pos = (head)->next; pos != (head); pos = pos->next)
#define list_for_each_safe(pos, tmp, head) \
	for (pos = (head)->next, tmp = pos->next; pos != (head); pos = tmp, tmp = pos->next)

enum watch_type {
	WATCH_LISTENER,
	WATCH_SIGNAL,
	WATCH_CONN,
	WATCH_SESSION,
};

/* What epoll reports: every watched object embeds one. */
struct watch {
	enum watch_type type;
	int fd;
};

/* A connection to the listening socket: unbound, or the device holder. */
struct conn {
	struct watch w;
	struct list link;
};

/* A file LUO preserves, with LUO's own reference to it. */
struct pfile {
	struct list link;
	uint64_t token;
	int fd;
	dev_t dev;
	ino_t ino;
	bool retrieved; /* incoming: handed out by RETRIEVE_FD */
};

struct session {
	struct watch w; /* our end; fd -1 while no one holds it */
	struct list link;
	struct list files;
	char name[LIVEUPDATE_SESSION_NAME_LENGTH];
	bool incoming;
	bool retrieved; /* incoming: RETRIEVE_SESSION gave out an fd */
};

struct fake {
	int epfd;
	struct watch listener;
	struct watch signal;
	struct list conns;
	struct list sessions; /* outgoing and incoming, in creation order */
	struct conn *device;
	unsigned int boot;
	bool luo;
	bool loaded;
	bool quit;
	int fail_open, fail_load, fail_reboot;
};

static int watch_add(struct fake *f, struct watch *w)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };

	return epoll_ctl(f->epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0 ? -errno : 0;
}

static void watch_close(struct fake *f, struct watch *w)
{
	if (w->fd < 0)
		return;
	epoll_ctl(f->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	close(w->fd);
	w->fd = -1;
}

static void conn_free(struct fake *f, struct conn *c)
{
	if (f->device == c)
		f->device = NULL;
	watch_close(f, &c->w);
	list_del(&c->link);
	free(c);
}

static void session_drop_files(struct session *s)
{
	struct list *p, *t;

	list_for_each_safe(p, t, &s->files)
	{
		struct pfile *pf = container_of(p, struct pfile, link);

		list_del(&pf->link);
		close(pf->fd);
		free(pf);
	}
}

/*
 * The kernel's luo_session_release(): an outgoing session unpreserves its
 * files, a retrieved one is finished (files never retrieved are lost);
 * either way it is gone.
 */
static void session_free(struct fake *f, struct session *s)
{
	watch_close(f, &s->w);
	session_drop_files(s);
	list_del(&s->link);
	free(s);
}

/* strncmp() over the whole field, as luo_session_insert()/retrieve(). */
static struct session *session_find(struct fake *f, const uint8_t *name, bool incoming)
{
	struct list *p;

	list_for_each(p, &f->sessions)
	{
		struct session *s = container_of(p, struct session, link);

		if (s->incoming == incoming && !strncmp(s->name, (const char *)name, sizeof(s->name)))
			return s;
	}
	return NULL;
}

/* Give @s a live fd: our end is watched, the other end goes to *fdp. */
static int session_open(struct fake *f, struct session *s, int *fdp)
{
	int sv[2], r;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	s->w.type = WATCH_SESSION;
	s->w.fd = sv[0];
	r = watch_add(f, &s->w);
	if (r < 0) {
		close(sv[0]);
		close(sv[1]);
		s->w.fd = -1;
		return r;
	}
	*fdp = sv[1];
	return 0;
}

/*
 * LUO's xarray of preserved files, keyed by inode (memfd_luo_get_id()):
 * every outgoing file, and incoming ones from RETRIEVE_FD until FINISH.
 */
static bool file_is_preserved(struct fake *f, dev_t dev, ino_t ino)
{
	struct list *p, *q;

	list_for_each(p, &f->sessions)
	{
		struct session *s = container_of(p, struct session, link);

		list_for_each(q, &s->files)
		{
			struct pfile *pf = container_of(q, struct pfile, link);

			if ((!s->incoming || pf->retrieved) && pf->dev == dev && pf->ino == ino)
				return true;
		}
	}
	return false;
}

static struct pfile *pfile_find(struct session *s, uint64_t token)
{
	struct list *p;

	list_for_each(p, &s->files)
	{
		struct pfile *pf = container_of(p, struct pfile, link);

		if (pf->token == token)
			return pf;
	}
	return NULL;
}

/*
 * The ioctl handlers. @a is the kernel's copy of the argument, copied
 * back to the caller on success; @infd is an fd that came with the
 * request (a handler keeps it by stealing it); *outfd is an fd to install
 * in the caller, which the reply carries.
 */
typedef int (*ioctl_fn)(struct fake *f, struct session *s, union fake_ioctl_arg *a, int *infd, int *outfd);

static int ioctl_create_session(struct fake *f, struct session *unused, union fake_ioctl_arg *a, int *infd, int *outfd)
{
	size_t len = strnlen((const char *)a->create.name, sizeof(a->create.name));
	_cleanup_(freep) struct session *s = NULL;
	int r;

	if (len == 0 || len > LIVEUPDATE_SESSION_NAME_LENGTH - 1)
		return -EINVAL;
	if (session_find(f, a->create.name, false))
		return -EEXIST;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	memcpy(s->name, a->create.name, len);
	list_init(&s->files);
	r = session_open(f, s, outfd);
	if (r < 0)
		return r;
	list_add_tail(&s->link, &f->sessions);
	s = NULL;
	return 0;
}

static int ioctl_retrieve_session(struct fake *f, struct session *unused, union fake_ioctl_arg *a, int *infd,
				  int *outfd)
{
	struct session *s = session_find(f, a->retrieve.name, true);
	int r;

	if (!s)
		return -ENOENT;
	if (s->retrieved)
		return -EINVAL;
	r = session_open(f, s, outfd);
	if (r < 0)
		return r;
	s->retrieved = true;
	return 0;
}

/* luo_preserve_file() with the memfd handler, in the kernel's order. */
static int ioctl_preserve_fd(struct fake *f, struct session *s, union fake_ioctl_arg *a, int *infd, int *outfd)
{
	_cleanup_(freep) struct pfile *pf = NULL;
	struct statfs sfs;
	struct stat st;
	int fl;

	if (pfile_find(s, a->preserve.token))
		return -EEXIST;
	/* fget() refuses O_PATH files as it refuses closed fds. */
	fl = *infd < 0 ? -1 : fcntl(*infd, F_GETFL);
	if (fl < 0 || (fl & O_PATH))
		return -EBADF;
	/* memfd_luo_can_preserve(): shmem_file(file) && !inode->i_nlink */
	if (fstat(*infd, &st) < 0 || fstatfs(*infd, &sfs) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_nlink || sfs.f_type != TMPFS_MAGIC)
		return -ENOENT;
	if (file_is_preserved(f, st.st_dev, st.st_ino))
		return -EBUSY;

	pf = calloc(1, sizeof(*pf));
	if (!pf)
		return -ENOMEM;
	pf->token = a->preserve.token;
	pf->dev = st.st_dev;
	pf->ino = st.st_ino;
	pf->fd = steal_fd(infd);
	list_add_tail(&pf->link, &s->files);
	pf = NULL;
	return 0;
}

/* The same open file each time, as luo_retrieve_file(). */
static int ioctl_retrieve_fd(struct fake *f, struct session *s, union fake_ioctl_arg *a, int *infd, int *outfd)
{
	struct pfile *pf = pfile_find(s, a->retrieve_fd.token);

	if (!pf)
		return -ENOENT;
	*outfd = fcntl(pf->fd, F_DUPFD_CLOEXEC, 3);
	if (*outfd < 0)
		return -errno;
	pf->retrieved = true;
	return 0;
}

static int ioctl_finish(struct fake *f, struct session *s, union fake_ioctl_arg *a, int *infd, int *outfd)
{
	if (a->finish.reserved)
		return -EINVAL;
	session_drop_files(s);
	return 0;
}

static int ioctl_get_name(struct fake *f, struct session *s, union fake_ioctl_arg *a, int *infd, int *outfd)
{
	if (a->get_name.reserved)
		return -EINVAL;
	memset(a->get_name.name, 0, sizeof(a->get_name.name));
	memcpy(a->get_name.name, s->name, strlen(s->name));
	return 0;
}

enum ioctl_kind {
	FOR_ALL,
	FOR_OUTGOING,
	FOR_INCOMING,
};

struct ioctl_op {
	unsigned int cmd;
	unsigned int min_size;
	enum ioctl_kind kind;
	ioctl_fn fn;
};

/* Indexed by _IOC_NR() - LIVEUPDATE_CMD_BASE (0), as in luo_core.c. */
static const struct ioctl_op device_ops[] = {
	{ LIVEUPDATE_IOCTL_CREATE_SESSION, offsetofend(struct liveupdate_ioctl_create_session, name), FOR_ALL,
	  ioctl_create_session },
	{ LIVEUPDATE_IOCTL_RETRIEVE_SESSION, offsetofend(struct liveupdate_ioctl_retrieve_session, name), FOR_ALL,
	  ioctl_retrieve_session },
};

/* Indexed by _IOC_NR() - LIVEUPDATE_CMD_SESSION_BASE, as in luo_session.c. */
#define SESSION_CMD_BASE LIVEUPDATE_CMD_SESSION_PRESERVE_FD
static const struct ioctl_op session_ops[] = {
	{ LIVEUPDATE_SESSION_PRESERVE_FD, offsetofend(struct liveupdate_session_preserve_fd, token), FOR_OUTGOING,
	  ioctl_preserve_fd },
	{ LIVEUPDATE_SESSION_RETRIEVE_FD, offsetofend(struct liveupdate_session_retrieve_fd, token), FOR_INCOMING,
	  ioctl_retrieve_fd },
	{ LIVEUPDATE_SESSION_FINISH, offsetofend(struct liveupdate_session_finish, reserved), FOR_INCOMING,
	  ioctl_finish },
	{ LIVEUPDATE_SESSION_GET_NAME, offsetofend(struct liveupdate_session_get_name, name), FOR_ALL, ioctl_get_name },
};

/*
 * luo_ioctl() and luo_session_ioctl(): the checks in the kernel's order,
 * then the handler. @s is NULL for the device.
 */
static int ioctl_dispatch(struct fake *f, struct session *s, const struct fake_req *req, struct fake_reply *rep,
			  int *infd, int *outfd)
{
	const struct ioctl_op *ops = s ? session_ops : device_ops;
	size_t n = s ? ARRAY_SIZE(session_ops) : ARRAY_SIZE(device_ops);
	unsigned int base = s ? SESSION_CMD_BASE : 0;
	unsigned int nr = _IOC_NR(req->cmd);
	const struct ioctl_op *op;

	if (nr < base || nr - base >= n)
		return -EINVAL;
	if (req->size_err)
		return req->size_err;
	op = &ops[nr - base];
	if (op->cmd != req->cmd)
		return -ENOTTY; /* -ENOIOCTLCMD, as vfs_ioctl() shows it */
	if ((op->kind == FOR_OUTGOING && s->retrieved) || (op->kind == FOR_INCOMING && !s->retrieved))
		return -EINVAL;
	if (req->user_size < op->min_size)
		return -EINVAL;
	if (req->copy_err)
		return req->copy_err;

	rep->ioctl = req->ioctl;
	return op->fn(f, s, &rep->ioctl, infd, outfd);
}

static void status_session(FILE *out, const struct session *s)
{
	const struct list *q;
	const char *c, *sep = "";

	fputs(s->incoming ? "incoming " : "outgoing ", out);
	for (c = s->name; *c; c++) {
		if (*c < '!' || *c > '~' || *c == '\\')
			fprintf(out, "\\x%02x", (unsigned char)*c);
		else
			fputc(*c, out);
	}
	if (s->incoming)
		fprintf(out, " retrieved=%d", s->retrieved);
	fputs(" tokens=", out);
	list_for_each(q, &s->files)
	{
		const struct pfile *pf = container_of(q, struct pfile, link);

		fprintf(out, "%s%llu%s", sep, (unsigned long long)pf->token, s->incoming && pf->retrieved ? "+" : "");
		sep = ",";
	}
	fputc('\n', out);
}

/* The reply to FAKE_CTL_STATUS: the reply struct, then the text. */
static int status_reply(struct fake *f, int sock)
{
	_cleanup_(freep) char *msg = NULL;
	struct fake_reply rep = {};
	struct list *p;
	size_t len = 0;
	FILE *out;

	out = open_memstream(&msg, &len);
	if (!out)
		return -errno;
	fwrite(&rep, sizeof(rep), 1, out);
	fprintf(out, "boot %u\nluo %s\nloaded %d\ndevice %s\n", f->boot, f->luo ? "on" : "off", f->loaded,
		f->device ? "held" : "free");
	fprintf(out, "fail-open %d\nfail-load %d\nfail-reboot %d\n", f->fail_open, f->fail_load, f->fail_reboot);
	list_for_each(p, &f->sessions) status_session(out, container_of(p, struct session, link));
	if (fclose(out) != 0)
		return -ENOMEM;
	if (len > sizeof(rep) + FAKE_STATUS_MAX)
		return -E2BIG;
	return fake_send(sock, msg, len, -1, MSG_DONTWAIT);
}

static int ctl_knob(int *knob, int err)
{
	if (err < 0 || err > 4095)
		return -EINVAL;
	*knob = err;
	return 0;
}

static int handle_ctl(struct fake *f, const struct fake_req *req)
{
	switch (req->cmd) {
	case FAKE_CTL_FAIL_OPEN:
		return ctl_knob(&f->fail_open, req->arg);
	case FAKE_CTL_FAIL_LOAD:
		return ctl_knob(&f->fail_load, req->arg);
	case FAKE_CTL_FAIL_REBOOT:
		return ctl_knob(&f->fail_reboot, req->arg);
	case FAKE_CTL_LOAD:
	case FAKE_CTL_UNLOAD:
		f->loaded = req->cmd == FAKE_CTL_LOAD;
		return 0;
	}
	return -EINVAL;
}

/* luo_open(): exclusive, then the (knob-driven) deserialization result. */
static int handle_open_device(struct fake *f, struct conn *c)
{
	if (!f->luo)
		return -ENOENT;
	if (f->device)
		return -EBUSY;
	if (f->fail_open)
		return -f->fail_open;
	f->device = c;
	return 0;
}

/*
 * The preload checked the fds and the command line; this is the rest.
 * A crash kernel does not make /sys/kernel/kexec_loaded say 1.
 */
static int handle_kexec_load(struct fake *f, const struct fake_req *req)
{
	bool crash = req->flags & KEXEC_FILE_ON_CRASH;

	if (!(req->flags & KEXEC_FILE_UNLOAD) && f->fail_load)
		return -f->fail_load;
	if (!crash)
		f->loaded = !(req->flags & KEXEC_FILE_UNLOAD);
	return 0;
}

/*
 * kernel_kexec(): no image is EINVAL; then liveupdate_reboot() serializes
 * every outgoing session or fails leaving all as it was. The new boot has
 * the old outgoing sessions as its incoming ones, nothing else: no image,
 * no device holder, no session fd (the old processes are gone).
 */
static int handle_reboot(struct fake *f)
{
	struct list *p, *t, *q;

	if (!f->loaded)
		return -EINVAL;
	if (f->fail_reboot)
		return -f->fail_reboot;

	list_for_each_safe(p, t, &f->sessions)
	{
		struct session *s = container_of(p, struct session, link);

		if (s->incoming) {
			session_free(f, s);
			continue;
		}
		watch_close(f, &s->w);
		s->incoming = true;
		list_for_each(q, &s->files) container_of(q, struct pfile, link)->retrieved = false;
	}
	if (f->device)
		conn_free(f, f->device);
	f->loaded = false;
	f->boot++;
	printf("fake-kernel: boot %u\n", f->boot);
	fflush(stdout);
	return 0;
}

/* A request on an unbound connection; 1: already answered. */
static int handle_request(struct fake *f, struct conn *c, const struct fake_req *req, struct fake_reply *rep)
{
	int r;

	switch (req->op) {
	case FAKE_OP_OPEN_DEVICE:
		return handle_open_device(f, c);
	case FAKE_OP_KEXEC_LOAD:
		return handle_kexec_load(f, req);
	case FAKE_OP_KEXEC_LOADED:
		rep->value = f->loaded;
		return 0;
	case FAKE_OP_REBOOT:
		return handle_reboot(f);
	case FAKE_OP_CTL:
		if (req->cmd != FAKE_CTL_STATUS)
			return handle_ctl(f, req);
		r = status_reply(f, c->w.fd);
		return r < 0 ? r : 1;
	}
	return -EPROTO;
}

/*
 * One request on a connection or a session, answered. @hup: the peer is
 * gone, so no request pending means the end. Return: whether the object
 * still exists.
 */
static bool watch_event(struct fake *f, struct watch *w, bool hup)
{
	struct session *s = w->type == WATCH_SESSION ? container_of(w, struct session, w) : NULL;
	struct conn *c = s ? NULL : container_of(w, struct conn, w);
	_cleanup_(closep) int infd = -1;
	_cleanup_(closep) int outfd = -1;
	struct fake_reply rep = {};
	struct fake_req req = {};
	long n;
	int r;

	n = fake_recv(w->fd, &req, sizeof(req), MSG_DONTWAIT, &infd);
	if (n == -EAGAIN && !hup)
		return true;
	if (n <= 0) {
		if (s)
			session_free(f, s);
		else
			conn_free(f, c);
		return false;
	}

	if (n != sizeof(req))
		r = -EPROTO;
	else if (s || c == f->device)
		r = req.op == FAKE_OP_IOCTL ? ioctl_dispatch(f, s, &req, &rep, &infd, &outfd) : -EPROTO;
	else
		r = handle_request(f, c, &req, &rep);
	if (r > 0)
		return true;
	rep.err = r;
	/* A reply the caller cannot take is its loss: an fd in it is released. */
	fake_send(w->fd, &rep, sizeof(rep), r ? -1 : outfd, MSG_DONTWAIT);
	return true;
}

static bool hung_up(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR));
}

/*
 * Release the device and every session whose last reference is closed,
 * after the requests still queued on them. The kernel does this inside
 * close(), so it must happen before any later request is looked at.
 * Return: whether @w was among the objects released.
 */
static bool reap(struct fake *f, const struct watch *w)
{
	struct list *p, *t;
	bool gone = false;

	if (f->device && hung_up(f->device->w.fd)) {
		gone |= w == &f->device->w;
		while (watch_event(f, &f->device->w, true))
			;
	}
	list_for_each_safe(p, t, &f->sessions)
	{
		struct session *s = container_of(p, struct session, link);

		if (s->w.fd < 0 || !hung_up(s->w.fd))
			continue;
		gone |= w == &s->w;
		while (watch_event(f, &s->w, true))
			;
	}
	return gone;
}

static int listener_event(struct fake *f)
{
	struct conn *c;
	int fd, r;

	fd = accept4(f->listener.fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EAGAIN || errno == ECONNABORTED || errno == EINTR ? 0 : -errno;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->w.type = WATCH_CONN;
	c->w.fd = fd;
	r = watch_add(f, &c->w);
	if (r < 0) {
		close(fd);
		free(c);
		return r;
	}
	list_add_tail(&c->link, &f->conns);
	return 0;
}

/* One event at a time: a handler may free any object (a reboot frees many). */
static int fake_run(struct fake *f)
{
	while (!f->quit) {
		struct epoll_event ev;
		struct watch *w;
		int r;

		if (epoll_wait(f->epfd, &ev, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		w = ev.data.ptr;
		switch (w->type) {
		case WATCH_LISTENER:
			r = listener_event(f);
			if (r < 0)
				return r;
			break;
		case WATCH_SIGNAL:
			f->quit = true;
			break;
		case WATCH_CONN:
		case WATCH_SESSION:
			if (!reap(f, w))
				watch_event(f, w, ev.events & (EPOLLHUP | EPOLLERR));
			break;
		}
	}
	return 0;
}

static void fake_free(struct fake *f)
{
	struct list *p, *t;

	list_for_each_safe(p, t, &f->conns) conn_free(f, container_of(p, struct conn, link));
	list_for_each_safe(p, t, &f->sessions) session_free(f, container_of(p, struct session, link));
	watch_close(f, &f->listener);
	watch_close(f, &f->signal);
	if (f->epfd >= 0)
		close(f->epfd);
}

static int socket_connect(const struct sockaddr_un *sa)
{
	_cleanup_(closep) int fd = -1;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0)
		return -errno;
	return steal_fd(&fd);
}

/* Refuse to run twice on one path; a stale socket is replaced. */
static int fake_listen(struct fake *f, const struct sockaddr_un *sa)
{
	_cleanup_(closep) int fd = -1;
	struct stat st;

	fd = socket_connect(sa);
	if (fd >= 0)
		return -EADDRINUSE;
	if (lstat(sa->sun_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		if (unlink(sa->sun_path) < 0)
			return -errno;
	}

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0)
		return -errno;
	/* From here on the path is ours: serve() removes it. */
	f->listener.type = WATCH_LISTENER;
	f->listener.fd = steal_fd(&fd);
	if (chmod(sa->sun_path, 0600) < 0 || listen(f->listener.fd, SOMAXCONN) < 0)
		return -errno;
	return watch_add(f, &f->listener);
}

static int fake_init(struct fake *f, const struct sockaddr_un *sa)
{
	sigset_t mask;

	f->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (f->epfd < 0)
		return -errno;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	f->signal.type = WATCH_SIGNAL;
	f->signal.fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (f->signal.fd < 0)
		return -errno;
	if (watch_add(f, &f->signal) < 0)
		return -errno;
	return fake_listen(f, sa);
}

static int serve(const struct sockaddr_un *sa, bool luo)
{
	struct fake f = {
		.epfd = -1,
		.listener.fd = -1,
		.signal.fd = -1,
		.luo = luo,
	};
	int r;

	list_init(&f.conns);
	list_init(&f.sessions);
	r = fake_init(&f, sa);
	if (r == 0) {
		printf("fake-kernel: boot 0\n");
		fflush(stdout);
		r = fake_run(&f);
	}
	if (r < 0)
		fprintf(stderr, "luo-fake-kernel: %s: %s\n", sa->sun_path, strerror(-r));
	if (f.listener.fd >= 0)
		unlink(sa->sun_path);
	fake_free(&f);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* An errno by number ("5") or by name ("EIO"). */
static int parse_errno(const char *s)
{
	char *end;
	long v;
	int e;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!errno && end != s && !*end)
		return v >= 0 && v <= 4095 ? (int)v : -EINVAL;
	for (e = 1; e < 4096; e++) {
		const char *name = strerrorname_np(e);

		if (name && !strcmp(name, s))
			return e;
	}
	return -EINVAL;
}

static const struct {
	const char *name;
	enum fake_ctl cmd;
	bool has_arg;
} ctl_cmds[] = {
	{ "status", FAKE_CTL_STATUS, false },	   { "load", FAKE_CTL_LOAD, false },
	{ "unload", FAKE_CTL_UNLOAD, false },	   { "fail-open", FAKE_CTL_FAIL_OPEN, true },
	{ "fail-load", FAKE_CTL_FAIL_LOAD, true }, { "fail-reboot", FAKE_CTL_FAIL_REBOOT, true },
};

/* Send @req; print the text that follows the reply, if any. */
static int ctl_call(const struct sockaddr_un *sa, const struct fake_req *req)
{
	size_t size = sizeof(struct fake_reply) + FAKE_STATUS_MAX;
	_cleanup_(freep) char *buf = malloc(size);
	_cleanup_(closep) int sock = -1;
	_cleanup_(closep) int fd = -1;
	struct fake_reply rep;
	long n;

	if (!buf)
		return -ENOMEM;
	sock = socket_connect(sa);
	if (sock < 0)
		return sock;
	n = fake_send(sock, req, sizeof(*req), -1, 0);
	if (n == 0)
		n = fake_recv(sock, buf, size, 0, &fd);
	if (n < 0)
		return n;
	if ((size_t)n < sizeof(rep))
		return -EPROTO;
	memcpy(&rep, buf, sizeof(rep));
	if (rep.err)
		return rep.err;
	fwrite(buf + sizeof(rep), 1, n - sizeof(rep), stdout);
	return fflush(stdout) == 0 ? 0 : -EIO;
}

static int ctl(const struct sockaddr_un *sa, int argc, char **argv)
{
	struct fake_req req = { .op = FAKE_OP_CTL };
	size_t i;
	int r;

	for (i = 0; argc > 0 && i < ARRAY_SIZE(ctl_cmds); i++)
		if (!strcmp(argv[0], ctl_cmds[i].name))
			break;
	if (argc < 1 || i == ARRAY_SIZE(ctl_cmds) || argc != 1 + ctl_cmds[i].has_arg) {
		fprintf(stderr, "usage: luo-fake-kernel ctl --socket PATH "
				"status|load|unload|fail-open E|fail-load E|fail-reboot E\n");
		return EXIT_FAILURE;
	}
	req.cmd = ctl_cmds[i].cmd;
	if (ctl_cmds[i].has_arg) {
		req.arg = parse_errno(argv[1]);
		if (req.arg < 0) {
			fprintf(stderr, "luo-fake-kernel: not an errno: %s\n", argv[1]);
			return EXIT_FAILURE;
		}
	}
	r = ctl_call(sa, &req);
	if (r < 0) {
		fprintf(stderr, "luo-fake-kernel: ctl %s: %s\n", argv[0], strerror(-r));
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
	static const struct option options[] = { { "socket", required_argument, NULL, 's' },
						 { "no-luo", no_argument, NULL, 'n' },
						 {} };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = NULL;
	bool is_ctl = false;
	bool luo = true;
	int c;

	if (argc > 1 && !strcmp(argv[1], "ctl")) {
		is_ctl = true;
		argc--;
		argv++;
	}
	while ((c = getopt_long(argc, argv, "+", options, NULL)) != -1) {
		switch (c) {
		case 's':
			path = optarg;
			break;
		case 'n':
			luo = false;
			break;
		default:
			return EXIT_FAILURE;
		}
	}
	if (!path || (!is_ctl && optind != argc)) {
		fprintf(stderr, "usage: luo-fake-kernel --socket PATH [--no-luo]\n"
				"       luo-fake-kernel ctl --socket PATH CMD [ERRNO]\n");
		return EXIT_FAILURE;
	}
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "luo-fake-kernel: socket path too long: %s\n", path);
		return EXIT_FAILURE;
	}
	strcpy(sa.sun_path, path);
	if (is_ctl)
		return ctl(&sa, argc - optind, argv + optind);
	return serve(&sa, luo);
}
