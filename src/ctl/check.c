/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns `luoctl check`: is this machine ready for a live update? One line per
 * point, from luod's STATUS, with an exit code for scripts. Also reads the
 * LUO ABI check of the loaded kernel for `luoctl kexec`.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cmdline.h"
#include "ctl.h"
#include "util.h"

enum verdict { CHECK_OK, CHECK_WARN, CHECK_FAIL };

struct checks {
	struct json_object *list;
	unsigned failed;
};

static void add(struct checks *c, const char *name, enum verdict v, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void add(struct checks *c, const char *name, enum verdict v, const char *fmt, ...)
{
	static const char *const words[] = { "ok", "warn", "fail" };
	struct json_object *x = json_object_new_object();
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	json_object_object_add(x, "name", json_object_new_string(name));
	json_object_object_add(x, "status", json_object_new_string(words[v]));
	json_object_object_add(x, "detail", json_object_new_string(detail));
	json_object_array_add(c->list, x);
	c->failed += v == CHECK_FAIL;
}

static size_t count(struct json_object *st, const char *key)
{
	struct json_object *a;

	if (!json_object_object_get_ex(st, key, &a) || !json_object_is_type(a, json_type_array))
		return 0;
	return json_object_array_length(a);
}

/**
 * ctl_abi_of_status() - can the loaded kernel take this one's sessions over?
 * @st: luod's STATUS reply
 * @msg: receives luod's message (what differs, what was compared, or why
 *       it is unknown); valid as long as @st
 *
 * luod compared the LUO ABI of the image with the running kernel's when it
 * loaded it. A kernel loaded behind luod's back, or none, is unknown.
 *
 * Return: the verdict.
 */
enum ctl_abi ctl_abi_of_status(struct json_object *st, const char **msg)
{
	struct json_object *ld = NULL, *x = NULL;
	const char *r;

	*msg = "no kernel was loaded through luod: its LUO ABI is unknown";
	if (!json_object_object_get_ex(st, "loaded", &ld) || !json_object_is_type(ld, json_type_object) ||
	    luo_msg_bool(st, "loaded_changed"))
		return CTL_ABI_UNKNOWN;
	if (!json_object_object_get_ex(ld, "abi_check", &x) || !json_object_is_type(x, json_type_object)) {
		*msg = "luod did not check the LUO ABI of the loaded kernel";
		return CTL_ABI_UNKNOWN;
	}
	r = luo_msg_string(x, "result");
	*msg = luo_msg_string(x, "message") ?: "no details";
	if (r && !strcmp(r, "compatible"))
		return CTL_ABI_COMPATIBLE;
	if (r && !strcmp(r, "incompatible"))
		return CTL_ABI_INCOMPATIBLE;
	return CTL_ABI_UNKNOWN;
}

/* The next kernel: loaded by luod, with LUO on its command line, its ABI. */
static void check_next_kernel(struct checks *c, struct json_object *st)
{
	struct json_object *ld = NULL;
	const char *cmdline;
	int miss;

	json_object_object_get_ex(st, "loaded", &ld);
	if (!json_object_is_type(ld, json_type_object))
		ld = NULL;
	if (!luo_msg_bool(st, "kexec_loaded"))
		add(c, "kernel", CHECK_FAIL, "no kernel is loaded: run 'luoctl load KERNEL'");
	else if (!ld || luo_msg_bool(st, "loaded_changed"))
		add(c, "kernel", CHECK_WARN,
		    "a kernel is loaded, but not the one luod loaded: "
		    "its command line is unknown; 'luoctl load' it again");
	else
		add(c, "kernel", CHECK_OK, "%s is loaded", luo_msg_string(ld, "kernel") ?: "a kernel");

	cmdline = ld ? luo_msg_string(ld, "cmdline") : NULL;
	if (cmdline && !luo_msg_bool(st, "loaded_changed")) {
		miss = cmdline_luo_missing(cmdline);
		if (miss)
			add(c, "cmdline", CHECK_FAIL,
			    "the next kernel's command line lacks %s%s%s: it could not "
			    "retrieve the sessions",
			    miss & CMDLINE_NO_LIVEUPDATE ? "liveupdate=on" : "",
			    miss == (CMDLINE_NO_LIVEUPDATE | CMDLINE_NO_KHO) ? " and " : "",
			    miss & CMDLINE_NO_KHO ? "kho=on" : "");
		else
			add(c, "cmdline", CHECK_OK, "the next kernel keeps LUO on (liveupdate=on, kho=on)");
	}
	if (luo_msg_bool(st, "kexec_loaded")) {
		const char *why;

		switch (ctl_abi_of_status(st, &why)) {
		case CTL_ABI_COMPATIBLE:
			add(c, "abi", CHECK_OK, "LUO ABI compatible: %s", why);
			break;
		case CTL_ABI_INCOMPATIBLE:
			add(c, "abi", CHECK_FAIL, "LUO ABI incompatible: %s", why);
			break;
		default:
			add(c, "abi", CHECK_WARN, "LUO ABI not checked: %s", why);
			break;
		}
	}
}

/* The clients subscribed, the sessions of the previous update pending. */
static void check_clients(struct checks *c, struct json_object *st)
{
	size_t n;

	n = count(st, "clients");
	if (n)
		add(c, "clients", CHECK_OK, "%zu client%s subscribed", n, n == 1 ? "" : "s");
	else
		add(c, "clients", CHECK_WARN, "no client is subscribed: nothing would be preserved");

	n = count(st, "sessions");
	/* Sessions their clients claimed do not block the update (it drops them). */
	for (size_t i = 0, all = n; i < all; i++) {
		struct json_object *a = NULL;
		const char *s;

		json_object_object_get_ex(st, "sessions", &a);
		s = luo_msg_string(json_object_array_get_idx(a, i), "state");
		n -= s && strcmp(s, "unclaimed") != 0;
	}
	if (n)
		add(c, "sessions", CHECK_FAIL,
		    "%zu session%s from the previous update never claimed: "
		    "let their clients claim or 'luoctl release' them",
		    n, n == 1 ? "" : "s");
	else
		add(c, "sessions", CHECK_OK, "no session from the previous update is pending");
}

static void check_all(struct checks *c, struct json_object *st)
{
	const char *state = luo_msg_string(st, "state");
	struct json_object *luo = NULL;

	json_object_object_get_ex(st, "luo", &luo);
	if (luo_msg_bool(luo, "available"))
		add(c, "luo", CHECK_OK, "/dev/liveupdate is held by luod");
	else
		add(c, "luo", CHECK_FAIL, "LUO is not available: %s", luo_msg_string(luo, "error") ?: "unknown reason");

	if (state && !strcmp(state, "idle"))
		add(c, "daemon", CHECK_OK, "luod is idle");
	else
		add(c, "daemon", CHECK_FAIL, "an update is in progress (%s)", state ? state : "?");
	check_next_kernel(c, st);
	check_clients(c, st);
}

/**
 * cmd_check() - luoctl check.
 * @ctl: the invocation
 * @argc: argument count
 * @argv: the arguments
 *
 * Return: CTL_EXIT_OK when nothing fails (warnings allowed), CTL_EXIT_FAILED
 * otherwise, or another CTL_EXIT_* code.
 */
int cmd_check(struct ctl *ctl, int argc, char **argv)
{
	_cleanup_json_ struct json_object *st = NULL, *out = NULL;
	struct checks c = { 0 };
	int r;

	r = ctl_args_status(ctl, argc, argv, &st);
	if (r >= 0)
		return r;

	c.list = json_object_new_array();
	check_all(&c, st);
	out = json_object_new_object();
	json_object_object_add(out, "ready", json_object_new_boolean(c.failed == 0));
	json_object_object_add(out, "checks", c.list);
	if (ctl->json) {
		if (c.failed)
			ctl_json_add_failure(out, EAGAIN, "not ready for a live update");
		ctl->outcome_printed = true;
		ctl_print_json(out);
	} else {
		for (size_t i = 0; i < json_object_array_length(c.list); i++) {
			struct json_object *x = json_object_array_get_idx(c.list, i);

			printf("%-4s  %-9s %s\n", luo_msg_string(x, "status"), luo_msg_string(x, "name"),
			       ctl_text(luo_msg_string(x, "detail")));
		}
		printf("%s\n", c.failed ? "not ready for a live update" : "ready for a live update");
	}
	return c.failed ? CTL_EXIT_FAILED : CTL_EXIT_OK;
}
