/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns the commands that drive an update: kexec (start a live update and
 * follow its events to the reboot or the abort, turning Ctrl-C into an
 * ABORT) and abort.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "util.h"

#define KEXEC_DEFAULT_TIMEOUT_S 30
#define KEXEC_MAX_TIMEOUT_S 3600
/* Silence from luod this long past the update's timeout means trouble. */
#define KEXEC_GRACE_MS 30000

enum phase {
	PHASE_STARTING, /* KEXEC sent, waiting for its reply */
	PHASE_PREPARING, /* clients are preserving their state */
	PHASE_REBOOTING, /* all ready: the machine is going down */
};

struct follow {
	struct ctl *ctl;
	enum phase phase;
	int64_t t0;
	int id_width;
	unsigned int replies; /* replies received: KEXEC's, then ABORT's */
	struct json_object *held; /* events that came before KEXEC's reply */
	bool abort_sent;
	bool no_wait; /* --no-wait: done at REBOOTING */
	/* --shutdown: from luod-barrier.service while systemd goes down for a kexec. */
	bool in_shutdown;
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

static int parse_timeout(const char *s, int *seconds)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > KEXEC_MAX_TIMEOUT_S)
		return -EINVAL;
	*seconds = (int)v;
	return 0;
}

/* "vm-42, db" from an array of strings, at most @len bytes. */
static const char *join_ids(char *buf, size_t len, struct json_object *arr)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; arr && i < json_object_array_length(arr) && off < len; i++) {
		const char *id = json_object_get_string(json_object_array_get_idx(arr, i));

		off += snprintf(buf + off, len - off, "%s%s", i ? ", " : "", id ? ctl_text(id) : "?");
	}
	return buf;
}

static struct json_object *ids_of(struct json_object *msg)
{
	struct json_object *a;

	if (!json_object_object_get_ex(msg, "clients", &a) || !json_object_is_type(a, json_type_array))
		return NULL;
	return a;
}

static struct json_object *member_array(struct json_object *msg, const char *key)
{
	struct json_object *a;

	if (!json_object_object_get_ex(msg, key, &a) || !json_object_is_type(a, json_type_array))
		return NULL;
	return a;
}

static void on_started(struct follow *f, struct json_object *reply, int timeout_s)
{
	struct json_object *ids = ids_of(reply);
	size_t n = ids ? json_object_array_length(ids) : 0;
	char buf[1024], what[48] = "live update";
	int64_t update;

	for (size_t i = 0; i < n; i++) {
		const char *id = json_object_get_string(json_object_array_get_idx(ids, i));
		int w = id ? (int)strlen(id) + 1 : 0;

		if (w > f->id_width)
			f->id_width = w;
	}
	if (f->ctl->json)
		return;
	if (luo_msg_int(reply, "update", &update) == 0)
		snprintf(what, sizeof(what), "live update %" PRId64, update);
	ids = member_array(reply, "dropped");
	if (ids && json_object_array_length(ids))
		printf("sessions from the last update that this update drops (claimed without DONE, or forced): %s\n",
		       join_ids(buf, sizeof(buf), ids));
	ids = ids_of(reply);
	if (n == 0)
		printf("%s started, no clients to wait for\n", what);
	else
		printf("%s started: waiting up to %ds for %zu client%s (%s)\n", what, timeout_s, n, n == 1 ? "" : "s",
		       join_ids(buf, sizeof(buf), ids));
}

static void on_progress(struct follow *f, struct json_object *ev)
{
	const char *id = luo_msg_string(ev, "id");
	const char *state = luo_msg_string(ev, "state");
	char label[LUO_ID_MAX + 2], t[32];

	if (id && (int)strlen(id) + 1 > f->id_width)
		f->id_width = (int)strlen(id) + 1;
	snprintf(label, sizeof(label), "%s:", id ? id : "?");
	printf("  %-*s %-9s  %s\n", f->id_width, ctl_text(label), state ? ctl_text(state) : "?",
	       ctl_format_duration(t, sizeof(t), luo_now_ms() - f->t0));
}

