/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns libluo-client: the blocking client end of the luod protocol. It
 * connects, sends one command at a time and waits for its reply, keeps the
 * events that arrive meanwhile in a FIFO (with their fds) so none is lost,
 * and decodes events into struct luo_event for the caller. Framing and fd
 * passing are protocol.c's; the luo_session_* calls are luo-ops.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "config.h"
#include "luo-client.h"
#include "protocol.h"
#include "util.h"

/* An event received while a command waited for its reply. */
struct queued_event {
	struct queued_event *next;
	struct json_object *msg;
	int fds[LUO_PROTO_MAX_FDS];
	size_t n_fds;
};

/**
 * struct luo_client - a connection to luod.
 * @conn: the socket (blocking) and its buffers
 * @dead: 0, or the -errno every later call returns: the connection is
 *        unusable (luod went away, or the stream cannot be trusted)
 * @dead_text: why it is dead, for luo_client_error()
 * @ev_head: events not yet handed to the caller, oldest first
 * @ev_tail: where the next queued event goes
 * @error: explanation of the last failure, "" when there is none
 * @session: the session of the last START_PRESERVATION handed to the
 *           caller: READY and FAIL name it, so that luod can tell an answer
 *           to an update aborted meanwhile from one to the next update
 * @owner: the uid that owns the session claimed last, -1 if unknown
 * @session_claimed: a CLAIM succeeded on this connection
 */
struct luo_client {
	struct luo_conn conn;
	int dead;
	char dead_text[1024];
	struct queued_event *ev_head;
	struct queued_event **ev_tail;
	char error[1024];
	char session[64];
	int64_t owner;
	bool session_claimed;
};

