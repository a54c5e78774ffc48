/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns what luod keeps in the service manager's fd store: each session fd
 * named by its session (FDNAME), and the list of them as a memfd named
 * "luod-state" (which session is whose, the update's number, the
 * bindings). The list is rewritten in place: the store holds that same
 * file.
 *
 * After an update the carried sessions are kept there, so that a restarted
 * luod gets them back (store_sync(), store_restore()). Under systemd 261+
 * it is also how the update's sessions cross the kexec: once every client
 * is ready, store_commit() puts the new, outgoing sessions there and takes
 * out the carried ones (an incoming session cannot be carried again), and
 * systemd-shutdown preserves them; in the next boot PID 1 hands them back,
 * retrieved, as LISTEN_FDS. store_rollback() undoes a commit that systemd
 * would not go on with.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "sd.h"
#include "systemd.h"
#include "util.h"

#define STORE_STATE_NAME "luod-state"

/**
 * store_remove() - take the fds of a name out of the fd store.
 * @name: their FDNAME
 */
void store_remove(const char *name)
{
	char msg[128 + LUOD_SESSION_NAME_MAX];

	snprintf(msg, sizeof(msg), "FDSTOREREMOVE=1\nFDNAME=%s", name);
	sd_notify_fds(msg, NULL, 0);
}

/**
 * store_forget() - nothing is left to keep: take the list out of the store.
 * @d: the daemon
 */
void store_forget(struct daemon *d)
{
	if (d->store_fd < 0)
		return;
	store_remove(STORE_STATE_NAME);
	closep(&d->store_fd);
	d->store_fd = -1;
}

static struct json_object *store_entry(const char *id, const char *session, uid_t uid, bool claimed)
{
	struct json_object *x = json_object_new_object();

	json_object_object_add(x, "id", json_object_new_string(id));
	json_object_object_add(x, "session", json_object_new_string(session));
	json_object_object_add(x, "uid", json_object_new_int64(uid));
	json_object_object_add(x, "claimed", json_object_new_boolean(claimed));
	return x;
}

