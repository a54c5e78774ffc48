/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns the daemon as a whole (set up, run, stop: the layers in order) and,
 * above the connections, dispatching commands to their handlers with
 * authorization, and the commands that only read or change
 * connection-level state (VERSION, STATUS, SUBSCRIBE, CLAIM, DONE, RELEASE).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
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

static void daemon_command(struct conn *c, struct json_object *msg, int *fds, size_t n_fds)
{
	struct json_object *reply = dispatch(c->d, c, msg, fds, n_fds);

	close_fds(fds, n_fds);
	if (reply)
		conn_send(c, reply, NULL, 0);
}

/* A connection closed: what it held is handed back. */
static void daemon_conn_closed(struct conn *c)
{
	struct daemon *d = c->d;

	if (c->busy)
		load_conn_closed(d, c);
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

static const struct conn_ops daemon_conn_ops = {
	.command = daemon_command,
	.closed = daemon_conn_closed,
};

/**
 * daemon_init() - set up the event loop around a listening socket.
 * @d: the daemon; its device fields must already be set
 * @listen_fd: bound and listening; owned by @d from now on
 *
 * Return: 0 or -errno.
 */
int daemon_init(struct daemon *d, int listen_fd)
{
	int r;

	d->listen_w.fd = listen_fd;
	d->signal_w.fd = -1;
	d->timer_w.fd = -1;
	d->conn_ops = &daemon_conn_ops;
	r = loop_init(d);
	if (r == 0)
		r = conn_listen(d, listen_fd);
	if (r == 0)
		r = update_init(d);
	return r;
}

/**
 * daemon_run() - serve until SIGTERM, SIGINT or SIGQUIT.
 * @d: the daemon
 *
 * Return: 0 or -errno when the loop itself fails.
 */
int daemon_run(struct daemon *d)
{
	return loop_run(d);
}

/**
 * daemon_done() - stop: abort an update in progress, close everything.
 * @d: the daemon
 */
void daemon_done(struct daemon *d)
{
	if (d->state == D_PREPARING)
		update_abort(d, ESHUTDOWN, NULL, "luod is stopping");
	conn_done(d);
	update_done(d);
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
	loop_done(d);
	closep(&d->dev_fd);
}
