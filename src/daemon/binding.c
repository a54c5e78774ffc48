/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns the bindings of client ids to uids: made by a first SUBSCRIBE, by
 * a session that carries the id, or by an administrator (RESERVE); capped
 * in all and per uid; saved with luod's state and restored from it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

/**
 * binding_find() - who an id belongs to.
 * @d: the daemon
 * @id: the client id
 *
 * Return: its binding, or NULL when the id is free.
 */
struct binding *binding_find(struct daemon *d, const char *id)
{
	for (struct binding *b = d->bindings; b; b = b->next)
		if (!strcmp(b->id, id))
			return b;
	return NULL;
}

static unsigned bindings_of_uid(const struct daemon *d, uid_t uid)
{
	unsigned n = 0;

	for (const struct binding *b = d->bindings; b; b = b->next)
		n += b->uid == uid;
	return n;
}

/**
 * binding_add() - bind a free id to a uid.
 * @d: the daemon
 * @id: a valid client id that is not bound
 * @uid: its owner
 * @reserved: bound by an administrator
 * @limited: apply the limits (not to what luod restores)
 *
 * Return: 0, -ENOSPC (-EDQUOT when @uid has too many), or -ENOMEM.
 */
int binding_add(struct daemon *d, const char *id, uid_t uid, bool reserved, bool limited)
{
	struct binding *b;

	if (limited && d->n_bindings >= LUOD_MAX_BINDINGS)
		return -ENOSPC;
	if (limited && !reserved && uid != 0 && bindings_of_uid(d, uid) >= LUOD_MAX_BINDINGS_PER_UID)
		return -EDQUOT;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	snprintf(b->id, sizeof(b->id), "%s", id);
	b->uid = uid;
	b->reserved = reserved;
	b->next = d->bindings;
	d->bindings = b;
	d->n_bindings++;
	return 0;
}

/**
 * binding_drop() - free an id.
 * @d: the daemon
 * @b: its binding
 */
void binding_drop(struct daemon *d, struct binding *b)
{
	for (struct binding **p = &d->bindings; *p; p = &(*p)->next) {
		if (*p == b) {
			*p = b->next;
			d->n_bindings--;
			free(b);
			return;
		}
	}
}

/**
 * bindings_json() - the bindings as saved and as BINDINGS lists them.
 * @d: the daemon
 *
 * Return: a JSON array [{"id":..,"uid":..,"reserved":..}], or NULL.
 */
struct json_object *bindings_json(const struct daemon *d)
{
	struct json_object *arr = json_object_new_array();

	for (const struct binding *b = d->bindings; arr && b; b = b->next) {
		struct json_object *x = json_object_new_object();

		json_object_object_add(x, "id", json_object_new_string(b->id));
		json_object_object_add(x, "uid", json_object_new_int64(b->uid));
		json_object_object_add(x, "reserved", json_object_new_boolean(b->reserved));
		json_object_array_add(arr, x);
	}
	return arr;
}

/**
 * bindings_restore() - take back the bindings of saved state.
 * @d: the daemon
 * @root: saved state with a "bindings" array (entries luod has already,
 *        and malformed ones, are skipped)
 */
void bindings_restore(struct daemon *d, struct json_object *root)
{
	struct json_object *arr;

	if (!json_object_object_get_ex(root, "bindings", &arr) || !json_object_is_type(arr, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(arr) && d->n_bindings < 4 * LUOD_MAX_BINDINGS; i++) {
		struct json_object *x = json_object_array_get_idx(arr, i);
		const char *id = luo_msg_string(x, "id");
		int64_t uid = -1;

		if (!luo_id_valid(id) || luo_msg_int(x, "uid", &uid) < 0 || uid < 0 || uid >= (uid_t)-1 ||
		    binding_find(d, id))
			continue;
		binding_add(d, id, (uid_t)uid, luo_msg_bool(x, "reserved"), false);
	}
}

/**
 * binding_of_carried() - a session carried over the update binds its id.
 * @d: the daemon
 * @k: the session
 */
void binding_of_carried(struct daemon *d, struct carried *k)
{
	struct binding *b = binding_find(d, k->id);

	if (b && b->uid != k->uid) {
		log_warning("client id %s was bound to uid %u; its session from before the update belongs to uid "
			    "%u, which now owns it",
			    k->id, (unsigned)b->uid, (unsigned)k->uid);
		b->uid = k->uid;
	} else if (!b) {
		binding_add(d, k->id, k->uid, false, false);
	}
}
