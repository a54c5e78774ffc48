/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns luod's event loop and its connections: accepting with per-uid caps,
 * reading and writing protocol messages, dispatching commands to their
 * handlers with authorization, and the commands that only read or change
 * connection-level state (VERSION, STATUS, SUBSCRIBE, CLAIM, DONE, RELEASE).
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>

#include "config.h"
#include "daemon.h"
#include "kexec.h"
#include "log.h"
#include "util.h"

/**
 * now_ms() - monotonic clock in milliseconds.
 *
 * Return: the time.
 */
uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/**
 * sub_state_name() - the protocol's name of a subscription state.
 * @s: the state
 *
 * Return: "subscribed", "preparing" or "ready".
 */
const char *sub_state_name(enum sub_state s)
{
	static const char *const names[] = {
		[SUB_SUBSCRIBED] = "subscribed",
		[SUB_PREPARING] = "preparing",
		[SUB_READY] = "ready",
	};

	return names[s];
}

static const char *daemon_state_name(enum daemon_state s)
{
	static const char *const names[] = {
		[D_IDLE] = "idle",
		[D_PREPARING] = "preparing",
		[D_REBOOTING] = "rebooting",
	};

	return names[s];
}

static void conn_update_events(struct conn *c)
{
	uint32_t want = EPOLLIN | (luo_conn_has_output(&c->lc) ? EPOLLOUT : 0);
	struct epoll_event ev = { .events = want, .data.ptr = &c->w };

	if (c->dead || want == c->events)
		return;
	if (epoll_ctl(c->d->epfd, EPOLL_CTL_MOD, c->lc.fd, &ev) == 0)
		c->events = want;
}

/**
 * conn_send() - queue a message to a connection and try to write it.
 * @c: the connection
 * @msg: the message; consumed
 * @fds: fds to attach (duplicated; the caller keeps its own)
 * @n_fds: their number
 *
 * A peer that does not keep up, or that is gone, is disconnected.
 */
void conn_send(struct conn *c, struct json_object *msg, const int *fds, size_t n_fds)
{
	int r;

	if (c->dead || c->failed) {
		json_object_put(msg);
		return;
	}
	r = msg ? luo_conn_queue(&c->lc, msg, fds, n_fds) : -ENOMEM;
	json_object_put(msg);
	if (r == 0)
		r = luo_conn_flush(&c->lc);
	if (r < 0 && r != -EAGAIN) {
		/* Closing is left to the loop: callers may be walking lists. */
		c->failed = r == -ENOBUFS ? "peer does not read its messages" : strerror(-r);
		return;
	}
	conn_update_events(c);
}

/**
 * conn_close() - end a connection; what it held is handed back.
 * @c: the connection; freed after the current batch of events
 * @why: for the debug log, or NULL
 */
void conn_close(struct conn *c, const char *why)
{
	struct daemon *d = c->d;
	struct conn **p;

	if (c->dead)
		return;
	c->dead = true;
	log_debug("connection pid %d uid %u closed%s%s", (int)c->pid, (unsigned)c->uid, why ? ": " : "",
		  why ? why : "");
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->lc.fd, NULL);
	for (p = &d->conns; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	c->next = d->zombies;
	d->zombies = c;
	d->n_conns--;
	if (d->listen_paused) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &d->listen_w };

		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->listen_w.fd, &ev) == 0)
			d->listen_paused = false;
	}
	if (d->watcher == c)
		d->watcher = NULL;
	if (c->claim) {
		log_warning_peer("client %s disconnected before DONE; its session stays claimable", c->claim->id);
		c->claim->claimer = NULL;
		c->claim = NULL;
	}
	if (c->sub) {
		struct sub *s = c->sub;

		c->sub = NULL;
		s->conn = NULL;
		update_sub_lost(d, s);
	}
}

