/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The luod wire protocol, shared by luod, luoctl and the client library:
 * framing of newline-delimited JSON over a Unix stream socket, fds passed
 * with SCM_RIGHTS, the limits, and message helpers. docs/protocol.md is the
 * normative description; keep both in step.
 */
#ifndef LUO_PROTOCOL_H
#define LUO_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define LUO_PROTO_VERSION 1
/* A command (a message to luod), its newline included, is at most this long. */
#define LUO_PROTO_MAX_LINE 65536
/*
 * A message from luod, its newline included, is at most this long: a STATUS
 * at the maxima (LUOD_MAX_SUBS clients, as many carried sessions, the loaded
 * kernel from a LUO_PROTO_MAX_LINE LOAD) or an ABORTED event quoting a reason
 * as long as a command can carry must fit. tests/unit/test-protocol.c
 * computes the worst case.
 */
#define LUO_PROTO_MAX_LUOD_LINE (1024 * 1024)
/* Arrays and objects nest at most this deep in a message. */
#define LUO_PROTO_MAX_DEPTH 16
/* At most this many fds travel with one message. */
#define LUO_PROTO_MAX_FDS 8
/* A client id: 1..LUO_ID_MAX bytes of [A-Za-z0-9._-]. */
#define LUO_ID_MAX 48
/* KEXEC's "require" names at most this many client ids. */
#define LUO_REQUIRE_MAX 256
/* A peer that lets this much output pile up unread is dropped. */
#define LUO_PROTO_MAX_OUTPUT (4 * 1024 * 1024)

/* The commands (the "cmd" member of a message to luod). */
#define LUO_CMD_VERSION "VERSION"
#define LUO_CMD_STATUS "STATUS"
#define LUO_CMD_SUBSCRIBE "SUBSCRIBE"
#define LUO_CMD_READY "READY"
#define LUO_CMD_FAIL "FAIL"
#define LUO_CMD_CLAIM "CLAIM"
#define LUO_CMD_DONE "DONE"
#define LUO_CMD_BINDINGS "BINDINGS"
#define LUO_CMD_KEXEC "KEXEC"
#define LUO_CMD_ABORT "ABORT"
#define LUO_CMD_RELEASE "RELEASE"
#define LUO_CMD_RESERVE "RESERVE"
#define LUO_CMD_UNRESERVE "UNRESERVE"
#define LUO_CMD_LOAD "LOAD"
#define LUO_CMD_UNLOAD "UNLOAD"

/* The events (the "event" member of a message from luod). */
#define LUO_EV_START_PRESERVATION "START_PRESERVATION"
#define LUO_EV_ABORTED "ABORTED"
#define LUO_EV_PROGRESS "PROGRESS"
#define LUO_EV_REBOOTING "REBOOTING"

/* Positive results: expected outcomes, not errors. */
enum {
	/* luo_conn_read(), ctl_conn_recv(): the peer closed the stream. */
	LUO_CONN_EOF = 1,
	/* luo_conn_next(): a message was handed out. */
	LUO_CONN_MESSAGE = 1,
};

struct luo_out;

/**
 * struct luo_conn - one end of a protocol connection.
 * @fd: the socket; owned
 * @in: bytes received and not yet consumed
 * @in_fds: fds received and not yet handed to a message, in arrival order
 * @out_head: queued output, each chunk with the fds it carries
 * @max_in: longest message accepted, newline included
 * @max_out: longest message sent, newline included
 */
struct luo_conn {
	int fd;
	char *in;
	size_t in_len;
	size_t in_cap;
	int in_fds[2 * LUO_PROTO_MAX_FDS];
	size_t n_in_fds;
	struct luo_out *out_head;
	struct luo_out **out_tail;
	size_t out_bytes;
	size_t max_in;
	size_t max_out;
};

void luo_conn_init(struct luo_conn *c, int fd);
void luo_conn_init_client(struct luo_conn *c, int fd);
int luo_conn_connect(struct luo_conn *c, const char *path);
void luo_conn_release(struct luo_conn *c);
int luo_conn_read(struct luo_conn *c);
int luo_conn_next(struct luo_conn *c, struct json_object **msg, int *fds, size_t *n_fds);
int luo_conn_queue(struct luo_conn *c, struct json_object *msg, const int *fds, size_t n_fds);
int luo_conn_flush(struct luo_conn *c);
bool luo_conn_has_output(const struct luo_conn *c);

int luo_proto_check(const char *line, size_t len);
int luo_proto_parse(const char *line, size_t len, struct json_object **msg);
int luo_proto_encode(struct json_object *msg, char **out, size_t *len);
bool luo_id_valid(const char *id);

struct json_object *luo_msg_ok(void);
struct json_object *luo_msg_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct json_object *luo_msg_command(const char *name);
struct json_object *luo_msg_event(const char *event);
const char *luo_msg_string(struct json_object *msg, const char *key);
int luo_msg_int(struct json_object *msg, const char *key, int64_t *out);
bool luo_msg_bool(struct json_object *msg, const char *key);

const char *luo_errno_name(int err);

#endif /* LUO_PROTOCOL_H */
