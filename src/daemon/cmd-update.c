/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns the commands of the live update: a client's SUBSCRIBE, READY and
 * FAIL (the barrier) and the administrator's KEXEC and ABORT. Each checks
 * what its peer sent and hands the work to the update's state machine
 * (update.c), which also says in which state each is accepted.
 */
#include <errno.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "systemd.h"
#include "util.h"

/* The reply to a SUBSCRIBE whose id cannot be bound (binding_add()'s error). */
static struct json_object *subscribe_bind_error(struct conn *c, const char *id, int r)
{
	if (r == -EDQUOT)
		return luo_msg_error(ENOSPC, "uid %u has bound %d client ids already (the limit)", (unsigned)c->uid,
				     LUOD_MAX_BINDINGS_PER_UID);
	if (r == -ENOSPC)
		return luo_msg_error(ENOSPC, "too many client ids are bound (limit %d)", LUOD_MAX_BINDINGS);
	return luo_msg_error(-r, "cannot bind client id '%s': %s", id, strerror(-r));
}

/* Who may subscribe as @id on @c now: NULL, or the refusal. */
static struct json_object *subscribe_check(struct daemon *d, struct conn *c, const char *id, struct binding *b)
{
	struct json_object *refusal;
	struct carried *k;
	char why[256];

	if (!luo_id_valid(id))
		return luo_msg_error(EINVAL, "invalid client id: 1 to %d characters of A-Z a-z 0-9 . _ -", LUO_ID_MAX);
	if (c->sub)
		return luo_msg_error(EALREADY, "this connection is already subscribed as '%s'", c->sub->id);
	refusal = update_gate(d, LUO_CMD_SUBSCRIBE);
	if (refusal)
		return refusal;
	/* An id belongs to one uid, root's own subscriptions included. */
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
	return NULL;
}

/**
 * handle_subscribe() - SUBSCRIBE: take part in the next live updates.
 * @d: the daemon
 * @c: the connection
 * @msg: the command
 * @fds: none (the table says so)
 * @n_fds: 0
 *
 * The first SUBSCRIBE of an id binds it to the peer's uid.
 *
 * Return: the reply.
 */
struct json_object *handle_subscribe(struct daemon *d, struct conn *c, struct json_object *msg, int *fds, size_t n_fds)
{
	const char *id = luo_msg_string(msg, "id");
	struct binding *b = id ? binding_find(d, id) : NULL;
	struct json_object *reply;
	int r;

	reply = subscribe_check(d, c, id, b);
	if (reply)
		return reply;
	r = b ? 0 : binding_add(d, id, c->uid, false, true);
	if (r < 0)
		return subscribe_bind_error(c, id, r);
	r = sub_add(d, c, id);
	if (r < 0) {
		if (!b)
			binding_drop(d, binding_find(d, id));
		return luo_msg_error(-r, "out of memory");
	}
	if (!b) {
		log_info_uid(c->uid, "client id %s is now bound to uid %u", id, (unsigned)c->uid);
		state_changed(d);
	}
	log_info_uid(c->uid, "client %s subscribed (pid %d, uid %u)", id, (int)c->pid, (unsigned)c->uid);
	reply = luo_msg_ok();
	json_object_object_add(reply, "id", json_object_new_string(id));
	return reply;
}

/*
 * READY or FAIL: the answer to START_PRESERVATION. It is replied to first,
 * here: the update may go on at once (the ABORTED a FAIL causes, say).
 */
static struct json_object *barrier_answer(struct daemon *d, struct conn *c, struct json_object *msg, bool fail)
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

/**
 * handle_ready() - READY: the client has preserved what it needs.
 * @d: the daemon
 * @c: the connection
 * @msg: the command
 * @fds: none
 * @n_fds: 0
 *
 * Return: the refusal, or NULL once replied.
 */
struct json_object *handle_ready(struct daemon *d, struct conn *c, struct json_object *msg, int *fds, size_t n_fds)
{
	return barrier_answer(d, c, msg, false);
}

/**
 * handle_fail() - FAIL: the client cannot preserve its state; the update aborts.
 * @d: the daemon
 * @c: the connection
 * @msg: the command
 * @fds: none
 * @n_fds: 0
 *
 * Return: the refusal, or NULL once replied.
 */
struct json_object *handle_fail(struct daemon *d, struct conn *c, struct json_object *msg, int *fds, size_t n_fds)
{
	return barrier_answer(d, c, msg, true);
}

/*
 * KEXEC's conditions, checked in the same turn of the loop as the start: the
 * ids in "require" are subscribed and, with "require_all_sessions", no
 * session carried over from the last update is pending (unclaimed, or
 * claimed without DONE: this update would drop it). NULL, or the refusal.
 */
static struct json_object *kexec_require(struct daemon *d, struct json_object *msg)
{
	struct json_object *req = NULL;
	size_t n;