static struct sub *sub_find(struct daemon *d, const char *id)
{
	for (struct sub *s = d->subs; s; s = s->next)
		if (!strcmp(s->id, id))
			return s;
	return NULL;
}

static struct carried *carried_find(struct daemon *d, const char *id)
{
	for (struct carried *k = d->carried; k; k = k->next)
		if (!strcmp(k->id, id))
			return k;
	return NULL;
}

static struct json_object *cmd_subscribe(struct daemon *d, struct conn *c, struct json_object *msg)
{
	const char *id = luo_msg_string(msg, "id");
	struct carried *k;
	struct sub *s;
	struct json_object *reply;

	if (!luo_id_valid(id))
		return luo_msg_error(EINVAL, "invalid client id: 1 to %d characters of A-Z a-z 0-9 . _ -", LUO_ID_MAX);
	if (c->sub)
		return luo_msg_error(EALREADY, "this connection is already subscribed as '%s'", c->sub->id);
	if (d->state != D_IDLE)
		return luo_msg_error(EBUSY, "a live update is in progress; subscribe after it");
	if (sub_find(d, id))
		return luo_msg_error(EEXIST, "client id '%s' is already subscribed by another connection", id);
	k = carried_find(d, id);
	if (k && k->uid != c->uid && c->uid != 0)
		return luo_msg_error(EPERM, "client id '%s' belongs to uid %u", id, (unsigned)k->uid);
	if (d->n_subs >= LUOD_MAX_SUBS)
		return luo_msg_error(ENOSPC, "too many subscribed clients (limit %d)", LUOD_MAX_SUBS);

	s = calloc(1, sizeof(*s));
	if (!s)
		return luo_msg_error(ENOMEM, "out of memory");
	strcpy(s->id, id);
	s->uid = c->uid;
	s->pid = c->pid;
	s->conn = c;
	s->session_fd = -1;
	s->next = d->subs;
	d->subs = s;
	d->n_subs++;
	c->sub = s;
	log_info("client %s subscribed (pid %d, uid %u)", id, (int)c->pid, (unsigned)c->uid);
	reply = luo_msg_ok();
	json_object_object_add(reply, "id", json_object_new_string(id));
	return reply;
}

static struct json_object *cmd_ready(struct daemon *d, struct conn *c, struct json_object *msg, bool fail)
{
	struct sub *s = c->sub;

	if (!s)
		return luo_msg_error(ENOTCONN, "not subscribed");
	if (d->state != D_PREPARING || s->state == SUB_SUBSCRIBED)
		return luo_msg_error(EPROTO, "no preservation was requested");
	if (s->state == SUB_READY)
		return luo_msg_error(EALREADY, "already ready");
	if (fail) {
		const char *why = luo_msg_string(msg, "reason");

		/* Reply first: the abort sends this client its ABORTED event. */
		conn_send(c, luo_msg_ok(), NULL, 0);
		update_abort(d, ECANCELED, s->id, "client %s cannot preserve its state: %s", s->id,
			     why ? why : "no reason given");
		return NULL;
	}
	conn_send(c, luo_msg_ok(), NULL, 0);
	update_ready(d, s);
	return NULL;
}

static struct json_object *cmd_claim(struct daemon *d, struct conn *c, struct json_object *msg)
{
	const char *id = luo_msg_string(msg, "id");
	struct json_object *reply;
	struct carried *k;

	if (!luo_id_valid(id))
		return luo_msg_error(EINVAL, "invalid client id");
	if (c->claim)
		return luo_msg_error(EALREADY, "this connection has claimed '%s' already", c->claim->id);
	k = carried_find(d, id);
	if (!k)
		return luo_msg_error(ENOENT, "no session from a previous update for '%s'", id);
	if (k->uid != c->uid && c->uid != 0)
		return luo_msg_error(EPERM, "the session of '%s' belongs to uid %u", id, (unsigned)k->uid);
	if (k->claimer)
		return luo_msg_error(EBUSY, "the session of '%s' is claimed by pid %d", id, (int)k->claimer->pid);
	k->claimer = c;
	c->claim = k;
	log_info("client %s claimed session %s (pid %d)", id, k->session, (int)c->pid);
	reply = luo_msg_ok();
	json_object_object_add(reply, "id", json_object_new_string(id));
	json_object_object_add(reply, "session", json_object_new_string(k->session));
	conn_send(c, reply, &k->fd, 1);
	return NULL;
}