static void on_rebooting(struct follow *f, struct json_object *ev)
{
	struct json_object *ids = ids_of(ev);
	size_t n = ids ? json_object_array_length(ids) : 0;
	char t[32];

	const char *how = "the machine is rebooting into the new kernel";

	if (!strcmp(luo_msg_string(ev, "by") ?: "", "systemd"))
		how = f->in_shutdown
			      ? "the sessions are in the fd store; systemd goes on with the kexec"
			      : "the sessions are in the fd store; systemd is taking the machine down for the kexec";
	ctl_format_duration(t, sizeof(t), luo_now_ms() - f->t0);
	if (n == 0)
		printf("no clients to wait for (%s): %s\n", t, how);
	else
		printf("all %zu client%s ready (%s): %s\n", n, n == 1 ? " is" : "s are", t, how);
}

static void on_aborted(struct follow *f, struct json_object *ev)
{
	const char *reason = luo_msg_string(ev, "reason");
	const char *name = luo_msg_string(ev, "errname");
	struct json_object *ids = ids_of(ev);
	int64_t err = 0;
	char buf[1024], t[32];

	luo_msg_int(ev, "errno", &err);
	name = ctl_errname(name, err);
	ctl_failure_errno(f->ctl, err > 0 && err < INT32_MAX ? (int)err : ECANCELED);
	ctl_format_duration(t, sizeof(t), luo_now_ms() - f->t0);
	/* luod's reason may name the errno already; say it once. */
	if (err > 0 && !(reason && strstr(reason, name)))
		ctl_error(f->ctl, "live update aborted after %s: %s (%s: %s)", t, reason ? reason : "no reason given",
			  name, strerror((int)err));
	else
		ctl_error(f->ctl, "live update aborted after %s: %s", t, reason ? reason : "no reason given");
	if (ids && json_object_array_length(ids) > 0)
		ctl_error(f->ctl, "clients at fault: %s", join_ids(buf, sizeof(buf), ids));
	if (err == ETIMEDOUT || err == ETIME)
		ctl_hint("a client was not ready in time: '--timeout SECONDS' allows more");
	if (f->phase == PHASE_REBOOTING)
		ctl_hint("the kernel refused to reboot; the system runs on, its clients resume");
}

static bool event_known(const char *ev)
{
	return !strcmp(ev, LUO_EV_PROGRESS) || !strcmp(ev, LUO_EV_REBOOTING) || !strcmp(ev, LUO_EV_ABORTED);
}

/* An event of the update. Return: -1 to go on, or the exit code. */
static int on_event(struct follow *f, struct json_object *msg, const char *ev)
{
	if (!event_known(ev))
		return -1;
	if (f->ctl->json)
		ctl_print_json_line(msg);
	if (!strcmp(ev, LUO_EV_PROGRESS)) {
		if (!f->ctl->json)
			on_progress(f, msg);
	} else if (!strcmp(ev, LUO_EV_REBOOTING)) {
		f->phase = PHASE_REBOOTING;
		if (!f->ctl->json)
			on_rebooting(f, msg);
		/*
		 * Committed. Under systemd the kexec is its job now and luod stays
		 * until the end; the shutdown hook must let the shutdown go on.
		 */
		if (f->no_wait || f->in_shutdown || !strcmp(luo_msg_string(msg, "by") ?: "", "systemd"))
			return CTL_EXIT_OK;
	} else if (!strcmp(ev, LUO_EV_ABORTED)) {
		on_aborted(f, msg);
		return CTL_EXIT_FAILED;
	}
	return -1;
}

/*
 * With --shutdown, luod saying that the system is not going down for a
 * kexec, or that the update is committed already, is no failure.
 */
static bool shutdown_nothing_to_do(struct follow *f, struct json_object *reply)
{
	int64_t err = 0;

	luo_msg_int(reply, "errno", &err);
	if (err != ENOENT && err != EALREADY)
		return false;
	if (!f->ctl->json)
		printf("nothing to do: %s\n", luo_msg_string(reply, "error") ?: "?");
	return true;
}

/*
 * A reply: KEXEC's first, then ABORT's. Events that came before KEXEC's
 * reply were held back and are handled after it.
 * Return: -1 to go on, or the exit code.
 */