static int rewrite(int fd, const char *text, size_t len)
{
	ssize_t n;

	if (fd < 0)
		return -EBADF;
	if (ftruncate(fd, 0) < 0)
		return -errno;
	n = pwrite(fd, text, len, 0);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

/*
 * Write the list (taking @arr) into the store's memfd, created if needed,
 * and hand the memfd to the store. @outgoing: the sessions are this boot's
 * new ones, for the next boot.
 */
static int store_write_list(struct daemon *d, struct json_object *arr, uint64_t updates, bool outgoing)
{
	_cleanup_json_ struct json_object *root = json_object_new_object();
	const char *text;
	char boot[64];
	size_t len;
	int r;

	if (!root || !arr) {
		json_object_put(arr);
		return -ENOMEM;
	}
	boot_id(boot, sizeof(boot));
	json_object_object_add(root, "version", json_object_new_int(1));
	json_object_object_add(root, "updates", json_object_new_int64((int64_t)updates));
	json_object_object_add(root, "boot_id", json_object_new_string(boot));
	json_object_object_add(root, "outgoing", json_object_new_boolean(outgoing));
	json_object_object_add(root, "sessions", arr);
	json_object_object_add(root, "bindings", bindings_json(d));
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	if (!text)
		return -ENOMEM;
	len = strlen(text);
	r = rewrite(d->store_fd, text, len);
	if (r < 0) {
		/* None yet, or one that came across a kexec and may not change size. */
		if (d->store_fd >= 0)
			store_forget(d);
		d->store_fd = memfd_create(STORE_STATE_NAME, MFD_CLOEXEC);
		if (d->store_fd < 0)
			return -errno;
		r = rewrite(d->store_fd, text, len);
		if (r < 0)
			return r;
	}
	r = sd_notify_fds("FDSTORE=1\nFDNAME=" STORE_STATE_NAME, &d->store_fd, 1);
	return r < 0 ? r : r == 0 ? -ENOTCONN : 0;
}

static int store_put(const char *session, int fd)
{
	char msg[128 + LUOD_SESSION_NAME_MAX];
	int r;

	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", session);
	r = sd_notify_fds(msg, &fd, 1);
	return r < 0 ? r : r == 0 ? -ENOTCONN : 0;
}

/**
 * store_sync() - put the carried sessions and their list into the service
 * manager's fd store (it ignores fds it holds already).
 * @d: the daemon
 *
 * Return: 1 when stored, 0 without a service manager or sessions, or while
 * an update is committed to the store, or -errno.
 */
int store_sync(struct daemon *d)
{
	struct json_object *arr;
	int r;

	if (!d->carried || !getenv("NOTIFY_SOCKET") || d->store_committed)
		return 0;
	for (struct carried *k = d->carried; k; k = k->next) {
		r = store_put(k->session, k->fd);
		if (r < 0)
			return r;
	}
	arr = json_object_new_array();
	for (struct carried *k = d->carried; arr && k; k = k->next)
		json_object_array_add(arr, store_entry(k->id, k->session, k->uid, k->handed));
	r = store_write_list(d, arr, d->updates, false);
	return r < 0 ? r : 1;
}

/**
 * store_commit() - every client is ready (systemd 261+): put the update's
 * sessions into the fd store for systemd to carry across the kexec, with
 * the list the next boot's luod reads, and take the carried ones out.
 * @d: the daemon
 *
 * Return: 0 or -errno; on failure the caller undoes it (store_rollback()).
 */
int store_commit(struct daemon *d)
{
	struct json_object *arr;
	int r;

	d->store_committed = true;
	for (struct sub *s = d->subs; s; s = s->next) {
		r = store_put(s->session, s->session_fd);
		if (r < 0)
			return r;
	}
	arr = json_object_new_array();
	for (struct sub *s = d->subs; arr && s; s = s->next)
		json_object_array_add(arr, store_entry(s->id, s->session, s->uid, false));
	r = store_write_list(d, arr, d->updates + 1, true);
	if (r < 0)
		return r;
	for (struct carried *k = d->carried; k; k = k->next)
		store_remove(k->session);
	return 0;
}

/**
 * store_rollback() - undo store_commit(): the update's sessions out, the
 * carried ones and their list back.
 * @d: the daemon
 */
void store_rollback(struct daemon *d)
{
	for (struct sub *s = d->subs; s; s = s->next)
		if (s->session[0])
			store_remove(s->session);
	d->store_committed = false;
	if (!d->carried)
		store_forget(d);
	else if (store_sync(d) < 0)
		log_warning("cannot put the sessions back into the service manager's fd store");
}

/**
 * store_hand_over() - every client is ready (systemd 261+): commit the
 * sessions to the fd store, then ask systemd for its orderly kexec, unless
 * the update was started by one already under way. Once systemctl has
 * queued kexec.target there is no way back; before, a failure is undone.
 * @d: the daemon
 * @why: receives the reason on failure
 * @len: its size
 *
 * Return: 0 or -errno.
 */
int store_hand_over(struct daemon *d, char *why, size_t len)
{
	int r = store_commit(d);

	if (r < 0) {
		snprintf(why, len, "cannot put the sessions into the service manager's fd store: %s", strerror(-r));
		store_rollback(d);
		return r;
	}
	if (d->kexec_underway)
		return 0;
	r = systemd_start_kexec(why, len);
	if (r < 0)
		store_rollback(d);
	return r;
}

/* A restored entry of the fd store's list, matched with its fd. */
static void restore_one(struct daemon *d, struct json_object *x, struct sd_fd *fds, size_t n)
{
	const char *id, *session;
	bool valid;
	int64_t uid;
	size_t i;

	valid = carried_entry(x, &id, &session, &uid);
	for (i = 0; session && i < n; i++)
		if (fds[i].fd >= 0 && !strcmp(fds[i].name, session))
			break;
	if (!session || i == n || !valid) {
		log_error("the fd store has no usable session for %s", json_object_to_json_string(x));
		return;
	}
	if (carried_add(d, id, session, uid, fds[i].fd, luo_msg_bool(x, "claimed")) < 0)
		return;
	fds[i].fd = -1;
	log_info("client %s: session %s taken back from the fd store", id, session);
}

/*
 * The list says its sessions are outgoing ones of this very boot: luod was
 * restarted after committing an update to the store, before the kexec.
 * They are not claimable; the store keeps them for the kexec.
 */
static bool committed_in_this_boot(struct json_object *root)
{
	const char *saved = luo_msg_string(root, "boot_id");
	char boot[64];

	boot_id(boot, sizeof(boot));
	return luo_msg_bool(root, "outgoing") && saved && !strcmp(saved, boot);
}

/* Read the list and take back the sessions it names. Return: 1, 2 or -errno. */
static int store_take(struct daemon *d, struct sd_fd *fds, size_t n)
{
	_cleanup_json_ struct json_object *root = NULL;
	struct json_object *arr = NULL;
	int64_t updates = 0;
	int r = state_read(d->store_fd, &root);

	if (r == 0 &&
	    (luo_msg_int(root, "updates", &updates) < 0 || !json_object_object_get_ex(root, "sessions", &arr) ||
	     !json_object_is_type(arr, json_type_array)))
		r = -EBADMSG;
	if (r < 0)
		return r;
	d->updates = updates;
	bindings_restore(d, root);
	if (committed_in_this_boot(root)) {
		d->store_committed = true;
		return 2;
	}
	for (size_t j = 0; j < json_object_array_length(arr); j++)
		restore_one(d, json_object_array_get_idx(arr, j), fds, n);
	return 1;
}

/**
 * store_restore() - take back the sessions the service manager kept in its
 * fd store: after a restart of luod, or under systemd 261+ after the kexec.
 * @d: the daemon
 *
 * Return: 1 when sessions were restored, 2 when the store holds an update
 * committed in this boot (store_commit(); d->store_committed is set), 0
 * when none were passed, or -errno.
 */
int store_restore(struct daemon *d)
{
	_cleanup_free_ struct sd_fd *fds = NULL;
	size_t n = 0, i;
	int r;

	r = sd_listen_fds(&fds, &n);
	if (r < 0 || n == 0)
		return r;
	for (i = 0; i < n && strcmp(fds[i].name, STORE_STATE_NAME); i++)
		;
	if (i == n) {
		log_warning("the service manager passed %zu fd(s), none named %s: ignoring them", n, STORE_STATE_NAME);
		r = 0;
	} else {
		d->store_fd = steal_fd(&fds[i].fd);
		r = store_take(d, fds, n);
	}
	for (i = 0; i < n; i++)
		closep(&fds[i].fd);
	return r;
}