static struct json_object *cmd_done(struct daemon *d, struct conn *c)
{
	struct carried *k = c->claim;
	struct json_object *reply;

	if (!k)
		return luo_msg_error(ENOTCONN, "this connection holds no claimed session");
	reply = luo_msg_ok();
	json_object_object_add(reply, "id", json_object_new_string(k->id));
	log_info("client %s is done with session %s", k->id, k->session);
	c->claim = NULL;
	carried_drop(d, k);
	return reply;
}

static struct json_object *cmd_release(struct daemon *d, struct json_object *msg)
{
	const char *id = luo_msg_string(msg, "id");
	struct carried *k = id ? carried_find(d, id) : NULL;

	if (!k)
		return luo_msg_error(ENOENT, "no session from a previous update for '%s'", id ? id : "");
	if (k->claimer)
		return luo_msg_error(EBUSY, "the session of '%s' is claimed by pid %d", id, (int)k->claimer->pid);
	log_notice("session %s of client %s released by the administrator; its data is discarded", k->session, k->id);
	carried_drop(d, k);
	return luo_msg_ok();
}

static struct json_object *cmd_abort(struct daemon *d, struct json_object *msg)
{
	const char *why = luo_msg_string(msg, "reason");

	if (d->state != D_PREPARING)
		return luo_msg_error(ENOENT, "no live update is in progress");
	update_abort(d, ECANCELED, NULL, "aborted by the administrator%s%s", why ? ": " : "", why ? why : "");
	return luo_msg_ok();
}

static struct json_object *status_json(struct daemon *d)
{
	struct json_object *o = luo_msg_ok(), *luo, *arr, *x;
	int loaded = kexec_loaded();

