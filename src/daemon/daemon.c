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
#include <stdio.h>
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

/* Serve @c again in the next turn of the loop, even without a new EPOLLIN. */
static void conn_set_ready(struct conn *c)
{
	if (c->ready || c->dead)
		return;
	c->ready = true;
	c->ready_next = c->d->ready;
	c->d->ready = c;
}

static void conn_update_events(struct conn *c)
{
	/*
	 * A peer that does not take its replies gets no more commands read, nor
	 * does one whose command is being worked on (LOAD) until conn_resume().
	 */
	uint32_t want = luo_conn_has_output(&c->lc) ? EPOLLOUT : c->busy ? 0 : EPOLLIN;
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
	if (c->busy)
		load_conn_closed(d, c);
	log_debug("connection pid %d uid %u closed%s%s", (int)c->pid, (unsigned)c->uid, why ? ": " : "",
		  why ? why : "");
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->lc.fd, NULL);
	/* Its fds go at once, not at the end of the turn. */
	luo_conn_release(&c->lc);
	for (p = &d->conns; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	/* Off the ready list (a list being served skips dead connections). */
	for (p = &d->ready; c->ready && *p; p = &(*p)->ready_next) {
		if (*p == c) {
			*p = c->ready_next;
			c->ready = false;
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

/*
 * The fds luod holds for @c: its socket, fds received and not yet used, and
 * the copy of a session it may be sending (a claimed one, or its own at
 * START_PRESERVATION; the session itself is charged to the subscription).
 */
static unsigned conn_fds(const struct conn *c)
{
	return 1 + (unsigned)c->lc.n_in_fds + (c->claim ? 1 : 0) + (c->sub && c->sub->session_fd >= 0 ? 1 : 0);
}

/* The fds charged to @uid, or to all non-root uids together for uid 0. */
static unsigned fds_charged(struct daemon *d, uid_t uid)
{
	unsigned n = 0;

	for (struct conn *c = d->conns; c; c = c->next)
		if (uid ? c->uid == uid : c->uid != 0)
			n += conn_fds(c);
	for (struct sub *s = d->subs; s; s = s->next)
		if (uid ? s->uid == uid : s->uid != 0)
			n++;
	return n;
}

/**
 * fd_budget() - may a uid make luod hold more file descriptors?
 * @d: the daemon
 * @uid: the peer's uid; root always may
 * @more: how many more it asks for (0: is it within its budget now?)
 * @why: receives the reason of a refusal, for the log and the peer
 * @len: its size
 *
 * Non-root uids share what RLIMIT_NOFILE leaves beyond the reserve for
 * root and updates, at most LUOD_MAX_FDS_PER_UID each (see daemon.h).
 *
 * Return: 0, or -EMFILE with @why set.
 */
int fd_budget(struct daemon *d, uid_t uid, unsigned more, char *why, size_t len)
{
	unsigned reserve = d->fd_limit / 4 > LUOD_FD_RESERVE_MIN ? d->fd_limit / 4 : LUOD_FD_RESERVE_MIN;
	unsigned held = carried_count(d) + reserve;
	unsigned share = d->fd_limit > held ? d->fd_limit - held : 0;
	unsigned mine, all;

	if (uid == 0)
		return 0;
	mine = fds_charged(d, uid);
	if (mine + more > LUOD_MAX_FDS_PER_UID) {
		snprintf(why, len,
			 "uid %u would hold %u of luod's file descriptors (connections, fds sent, sessions); "
			 "the limit per uid is %d",
			 (unsigned)uid, mine + more, LUOD_MAX_FDS_PER_UID);
		return -EMFILE;
	}
	all = fds_charged(d, 0);
	if (all + more > share) {
		snprintf(why, len,
			 "the file descriptors luod lets non-root users hold are all in use (%u of %u; "
			 "the rest is kept for root and live updates)",
			 all, share);
		return -EMFILE;
	}
	return 0;
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
	struct binding *b;
	struct sub *s;
	struct json_object *reply;
	char why[256];
	int r;

	if (!luo_id_valid(id))
		return luo_msg_error(EINVAL, "invalid client id: 1 to %d characters of A-Z a-z 0-9 . _ -", LUO_ID_MAX);
	if (c->sub)
		return luo_msg_error(EALREADY, "this connection is already subscribed as '%s'", c->sub->id);
	if (d->state != D_IDLE)
		return luo_msg_error(EBUSY, "a live update is in progress; subscribe after it");
	/* An id belongs to one uid, root's own subscriptions included. */
	b = binding_find(d, id);
	k = carried_find(d, id);
	if ((b && b->uid != c->uid) || (k && k->uid != c->uid))
		return luo_msg_error(EPERM, "client id '%s' belongs to uid %u%s", id, (unsigned)(b ? b->uid : k->uid),
				     c->uid == 0 ? " ('luoctl unreserve' frees it)" : "");
	if (sub_find(d, id))
		return luo_msg_error(EEXIST, "client id '%s' is already subscribed by another connection", id);
	if (d->n_subs >= LUOD_MAX_SUBS)
		return luo_msg_error(ENOSPC, "too many subscribed clients (limit %d)", LUOD_MAX_SUBS);
	if (fd_budget(d, c->uid, 1, why, sizeof(why)) < 0) {
		log_warning_peer("refusing to subscribe '%s' of pid %d: %s", id, (int)c->pid, why);
		return luo_msg_error(EMFILE, "%s", why);
	}

	s = calloc(1, sizeof(*s));
	if (!s)
		return luo_msg_error(ENOMEM, "out of memory");
	/* The first SUBSCRIBE of an id binds it to this uid. */
	r = b ? 0 : binding_add(d, id, c->uid, false, true);
	if (r < 0) {
		free(s);
		if (r == -EDQUOT)
			return luo_msg_error(ENOSPC, "uid %u has bound %d client ids already (the limit)",
					     (unsigned)c->uid, LUOD_MAX_BINDINGS_PER_UID);
		if (r == -ENOSPC)
			return luo_msg_error(ENOSPC, "too many client ids are bound (limit %d)", LUOD_MAX_BINDINGS);
		return luo_msg_error(-r, "cannot bind client id '%s': %s", id, strerror(-r));
	}
	if (!b) {
		log_info("client id %s is now bound to uid %u", id, (unsigned)c->uid);
		state_changed(d);
	}
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
	const char *session = luo_msg_string(msg, "session");
	struct sub *s = c->sub;

	if (!s)
		return luo_msg_error(ENOTCONN, "not subscribed");
	/* An answer to an aborted update (it may name its session) is late. */
	if (s->state == SUB_SUBSCRIBED || (session && strcmp(session, s->session))) {
		if (s->aborted_update && (!session || !strcmp(session, s->aborted_session)))
			return luo_msg_error(ECANCELED, "live update %llu was aborted: %s",
					     (unsigned long long)s->aborted_update, s->aborted_reason);
		return luo_msg_error(EPROTO, "no preservation was requested%s%s", session ? " in session " : "",
				     session ? session : "");
	}
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
	/* Only its owner's claim means the client had its data (root may look). */
	if (!k->handed && c->uid == k->uid) {
		k->handed = true;
		state_changed(d);
	}
	log_info("client %s claimed session %s (pid %d)", id, k->session, (int)c->pid);
	reply = luo_msg_ok();
	json_object_object_add(reply, "id", json_object_new_string(id));
	json_object_object_add(reply, "session", json_object_new_string(k->session));
	json_object_object_add(reply, "uid", json_object_new_int64(k->uid));
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

	if (!k && id && lost_acknowledge(d, id)) {
		log_notice("the administrator acknowledged that the session of client %s was lost", id);
		return luo_msg_ok();
	}
	if (!k)
		return luo_msg_error(ENOENT, "no session from a previous update for '%s'", id ? id : "");
	if (k->claimer)
		return luo_msg_error(EBUSY, "the session of '%s' is claimed by pid %d", id, (int)k->claimer->pid);
	log_notice("session %s of client %s released by the administrator; its data is discarded", k->session, k->id);
	carried_drop(d, k);
	return luo_msg_ok();
}

static struct json_object *cmd_reserve(struct daemon *d, struct json_object *msg)
{
	const char *id = luo_msg_string(msg, "id");
	struct json_object *reply;
	struct binding *b;
	int64_t uid = -1;
	int r;

	if (!luo_id_valid(id))
		return luo_msg_error(EINVAL, "invalid client id: 1 to %d characters of A-Z a-z 0-9 . _ -", LUO_ID_MAX);
	if (luo_msg_int(msg, "uid", &uid) < 0 || uid < 0 || uid >= (uid_t)-1)
		return luo_msg_error(EINVAL, "uid must be an integer from 0 to %u", (unsigned)(uid_t)-2);
	b = binding_find(d, id);
	if (b && b->uid != (uid_t)uid)
		return luo_msg_error(EEXIST, "client id '%s' belongs to uid %u; unreserve it first", id,
				     (unsigned)b->uid);
	if (!b) {
		r = binding_add(d, id, (uid_t)uid, true, true);
		if (r < 0)
			return luo_msg_error(-r == EDQUOT ? ENOSPC : -r, "cannot reserve client id '%s': %s", id,
					     r == -ENOSPC ? "too many client ids are bound" : strerror(-r));
	} else {
		b->reserved = true;
	}
	log_notice("client id %s reserved for uid %u by the administrator", id, (unsigned)uid);
	state_changed(d);
	reply = luo_msg_ok();
	json_object_object_add(reply, "id", json_object_new_string(id));
	json_object_object_add(reply, "uid", json_object_new_int64(uid));
	return reply;
}

static struct json_object *cmd_unreserve(struct daemon *d, struct json_object *msg)
{
	const char *id = luo_msg_string(msg, "id");
	struct binding *b;

	if (!luo_id_valid(id))
		return luo_msg_error(EINVAL, "invalid client id");
	b = binding_find(d, id);
	if (!b)
		return luo_msg_error(ENOENT, "client id '%s' is not bound to a uid", id);
	if (carried_find(d, id))
		return luo_msg_error(EBUSY,
				     "a session from before the update carries '%s': it is claimed or released "
				     "first",
				     id);
	if (sub_find(d, id))
		return luo_msg_error(EBUSY, "client '%s' is subscribed", id);
	log_notice("client id %s (uid %u) unbound by the administrator", id, (unsigned)b->uid);
	binding_drop(d, b);
	state_changed(d);
	return luo_msg_ok();
}

static struct json_object *cmd_bindings(struct daemon *d)
{
	struct json_object *reply = luo_msg_ok();

	json_object_object_add(reply, "bindings", bindings_json(d));
	return reply;
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
	json_object_object_add(o, "bindings", json_object_new_int(d->n_bindings));
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
		json_object_object_add(x, "state", json_object_new_string(carried_state(k)));
		if (k->claimer)
			json_object_object_add(x, "pid", json_object_new_int(k->claimer->pid));
		json_object_array_add(arr, x);
	}
	json_object_object_add(o, "sessions", arr);
	json_object_object_add(o, "lost", d->lost ? json_object_get(d->lost) : json_object_new_array());
	json_object_object_add(o, "loaded", d->loaded ? json_object_get(d->loaded) : NULL);
	json_object_object_add(o, "loading", load_status(d));
	json_object_object_add(
		o, "loaded_changed",
		json_object_new_boolean(loaded >= 0 && d->loaded_expect >= 0 && loaded != d->loaded_expect));
	return o;
}

static bool cmd_is_admin(const char *cmd)
{
	static const char *const admin[] = { "KEXEC", "ABORT", "RELEASE", "LOAD", "UNLOAD", "RESERVE", "UNRESERVE" };

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
	if (!strcmp(cmd, "RESERVE"))
		return cmd_reserve(d, msg);
	if (!strcmp(cmd, "UNRESERVE"))
		return cmd_unreserve(d, msg);
	if (!strcmp(cmd, "BINDINGS"))
		return cmd_bindings(d);
	if (!strcmp(cmd, "LOAD"))
		return load_handle(d, c, msg, fds, n_fds);
	if (!strcmp(cmd, "UNLOAD"))
		return load_unload(d);
	return luo_msg_error(EOPNOTSUPP, "unknown command '%.64s'", cmd);
}

/* Close a connection whose uid holds more fds than it may; tell it why. */
static bool conn_over_budget(struct conn *c)
{
	char why[256];

	if (fd_budget(c->d, c->uid, 0, why, sizeof(why)) == 0)
		return false;
	log_warning_peer("closing a connection of pid %d: %s", (int)c->pid, why);
	conn_send(c, luo_msg_error(EMFILE, "%s", why), NULL, 0);
	conn_close(c, NULL);
	return true;
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

/*
 * Serve one connection for one turn of the loop: at most LUOD_CONN_BATCH
 * commands and one read. If it may have more commands buffered it goes on
 * the ready list; more data on the socket brings EPOLLIN again (level
 * triggered); a peer that does not read its replies is served again once
 * they are written.
 */
static void conn_input(struct conn *c)
{
	bool did_read = false;

	c->turn = c->d->turn;
	for (unsigned n = 0;; n++) {
		_cleanup_json_ struct json_object *msg = NULL;
		int fds[LUO_PROTO_MAX_FDS];
		size_t n_fds = 0;
		struct json_object *reply;
		int r;

		if (c->dead || c->failed || c->busy || luo_conn_has_output(&c->lc))
			return;
		if (n == LUOD_CONN_BATCH) {
			conn_set_ready(c);
			return;
		}
		r = luo_conn_next(&c->lc, &msg, fds, &n_fds);
		if (r == 0) {
			if (did_read)
				return;
			did_read = true;
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
			if (c->lc.n_in_fds && conn_over_budget(c))
				return;
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
		if (c->busy)
			conn_update_events(c); /* stop reading until conn_resume() */
	}
}

static void conn_event(struct watch *w, uint32_t events)
{
	struct conn *c = container_of(w, struct conn, w);

	if (c->dead)
		return;
	if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) && luo_conn_has_output(&c->lc)) {
		int r = luo_conn_flush(&c->lc);

		if (r < 0 && r != -EAGAIN) {
			conn_close(c, strerror(-r));
			return;
		}
		conn_update_events(c);
		/* Written out: the commands it sent meanwhile are served next turn. */
		if (!luo_conn_has_output(&c->lc))
			conn_set_ready(c);
	}
	if (c->failed)
		return;
	if (c->busy) {
		/* Its input waits for the reply in progress; a peer gone is closed now. */
		if (events & (EPOLLHUP | EPOLLERR))
			conn_close(c, "hung up while waiting for its reply");
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		conn_input(c);
}

/**
 * conn_resume() - the command a connection waited for has its reply: read on.
 * @c: the connection (busy until now)
 *
 * Its buffered commands are served in the next turn of the loop.
 */
void conn_resume(struct conn *c)
{
	c->busy = false;
	if (c->dead || c->failed)
		return;
	conn_update_events(c);
	conn_set_ready(c);
}

/* Refuse a connection just accepted, with a reply that says why. */
static void refuse(int fd, const struct ucred *cred, int err, const char *why)
{
	_cleanup_json_ struct json_object *msg = luo_msg_error(err, "%s", why);
	const char *s = msg ? json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN) : NULL;

	log_warning_peer("refusing a connection of pid %d uid %u: %s", (int)cred->pid, (unsigned)cred->uid, why);
	if (s && send(fd, s, strlen(s), MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
		send(fd, "\n", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

/* Accept one connection; false when there is none to accept now. */
static bool accept_one(struct daemon *d, struct watch *w)
{
	struct epoll_event ev;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	unsigned all = 0, mine = 0;
	char why[256];
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
		return false;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		close(fd);
		return true;
	}
	for (c = d->conns; c; c = c->next) {
		all += c->uid != 0;
		mine += c->uid == cred.uid;
	}
	if (cred.uid != 0 && (all >= LUOD_MAX_CONNS || mine >= LUOD_MAX_CONNS_PER_UID)) {
		snprintf(why, sizeof(why),
			 "too many connections (%u of uid %u, limit %d; %u of non-root uids, limit %d)", mine,
			 (unsigned)cred.uid, LUOD_MAX_CONNS_PER_UID, all, LUOD_MAX_CONNS);
		refuse(fd, &cred, EUSERS, why);
		return true;
	}
	if (fd_budget(d, cred.uid, 1, why, sizeof(why)) < 0) {
		refuse(fd, &cred, EMFILE, why);
		return true;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return true;
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
		return true;
	}
	c->next = d->conns;
	d->conns = c;
	d->n_conns++;
	log_debug("connection from pid %d uid %u", (int)c->pid, (unsigned)c->uid);
	return true;
}

/* A bounded number of connections per turn, like the commands of one. */
static void listen_event(struct watch *w, uint32_t events)
{
	struct daemon *d = container_of(w, struct daemon, listen_w);

	for (unsigned n = 0; n < LUOD_CONN_BATCH && !d->listen_paused; n++)
		if (!accept_one(d, w))
			return;
}

/* Signals that stop luod cleanly (an update in progress is aborted first). */
static bool signal_stops(int sig)
{
	return sig == SIGTERM || sig == SIGINT || sig == SIGQUIT;
}

/*
 * Every signal whose default action would end luod without a word to its
 * clients, except the ones that report a fault of luod itself (SIGSEGV...)
 * and SIGKILL: taken through the signalfd.
 */
static void signal_mask(sigset_t *mask)
{
	static const int sigs[] = { SIGTERM, SIGINT,	SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2,
				    SIGALRM, SIGVTALRM, SIGPROF, SIGIO,	 SIGPWR,  SIGSTKFLT };

	sigemptyset(mask);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaddset(mask, sigs[i]);
	for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
		sigaddset(mask, sig);
}

/**
 * daemon_block_signals() - hold the signals luod takes through its signalfd.
 *
 * Called first thing at start: one that arrives before the event loop runs
 * waits for it instead of ending luod, say while it takes its sessions back
 * after a live update.
 */
void daemon_block_signals(void)
{
	sigset_t mask;

	signal_mask(&mask);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void signal_event(struct watch *w, uint32_t events)
{
	struct daemon *d = container_of(w, struct daemon, signal_w);
	struct signalfd_siginfo si;

	while (read(w->fd, &si, sizeof(si)) == sizeof(si)) {
		int sig = (int)si.ssi_signo;
		const char *name = sigabbrev_np(sig);

		if (signal_stops(sig)) {
			log_info("received SIG%s, stopping", name ? name : "?");
			d->quit = true;
		} else if (name) {
			log_notice("received SIG%s from pid %u: ignored (luod has nothing to reload; "
				   "SIGTERM stops it)",
				   name, si.ssi_pid);
		} else {
			log_notice("received signal %d from pid %u: ignored", sig, si.ssi_pid);
		}
	}
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
	signal_mask(&mask);
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

/* Serve the connections left with commands buffered, one batch each. */
static void serve_ready(struct daemon *d)
{
	struct conn *list = d->ready, *c;

	d->ready = NULL;
	while ((c = list)) {
		list = c->ready_next;
		c->ready = false;
		if (c->dead)
			continue;
		if (c->turn == d->turn)
			conn_set_ready(c); /* Its event came first: next turn. */
		else
			conn_input(c);
	}
}

/**
 * daemon_run() - serve until SIGTERM, SIGINT or SIGQUIT.
 * @d: the daemon
 *
 * Each turn serves signals and timers first, then every connection with
 * something to do for one bounded batch (conn_input()), so no peer can hold
 * the others, the update's deadline or a stop request back. While some
 * connection has commands buffered, the wait does not block.
 *
 * Return: 0 or -errno when the loop itself fails.
 */
int daemon_run(struct daemon *d)
{
	while (!d->quit) {
		struct epoll_event evs[32];
		int n = epoll_wait(d->epfd, evs, ARRAY_SIZE(evs), d->ready ? 0 : -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		d->turn++;
		for (int i = 0; i < n; i++) {
			struct watch *w = evs[i].data.ptr;

			if (w == &d->signal_w || w == &d->timer_w) {
				w->cb(w, evs[i].events);
				evs[i].data.ptr = NULL;
			}
		}
		for (int i = 0; i < n && !d->quit; i++) {
			struct watch *w = evs[i].data.ptr;

			if (w)
				w->cb(w, evs[i].events);
		}
		if (!d->quit)
			serve_ready(d);
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
	while (d->bindings)
		binding_drop(d, d->bindings);
	json_object_put(d->lost);
	free(d->record_path);
	load_done(d);
	json_object_put(d->loaded);
	closep(&d->listen_w.fd);
	closep(&d->signal_w.fd);
	closep(&d->timer_w.fd);
	closep(&d->epfd);
	closep(&d->dev_fd);
}
