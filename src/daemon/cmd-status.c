/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns the commands that only read: VERSION and STATUS (the daemon, LUO,
 * the update in progress, the subscribed clients, the carried sessions and
 * what is loaded for kexec).
 */
#include <errno.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "kexec.h"
#include "util.h"

/**
 * handle_version() - VERSION: the protocol's and luod's versions.
 * @d: the daemon
 * @c: the connection
 * @msg: the command
 * @fds: none
 * @n_fds: 0
 *
 * Return: the reply.
 */
struct json_object *handle_version(struct daemon *d, struct conn *c, struct json_object *msg, int *fds, size_t n_fds)
{
	struct json_object *o = luo_msg_ok();

	json_object_object_add(o, "version", json_object_new_int(LUO_PROTO_VERSION));
	json_object_object_add(o, "daemon", json_object_new_string(PACKAGE_VERSION));
	return o;
}

static struct json_object *status_luo(struct daemon *d)
{
	struct json_object *luo = json_object_new_object();

	json_object_object_add(luo, "available", json_object_new_boolean(luo_usable(d)));
	json_object_object_add(luo, "kexec_by", json_object_new_string(d->with_systemd ? "systemd" : "luod"));
	json_object_object_add(luo, "holds_device", json_object_new_boolean(d->dev_fd >= 0));
	json_object_object_add(luo, "error",
			       luo_usable(d)
				       ? NULL
				       : json_object_new_string(d->dev_err == ENOENT
									? "/dev/liveupdate does not exist: the kernel "
									  "needs CONFIG_LIVEUPDATE and liveupdate=on"
									: strerror(d->dev_err)));
	return luo;
}

static struct json_object *status_update(struct daemon *d)
{
	struct json_object *x;

	if (d->state == D_IDLE)
		return NULL;
	x = json_object_new_object();
	json_object_object_add(x, "elapsed_ms", json_object_new_int64(now_ms() - d->update_started_ms));
	json_object_object_add(
		x, "remaining_ms",
		json_object_new_int64(d->update_deadline_ms > now_ms() ? d->update_deadline_ms - now_ms() : 0));
	json_object_object_add(x, "requested_by", json_object_new_int64(d->update_by));
	return x;
}

static struct json_object *status_clients(struct daemon *d)
{
	struct json_object *arr = json_object_new_array(), *x;

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
	return arr;
}

static struct json_object *status_sessions(struct daemon *d)
{
	struct json_object *arr = json_object_new_array(), *x;

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
	return arr;
}

/**
 * handle_status() - STATUS: what luod knows, for luoctl status and scripts.
 * @d: the daemon
 * @c: the connection
 * @msg: the command
 * @fds: none
 * @n_fds: 0
 *
 * Return: the reply.
 */
struct json_object *handle_status(struct daemon *d, struct conn *c, struct json_object *msg, int *fds, size_t n_fds)
{
	struct json_object *o = luo_msg_ok();
	int loaded = kexec_loaded();

	json_object_object_add(o, "version", json_object_new_int(LUO_PROTO_VERSION));
	json_object_object_add(o, "daemon", json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(o, "state", json_object_new_string(update_state_name(d->state)));
	json_object_object_add(o, "luo", status_luo(d));
	json_object_object_add(o, "kexec_loaded", json_object_new_boolean(loaded > 0));
	json_object_object_add(o, "updates", json_object_new_int64((int64_t)d->updates));
	json_object_object_add(o, "bindings", json_object_new_int(d->n_bindings));
	json_object_object_add(o, "update", status_update(d));
	json_object_object_add(o, "clients", status_clients(d));
	json_object_object_add(o, "sessions", status_sessions(d));
	json_object_object_add(o, "lost", d->lost ? json_object_get(d->lost) : json_object_new_array());
	json_object_object_add(o, "loaded", d->loaded ? json_object_get(d->loaded) : NULL);
	json_object_object_add(o, "loading", load_status(d));
	json_object_object_add(
		o, "loaded_changed",
		json_object_new_boolean(loaded >= 0 && d->loaded_expect >= 0 && loaded != d->loaded_expect));
	return o;
}