	json_object_object_add(o, "version", json_object_new_int(LUO_PROTO_VERSION));
	json_object_object_add(o, "daemon", json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(o, "state", json_object_new_string(daemon_state_name(d->state)));
	luo = json_object_new_object();
	json_object_object_add(luo, "available", json_object_new_boolean(d->dev_fd >= 0));
	json_object_object_add(luo, "error",
			       d->dev_fd >= 0
				       ? NULL
				       : json_object_new_string(d->dev_err == ENOENT
									? "/dev/liveupdate does not exist: the kernel "
									  "needs CONFIG_LIVEUPDATE and liveupdate=on"
									: strerror(d->dev_err)));
	json_object_object_add(o, "luo", luo);
	json_object_object_add(o, "kexec_loaded", json_object_new_boolean(loaded > 0));
	json_object_object_add(o, "updates", json_object_new_int64((int64_t)d->updates));
	if (d->state != D_IDLE) {
		x = json_object_new_object();
		json_object_object_add(x, "elapsed_ms", json_object_new_int64(now_ms() - d->update_started_ms));
		json_object_object_add(
			x, "remaining_ms",
			json_object_new_int64(d->update_deadline_ms > now_ms() ? d->update_deadline_ms - now_ms() : 0));
		json_object_object_add(x, "requested_by", json_object_new_int64(d->update_by));
		json_object_object_add(o, "update", x);
	} else {
		json_object_object_add(o, "update", NULL);
	}

	arr = json_object_new_array();
	for (struct sub *s = d->subs; s; s = s->next) {
		x = json_object_new_object();
		json_object_object_add(x, "id", json_object_new_string(s->id));
		json_object_object_add(x, "pid", json_object_new_int(s->pid));
		json_object_object_add(x, "uid", json_object_new_int64(s->uid));
		json_object_object_add(x, "state", json_object_new_string(sub_state_name(s->state)));
		json_object_object_add(x, "connected", json_object_new_boolean(s->conn != NULL));
		json_object_object_add(x, "session", s->session_fd >= 0 ? json_object_new_string(s->session) : NULL);
		json_object_array_add(arr, x);
	}
	json_object_object_add(o, "clients", arr);

	arr = json_object_new_array();
	for (struct carried *k = d->carried; k; k = k->next) {
		x = json_object_new_object();
		json_object_object_add(x, "id", json_object_new_string(k->id));
		json_object_object_add(x, "uid", json_object_new_int64(k->uid));
		json_object_object_add(x, "session", json_object_new_string(k->session));
		json_object_object_add(x, "state", json_object_new_string(k->claimer ? "claimed" : "unclaimed"));
		if (k->claimer)
			json_object_object_add(x, "pid", json_object_new_int(k->claimer->pid));
		json_object_array_add(arr, x);
	}
	json_object_object_add(o, "sessions", arr);
	json_object_object_add(o, "loaded", d->loaded ? json_object_get(d->loaded) : NULL);
	json_object_object_add(
		o, "loaded_changed",
		json_object_new_boolean(loaded >= 0 && d->loaded_expect >= 0 && loaded != d->loaded_expect));
	return o;
}

static bool cmd_is_admin(const char *cmd)
{
	static const char *const admin[] = { "KEXEC", "ABORT", "RELEASE", "LOAD", "UNLOAD" };

	for (size_t i = 0; i < ARRAY_SIZE(admin); i++)
		if (!strcmp(cmd, admin[i]))
			return true;
	return false;
}

/* Handle one command; fds not used are closed by the caller. */
static struct json_object *dispatch(struct daemon *d, struct conn *c, struct json_object *msg, int *fds, size_t n_fds)
{
	const char *cmd = luo_msg_string(msg, "cmd");
	int64_t timeout_ms = LUOD_DEFAULT_TIMEOUT_MS;

	if (!cmd)
		return luo_msg_error(EINVAL, "a command needs a string member \"cmd\"");
	if (cmd_is_admin(cmd) && c->uid != 0)
		return luo_msg_error(EPERM, "%s is reserved to root", cmd);
	if (n_fds && strcmp(cmd, "LOAD"))
		return luo_msg_error(EINVAL, "%s takes no file descriptors", cmd);

