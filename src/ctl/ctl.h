/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * luoctl internals: the command table entry, the invocation context, exit
 * codes, the connection to luod, the helpers that report at the edge, and
 * the aligned-table printer.
 */
#ifndef LUO_CTL_H
#define LUO_CTL_H

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

enum {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAILED = 1, /* luod said no, the update aborted */
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_UNREACHABLE = 3, /* cannot talk to luod */
	CTL_EXIT_TIMEOUT = 4, /* wait: not in time */
};

/* Width of "key:" in the aligned key: value lines. */
#define CTL_KEY_WIDTH 14

/* How long an ordinary command waits for its reply. */
#define CTL_REPLY_TIMEOUT_MS 60000

/**
 * struct ctl_failure - why the command failed, for the --json failure document.
 * @err: positive errno; 0 while not known
 * @text: the first error message (not a warning) said to people, or NULL
 */
struct ctl_failure {
	int err;
	char *text;
};

/**
 * struct ctl - one invocation of luoctl.
 * @socket: path of luod's socket
 * @json: --json: machine-readable output
 * @cmd: name of the running command, for messages
 * @socket_origin: where @socket came from, for messages; NULL: the default
 * @conn: the connection to luod, once opened
 * @connected: whether @conn is open
 * @exit_code: set by ctl_getopt() when it returns CTL_OPT_EXIT
 * @failure: where the edge notes why the command failed (--json)
 * @outcome_printed: the command printed a JSON document that carries its
 *                   failure already (check, kexec): no failure document
 */
struct ctl {
	const char *socket;
	const char *socket_origin;
	bool json;
	const char *cmd;
	struct luo_conn conn;
	bool connected;
	int exit_code;
	struct ctl_failure *failure;
	bool outcome_printed;
};

/* Long options every command accepts, and what ctl_getopt() returns. */
enum {
	CTL_OPT_EXIT = -2,
	CTL_OPT_JSON = 0x100,
	CTL_OPT_SOCKET,
	CTL_OPT_VERSION,
	CTL_OPT_CMD, /* first value free for a command's own long options */
};
#define CTL_COMMON_OPTIONS                                                                                  \
	{ "json", no_argument, NULL, CTL_OPT_JSON }, { "socket", required_argument, NULL, CTL_OPT_SOCKET }, \
	{                                                                                                   \
		"help", no_argument, NULL, 'h'                                                              \
	}

/**
 * struct ctl_cmd - an entry of the command table.
 * @name: the command word
 * @args: synopsis of its arguments, for --help
 * @help: one line saying what it does
 * @options: its options, one per line, for --help; NULL if none
 * @run: runs it; returns a CTL_EXIT_* code; argv[0] is the command word
 */
struct ctl_cmd {
	const char *name;
	const char *args;
	const char *help;
	const char *options;
	int (*run)(struct ctl *ctl, int argc, char **argv);
};

/* Commands (one file each or a few). */
int cmd_status(struct ctl *ctl, int argc, char **argv);
int cmd_list(struct ctl *ctl, int argc, char **argv);
int cmd_kexec(struct ctl *ctl, int argc, char **argv);
int cmd_abort(struct ctl *ctl, int argc, char **argv);
int cmd_release(struct ctl *ctl, int argc, char **argv);
int cmd_reserve(struct ctl *ctl, int argc, char **argv);
int cmd_unreserve(struct ctl *ctl, int argc, char **argv);
int cmd_ids(struct ctl *ctl, int argc, char **argv);
int cmd_load(struct ctl *ctl, int argc, char **argv);
int cmd_unload(struct ctl *ctl, int argc, char **argv);
int cmd_version(struct ctl *ctl, int argc, char **argv);
int cmd_check(struct ctl *ctl, int argc, char **argv);
int cmd_help(struct ctl *ctl, int argc, char **argv);
int cmd_wait(struct ctl *ctl, int argc, char **argv);

/* conn.c: talking to luod; 0/-errno, nothing printed. */
int ctl_conn_send(struct luo_conn *c, struct json_object *msg, const int *fds, size_t n_fds);
int ctl_conn_recv(struct luo_conn *c, struct json_object **msg, int timeout_ms, const sigset_t *mask);
int ctl_conn_call(struct luo_conn *c, struct json_object *cmd, const int *fds, size_t n_fds, struct json_object **reply,
		  int timeout_ms);

/* luoctl.c: the edge, where messages for people are written. */
void ctl_error(const struct ctl *ctl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctl_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ctl_failure_errno(const struct ctl *ctl, int err);
void ctl_json_add_failure(struct json_object *obj, int err, const char *text);
int ctl_usage_error(const struct ctl *ctl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctl_cmd_help(const struct ctl *ctl);
int ctl_getopt(struct ctl *ctl, int argc, char **argv, const char *shortopts, const struct option *longopts);
int ctl_parse_no_args(struct ctl *ctl, int argc, char **argv);
int ctl_connect(struct ctl *ctl);
int ctl_report_transport(const struct ctl *ctl, int err);
int ctl_fail(const struct ctl *ctl, int err);
const char *ctl_errname(const char *given, int64_t err);
int ctl_report_reply(const struct ctl *ctl, struct json_object *reply);
int ctl_request(struct ctl *ctl, struct json_object *cmd, const int *fds, size_t n_fds, struct json_object **reply);
int ctl_run_simple(struct ctl *ctl, struct json_object *req, const char *done);
int ctl_fetch_status(struct ctl *ctl, struct json_object **reply);
int ctl_args_status(struct ctl *ctl, int argc, char **argv, struct json_object **reply);
const char *ctl_text(const char *s);
void ctl_print_json(struct json_object *obj);
void ctl_print_json_line(struct json_object *obj);
void ctl_print_reply_json(struct json_object *reply);
void ctl_kv(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *ctl_format_size(char *buf, size_t len, int64_t n);
const char *ctl_format_duration(char *buf, size_t len, int64_t ms);

/* check.c: the LUO ABI check of the loaded kernel, from STATUS. */
enum ctl_abi { CTL_ABI_COMPATIBLE, CTL_ABI_INCOMPATIBLE, CTL_ABI_UNKNOWN };
enum ctl_abi ctl_abi_of_status(struct json_object *st, const char **msg);

/* table.c: columns aligned to their widest cell. */
struct ctl_table;
struct ctl_table *ctl_table_new(size_t n_cols, const char *const *headers);
int ctl_table_add(struct ctl_table *t, const char *const *cells);
void ctl_table_print(const struct ctl_table *t, const char *indent);
void ctl_table_free(struct ctl_table *t);

static inline void ctl_table_freep(struct ctl_table **t)
{
	ctl_table_free(*t);
}
#define _cleanup_table_ __attribute__((cleanup(ctl_table_freep)))

#endif /* LUO_CTL_H */