	if (json_object_object_get_ex(msg, "require", &req) && !json_object_is_type(req, json_type_array))
		return luo_msg_error(EINVAL, "\"require\" must be an array of client ids");
	n = req ? json_object_array_length(req) : 0;
	if (n > LUO_REQUIRE_MAX)
		return luo_msg_error(EINVAL, "\"require\" names at most %d client ids", LUO_REQUIRE_MAX);
	for (size_t i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(req, i);
		const char *id = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
		struct sub *s = id && luo_id_valid(id) ? sub_find(d, id) : NULL;

		if (!id || !luo_id_valid(id))
			return luo_msg_error(EINVAL, "\"require\" must be an array of client ids");
		if (!s || !s->conn)
			return luo_msg_error(ESRCH, "required client %s is not subscribed", id);
	}
	if (!luo_msg_bool(msg, "require_all_sessions"))
		return NULL;
	if (d->carried)
		return luo_msg_error(ENOTEMPTY,
				     "the session of client %s from the previous update is %s: "
				     "--require-all-sessions wants every one claimed and finished (DONE) first",
				     d->carried->id, carried_state(d->carried));
	return NULL;
}

/*
 * KEXEC from the shutdown (luod-barrier.service, "shutdown": true): if
 * systemd is going down for a kexec that luod did not start (an operator's
 * `systemctl kexec`, or a reboot that systemd turns into a kexec), run the
 * barrier now, while the clients still run, and leave the kexec to
 * systemd 261+; an older systemd cannot carry the sessions, so luod then
 * reboots into the kernel itself, as for its own KEXEC. What the next
 * kernel would lose anyway does not hold it up.
 */
static struct json_object *kexec_in_shutdown(struct daemon *d, struct conn *c, int64_t timeout_ms)
{
	struct json_object *reply;
	int r;

	if (d->state == D_REBOOTING)
		return luo_msg_error(EALREADY, "the live update is committed already");
	if (d->state != D_IDLE)
		return luo_msg_error(EBUSY, "a live update is already in progress");
	r = systemd_kexec_underway();
	if (r < 0)
		return luo_msg_error(-r, "cannot ask systemd whether a kexec is under way: %s", strerror(-r));
	if (r == 0) {
		if (d->n_subs)
			log_warning("the system is going down, not for a kexec: the %u subscribed client(s) keep "
				    "nothing",
				    d->n_subs);
		return luo_msg_error(ENOENT, "the system is not going down for a kexec");
	}
	log_notice("systemd is going down for a kexec luod did not start: running the barrier first");
	d->kexec_underway = true;
	reply = update_start(d, c, timeout_ms, true);
	if (reply)
		d->kexec_underway = false;
	return reply;
}

/**
 * handle_kexec() - KEXEC: start a live update.
 * @d: the daemon
 * @c: the connection; it receives the update's events
 * @msg: the command
 * @fds: none
 * @n_fds: 0
 *
 * Return: the refusal, or NULL once replied (update_start()).
 */
struct json_object *handle_kexec(struct daemon *d, struct conn *c, struct json_object *msg, int *fds, size_t n_fds)
{
	int64_t timeout_ms = LUOD_DEFAULT_TIMEOUT_MS;
	int r = luo_msg_int(msg, "timeout_ms", &timeout_ms);
	struct json_object *refusal;

	if (r == -EINVAL || timeout_ms <= 0 || timeout_ms > LUOD_MAX_TIMEOUT_MS)
		return luo_msg_error(EINVAL, "timeout_ms must be an integer from 1 to %d", LUOD_MAX_TIMEOUT_MS);
	/* A LOAD and an update exclude each other (LOAD's side: update_gate()). */
	if (load_busy(d))
		return luo_msg_error(EBUSY, "a kernel is being loaded (LOAD in progress): start the update after it");
	if (luo_msg_bool(msg, "shutdown"))
		return kexec_in_shutdown(d, c, timeout_ms);
	refusal = update_gate(d, LUO_CMD_KEXEC);
	if (!refusal)
		refusal = kexec_require(d, msg);
	if (refusal)
		return refusal;
	return update_start(d, c, timeout_ms, luo_msg_bool(msg, "force"));
}

/**
 * handle_abort() - ABORT: the administrator aborts the update being prepared.
 * @d: the daemon
 * @c: the connection
 * @msg: the command
 * @fds: none
 * @n_fds: 0
 *
 * Return: the reply.
 */
struct json_object *handle_abort(struct daemon *d, struct conn *c, struct json_object *msg, int *fds, size_t n_fds)
{
	const char *why = luo_msg_string(msg, "reason");
	struct json_object *refusal = update_gate(d, LUO_CMD_ABORT);

	if (refusal)
		return refusal;
	update_abort(d, ECANCELED, NULL, "aborted by the administrator%s%s", why ? ": " : "", why ? why : "");
	return luo_msg_ok();
}