static int on_reply(struct follow *f, struct json_object *reply, int timeout_s)
{
	bool ok = luo_msg_bool(reply, "ok");

	if (f->replies++ == 0) {
		if (f->ctl->json)
			ctl_print_json_line(reply);
		if (!ok && f->in_shutdown && shutdown_nothing_to_do(f, reply))
			return CTL_EXIT_OK;
		f->ctl->outcome_printed = f->ctl->json && !ok;
		if (!ok)
			return ctl_report_reply(f->ctl, reply);
		if (f->phase == PHASE_STARTING)
			f->phase = PHASE_PREPARING;
		on_started(f, reply, timeout_s);
		for (size_t i = 0; i < json_object_array_length(f->held); i++) {
			struct json_object *ev = json_object_array_get_idx(f->held, i);
			int r = on_event(f, ev, luo_msg_string(ev, "event"));

			if (r >= 0)
				return r;
		}
		return -1;
	}
	/* ABORT after Ctrl-C: ENOENT means the update ended meanwhile. */
	if (!ok) {
		int64_t err = 0;

		luo_msg_int(reply, "errno", &err);
		if (err != ENOENT)
			ctl_error(f->ctl, "luod refused to abort: %s", luo_msg_string(reply, "error") ?: "?");
	}
	return -1;
}

static int on_signal_received(struct follow *f)
{
	_cleanup_json_ struct json_object *req = NULL;
	int r;

	if (f->abort_sent || f->phase == PHASE_REBOOTING) {
		ctl_failure_errno(f->ctl, EINTR);
		ctl_error(f->ctl, "interrupted; %s",
			  f->phase == PHASE_REBOOTING ? "the machine is rebooting"
						      : "luod goes on with the abort ('luoctl status')");
		return CTL_EXIT_FAILED;
	}
	ctl_error(f->ctl, "interrupted: asking luod to abort the update (interrupt again to leave)");
	req = luo_msg_command(LUO_CMD_ABORT);
	if (!req)
		return ctl_fail(f->ctl, -ENOMEM);
	json_object_object_add(req, "reason", json_object_new_string("luoctl kexec was interrupted"));
	r = ctl_conn_send(&f->ctl->conn, req, NULL, 0);
	if (r < 0) {
		ctl_failure_errno(f->ctl, -r);
		ctl_error(f->ctl, "cannot ask luod to abort: %s", strerror(-r));
		return CTL_EXIT_FAILED;
	}
	f->abort_sent = true;
	return -1;
}

/* The connection ended or failed: what that means depends on the phase. */
static int on_end(struct follow *f, int r)
{
	/* Events without a reply (it was lost in the reboot): they still tell. */
	for (size_t i = 0; f->replies == 0 && i < json_object_array_length(f->held); i++) {
		struct json_object *ev = json_object_array_get_idx(f->held, i);
		int k = on_event(f, ev, luo_msg_string(ev, "event"));

		if (k >= 0)
			return k;
	}
	if (f->phase == PHASE_STARTING)
		return ctl_report_transport(f->ctl, r == LUO_CONN_EOF ? -ECONNRESET : r);
	if (f->phase == PHASE_REBOOTING && (r == LUO_CONN_EOF || r == -ECONNRESET)) {
		if (!f->ctl->json)
			printf("luod closed the connection: the machine is going down\n");
		return CTL_EXIT_OK;
	}
	ctl_failure_errno(f->ctl, r == LUO_CONN_EOF ? ECONNRESET : -r);
	if (r == -ETIMEDOUT)
		ctl_error(f->ctl, "no word from luod for %d seconds", KEXEC_GRACE_MS / 1000);
	else if (r == LUO_CONN_EOF || r == -ECONNRESET)
		ctl_error(f->ctl, "luod closed the connection before the update finished");
	else
		ctl_error(f->ctl, "lost the connection to luod: %s", strerror(-r));
	ctl_hint("the update's outcome is unknown: 'luoctl status' and luod's log tell");
	return CTL_EXIT_FAILED;
}

static int follow(struct follow *f, struct json_object *req, int timeout_s, const sigset_t *waitmask)
{
	int r;

	r = ctl_conn_send(&f->ctl->conn, req, NULL, 0);
	if (r < 0)
		return ctl_report_transport(f->ctl, r);
	f->t0 = luo_now_ms();

	for (;;) {
		_cleanup_json_ struct json_object *msg = NULL;
		int wait = f->phase == PHASE_REBOOTING ? -1 : timeout_s * 1000 + KEXEC_GRACE_MS;
		const char *ev;

		if (f->phase == PHASE_STARTING)
			wait = CTL_REPLY_TIMEOUT_MS;
		r = ctl_conn_recv(&f->ctl->conn, &msg, wait, waitmask);
		if (r == -EINTR) {
			if (!got_signal)
				continue;
			got_signal = 0;
			r = on_signal_received(f);
			if (r >= 0)
				return r;
			continue;
		}
		if (r != 0)
			return on_end(f, r);

		ev = luo_msg_string(msg, "event");
		if (!json_object_object_get_ex(msg, "event", NULL))
			r = on_reply(f, msg, timeout_s);
		else if (!ev)
			r = -1;
		else if (f->replies == 0)
			r = json_object_array_add(f->held, json_object_get(msg)) < 0 ? ctl_fail(f->ctl, -ENOMEM) : -1;
		else
			r = on_event(f, msg, ev);
		if (r >= 0)
			return r;
	}
}