	if (!strcmp(cmd, "SUBSCRIBE"))
		return cmd_subscribe(d, c, msg);
	if (!strcmp(cmd, "READY"))
		return cmd_ready(d, c, msg, false);
	if (!strcmp(cmd, "FAIL"))
		return cmd_ready(d, c, msg, true);
	if (!strcmp(cmd, "CLAIM"))
		return cmd_claim(d, c, msg);
	if (!strcmp(cmd, "DONE"))
		return cmd_done(d, c);
	if (!strcmp(cmd, "STATUS"))
		return status_json(d);
	if (!strcmp(cmd, "VERSION")) {
		struct json_object *o = luo_msg_ok();

		json_object_object_add(o, "version", json_object_new_int(LUO_PROTO_VERSION));
		json_object_object_add(o, "daemon", json_object_new_string(PACKAGE_VERSION));
		return o;
	}
	if (!strcmp(cmd, "KEXEC")) {
		int r = luo_msg_int(msg, "timeout_ms", &timeout_ms);

		if (r == -EINVAL || timeout_ms <= 0 || timeout_ms > LUOD_MAX_TIMEOUT_MS)
			return luo_msg_error(EINVAL, "timeout_ms must be an integer from 1 to %d", LUOD_MAX_TIMEOUT_MS);
		return update_start(d, c, timeout_ms, luo_msg_bool(msg, "force"));
	}
	if (!strcmp(cmd, "ABORT"))
		return cmd_abort(d, msg);
	if (!strcmp(cmd, "RELEASE"))
		return cmd_release(d, msg);
	if (!strcmp(cmd, "LOAD"))
		return load_handle(d, c, msg, fds, n_fds);
	if (!strcmp(cmd, "UNLOAD"))
		return load_unload(d);
	return luo_msg_error(EOPNOTSUPP, "unknown command '%.64s'", cmd);
}

/* The peer broke the protocol: say why (best effort), log it (rate-limited) and close. */
static void conn_protocol_error(struct conn *c, int err)
{
	const char *why = err == -EMSGSIZE  ? "message too long"
			  : err == -EBADMSG ? "malformed message (not one strict JSON object in UTF-8)"
			  : err == -EPROTO  ? "protocol error in fd passing"
					    : strerror(-err);

	log_warning_peer("closing connection of pid %d uid %u: %s", (int)c->pid, (unsigned)c->uid, why);
	if (err == -EMSGSIZE || err == -EBADMSG || err == -EPROTO)
		conn_send(c, luo_msg_error(-err, "protocol error: %s; closing the connection", why), NULL, 0);
	conn_close(c, NULL);
}

static void conn_input(struct conn *c)
{
	for (;;) {
		_cleanup_json_ struct json_object *msg = NULL;
		int fds[LUO_PROTO_MAX_FDS];
		size_t n_fds = 0;
		struct json_object *reply;
		int r;

		r = luo_conn_next(&c->lc, &msg, fds, &n_fds);
		if (r == 0) {
			r = luo_conn_read(&c->lc);
			if (r == -EAGAIN)
				return;
			if (r == LUO_CONN_EOF) {
				conn_close(c, "end of stream");
				return;
			}
			if (r < 0) {
				conn_protocol_error(c, r);
				return;
			}
			continue;
		}
		if (r < 0) {
			conn_protocol_error(c, r);
			return;
		}
		reply = dispatch(c->d, c, msg, fds, n_fds);
		close_fds(fds, n_fds);
		if (reply)
			conn_send(c, reply, NULL, 0);
		if (c->dead || c->failed)
			return;
	}
}

static void conn_event(struct watch *w, uint32_t events)
{
	struct conn *c = container_of(w, struct conn, w);

	if (c->dead)
		return;
	if (events & EPOLLOUT) {
		int r = luo_conn_flush(&c->lc);

		if (r < 0 && r != -EAGAIN) {
			conn_close(c, strerror(-r));
			return;
		}
		conn_update_events(c);
	}
	if (c->failed)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		conn_input(c);
}

static unsigned conns_of_uid(struct daemon *d, uid_t uid)
{
	unsigned n = 0;

	for (struct conn *c = d->conns; c; c = c->next)
		n += c->uid == uid;
	return n;
}

static void listen_event(struct watch *w, uint32_t events)
{
	struct daemon *d = container_of(w, struct daemon, listen_w);
	struct epoll_event ev;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct conn *c;
	int fd;

	fd = accept4(w->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE) {
			/* Stop accepting until a connection goes away, rather than spin. */
			log_warning_peer("out of file descriptors; not accepting connections for now");
			epoll_ctl(d->epfd, EPOLL_CTL_DEL, w->fd, NULL);
			d->listen_paused = true;
		}
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		close(fd);
		return;
	}
	if (d->n_conns >= LUOD_MAX_CONNS || (cred.uid != 0 && conns_of_uid(d, cred.uid) >= LUOD_MAX_CONNS_PER_UID)) {
		log_warning_peer("refusing a connection of pid %d uid %u: too many connections", (int)cred.pid,
				 (unsigned)cred.uid);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->d = d;
	luo_conn_init(&c->lc, fd);
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->pid = cred.pid;
	c->w = (struct watch){ .fd = fd, .cb = conn_event };
	c->events = EPOLLIN;
	ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &c->w };
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		luo_conn_release(&c->lc);
		free(c);
		return;
	}
	c->next = d->conns;
	d->conns = c;
	d->n_conns++;
	log_debug("connection from pid %d uid %u", (int)c->pid, (unsigned)c->uid);
}

