/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns the commands that read or tidy luod's state: status (aligned
 * key: value lines), list (tables of clients and carried-over sessions),
 * and release (discard a carried-over session).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "util.h"

static struct json_object *member(struct json_object *o, const char *key, enum json_type type)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type))
		return NULL;
	return v;
}

static size_t array_len(struct json_object *o, const char *key)
{
	struct json_object *a = member(o, key, json_type_array);

	return a ? json_object_array_length(a) : 0;
}

static void print_loaded(struct ctl *ctl, struct json_object *st)
{
	struct json_object *ld = member(st, "loaded", json_type_object);
	struct json_object *initrds = member(ld, "initrds", json_type_array);
	const char *s;
	char buf[64];
	int64_t n;

	if (!ld) {
		ctl_kv("kernel", "%s", luo_msg_bool(st, "kexec_loaded") ? "loaded, not by luod" : "not loaded");
	} else {
		s = luo_msg_string(ld, "kernel");
		if (luo_msg_int(ld, "size", &n) == 0)
			ctl_kv("kernel", "%s (%s)", s ? s : "?", ctl_format_size(buf, sizeof(buf), n));
		else
			ctl_kv("kernel", "%s", s ? s : "?");
		for (size_t i = 0; initrds && i < json_object_array_length(initrds); i++)
			ctl_kv("initrd", "%s", json_object_get_string(json_object_array_get_idx(initrds, i)));
		s = luo_msg_string(ld, "sha256");
		if (s)
			ctl_kv("sha256", "%s", s);
		s = luo_msg_string(ld, "cmdline");
		if (s)
			ctl_kv("cmdline", "%s", s);
		if (luo_msg_int(ld, "loaded_at", &n) == 0) {
			time_t t = (time_t)n;
			struct tm tm;
			int64_t uid = -1;

			strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %Z", localtime_r(&t, &tm));
			if (luo_msg_int(ld, "loaded_by", &uid) == 0)
				ctl_kv("loaded", "%s by uid %" PRId64, buf, uid);
			else
				ctl_kv("loaded", "%s", buf);
		}
	}
	if (luo_msg_bool(st, "loaded_changed")) {
		ctl_error(ctl, "warning: /sys/kernel/kexec_loaded disagrees with what luod loaded: "
			       "the kernel image was loaded or unloaded behind luod's back");
		ctl_hint("load it again with 'luoctl load' before 'luoctl kexec'");
	}
}

static void print_update(struct json_object *st)
{
	struct json_object *up = member(st, "update", json_type_object);
	int64_t elapsed = -1, left = -1, t, uid;
	char a[32], b[32], by[32] = "";

	if (!up) {
		ctl_kv("update", "none in progress");
		return;
	}
	if (luo_msg_int(up, "elapsed_ms", &t) == 0)
		elapsed = t;
	if (luo_msg_int(up, "remaining_ms", &t) == 0)
		left = t;
	if (luo_msg_int(up, "requested_by", &uid) == 0)
		snprintf(by, sizeof(by), ", requested by uid %" PRId64, uid);
	if (elapsed >= 0 && left >= 0)
		ctl_kv("update", "in progress for %s, deadline in %s%s", ctl_format_duration(a, sizeof(a), elapsed),
		       ctl_format_duration(b, sizeof(b), left), by);
	else if (elapsed >= 0)
		ctl_kv("update", "in progress for %s%s", ctl_format_duration(a, sizeof(a), elapsed), by);
	else
		ctl_kv("update", "in progress%s", by);
}

/* Sessions a restarted luod lost: loud, until acknowledged. */
static void print_lost(struct ctl *ctl, struct json_object *st)
{
	struct json_object *lost = member(st, "lost", json_type_array);
	size_t n = lost ? json_object_array_length(lost) : 0;
	char ids[512] = "";
	size_t off = 0;

	if (!n)
		return;
	for (size_t i = 0; i < n && off < sizeof(ids); i++) {
		struct json_object *x = json_object_array_get_idx(lost, i);
		int64_t up = -1;

		luo_msg_int(x, "update", &up);
		off += snprintf(ids + off, sizeof(ids) - off, "%s%s (update %" PRId64 ")", i ? ", " : "",
				luo_msg_string(x, "id") ?: "?", up);
	}
	ctl_kv("lost", "%zu session(s): %s", n, ids);
	ctl_error(ctl, "warning: luod was restarted without the service manager's fd store and lost these "
		       "sessions; their data is gone");
	ctl_hint("'luoctl release ID' acknowledges one");
}

