/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * luoctl's side of the connection to luod (luo_conn_connect() opens it): sending
 * a command, waiting for the next message (poll, then luo_conn_next()), and
 * a call that waits for the reply while skipping events. Returns 0/-errno
 * and never prints; fds that luod might send are closed on receipt.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "ctl.h"
#include "util.h"

/**
 * ctl_conn_send() - queue a message and write it out.
 * @c: the connection (blocking)
 * @msg: the message
 * @fds: fds to pass with it (duplicated; the caller keeps its own)
 * @n_fds: their number
 *
 * Return: 0, or -errno (-EPIPE: luod closed the connection).
 */
int ctl_conn_send(struct luo_conn *c, struct json_object *msg, const int *fds, size_t n_fds)
{
	int r;

	r = luo_conn_queue(c, msg, fds, n_fds);
	if (r < 0)
		return r;
	return luo_conn_flush(c);
}

/**
 * ctl_conn_recv() - wait for the next message from luod.
 * @c: the connection
 * @msg: receives the message (caller puts it)
 * @timeout_ms: how long to wait at most; negative: forever
 * @mask: signal mask while waiting (ppoll()), or NULL to keep the current one
 *
 * Messages already buffered are handed out before the end of the stream is
 * reported. Fds that come with a message are closed: luoctl expects none.
 *
 * Return: 0 with a message, LUO_CONN_EOF when luod closed the connection, -ETIMEDOUT,
 * -EINTR when a signal arrived, -EBADMSG/-EPROTO/-EMSGSIZE for a malformed
 * stream, or another -errno (-ECONNRESET).
 */
int ctl_conn_recv(struct luo_conn *c, struct json_object **msg, int timeout_ms, const sigset_t *mask)
{
	int64_t deadline = timeout_ms >= 0 ? luo_now_ms() + timeout_ms : -1;
	int fds[LUO_PROTO_MAX_FDS];
	size_t n_fds = 0;
	int r;

	for (;;) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		struct timespec ts, *tsp = NULL;

		r = luo_conn_next(c, msg, fds, &n_fds);
		if (r < 0)
			return r;
		if (r > 0) {
			close_fds(fds, n_fds);
			return 0;
		}

		if (deadline >= 0) {
			int64_t left = deadline - luo_now_ms();

			if (left <= 0)
				return -ETIMEDOUT;
			ts = (struct timespec){ .tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000 };
			tsp = &ts;
		}
		r = ppoll(&pfd, 1, tsp, mask);
		if (r < 0)
			return -errno;
		if (r == 0)
			continue; /* the deadline check above reports it */

		r = luo_conn_read(c);
		if (r == LUO_CONN_EOF)
			return LUO_CONN_EOF;
		if (r < 0 && r != -EAGAIN)
			return r;
	}
}

/**
 * ctl_conn_call() - send a command and wait for its reply.
 * @c: the connection
 * @cmd: the command
 * @fds: fds to pass with it
 * @n_fds: their number
 * @reply: receives the reply, successful or not (caller puts it)
 * @timeout_ms: how long to wait for the reply; negative: forever
 *
 * Events that arrive before the reply are dropped.
 *
 * A refusal luod sent before it closed the connection counts as the reply,
 * even when the command could not be sent any more.
 *
 * Return: 0 with a reply, -ECONNRESET if luod closed the connection first,
 * -ETIMEDOUT, or another -errno from sending or receiving.
 */
int ctl_conn_call(struct luo_conn *c, struct json_object *cmd, const int *fds, size_t n_fds, struct json_object **reply,
		  int timeout_ms)
{
	int64_t deadline;
	int r;

	r = ctl_conn_send(c, cmd, fds, n_fds);
	if (r == -EPIPE || r == -ECONNRESET) {
		/* luod may have refused the connection, and said why, before closing it. */
		_cleanup_json_ struct json_object *msg = NULL;

		if (ctl_conn_recv(c, &msg, 1000, NULL) == 0 && !json_object_object_get_ex(msg, "event", NULL)) {
			*reply = steal_ptr(&msg);
			return 0;
		}
	}
	if (r < 0)
		return r;

	deadline = timeout_ms >= 0 ? luo_now_ms() + timeout_ms : -1;
	for (;;) {
		_cleanup_json_ struct json_object *msg = NULL;
		int left = -1;

		if (deadline >= 0) {
			int64_t l = deadline - luo_now_ms();

			left = l > 0 ? (int)l : 0;
		}
		r = ctl_conn_recv(c, &msg, left, NULL);
		if (r < 0)
			return r;
		if (r == LUO_CONN_EOF)
			return -ECONNRESET;
		if (json_object_object_get_ex(msg, "event", NULL))
			continue;
		*reply = steal_ptr(&msg);
		return 0;
	}
}
