/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns what luod carries across the reboot: before it, a memfd with the
 * list of client sessions in luod's own LUO session; after it, retrieving
 * that list and every session in it, and holding them until their clients
 * are done. Under a service manager, the retrieved sessions also go into
 * its fd store (named by session, with the list as "luod-state"), so that
 * a restarted luod gets them back instead of losing them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "luo-ops.h"
#include "sd.h"
#include "util.h"

#define STATE_MAX_SIZE (1024 * 1024)

/**
 * carried_find() - the session carried over the update for a client id.
 * @d: the daemon
 * @id: the client id
 *
 * Return: it, or NULL.
 */
struct carried *carried_find(struct daemon *d, const char *id)
{
	for (struct carried *k = d->carried; k; k = k->next)
		if (!strcmp(k->id, id))
			return k;
	return NULL;
}

/**
 * carried_free() - forget a carried-over session; closing it makes the
 * kernel finish it (files not retrieved are discarded).
 * @d: the daemon
 * @k: the session
 */
void carried_free(struct daemon *d, struct carried *k)
{
	for (struct carried **p = &d->carried; *p; p = &(*p)->next) {
		if (*p == k) {
			*p = k->next;
			d->n_carried--;
			break;
		}
	}
	if (k->claimer)
		k->claimer->claim = NULL;
	closep(&k->fd);
	free(k);
}

/**
 * carried_count() - how many sessions from before the update luod holds.
 * @d: the daemon
 *
 * Return: their number.
 */
unsigned carried_count(const struct daemon *d)
{
	return d->n_carried;
}

/**
 * carried_unclaimed() - how many carried sessions were never handed to a
 * claimer: those the next update would lose unread.
 * @d: the daemon
 *
 * Return: their number.
 */
unsigned carried_unclaimed(const struct daemon *d)
{
	unsigned n = 0;

	for (const struct carried *k = d->carried; k; k = k->next)
		n += !k->handed;
	return n;
}

/**
 * carried_state() - the protocol's name of a carried session's state.
 * @k: the session
 *
 * Return: "unclaimed" (never handed out), "claimed" (a connection holds
 * it) or "left" (handed out, its claimer left without DONE).
 */
const char *carried_state(const struct carried *k)
{
	return k->claimer ? "claimed" : k->handed ? "left" : "unclaimed";
}

/**
 * state_write_all() - write a whole buffer.
 * @fd: where
 * @buf: what
 * @len: its length
 *
 * Return: 0 or -errno.
 */
int state_write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= n;
	}
	return 0;
}

/**
 * state_save() - write the list of sessions into luod's own LUO session.
 * @d: the daemon, with every client ready
 * @state_fd: receives the state session's fd, which must stay open until
 *            the reboot
 *
 * Return: 0 or -errno; nothing is left behind on failure.
 */
int state_save(struct daemon *d, int *state_fd)
{
	_cleanup_json_ struct json_object *root = json_object_new_object();
	_cleanup_close_ int sfd = -1, mfd = -1;
	struct json_object *arr = json_object_new_array();
	const char *text;
	int r;

	json_object_object_add(root, "version", json_object_new_int(1));
	json_object_object_add(root, "updates", json_object_new_int64((int64_t)d->updates + 1));
	for (struct sub *s = d->subs; s; s = s->next) {
		struct json_object *x = json_object_new_object();

		json_object_object_add(x, "id", json_object_new_string(s->id));
		json_object_object_add(x, "session", json_object_new_string(s->session));
		json_object_object_add(x, "uid", json_object_new_int64(s->uid));
		json_object_object_add(x, "pid", json_object_new_int(s->pid));
		json_object_array_add(arr, x);
	}
	json_object_object_add(root, "clients", arr);
	json_object_object_add(root, "bindings", bindings_json(d));
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	if (!text)
		return -ENOMEM;

	mfd = memfd_create("luod-state", MFD_CLOEXEC);
	if (mfd < 0)
		return -errno;
	r = state_write_all(mfd, text, strlen(text));
	if (r < 0)
		return r;
	sfd = luo_device_create_session(d->dev_fd, LUOD_STATE_SESSION);
	if (sfd == -EEXIST)
		log_error("a LUO session named '%s' exists already: is another agent using that name?",
			  LUOD_STATE_SESSION);
	if (sfd < 0)
		return sfd;
	r = luo_session_preserve_fd(sfd, mfd, LUOD_STATE_TOKEN);
	if (r < 0)
		return r;
	*state_fd = steal_fd(&sfd);
	return 0;
}

/**
 * state_read() - read and parse saved state (a JSON object).
 * @fd: a file of at most STATE_MAX_SIZE bytes
 * @root: receives the object
 *
 * Return: 0 or -errno.
 */
int state_read(int fd, struct json_object **root)
{
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size <= 0 || st.st_size > STATE_MAX_SIZE)
		return -EBADMSG;
	buf = malloc(st.st_size);
	if (!buf)
		return -ENOMEM;
	n = pread(fd, buf, st.st_size, 0);
	if (n != st.st_size)
		return n < 0 ? -errno : -EIO;
	return luo_proto_parse(buf, st.st_size, root);
}