/**
 * ctl_fetch_status() - ask luod for its STATUS.
 * @ctl: the invocation
 * @reply: receives the reply (caller puts it)
 *
 * Return: CTL_EXIT_OK, or the exit code after the error was reported.
 */
int ctl_fetch_status(struct ctl *ctl, struct json_object **reply)
{
	_cleanup_json_ struct json_object *req = luo_msg_command(LUO_CMD_STATUS);

	if (!req)
		return ctl_fail(ctl, -ENOMEM);
	return ctl_request(ctl, req, NULL, 0, reply);
}

/**
 * ctl_args_status() - a command that takes no argument and reads STATUS.
 * @ctl: the invocation
 * @argc: argument count
 * @argv: the arguments
 * @reply: receives the STATUS reply (caller puts it)
 *
 * Return: -1 with @reply set, or the CTL_EXIT_* code to return (--help, a
 * usage error, or an error already reported).
 */
int ctl_args_status(struct ctl *ctl, int argc, char **argv, struct json_object **reply)
{
	int r = ctl_parse_no_args(ctl, argc, argv);

	if (r >= 0)
		return r;
	r = ctl_fetch_status(ctl, reply);
	return r != CTL_EXIT_OK ? r : -1;
}

/**
 * cmd_status() - luoctl status.
 * @ctl: the invocation
 * @argc: argument count
 * @argv: the arguments
 *
 * Return: a CTL_EXIT_* code.
 */
int cmd_status(struct ctl *ctl, int argc, char **argv)
{
	_cleanup_json_ struct json_object *st = NULL;
	struct json_object *luo;
	const char *s, *err;
	size_t n_sess, n_unclaimed = 0;
	int64_t v;
	int r;

	r = ctl_args_status(ctl, argc, argv, &st);
	if (r >= 0)
		return r;
	if (ctl->json) {
		ctl_print_reply_json(st);
		return CTL_EXIT_OK;
	}

	s = luo_msg_string(st, "state");
	ctl_kv("state", "%s", s ? s : "?");
	if (luo_msg_int(st, "version", &v) == 0)
		ctl_kv("protocol", "%" PRId64 " (luod %s)", v, luo_msg_string(st, "daemon") ?: "?");

	luo = member(st, "luo", json_type_object);
	err = luo_msg_string(luo, "error");
	if (luo_msg_bool(luo, "available") && !strcmp(luo_msg_string(luo, "kexec_by") ?: "", "systemd"))
		ctl_kv("luo", "available; with systemd: the kexec is systemd's (kexec.target), the sessions cross it "
			      "in luod's fd store");
	else if (luo_msg_bool(luo, "available"))
		ctl_kv("luo", "available");
	else
		ctl_kv("luo", "not available%s%s", err ? ": " : "", err ? err : "");

	print_loaded(ctl, st);
	if (luo_msg_int(st, "updates", &v) == 0)
		ctl_kv("updates", "%" PRId64, v);
	print_update(st);
	ctl_kv("clients", "%zu", array_len(st, "clients"));

	n_sess = array_len(st, "sessions");
	for (size_t i = 0; i < n_sess; i++) {
		struct json_object *x = json_object_array_get_idx(member(st, "sessions", json_type_array), i);

		s = luo_msg_string(x, "state");
		if (s && strcmp(s, "unclaimed") == 0)
			n_unclaimed++;
	}
	if (n_sess)
		ctl_kv("sessions", "%zu carried over, %zu unclaimed", n_sess, n_unclaimed);
	else
		ctl_kv("sessions", "0 carried over");
	print_lost(ctl, st);
	return CTL_EXIT_OK;
}

/* A cell from a member: strings as they are, numbers printed, null as "-". */
static const char *cell(char *buf, size_t len, struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !v)
		return "-";
	if (json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	snprintf(buf, len, "%s", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	return buf;
}

static int print_table(struct json_object *arr, const char *const *headers, const char *const *keys, size_t n_cols)
{
	_cleanup_table_ struct ctl_table *t = ctl_table_new(n_cols, headers);

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *x = json_object_array_get_idx(arr, i);
		char bufs[8][32];
		const char *cells[8];

		for (size_t k = 0; k < n_cols; k++)
			cells[k] = cell(bufs[k], sizeof(bufs[k]), x, keys[k]);
		if (ctl_table_add(t, cells) < 0)
			return -ENOMEM;
	}
	ctl_table_print(t, "");
	return 0;
}