static void set_error(struct luo_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_error(struct luo_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
}

/*
 * Declare the connection unusable: every later call returns @err. The
 * socket stays open but shut down, so that a caller polling luo_client_fd()
 * wakes up and learns it, and luod sees the client go.
 */
static int client_break(struct luo_client *c, int err)
{
	if (c->dead)
		return c->dead;
	c->dead = err;
	snprintf(c->dead_text, sizeof(c->dead_text), "%s", c->error[0] ? c->error : strerror(-err));
	shutdown(c->conn.fd, SHUT_RDWR);
	close_fds(c->conn.in_fds, c->conn.n_in_fds);
	c->conn.n_in_fds = 0;
	c->conn.in_len = 0;
	return err;
}

static int client_dead(struct luo_client *c)
{
	set_error(c, "%s", c->dead_text);
	return c->dead;
}

/* Milliseconds left before @deadline (-1: none) as a poll() timeout. */
static int time_left(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - luo_now_ms();
	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/*
 * Receive the next message, waiting until @deadline (-1: forever). Return
 * 0 with a message, -ETIMEDOUT, -EINTR (only when @intr), or the -errno
 * that broke the connection.
 */
static int client_recv(struct luo_client *c, int64_t deadline, bool intr, struct json_object **msg, int *fds,
		       size_t *n_fds)
{
	int r;

	for (;;) {
		struct pollfd p = { .fd = c->conn.fd, .events = POLLIN };

		if (c->dead)
			return client_dead(c);
		r = luo_conn_next(&c->conn, msg, fds, n_fds);
		if (r > 0)
			return 0;
		if (r < 0) {
			set_error(c, "luod sent a malformed message (%s)", strerror(-r));
			return client_break(c, -EPROTO);
		}

		r = poll(&p, 1, time_left(deadline));
		if (r < 0) {
			if (errno == EINTR && !intr)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ETIMEDOUT;

		r = luo_conn_read(&c->conn);
		if (r == LUO_CONN_EOF) {
			set_error(c, "luod closed the connection");
			return client_break(c, -ECONNRESET);
		}
		if (r == -EAGAIN || r == -EINTR)
			continue;
		if (r == -EMSGSIZE || r == -EPROTO) {
			set_error(c, "luod broke the protocol (%s)", strerror(-r));
			return client_break(c, -EPROTO);
		}
		if (r < 0) {
			set_error(c, "cannot receive from luod: %s", strerror(-r));
			return client_break(c, r);
		}
	}
}

static void queued_event_free(struct queued_event *q)
{
	json_object_put(q->msg);
	close_fds(q->fds, q->n_fds);
	free(q);
}

/* Keep an event for luo_client_next_event(); takes @msg and @fds. */
static int client_enqueue(struct luo_client *c, struct json_object *msg, int *fds, size_t n_fds)
{
	struct queued_event *q = calloc(1, sizeof(*q));

	if (!q) {
		json_object_put(msg);
		close_fds(fds, n_fds);
		/* Dropping an event would leave the client out of step. */
		set_error(c, "out of memory while queueing an event");
		return client_break(c, -ENOMEM);
	}
	q->msg = msg;
	if (n_fds)
		memcpy(q->fds, fds, n_fds * sizeof(int));
	q->n_fds = n_fds;
	*c->ev_tail = q;
	c->ev_tail = &q->next;
	return 0;
}

static struct queued_event *client_dequeue(struct luo_client *c)
{
	struct queued_event *q = c->ev_head;

	if (q) {
		c->ev_head = q->next;
		if (!c->ev_head)
			c->ev_tail = &c->ev_head;
	}
	return q;
}

static bool is_event(struct json_object *msg)
{
	return json_object_object_get_ex(msg, "event", NULL);
}

/*
 * After a failed write: queue what luod said before it went away. A
 * refusal among it (luod refused the connection, and said why, before the
 * command could go out) becomes the reason the connection is dead.
 */
static void client_drain(struct luo_client *c)
{
	char why[sizeof(c->dead_text)] = "";
	int64_t refused = 0;

	for (;;) {
		_cleanup_json_ struct json_object *msg = NULL;
		int fds[LUO_PROTO_MAX_FDS];
		size_t n_fds;

		if (client_recv(c, luo_now_ms() + 1000, false, &msg, fds, &n_fds) < 0)
			break;
		if (!is_event(msg)) {
			int64_t err = 0;

			close_fds(fds, n_fds);
			if (!refused && !luo_msg_bool(msg, "ok") && luo_msg_int(msg, "errno", &err) == 0 && err > 0 &&
			    err <= 4095) {
				refused = err;
				snprintf(why, sizeof(why), "%s", luo_msg_string(msg, "error") ?: strerror((int)err));
			}
			continue;
		}
		if (client_enqueue(c, steal_ptr(&msg), fds, n_fds) < 0)
			break;
	}
	if (refused && c->dead) {
		c->dead = -(int)refused;
		snprintf(c->dead_text, sizeof(c->dead_text), "%s", why);
	}
}

static int client_send(struct luo_client *c, struct json_object *msg)
{
	int r;

	if (!msg) {
		set_error(c, "out of memory");
		return -ENOMEM;
	}
	r = luo_conn_queue(&c->conn, msg, NULL, 0);
	if (r < 0) {
		/* Nothing was queued: the connection is intact. */
		set_error(c, "cannot encode the command: %s", strerror(-r));
		return r;
	}
	r = luo_conn_flush(&c->conn);
	if (r < 0) {
		if (r == -EAGAIN)
			r = -EIO;
		client_drain(c);
		if (!c->dead) {
			set_error(c, "cannot send to luod: %s", strerror(-r));
			client_break(c, r);
		}
		return client_dead(c);
	}
	return 0;
}

/*
 * Send @cmd (consumed) and wait for its reply, queueing the events that
 * come first. A successful reply must carry @want_fds fds, stored in
 * @fds_out; the reply itself goes to @reply_out when not NULL.
 */
static int client_call(struct luo_client *c, struct json_object *cmd, int *fds_out, size_t want_fds,
		       struct json_object **reply_out)
{
	_cleanup_json_ struct json_object *owned = cmd;
	_cleanup_json_ struct json_object *msg = NULL;
	struct json_object *ok;
	int fds[LUO_PROTO_MAX_FDS];
	size_t n_fds;
	int64_t err;
	int r;

	if (c->dead)
		return client_dead(c);
	r = client_send(c, owned);
	if (r < 0)
		return r;

	for (;;) {
		r = client_recv(c, -1, false, &msg, fds, &n_fds);
		if (r < 0)
			return r;
		if (!is_event(msg))
			break;
		r = client_enqueue(c, steal_ptr(&msg), fds, n_fds);
		if (r < 0)
			return r;
	}

	if (!json_object_object_get_ex(msg, "ok", &ok) || !json_object_is_type(ok, json_type_boolean)) {
		close_fds(fds, n_fds);
		set_error(c, "luod sent a reply without \"ok\"");
		return client_break(c, -EPROTO);
	}
	if (!json_object_get_boolean(ok)) {
		const char *text = luo_msg_string(msg, "error");

		close_fds(fds, n_fds);
		if (luo_msg_int(msg, "errno", &err) < 0 || err <= 0 || err > 4095) {
			set_error(c, "luod refused the command without a valid errno%s%s", text ? ": " : "",
				  text ? text : "");
			return -EPROTO;
		}
		set_error(c, "%s", text ? text : strerror((int)err));
		return -(int)err;
	}
	if (n_fds != want_fds) {
		close_fds(fds, n_fds);
		if (want_fds == 0)
			return 0; /* stray fds on a plain reply: dropped */
		set_error(c, "luod's reply carries %zu fds, expected %zu", n_fds, want_fds);
		return -EPROTO;
	}
	if (n_fds)
		memcpy(fds_out, fds, n_fds * sizeof(int));
	if (reply_out)
		*reply_out = steal_ptr(&msg);
	return 0;
}

static int client_command(struct luo_client *c, struct json_object *cmd, int *fds_out, size_t want_fds)
{
	return client_call(c, cmd, fds_out, want_fds, NULL);
}

static struct json_object *new_command_with(const char *name, const char *key, const char *value)
{
	struct json_object *o = luo_msg_command(name);

	if (o)
		json_object_object_add(o, key, json_object_new_string(value));
	return o;
}

static void copy_string(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

/*
 * Decode @msg into @ev. Takes @fds (moved into @ev or closed). Return 0
 * (ev->type stays LUO_EVENT_NONE for events this library does not know),
 * or -EPROTO for a malformed event, which is dropped.
 */
static int event_decode(struct luo_client *c, struct json_object *msg, int *fds, size_t n_fds, struct luo_event *ev)
{
	const char *name = luo_msg_string(msg, "event");
	int64_t v;
	int r;

	if (!name) {
		close_fds(fds, n_fds);
		set_error(c, "luod sent an event without a name");
		return -EPROTO;
	}

	if (!strcmp(name, LUO_EV_START_PRESERVATION)) {
		const char *session = luo_msg_string(msg, "session");

		if (n_fds != 1) {
			close_fds(fds, n_fds);
			set_error(c, "luod sent START_PRESERVATION with %zu fds instead of one", n_fds);
			return -EPROTO;
		}
		if (!session || strlen(session) >= sizeof(ev->session)) {
			close_fds(fds, n_fds);
			set_error(c, "luod sent START_PRESERVATION without a valid session name");
			return -EPROTO;
		}
		r = luo_msg_int(msg, "update", &v);
		if (r == -EINVAL || (r == 0 && v < 0)) {
			close_fds(fds, n_fds);
			set_error(c, "luod sent START_PRESERVATION with a bad update number");
			return -EPROTO;
		}
		ev->update = r == 0 ? (uint64_t)v : 0;
		r = luo_msg_int(msg, "deadline_ms", &v);
		if (r == -EINVAL) {
			close_fds(fds, n_fds);
			set_error(c, "luod sent START_PRESERVATION with a bad deadline");
			return -EPROTO;
		}
		ev->deadline_ms = r == 0 ? v : -1;
		copy_string(ev->session, sizeof(ev->session), session);
		copy_string(c->session, sizeof(c->session), session);
		ev->session_fd = fds[0];
		ev->type = LUO_EVENT_START_PRESERVATION;
		return 0;
	}

	/* Other events carry no fds. */
	close_fds(fds, n_fds);
	if (!strcmp(name, LUO_EV_ABORTED)) {
		copy_string(ev->reason, sizeof(ev->reason), luo_msg_string(msg, "reason"));
		if (luo_msg_int(msg, "errno", &v) == 0 && v > 0 && v <= 4095)
			ev->error = (int)v;
		ev->type = LUO_EVENT_ABORTED;
	}
	/* Unknown events are skipped: a newer luod may send more. */
	return 0;
}

/**
 * luo_client_connect() - connect to luod.
 * @socket_path: the socket; NULL for $LUOD_SOCKET, or the default path
 * @ret: receives the new client
 *
 * Return: 0, -ENOENT or -ECONNREFUSED when luod is not listening, -EACCES,
 * -ENAMETOOLONG, -ENOMEM, or another -errno from socket(2)/connect(2).
 */
int luo_client_connect(const char *socket_path, struct luo_client **ret)
{
	const char *path = socket_path;
	struct luo_client *c;
	int r;

	if (!ret)
		return -EINVAL;
	*ret = NULL;
	if (!path || !*path)
		path = secure_getenv("LUOD_SOCKET");
	if (!path || !*path)
		path = LUOD_DEFAULT_SOCKET;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	r = luo_conn_connect(&c->conn, path);
	if (r < 0) {
		free(c);
		return r;
	}
	c->ev_tail = &c->ev_head;
	c->owner = -1;
	*ret = c;
	return 0;
}

/**
 * luo_client_free() - disconnect and free a client.
 * @c: the client, or NULL
 *
 * Closes the socket and every fd the client still holds, among them the
 * session fds of events never handed out. Ends a subscription and gives
 * back a claimed session that was not done (luod's side of it).
 */
void luo_client_free(struct luo_client *c)
{
	struct queued_event *q;

	if (!c)
		return;
	while ((q = client_dequeue(c)))
		queued_event_free(q);
	luo_conn_release(&c->conn);
	free(c);
}

/**
 * luo_client_fd() - the socket, for poll(2) or an event loop.
 * @c: the client
 *
 * The fd becomes readable when luod sends something. Events may already be
 * waiting inside the library (they arrived while a command waited): call
 * luo_client_next_event() with timeout 0 until it returns -ETIMEDOUT before
 * waiting on the fd. Do not read from or write to it.
 *
 * Return: the fd, owned by @c.
 */
int luo_client_fd(const struct luo_client *c)
{
	return c ? c->conn.fd : -EINVAL;
}

/**
 * luo_client_error() - explanation of the last failure.
 * @c: the client
 *
 * When luod refused a command, its text; when the library detected a
 * protocol violation or the connection broke, a description of that.
 * Every call on @c resets it.
 *
 * Return: the text, valid until the next call on @c; NULL when the last
 * call did not fail or its errno says it all.
 */
const char *luo_client_error(const struct luo_client *c)
{
	if (!c || !c->error[0])
		return NULL;
	return c->error;
}

/**
 * luo_client_subscribe() - take part in live updates as @id.
 * @c: the client
 * @id: 1..48 bytes of [A-Za-z0-9._-], not starting with '.' or '-'; stable
 *      across restarts of the service
 *
 * The subscription lasts as long as the connection.
 *
 * Return: 0, -EINVAL (bad id), -EALREADY, -EEXIST (another connection uses
 * @id), -EBUSY (an update is being prepared), -EPERM, -ENOSPC, or a
 * connection error.
 */
int luo_client_subscribe(struct luo_client *c, const char *id)
{
	if (!c)
		return -EINVAL;
	c->error[0] = '\0';
	if (!luo_id_valid(id)) {
		set_error(c, "invalid client id");
		return -EINVAL;
	}
	return client_command(c, new_command_with(LUO_CMD_SUBSCRIBE, "id", id), NULL, 0);
}

/**
 * luo_client_next_event() - wait for the next event from luod.
 * @c: the client
 * @timeout_ms: how long to wait; -1 forever, 0 not at all
 * @ev: receives the event; release it with luo_event_release()
 *
 * Events queued while a command waited for its reply come first, in the
 * order they arrived. Events this version does not know are skipped.
 *
 * Return: 0 with an event in @ev, -ETIMEDOUT, -EINTR (a signal came),
 * -EPROTO (luod sent a malformed event, which was dropped, or broke the
 * protocol), -ECONNRESET or -EPIPE (luod went away), or another -errno.
 * On error @ev is LUO_EVENT_NONE with no fd.
 */
int luo_client_next_event(struct luo_client *c, int timeout_ms, struct luo_event *ev)
{
	int64_t deadline = timeout_ms < 0 ? -1 : luo_now_ms() + timeout_ms;
	struct queued_event *q;
	int r;

	if (!ev)
		return -EINVAL;
	*ev = (struct luo_event){ .type = LUO_EVENT_NONE, .session_fd = -1 };
	if (!c)
		return -EINVAL;
	c->error[0] = '\0';

	for (;;) {
		_cleanup_json_ struct json_object *msg = NULL;
		int fds[LUO_PROTO_MAX_FDS];
		size_t n_fds;

		q = client_dequeue(c);
		if (q) {
			r = event_decode(c, q->msg, q->fds, q->n_fds, ev);
			q->n_fds = 0; /* taken by event_decode() */
			queued_event_free(q);
		} else {
			r = client_recv(c, deadline, true, &msg, fds, &n_fds);
			if (r < 0)
				return r;
			if (!is_event(msg)) {
				close_fds(fds, n_fds);
				set_error(c, "luod sent a reply to no command");
				return client_break(c, -EPROTO);
			}
			r = event_decode(c, msg, fds, n_fds, ev);
		}
		if (r < 0)
			return r;
		if (ev->type != LUO_EVENT_NONE)
			return 0;
	}
}

/**
 * luo_event_release() - free what an event holds.
 * @ev: the event; may be released twice
 *
 * Closes the session fd of START_PRESERVATION (luod keeps its own
 * reference until the update ends) and resets @ev to LUO_EVENT_NONE.
 */
void luo_event_release(struct luo_event *ev)
{
	if (!ev)
		return;
	closep(&ev->session_fd);
	*ev = (struct luo_event){ .type = LUO_EVENT_NONE, .session_fd = -1 };
}

/**
 * luo_client_ready() - say that everything to keep is preserved.
 * @c: the client
 *
 * After START_PRESERVATION. The client may exit after this returns 0.
 * READY names the session of the last START_PRESERVATION returned by
 * luo_client_next_event().
 *
 * Return: 0, -ECANCELED (that update was aborted before luod got READY;
 * its LUO_EVENT_ABORTED is on the way: stay subscribed and wait for the
 * next START_PRESERVATION), -ENOTCONN (not subscribed), -EPROTO (no
 * preservation was requested), or a connection error.
 */
int luo_client_ready(struct luo_client *c)
{
	struct json_object *cmd;

	if (!c)
		return -EINVAL;
	c->error[0] = '\0';
	cmd = luo_msg_command(LUO_CMD_READY);
	if (cmd && c->session[0])
		json_object_object_add(cmd, "session", json_object_new_string(c->session));
	return client_command(c, cmd, NULL, 0);
}

/**
 * luo_client_fail() - give up preserving: luod aborts the update.
 * @c: the client
 * @reason: why, for people (NULL: none given)
 *
 * Every update client then receives LUO_EVENT_ABORTED, this one too.
 *
 * Return: 0, -ECANCELED (the update was aborted already), -ENOTCONN,
 * -EPROTO, -EMSGSIZE (@reason too long), or a connection error.
 */
int luo_client_fail(struct luo_client *c, const char *reason)
{
	struct json_object *cmd;

	if (!c)
		return -EINVAL;
	c->error[0] = '\0';
	cmd = new_command_with(LUO_CMD_FAIL, "reason", reason ? reason : "no reason given");
	if (cmd && c->session[0])
		json_object_object_add(cmd, "session", json_object_new_string(c->session));
	return client_command(c, cmd, NULL, 0);
}

/**
 * luo_client_claim() - take the session preserved as @id before the update.
 * @c: the client
 * @id: the id the client subscribed with before the update
 * @session_fd: receives the retrieved session fd (O_CLOEXEC; caller owns
 *              it), -1 on failure
 *
 * Retrieve the files with luo_session_retrieve_fd(), then call
 * luo_session_finish() and luo_client_done(). If the client dies before
 * luo_client_done(), the session can be claimed again.
 *
 * Return: 0, -ENOENT (nothing preserved for @id), -EPERM (another uid's
 * session), -EBUSY (another connection claimed it), -EALREADY (this
 * connection claimed one already), -EINVAL (bad id), -EPROTO, or a
 * connection error.
 */
int luo_client_claim(struct luo_client *c, const char *id, int *session_fd)
{
	_cleanup_json_ struct json_object *reply = NULL;
	int64_t uid = -1;
	int fd = -1;
	int r;

	if (!session_fd)
		return -EINVAL;
	*session_fd = -1;
	if (!c)
		return -EINVAL;
	c->error[0] = '\0';
	if (!luo_id_valid(id)) {
		set_error(c, "invalid client id");
		return -EINVAL;
	}
	c->owner = -1;
	r = client_call(c, new_command_with(LUO_CMD_CLAIM, "id", id), &fd, 1, &reply);
	if (r < 0)
		return r;
	if (luo_msg_int(reply, "uid", &uid) == 0 && uid >= 0 && uid < (uid_t)-1)
		c->owner = uid;
	c->session_claimed = true;
	*session_fd = fd;
	return 0;
}

/**
 * luo_client_claimed_uid() - whose session luo_client_claim() returned.
 * @c: the client
 * @uid: receives the uid that owns the session claimed last on @c
 *
 * A session belongs to the uid that subscribed its id before the update.
 * luod lets root claim any session: a client should check that the
 * session it got is its own before it uses the data.
 *
 * Return: 0, -ENOENT (nothing claimed on @c), or -ENODATA (luod did not
 * say: an older luod).
 */
int luo_client_claimed_uid(const struct luo_client *c, uid_t *uid)
{
	if (!c || !uid)
		return -EINVAL;
	if (c->owner < 0)
		return c->session_claimed ? -ENODATA : -ENOENT;
	*uid = (uid_t)c->owner;
	return 0;
}

/**
 * luo_client_done() - tell luod the claimed session is finished.
 * @c: the client
 *
 * Call it after luo_session_finish(): luod then drops its reference and
 * forgets the session.
 *
 * Return: 0, -ENOTCONN (no claim on this connection), or a connection
 * error.
 */
int luo_client_done(struct luo_client *c)
{
	if (!c)
		return -EINVAL;
	c->error[0] = '\0';
	return client_command(c, luo_msg_command(LUO_CMD_DONE), NULL, 0);
}
