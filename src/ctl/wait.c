/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns luoctl wait: poll luod's STATUS, a few times a second and over a
 * new connection each time (luod may be starting, or restart, meanwhile),
 * until the given clients are subscribed and, with --claimed, no session
 * carried over from before the last update waits unclaimed; or until the
 * timeout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "util.h"

#define WAIT_DEFAULT_TIMEOUT_S 60
#define WAIT_MAX_TIMEOUT_S 86400
#define WAIT_POLL_MS 250
/* How long one look waits for STATUS's reply at least. */
#define WAIT_MIN_REPLY_MS 1000

/* What luoctl wait was asked for, and what it still misses. */
struct wait_args {
	long timeout_s;
	bool claimed;
	struct json_object *ids; /* --subscribed: array of ids */
	struct json_object *missing; /* what the last STATUS lacked: ids, and "claimed" */
	int last_err; /* the last transport error, 0 once luod answered */
};

/* Add the ids of "--subscribed a,b": -1 to go on, else the exit code. */
static int add_ids(struct ctl *ctl, struct wait_args *a, const char *list)
{
	_cleanup_free_ char *copy = strdup(list);
	char *save = NULL;
	size_t before = json_object_array_length(a->ids);

	if (!copy)
		return ctl_fail(ctl, -ENOMEM);
	for (char *id = strtok_r(copy, ",", &save); id; id = strtok_r(NULL, ",", &save)) {
		if (!luo_id_valid(id))
			return ctl_usage_error(ctl, "--subscribed: '%s' is not a client id", id);
		if (json_object_array_length(a->ids) >= LUO_REQUIRE_MAX)
			return ctl_usage_error(ctl, "--subscribed: at most %d client ids", LUO_REQUIRE_MAX);
		json_object_array_add(a->ids, json_object_new_string(id));
	}
	if (json_object_array_length(a->ids) == before)
		return ctl_usage_error(ctl, "--subscribed needs a client id");
	return -1;
}

/* Parse the options: -1 to go on, else the CTL_EXIT_* code to return. */
static int wait_parse(struct ctl *ctl, int argc, char **argv, struct wait_args *a)
{
	enum { OPT_SUBSCRIBED = CTL_OPT_CMD, OPT_CLAIMED };
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "subscribed", required_argument, NULL, OPT_SUBSCRIBED },
		{ "claimed", no_argument, NULL, OPT_CLAIMED },
		CTL_COMMON_OPTIONS,
		{},
	};
	char *end;
	int c, r;

	while ((c = ctl_getopt(ctl, argc, argv, "t:", longopts)) != -1) {
		switch (c) {
		case CTL_OPT_EXIT:
			return ctl->exit_code;
		case 't':
			errno = 0;
			a->timeout_s = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || a->timeout_s < 0 || a->timeout_s > WAIT_MAX_TIMEOUT_S)
				return ctl_usage_error(ctl, "--timeout takes whole seconds, 0 to %d, not '%s'",
						       WAIT_MAX_TIMEOUT_S, optarg);
			break;
		case OPT_SUBSCRIBED:
			r = add_ids(ctl, a, optarg);
			if (r >= 0)
				return r;
			break;
		case OPT_CLAIMED:
			a->claimed = true;
			break;
		}
	}
	/* "luoctl wait --subscribed a b" names b too. */
	for (; optind < argc; optind++) {
		if (!json_object_array_length(a->ids))
			return ctl_usage_error(ctl, "unexpected argument '%s'", argv[optind]);
		r = add_ids(ctl, a, argv[optind]);
		if (r >= 0)
			return r;
	}
	if (!a->claimed && !json_object_array_length(a->ids))
		return ctl_usage_error(ctl, "wait for what? give --subscribed ID or --claimed");
	return -1;
}