/**
 * cmd_list() - luoctl list.
 * @ctl: the invocation
 * @argc: argument count
 * @argv: the arguments
 *
 * Return: a CTL_EXIT_* code.
 */
int cmd_list(struct ctl *ctl, int argc, char **argv)
{
	static const char *const client_hdr[] = { "ID", "PID", "UID", "STATE", "SESSION" };
	static const char *const client_keys[] = { "id", "pid", "uid", "state", "session" };
	static const char *const sess_hdr[] = { "ID", "UID", "SESSION", "STATE" };
	static const char *const sess_keys[] = { "id", "uid", "session", "state" };
	static const char *const lost_hdr[] = { "ID", "UID", "SESSION", "UPDATE" };
	static const char *const lost_keys[] = { "id", "uid", "session", "update" };
	_cleanup_json_ struct json_object *st = NULL;
	struct json_object *clients, *sessions, *lost;
	int r;

	r = ctl_args_status(ctl, argc, argv, &st);
	if (r >= 0)
		return r;
	r = 0;

	clients = member(st, "clients", json_type_array);
	sessions = member(st, "sessions", json_type_array);
	lost = member(st, "lost", json_type_array);
	if (ctl->json) {
		_cleanup_json_ struct json_object *out = json_object_new_object();

		if (!out)
			return ctl_fail(ctl, -ENOMEM);
		json_object_object_add(out, "clients", clients ? json_object_get(clients) : json_object_new_array());
		json_object_object_add(out, "sessions", sessions ? json_object_get(sessions) : json_object_new_array());
		json_object_object_add(out, "lost", lost ? json_object_get(lost) : json_object_new_array());
		ctl_print_json(out);
		return CTL_EXIT_OK;
	}

	if (clients && json_object_array_length(clients) > 0) {
		r = print_table(clients, client_hdr, client_keys, ARRAY_SIZE(client_hdr));
	} else {
		printf("no clients subscribed\n");
	}
	if (r == 0 && sessions && json_object_array_length(sessions) > 0) {
		printf("\nsessions carried over from before the last update:\n");
		r = print_table(sessions, sess_hdr, sess_keys, ARRAY_SIZE(sess_hdr));
	}
	if (r == 0 && lost && json_object_array_length(lost) > 0) {
		printf("\nsessions LOST when luod restarted without its fd store (data gone):\n");
		r = print_table(lost, lost_hdr, lost_keys, ARRAY_SIZE(lost_hdr));
	}
	if (r < 0)
		return ctl_fail(ctl, r);
	return CTL_EXIT_OK;
}

/**
 * cmd_release() - luoctl release ID.
 * @ctl: the invocation
 * @argc: argument count
 * @argv: the arguments
 *
 * Return: a CTL_EXIT_* code.
 */
int cmd_release(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = { CTL_COMMON_OPTIONS, {} };
	_cleanup_json_ struct json_object *req = NULL;
	char done[128];
	const char *id;
	int c;

	while ((c = ctl_getopt(ctl, argc, argv, "", longopts)) != -1) {
		if (c == CTL_OPT_EXIT)
			return ctl->exit_code;
	}
	if (optind >= argc)
		return ctl_usage_error(ctl, "which session? give the client's ID ('luoctl list' shows them)");
	if (optind + 1 < argc)
		return ctl_usage_error(ctl, "unexpected argument '%s'", argv[optind + 1]);
	id = argv[optind];
	if (!luo_id_valid(id))
		return ctl_usage_error(ctl, "'%s' is not a client id", id);

	req = luo_msg_command(LUO_CMD_RELEASE);
	if (req)
		json_object_object_add(req, "id", json_object_new_string(id));
	snprintf(done, sizeof(done), "released the session of %s: its preserved data is discarded", id);
	return ctl_run_simple(ctl, req, done);
}

