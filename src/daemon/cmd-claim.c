/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns the commands about sessions carried over an update and client ids:
 * a client's CLAIM and DONE, the administrator's RELEASE, RESERVE,
 * UNRESERVE, and BINDINGS. The sessions and bindings themselves live in
 * state.c.
 */
#include <errno.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

/**
 * handle_claim() - CLAIM: take the session carried over the update for an id.
 * @d: the daemon
 * @c: the connection
 * @msg: the command
 * @fds: none
 * @n_fds: 0
 *
 * Return: the refusal, or NULL once replied (the reply carries the session).
 */
struct json_object *handle_claim(struct daemon *d, struct conn *c, struct json_object *msg, int *fds, size_t n_fds)
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

/**
 * claim_conn_closed() - a connection closed: its claim, if any, ends.
 * @c: the connection
 *
 * The session stays claimable.
 */
void claim_conn_closed(struct conn *c)
{
	if (!c->claim)
		return;
	log_warning_peer("client %s disconnected before DONE; its session stays claimable", c->claim->id);
	c->claim->claimer = NULL;
	c->claim = NULL;
}

/**
 * handle_done() - DONE: the claimer has its data back; the session goes.
 * @d: the daemon
 * @c: the connection
 * @msg: the command
 * @fds: none
 * @n_fds: 0
 *
 * Return: the reply.
 */
struct json_object *handle_done(struct daemon *d, struct conn *c, struct json_object *msg, int *fds, size_t n_fds)
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

/**
 * handle_release() - RELEASE: discard a carried session, or acknowledge a lost one.
 * @d: the daemon
 * @c: the connection
 * @msg: the command
 * @fds: none
 * @n_fds: 0
 *
 * Return: the reply.
 */
struct json_object *handle_release(struct daemon *d, struct conn *c, struct json_object *msg, int *fds, size_t n_fds)
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

/**
 * handle_reserve() - RESERVE: bind a client id to a uid.
 * @d: the daemon
 * @c: the connection
 * @msg: the command
 * @fds: none
 * @n_fds: 0
 *
 * Return: the reply.
 */
struct json_object *handle_reserve(struct daemon *d, struct conn *c, struct json_object *msg, int *fds, size_t n_fds)
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

/**
 * handle_unreserve() - UNRESERVE: unbind a client id nothing uses.
 * @d: the daemon
 * @c: the connection
 * @msg: the command
 * @fds: none
 * @n_fds: 0
 *
 * Return: the reply.
 */
struct json_object *handle_unreserve(struct daemon *d, struct conn *c, struct json_object *msg, int *fds, size_t n_fds)
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

/**
 * handle_bindings() - BINDINGS: list the bound client ids.
 * @d: the daemon
 * @c: the connection
 * @msg: the command
 * @fds: none
 * @n_fds: 0
 *
 * Return: the reply.
 */
struct json_object *handle_bindings(struct daemon *d, struct conn *c, struct json_object *msg, int *fds, size_t n_fds)
{
	struct json_object *reply = luo_msg_ok();

	json_object_object_add(reply, "bindings", bindings_json(d));
	return reply;
}