static bool subscribed(struct json_object *st, const char *id)
{
	struct json_object *clients;

	if (!json_object_object_get_ex(st, "clients", &clients) || !json_object_is_type(clients, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(clients); i++) {
		const char *c = luo_msg_string(json_object_array_get_idx(clients, i), "id");

		if (c && !strcmp(c, id))
			return true;
	}
	return false;
}

/* The ids of the carried sessions no client has claimed yet, appended to @out. */
static void unclaimed(struct json_object *st, struct json_object *out)
{
	struct json_object *sessions;

	if (!json_object_object_get_ex(st, "sessions", &sessions) || !json_object_is_type(sessions, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(sessions); i++) {
		struct json_object *x = json_object_array_get_idx(sessions, i);
		const char *state = luo_msg_string(x, "state");

		if (state && !strcmp(state, "unclaimed"))
			json_object_array_add(out, json_object_new_string(luo_msg_string(x, "id") ?: "?"));
	}
}

/*
 * One look at STATUS. Return: CTL_EXIT_OK when every condition holds, -1
 * when not (a->missing says what lacks) or luod cannot be reached
 * (a->last_err), or another CTL_EXIT_* code (luod refused STATUS: reported).
 */
static int wait_look(struct ctl *ctl, struct wait_args *a, struct json_object *unclaimed_ids, int reply_ms)
{
	_cleanup_json_ struct json_object *req = luo_msg_command(LUO_CMD_STATUS), *st = NULL;
	struct luo_conn conn;
	int r;

	if (!req)
		return ctl_fail(ctl, -ENOMEM);
	r = luo_conn_connect(&conn, ctl->socket);
	if (r == 0) {
		r = ctl_conn_call(&conn, req, NULL, 0, &st, reply_ms);
		luo_conn_release(&conn);
	}
	a->last_err = r < 0 ? -r : 0;
	if (r < 0)
		return -1;
	if (!luo_msg_bool(st, "ok"))
		return ctl_report_reply(ctl, st);
	json_object_put(a->missing);
	a->missing = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(a->ids); i++) {
		struct json_object *id = json_object_array_get_idx(a->ids, i);

		if (!subscribed(st, json_object_get_string(id)))
			json_object_array_add(a->missing, json_object_get(id));
	}
	json_object_array_del_idx(unclaimed_ids, 0, json_object_array_length(unclaimed_ids));
	if (a->claimed)
		unclaimed(st, unclaimed_ids);
	if (json_object_array_length(a->missing) || json_object_array_length(unclaimed_ids))
		return -1;
	return CTL_EXIT_OK;
}

static void print_waited(struct ctl *ctl, struct wait_args *a, int64_t ms)
{
	_cleanup_json_ struct json_object *out = NULL;
	char t[32];

	if (!ctl->json) {
		for (size_t i = 0; i < json_object_array_length(a->ids); i++)
			printf("client %s is subscribed\n",
			       ctl_text(json_object_get_string(json_object_array_get_idx(a->ids, i))));
		if (a->claimed)
			printf("no session from before the last update waits unclaimed\n");
		printf("waited %s\n", ctl_format_duration(t, sizeof(t), ms));
		return;
	}
	out = json_object_new_object();
	if (!out)
		return;
	json_object_object_add(out, "ok", json_object_new_boolean(true));
	json_object_object_add(out, "subscribed", json_object_get(a->ids));
	json_object_object_add(out, "claimed", json_object_new_boolean(a->claimed));
	json_object_object_add(out, "waited_ms", json_object_new_int64(ms));
	ctl_print_json(out);
}

/* The timeout passed: say what was still missing. Return: the exit code. */
static int wait_timed_out(struct ctl *ctl, struct wait_args *a, struct json_object *unclaimed_ids)
{
	_cleanup_json_ struct json_object *out = json_object_new_object();
	char ids[512] = "", sess[512] = "", text[1200];
	int code = a->last_err ? CTL_EXIT_UNREACHABLE : CTL_EXIT_TIMEOUT;

	for (size_t i = 0, off = 0; a->missing && i < json_object_array_length(a->missing) && off < sizeof(ids); i++)
		off += snprintf(ids + off, sizeof(ids) - off, "%s%s", i ? ", " : "",
				json_object_get_string(json_object_array_get_idx(a->missing, i)));
	for (size_t i = 0, off = 0; i < json_object_array_length(unclaimed_ids) && off < sizeof(sess); i++)
		off += snprintf(sess + off, sizeof(sess) - off, "%s%s", i ? ", " : "",
				json_object_get_string(json_object_array_get_idx(unclaimed_ids, i)));
	if (a->last_err)
		snprintf(text, sizeof(text), "timed out after %lds: cannot reach luod at %s: %s", a->timeout_s,
			 ctl->socket, strerror(a->last_err));
	else
		snprintf(text, sizeof(text), "timed out after %lds; not subscribed: %s; unclaimed sessions: %s",
			 a->timeout_s, *ids ? ids : "none", *sess ? sess : "none");
	ctl_failure_errno(ctl, a->last_err ? a->last_err : ETIMEDOUT);
	ctl_error(ctl, "%s", text);
	if (ctl->json && out) {
		ctl_json_add_failure(out, a->last_err ? a->last_err : ETIMEDOUT, text);
		json_object_object_add(out, "exit", json_object_new_int(code));
		json_object_object_add(out, "not_subscribed",
				       a->missing ? json_object_get(a->missing) : json_object_new_array());
		json_object_object_add(out, "unclaimed", json_object_get(unclaimed_ids));
		ctl_print_json_line(out);
		ctl->outcome_printed = true;
	}
	return code;
}

/* Look until everything holds or the timeout passes. Return: the exit code. */
static int wait_loop(struct ctl *ctl, struct wait_args *a, struct json_object *unclaimed_ids)
{
	int64_t t0 = luo_now_ms(), deadline = t0 + a->timeout_s * 1000;
	int r;

	for (;;) {
		struct timespec ts = { .tv_sec = 0, .tv_nsec = WAIT_POLL_MS * 1000000L };
		int64_t left = deadline - luo_now_ms();

		/* A luod that does not answer does not hold us past the timeout (much). */
		r = wait_look(ctl, a, unclaimed_ids, left < WAIT_MIN_REPLY_MS ? WAIT_MIN_REPLY_MS : (int)left);
		if (r >= 0)
			break;
		if (luo_now_ms() + WAIT_POLL_MS > deadline)
			return wait_timed_out(ctl, a, unclaimed_ids);
		nanosleep(&ts, NULL);
	}
	if (r == CTL_EXIT_OK)
		print_waited(ctl, a, luo_now_ms() - t0);
	return r;
}

/**
 * cmd_wait() - luoctl wait [--timeout SECONDS] [--subscribed ID[,ID]...]...
 *              [--claimed].
 * @ctl: the invocation
 * @argc: argument count
 * @argv: the arguments
 *
 * Return: CTL_EXIT_OK once everything waited for holds, CTL_EXIT_TIMEOUT
 * if it did not in time, CTL_EXIT_UNREACHABLE if luod could not be reached
 * at the end, or another CTL_EXIT_* code.
 */
int cmd_wait(struct ctl *ctl, int argc, char **argv)
{
	_cleanup_json_ struct json_object *ids = json_object_new_array();
	_cleanup_json_ struct json_object *unclaimed_ids = json_object_new_array();
	struct wait_args a = { .timeout_s = WAIT_DEFAULT_TIMEOUT_S, .ids = ids };
	int r;

	if (!ids || !unclaimed_ids)
		return ctl_fail(ctl, -ENOMEM);
	r = wait_parse(ctl, argc, argv, &a);
	if (r < 0)
		r = wait_loop(ctl, &a, unclaimed_ids);
	json_object_put(a.missing);
	return r;
}