/* The ID operand of reserve and unreserve; -1 to go on, or an exit code. */
static int parse_id(struct ctl *ctl, int argc, char **argv, const char **id)
{
	if (optind >= argc)
		return ctl_usage_error(ctl, "which client id?");
	if (optind + 1 < argc)
		return ctl_usage_error(ctl, "unexpected argument '%s'", argv[optind + 1]);
	*id = argv[optind];
	if (!luo_id_valid(*id))
		return ctl_usage_error(ctl, "'%s' is not a client id", *id);
	return -1;
}

/**
 * cmd_reserve() - luoctl reserve ID --uid UID.
 * @ctl: the invocation
 * @argc: argument count
 * @argv: the arguments
 *
 * Return: a CTL_EXIT_* code.
 */
int cmd_reserve(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = { { "uid", required_argument, NULL, CTL_OPT_CMD },
						  CTL_COMMON_OPTIONS,
						  {} };
	_cleanup_json_ struct json_object *req = NULL;
	long long uid = -1;
	const char *id = NULL;
	char done[128], *end;
	int c, r;

	while ((c = ctl_getopt(ctl, argc, argv, "", longopts)) != -1) {
		if (c == CTL_OPT_EXIT)
			return ctl->exit_code;
		if (c == CTL_OPT_CMD) {
			errno = 0;
			uid = strtoll(optarg, &end, 10);
			if (errno || end == optarg || *end || uid < 0 || uid > 4294967294LL)
				return ctl_usage_error(ctl, "--uid: want a number from 0 to 4294967294: %s", optarg);
		}
	}
	r = parse_id(ctl, argc, argv, &id);
	if (r >= 0)
		return r;
	if (uid < 0)
		return ctl_usage_error(ctl, "--uid UID is required");
	req = luo_msg_command(LUO_CMD_RESERVE);
	if (req) {
		json_object_object_add(req, "id", json_object_new_string(id));
		json_object_object_add(req, "uid", json_object_new_int64(uid));
	}
	snprintf(done, sizeof(done), "client id %s is reserved for uid %lld", id, uid);
	return ctl_run_simple(ctl, req, done);
}

/**
 * cmd_unreserve() - luoctl unreserve ID.
 * @ctl: the invocation
 * @argc: argument count
 * @argv: the arguments
 *
 * Return: a CTL_EXIT_* code.
 */
int cmd_unreserve(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = { CTL_COMMON_OPTIONS, {} };
	_cleanup_json_ struct json_object *req = NULL;
	const char *id = NULL;
	char done[128];
	int c, r;

	while ((c = ctl_getopt(ctl, argc, argv, "", longopts)) != -1) {
		if (c == CTL_OPT_EXIT)
			return ctl->exit_code;
	}
	r = parse_id(ctl, argc, argv, &id);
	if (r >= 0)
		return r;
	req = luo_msg_command(LUO_CMD_UNRESERVE);
	if (req)
		json_object_object_add(req, "id", json_object_new_string(id));
	snprintf(done, sizeof(done), "client id %s is free: the next uid to subscribe it owns it", id);
	return ctl_run_simple(ctl, req, done);
}

/**
 * cmd_ids() - luoctl ids: the client ids bound to a uid.
 * @ctl: the invocation
 * @argc: argument count
 * @argv: the arguments
 *
 * Return: a CTL_EXIT_* code.
 */
int cmd_ids(struct ctl *ctl, int argc, char **argv)
{
	static const char *const hdr[] = { "ID", "UID", "RESERVED" };
	static const char *const keys[] = { "id", "uid", "reserved" };
	_cleanup_json_ struct json_object *req = NULL, *reply = NULL;
	struct json_object *arr;
	int r;

	r = ctl_parse_no_args(ctl, argc, argv);
	if (r >= 0)
		return r;
	req = luo_msg_command(LUO_CMD_BINDINGS);
	if (!req)
		return ctl_fail(ctl, -ENOMEM);
	r = ctl_request(ctl, req, NULL, 0, &reply);
	if (r != CTL_EXIT_OK)
		return r;
	if (ctl->json) {
		ctl_print_reply_json(reply);
		return CTL_EXIT_OK;
	}
	arr = member(reply, "bindings", json_type_array);
	if (!arr || !json_object_array_length(arr)) {
		printf("no client id is bound to a uid\n");
		return CTL_EXIT_OK;
	}
	r = print_table(arr, hdr, keys, ARRAY_SIZE(hdr));
	return r < 0 ? ctl_fail(ctl, r) : CTL_EXIT_OK;
}