/**
 * carried_entry() - a saved entry's id, session and uid, when well formed.
 * @x: the entry
 * @id: receives its id
 * @session: receives its session's name
 * @uid: receives its uid
 *
 * Return: whether all three are there and valid.
 */
bool carried_entry(struct json_object *x, const char **id, const char **session, int64_t *uid)
{
	*id = luo_msg_string(x, "id");
	*session = luo_msg_string(x, "session");
	*uid = -1;
	return luo_id_valid(*id) && *session && strlen(*session) < LUOD_SESSION_NAME_MAX &&
	       luo_msg_int(x, "uid", uid) == 0 && *uid >= 0;
}

/**
 * carried_add() - hold a session restored for a client.
 * @d: the daemon
 * @id: the client id
 * @session: the session's name
 * @uid: the client's uid
 * @fd: the session; taken on success only
 * @handed: it was handed to a claimer already
 *
 * Return: 0 or -ENOMEM.
 */
int carried_add(struct daemon *d, const char *id, const char *session, int64_t uid, int fd, bool handed)
{
	struct carried *k = calloc(1, sizeof(*k));

	if (!k)
		return -ENOMEM;
	snprintf(k->id, sizeof(k->id), "%s", id);
	snprintf(k->session, sizeof(k->session), "%s", session);
	k->uid = (uid_t)uid;
	k->fd = fd;
	k->handed = handed;
	k->next = d->carried;
	d->carried = k;
	d->n_carried++;
	binding_of_carried(d, k);
	return 0;
}

/* An entry of the state saved before the update: retrieve its session. */
static void restore_client(struct daemon *d, struct json_object *x)
{
	const char *id, *session;
	int64_t uid;
	int fd;

	if (!carried_entry(x, &id, &session, &uid)) {
		log_error("saved state has a malformed client entry: %s", json_object_to_json_string(x));
		return;
	}
	fd = luo_device_retrieve_session(d->dev_fd, session);
	if (fd < 0) {
		log_error("client %s: cannot retrieve session %s: %s", id, session, strerror(-fd));
		return;
	}
	if (carried_add(d, id, session, uid, fd, false) < 0) {
		close(fd);
		return;
	}
	log_info("client %s: session %s waits to be claimed", id, session);
}

/**
 * state_restore() - after a live update, take back what luod saved.
 * @d: the daemon, with the device open
 *
 * Return: 1 when state was restored, 0 after a boot that was not a live
 * update by luod, or -errno.
 */
int state_restore(struct daemon *d)
{
	_cleanup_close_ int sfd = -1, mfd = -1;
	_cleanup_json_ struct json_object *root = NULL;
	struct json_object *arr;
	int64_t updates = 0;
	int r;

	sfd = luo_device_retrieve_session(d->dev_fd, LUOD_STATE_SESSION);
	if (sfd == -ENOENT)
		return 0;
	if (sfd == -EINVAL) {
		log_error("luod's state session was already retrieved in this boot: luod was restarted "
			  "after a live update, and the sessions the previous instance held are gone");
		return -EALREADY;
	}
	if (sfd < 0)
		return sfd;
	mfd = luo_session_retrieve_fd(sfd, LUOD_STATE_TOKEN);
	if (mfd < 0)
		return mfd;
	r = state_read(mfd, &root);
	if (r < 0)
		return r;
	if (luo_msg_int(root, "updates", &updates) < 0 || updates < 1 ||
	    !json_object_object_get_ex(root, "clients", &arr) || !json_object_is_type(arr, json_type_array))
		return -EBADMSG;
	d->updates = updates;
	bindings_restore(d, root);
	for (size_t i = 0; i < json_object_array_length(arr); i++)
		restore_client(d, json_object_array_get_idx(arr, i));
	r = luo_session_finish(sfd);
	if (r < 0)
		log_warning("cannot finish luod's state session: %s", strerror(-r));
	return 1;
}

/**
 * carried_drop() - a carried session is done with (DONE or RELEASE): forget
 * it here and in the service manager's fd store.
 * @d: the daemon
 * @k: the session
 */
void carried_drop(struct daemon *d, struct carried *k)
{
	if (d->store_fd >= 0 && !d->store_committed)
		store_remove(k->session);
	carried_free(d, k);
	record_write(d);
	if (d->store_fd < 0 || d->store_committed)
		return;
	if (d->carried)
		store_sync(d);
	else
		store_forget(d);
}

/**
 * state_changed() - the carried sessions or what luod knows about them
 * changed: bring the service manager's fd store up to date.
 * @d: the daemon
 */
void state_changed(struct daemon *d)
{
	if (d->store_fd >= 0 && store_sync(d) < 0)
		log_warning("cannot update the list of sessions in the service manager's fd store");
	record_write(d);
}