static void signal_event(struct watch *w, uint32_t events)
{
	struct daemon *d = container_of(w, struct daemon, signal_w);
	struct signalfd_siginfo si;

	if (read(w->fd, &si, sizeof(si)) != sizeof(si))
		return;
	log_info("received %s, stopping", strsignal(si.ssi_signo));
	d->quit = true;
}

static void timer_event(struct watch *w, uint32_t events)
{
	struct daemon *d = container_of(w, struct daemon, timer_w);
	uint64_t ticks;

	if (read(w->fd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return;
	update_timeout(d);
}

static int watch_add(struct daemon *d, struct watch *w)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };

	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0 ? -errno : 0;
}

/**
 * daemon_init() - set up the event loop around a listening socket.
 * @d: the daemon; its device fields must already be set
 * @listen_fd: bound and listening; owned by @d from now on
 *
 * Return: 0 or -errno.
 */
int daemon_init(struct daemon *d, int listen_fd)
{
	sigset_t mask;
	int r;

	d->listen_w = (struct watch){ .fd = listen_fd, .cb = listen_event };
	d->signal_w = (struct watch){ .fd = -1, .cb = signal_event };
	d->timer_w = (struct watch){ .fd = -1, .cb = timer_event };
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0)
		return -errno;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->signal_w.fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	d->timer_w.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (d->signal_w.fd < 0 || d->timer_w.fd < 0)
		return -errno;
	r = watch_add(d, &d->listen_w);
	if (r == 0)
		r = watch_add(d, &d->signal_w);
	if (r == 0)
		r = watch_add(d, &d->timer_w);
	return r;
}

static void reap_zombies(struct daemon *d)
{
	struct conn *c;
	bool again = true;

	/* Closing one connection can make sends to others fail: repeat. */
	while (again) {
		again = false;
		for (c = d->conns; c; c = c->next) {
			if (c->failed) {
				conn_close(c, c->failed);
				again = true;
				break;
			}
		}
	}

	while ((c = d->zombies)) {
		d->zombies = c->next;
		luo_conn_release(&c->lc);
		free(c);
	}
}

/**
 * daemon_run() - serve until SIGTERM or SIGINT.
 * @d: the daemon
 *
 * Return: 0 or -errno when the loop itself fails.
 */
int daemon_run(struct daemon *d)
{
	while (!d->quit) {
		struct epoll_event evs[32];
		int n = epoll_wait(d->epfd, evs, ARRAY_SIZE(evs), -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			struct watch *w = evs[i].data.ptr;

			w->cb(w, evs[i].events);
		}
		reap_zombies(d);
	}
	return 0;
}

/**
 * daemon_done() - stop: abort an update in progress, close everything.
 * @d: the daemon
 */
void daemon_done(struct daemon *d)
{
	if (d->state == D_PREPARING)
		update_abort(d, ESHUTDOWN, NULL, "luod is stopping");
	while (d->conns)
		conn_close(d->conns, "luod is stopping");
	reap_zombies(d);
	while (d->subs) {
		struct sub *s = d->subs;

		d->subs = s->next;
		closep(&s->session_fd);
		free(s);
	}
	if (d->carried && d->store_fd < 0)
		log_warning("stopping with sessions from the previous update unclaimed: their data is lost");
	else if (d->carried)
		log_notice("stopping; the sessions from the previous update stay in the service manager's fd store");
	closep(&d->store_fd);
	while (d->carried)
		carried_free(d, d->carried);
	json_object_put(d->loaded);
	closep(&d->listen_w.fd);
	closep(&d->signal_w.fd);
	closep(&d->timer_w.fd);
	closep(&d->epfd);
	closep(&d->dev_fd);
}