/*
 * Refuse to start an update into a kernel that cannot take the sessions
 * over (luod compared the LUO ABIs at LOAD); warn when it is not known.
 */
static int check_abi(struct ctl *ctl, bool force)
{
	_cleanup_json_ struct json_object *st = NULL;
	const char *why;
	int r;

	r = ctl_fetch_status(ctl, &st);
	if (r != CTL_EXIT_OK)
		return r;
	if (!luo_msg_bool(st, "kexec_loaded"))
		return CTL_EXIT_OK; /* KEXEC itself says that nothing is loaded */
	switch (ctl_abi_of_status(st, &why)) {
	case CTL_ABI_COMPATIBLE:
		return CTL_EXIT_OK;
	case CTL_ABI_INCOMPATIBLE:
		if (force) {
			ctl_error(ctl, "warning: %s; going on (--force)", why);
			return CTL_EXIT_OK;
		}
		ctl_failure_errno(ctl, EPROTONOSUPPORT);
		ctl_error(ctl, "refusing the live update: %s", why);
		ctl_hint("load a kernel with the same LUO ABI ('luoctl check' tells), or give --force to lose the "
			 "sessions");
		return CTL_EXIT_FAILED;
	default:
		ctl_error(ctl, "warning: cannot tell whether the loaded kernel can take the sessions over: %s", why);
		return CTL_EXIT_OK;
	}
}

/* What luoctl kexec was asked for. */
struct kexec_args {
	int timeout_s;
	bool force, no_wait, all_sessions, shutdown;
	struct json_object *require; /* array of ids, or NULL */
};

/* Add the ids of "--require a,b" to @a->require; -1 to go on, else an exit code. */
static int add_required(struct ctl *ctl, struct kexec_args *a, const char *list)
{
	_cleanup_free_ char *copy = strdup(list);
	char *save = NULL;

	if (!copy || (!a->require && !(a->require = json_object_new_array())))
		return ctl_fail(ctl, -ENOMEM);
	for (char *id = strtok_r(copy, ",", &save); id; id = strtok_r(NULL, ",", &save)) {
		if (!luo_id_valid(id))
			return ctl_usage_error(ctl, "--require: '%s' is not a client id", id);
		if (json_object_array_length(a->require) >= LUO_REQUIRE_MAX)
			return ctl_usage_error(ctl, "--require: at most %d client ids", LUO_REQUIRE_MAX);
		json_object_array_add(a->require, json_object_new_string(id));
	}
	if (json_object_array_length(a->require) == 0)
		return ctl_usage_error(ctl, "--require needs a client id");
	return -1;
}

/* Parse the options: -1 to go on, else the CTL_EXIT_* code to return. */
static int kexec_parse(struct ctl *ctl, int argc, char **argv, struct kexec_args *a)
{
	enum { OPT_REQUIRE = CTL_OPT_CMD, OPT_ALL_SESSIONS, OPT_NO_WAIT, OPT_SHUTDOWN };
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "force", no_argument, NULL, 'f' },
		{ "require", required_argument, NULL, OPT_REQUIRE },
		{ "require-all-sessions", no_argument, NULL, OPT_ALL_SESSIONS },
		{ "no-wait", no_argument, NULL, OPT_NO_WAIT },
		{ "shutdown", no_argument, NULL, OPT_SHUTDOWN },
		CTL_COMMON_OPTIONS,
		{},
	};
	int c, r;

	while ((c = ctl_getopt(ctl, argc, argv, "t:f", longopts)) != -1) {
		switch (c) {
		case CTL_OPT_EXIT:
			return ctl->exit_code;
		case 't':
			if (parse_timeout(optarg, &a->timeout_s) < 0)
				return ctl_usage_error(ctl, "--timeout takes whole seconds, 1 to %d, not '%s'",
						       KEXEC_MAX_TIMEOUT_S, optarg);
			break;
		case 'f':
			a->force = true;
			break;
		case OPT_REQUIRE:
			r = add_required(ctl, a, optarg);
			if (r >= 0)
				return r;
			break;
		case OPT_ALL_SESSIONS:
			a->all_sessions = true;
			break;
		case OPT_NO_WAIT:
			a->no_wait = true;
			break;
		case OPT_SHUTDOWN:
			a->shutdown = true;
			break;
		}
	}
	if (optind < argc)
		return ctl_usage_error(ctl, "unexpected argument '%s'", argv[optind]);
	if (a->all_sessions && a->force)
		return ctl_usage_error(ctl, "--require-all-sessions and --force exclude each other");
	return -1;
}

