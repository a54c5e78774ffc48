/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns the record beside the socket ("<socket>.state"): this boot's id,
 * the update number and the carried sessions luod holds, rewritten on
 * every change. A luod restarted in the same boot without the service
 * manager's fd store reads it to learn which sessions were lost, and lists
 * them until an administrator acknowledges them (RELEASE).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

/**
 * record_init() - where the record lives: "<socket>.state", in luod's
 * runtime directory, which a reboot empties.
 * @d: the daemon
 * @socket_path: luod's socket
 *
 * Return: 0 or -ENOMEM.
 */
int record_init(struct daemon *d, const char *socket_path)
{
	if (asprintf(&d->record_path, "%s.state", socket_path) < 0) {
		d->record_path = NULL;
		return -ENOMEM;
	}
	return 0;
}

/**
 * boot_id() - this boot's id, as the kernel gives it.
 * @buf: receives it (empty if unknown)
 * @len: its size
 */
void boot_id(char *buf, size_t len)
{
	_cleanup_close_ int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : -1;

	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

static struct json_object *carried_json(const struct daemon *d)
{
	struct json_object *arr = json_object_new_array();

	for (const struct carried *k = d->carried; arr && k; k = k->next) {
		struct json_object *x = json_object_new_object();

		json_object_object_add(x, "id", json_object_new_string(k->id));
		json_object_object_add(x, "session", json_object_new_string(k->session));
		json_object_object_add(x, "uid", json_object_new_int64(k->uid));
		json_object_object_add(x, "claimed", json_object_new_boolean(k->handed));
		json_object_array_add(arr, x);
	}
	return arr;
}

/**
 * record_write() - write the record: this boot's id, the update number,
 * the carried sessions, the bindings and the sessions lost so far. A luod
 * restarted in the same boot without the service manager's fd store reads
 * it to say what was lost (the sessions themselves cannot survive it).
 * @d: the daemon
 */
void record_write(struct daemon *d)
{
	_cleanup_json_ struct json_object *root = json_object_new_object();
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	char boot[64];
	const char *text;

	if (!d->record_path || !root || !luo_usable(d))
		return;
	boot_id(boot, sizeof(boot));
	json_object_object_add(root, "version", json_object_new_int(1));
	json_object_object_add(root, "boot_id", json_object_new_string(boot));
	json_object_object_add(root, "updates", json_object_new_int64((int64_t)d->updates));
	json_object_object_add(root, "sessions", carried_json(d));
	json_object_object_add(root, "bindings", bindings_json(d));
	json_object_object_add(root, "lost", d->lost ? json_object_get(d->lost) : json_object_new_array());
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	if (!text || asprintf(&tmp, "%s.tmp", d->record_path) < 0) {
		tmp = NULL;
		return;
	}
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || state_write_all(fd, text, strlen(text)) < 0 || rename(tmp, d->record_path) < 0) {
		log_warning("cannot write %s: %m; a restart of luod could not tell what it lost", d->record_path);
		unlink(tmp);
	}
}

static bool carried_has_session(const struct daemon *d, const char *session)
{
	for (const struct carried *k = d->carried; k; k = k->next)
		if (!strcmp(k->session, session))
			return true;
	return false;
}

/**
 * record_check() - at start, after the state was restored: read the
 * record a previous luod of this boot left. Its bindings still hold; its
 * sessions that luod does not hold now were lost (a restart without the
 * service manager's fd store): say which, loudly, and keep them listed.
 * @d: the daemon
 */
void record_check(struct daemon *d)
{
	_cleanup_json_ struct json_object *root = NULL;
	_cleanup_close_ int fd = -1;
	struct json_object *arr;
	const char *rec_boot;
	char boot[64], names[1024] = "";
	struct stat st;
	int64_t updates = -1;
	size_t n = 0, len = 0;

	if (!d->record_path || !luo_usable(d))
		return;
	fd = open(d->record_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		goto out;
	/* Only a record luod wrote itself is believed. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 0022)) {
		log_warning("ignoring %s: not a regular file of this user that only it may write", d->record_path);
		goto out;
	}
	if (state_read(fd, &root) < 0)
		goto out;
	boot_id(boot, sizeof(boot));
	rec_boot = luo_msg_string(root, "boot_id");
	/* Another boot, or this boot after an update: nothing to compare. */
	if (!rec_boot || strcmp(rec_boot, boot) || luo_msg_int(root, "updates", &updates) < 0 || updates < 0 ||
	    (d->updates && (uint64_t)updates != d->updates))
		goto out;
	if (!d->updates)
		d->updates = updates;
	bindings_restore(d, root);
	d->lost = json_object_new_array();
	if (json_object_object_get_ex(root, "lost", &arr) && json_object_is_type(arr, json_type_array))
		for (size_t i = 0; i < json_object_array_length(arr); i++)
			json_object_array_add(d->lost, json_object_get(json_object_array_get_idx(arr, i)));
	if (!json_object_object_get_ex(root, "sessions", &arr) || !json_object_is_type(arr, json_type_array))
		goto out;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *x = json_object_array_get_idx(arr, i), *y;
		const char *id = luo_msg_string(x, "id"), *session = luo_msg_string(x, "session");
		int64_t uid = -1;

		if (!luo_id_valid(id) || !session || luo_msg_int(x, "uid", &uid) < 0 || carried_has_session(d, session))
			continue;
		y = json_object_new_object();
		json_object_object_add(y, "id", json_object_new_string(id));
		json_object_object_add(y, "session", json_object_new_string(session));
		json_object_object_add(y, "uid", json_object_new_int64(uid));
		json_object_object_add(y, "update", json_object_new_int64(updates));
		json_object_object_add(y, "claimed", json_object_new_boolean(luo_msg_bool(x, "claimed")));
		json_object_array_add(d->lost, y);
		if (len < sizeof(names))
			len += snprintf(names + len, sizeof(names) - len, "%s%s (%s, uid %lld%s)", n ? ", " : "", id,
					session, (long long)uid, luo_msg_bool(x, "claimed") ? ", claimed before" : "");
		n++;
	}
	if (json_object_array_length(d->lost) > n)
		log_error("%zu session(s) lost by an earlier restart of luod are not acknowledged yet ('luoctl list')",
			  json_object_array_length(d->lost) - n);
	if (n)
		log_msg(LOG_CRIT,
			"luod was restarted without the service manager's fd store: %zu session(s) of live update "
			"%lld are lost, their data is gone: %s",
			n, (long long)updates, names);
out:
	if (d->lost && !json_object_array_length(d->lost)) {
		json_object_put(d->lost);
		d->lost = NULL;
	}
	record_write(d);
}

/**
 * lost_acknowledge() - an administrator has seen that a session was lost.
 * @d: the daemon
 * @id: its client id
 *
 * Return: true when @id was listed as lost (it is no longer).
 */
bool lost_acknowledge(struct daemon *d, const char *id)
{
	bool found = false;

	for (size_t i = 0; d->lost && i < json_object_array_length(d->lost);) {
		const char *x = luo_msg_string(json_object_array_get_idx(d->lost, i), "id");

		if (x && !strcmp(x, id)) {
			json_object_array_del_idx(d->lost, i, 1);
			found = true;
		} else {
			i++;
		}
	}
	if (found) {
		if (!json_object_array_length(d->lost)) {
			json_object_put(d->lost);
			d->lost = NULL;
		}
		record_write(d);
	}
	return found;
}