/* The KEXEC command, or NULL without memory. */
static struct json_object *kexec_request(struct kexec_args *a)
{
	struct json_object *req = luo_msg_command(LUO_CMD_KEXEC);

	if (!req)
		return NULL;
	json_object_object_add(req, "timeout_ms", json_object_new_int64((int64_t)a->timeout_s * 1000));
	json_object_object_add(req, "force", json_object_new_boolean(a->force));
	if (a->require)
		json_object_object_add(req, "require", json_object_get(a->require));
	if (a->all_sessions)
		json_object_object_add(req, "require_all_sessions", json_object_new_boolean(true));
	if (a->shutdown)
		json_object_object_add(req, "shutdown", json_object_new_boolean(true));
	return req;
}

/* Follow the update with SIGINT and SIGTERM taken only while waiting in ppoll(). */
static int follow_signals(struct follow *f, struct json_object *req, int timeout_s)
{
	struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term;
	sigset_t block, saved, waitmask;
	int r;

	/* No race, no EINTR elsewhere. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &saved);
	waitmask = saved;
	sigdelset(&waitmask, SIGINT);
	sigdelset(&waitmask, SIGTERM);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);

	r = follow(f, req, timeout_s, &waitmask);

	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigprocmask(SIG_SETMASK, &saved, NULL);
	return r;
}

/**
 * cmd_kexec() - luoctl kexec [--timeout SECONDS] [--force] [--require ID]...
 *               [--require-all-sessions] [--no-wait].
 * @ctl: the invocation
 * @argc: argument count
 * @argv: the arguments
 *
 * Return: CTL_EXIT_OK once the machine is rebooting (with --no-wait: once
 * luod committed to it), CTL_EXIT_FAILED if the update was refused,
 * aborted or lost, or another CTL_EXIT_* code.
 */
int cmd_kexec(struct ctl *ctl, int argc, char **argv)
{
	struct kexec_args a = { .timeout_s = KEXEC_DEFAULT_TIMEOUT_S };
	_cleanup_json_ struct json_object *req = NULL, *require = NULL;
	_cleanup_json_ struct json_object *held = json_object_new_array();
	struct follow f = { .ctl = ctl, .held = held };
	int r;

	r = kexec_parse(ctl, argc, argv, &a);
	require = a.require;
	if (r >= 0)
		return r;
	req = kexec_request(&a);
	if (!req || !held)
		return ctl_fail(ctl, -ENOMEM);
	f.no_wait = a.no_wait;
	f.in_shutdown = a.shutdown;

	r = ctl_connect(ctl);
	if (r < 0)
		return ctl_report_transport(ctl, r);
	r = check_abi(ctl, a.force);
	if (r != CTL_EXIT_OK)
		return r;
	return follow_signals(&f, req, a.timeout_s);
}

/**
 * cmd_abort() - luoctl abort [--reason TEXT].
 * @ctl: the invocation
 * @argc: argument count
 * @argv: the arguments
 *
 * Return: a CTL_EXIT_* code.
 */
int cmd_abort(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "reason", required_argument, NULL, 'r' },
		CTL_COMMON_OPTIONS,
		{},
	};
	_cleanup_json_ struct json_object *req = NULL;
	const char *reason = NULL;
	int c;

	while ((c = ctl_getopt(ctl, argc, argv, "r:", longopts)) != -1) {
		switch (c) {
		case CTL_OPT_EXIT:
			return ctl->exit_code;
		case 'r':
			reason = optarg;
			break;
		}
	}
	if (optind < argc)
		return ctl_usage_error(ctl, "unexpected argument '%s' (a reason goes after --reason)", argv[optind]);

	req = luo_msg_command(LUO_CMD_ABORT);
	if (req && reason)
		json_object_object_add(req, "reason", json_object_new_string(reason));
	return ctl_run_simple(ctl, req, "live update aborted: its clients resume");
}
