/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns the luod wire format: framing (one JSON object per line), fd passing
 * (SCM_RIGHTS; every message that carries fds says how many in "fds"), the
 * protocol limits, and the small builders and getters for messages.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "protocol.h"
#include "util.h"

struct luo_out {
	struct luo_out *next;
	size_t len;
	size_t off;
	size_t n_fds;
	int fds[LUO_PROTO_MAX_FDS];
	char data[];
};

/**
 * luo_conn_init() - set up a connection around a connected socket.
 * @c: the connection
 * @fd: the socket; @c owns it from now on
 */
void luo_conn_init(struct luo_conn *c, int fd)
{
	*c = (struct luo_conn){ .fd = fd };
	c->out_tail = &c->out_head;
}

static void out_free(struct luo_out *o)
{
	close_fds(o->fds, o->n_fds);
	free(o);
}

/**
 * luo_conn_release() - close the socket and every fd still held.
 * @c: the connection; may be released twice
 */
void luo_conn_release(struct luo_conn *c)
{
	struct luo_out *o;

	while ((o = c->out_head)) {
		c->out_head = o->next;
		out_free(o);
	}
	c->out_tail = &c->out_head;
	c->out_bytes = 0;
	close_fds(c->in_fds, c->n_in_fds);
	c->n_in_fds = 0;
	free(c->in);
	c->in = NULL;
	c->in_len = 0;
	closep(&c->fd);
	c->fd = -1;
}

/**
 * luo_conn_read() - receive what the socket has, with any fds.
 * @c: the connection
 *
 * Return: 0 when data arrived, LUO_CONN_EOF at the end of the stream,
 * -EAGAIN if nothing was there, -EMSGSIZE if a line exceeds the limit,
 * -EPROTO for fds beyond the limit or a truncated control message, or
 * another -errno. After an error the connection must be released.
 */
int luo_conn_read(struct luo_conn *c)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * LUO_PROTO_MAX_FDS)];
	} ctrl;
	struct msghdr mh = { .msg_control = &ctrl, .msg_controllen = sizeof(ctrl) };
	struct iovec iov;
	struct cmsghdr *cm;
	size_t room;
	ssize_t n;
	int r = 0;

	if (!c->in) {
		c->in = malloc(LUO_PROTO_MAX_LINE);
		if (!c->in)
			return -ENOMEM;
	}
	room = LUO_PROTO_MAX_LINE - c->in_len;
	if (room == 0)
		return -EMSGSIZE;
	iov = (struct iovec){ .iov_base = c->in + c->in_len, .iov_len = room };
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;

	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		int *fds = (int *)CMSG_DATA(cm);
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < k; i++) {
			if (c->n_in_fds < ARRAY_SIZE(c->in_fds))
				c->in_fds[c->n_in_fds++] = fds[i];
			else {
				close(fds[i]);
				r = -EPROTO;
			}
		}
	}
	if (mh.msg_flags & MSG_CTRUNC)
		return -EPROTO;
	if (r < 0)
		return r;
	if (n == 0)
		return LUO_CONN_EOF;
	c->in_len += n;
	return 0;
}

/**
 * luo_proto_parse() - decode one line into a JSON object.
 * @line: the bytes, without the newline
 * @len: their number
 * @msg: receives the object
 *
 * Return: 0, or -EBADMSG if it is not exactly one JSON object.
 */
int luo_proto_parse(const char *line, size_t len, struct json_object **msg)
{
	struct json_tokener *tok;
	struct json_object *obj;
	size_t end;

	if (len > INT32_MAX || memchr(line, '\0', len))
		return -EBADMSG;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	obj = json_tokener_parse_ex(tok, line, (int)len);
	end = json_tokener_get_parse_end(tok);
	if (obj && json_tokener_get_error(tok) == json_tokener_success) {
		while (end < len && strchr(" \t\r", line[end]))
			end++;
	}
	json_tokener_free(tok);
	if (!obj || end != len || !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return -EBADMSG;
	}
	*msg = obj;
	return 0;
}

/**
 * luo_conn_next() - take the next complete message and the fds it carries.
 * @c: the connection
 * @msg: receives the message (caller puts it)
 * @fds: receives the fds (caller owns them); room for LUO_PROTO_MAX_FDS
 * @n_fds: receives their number
 *
 * A message carries as many fds as its "fds" member says (0 when absent);
 * they are the oldest received fds not yet handed out.
 *
 * Return: 1 with a message, 0 when no complete line is buffered, or
 * -EBADMSG (not a JSON object), -EPROTO (fds missing, surplus or
 * undeclared). On error the connection must be released.
 */
int luo_conn_next(struct luo_conn *c, struct json_object **msg, int *fds, size_t *n_fds)
{
	_cleanup_json_ struct json_object *obj = NULL;
	char *nl;
	size_t len;
	int64_t want = 0;
	int r;

	for (;;) {
		nl = c->in_len ? memchr(c->in, '\n', c->in_len) : NULL;
		if (!nl) {
			/* Nothing buffered, yet fds arrived: nobody declared them. */
			if (c->in_len == 0 && c->n_in_fds > 0)
				return -EPROTO;
			return 0;
		}
		len = nl - c->in;
		if (len > 0 && !(len == 1 && c->in[0] == '\r'))
			break;
		/* Blank lines are tolerated between messages. */
		memmove(c->in, nl + 1, c->in_len - len - 1);
		c->in_len -= len + 1;
	}

	r = luo_proto_parse(c->in, len, &obj);
	memmove(c->in, nl + 1, c->in_len - len - 1);
	c->in_len -= len + 1;
	if (r < 0)
		return r;

	if (json_object_object_get_ex(obj, "fds", NULL)) {
		if (luo_msg_int(obj, "fds", &want) < 0 || want < 0 || want > LUO_PROTO_MAX_FDS)
			return -EPROTO;
	}
	if ((size_t)want > c->n_in_fds)
		return -EPROTO;
	memcpy(fds, c->in_fds, want * sizeof(int));
	memmove(c->in_fds, c->in_fds + want, (c->n_in_fds - want) * sizeof(int));
	c->n_in_fds -= want;
	*n_fds = want;
	*msg = steal_ptr(&obj);
	return 1;
}

/**
 * luo_conn_queue() - queue a message for sending.
 * @c: the connection
 * @msg: the message; "fds" is set here when @n_fds > 0 (not consumed)
 * @fds: fds to send with it; they are duplicated, the caller keeps its own
 * @n_fds: their number, at most LUO_PROTO_MAX_FDS
 *
 * Return: 0, -EMSGSIZE if the encoded message exceeds the line limit,
 * -ENOBUFS if the peer has let too much output pile up, or -errno.
 */
int luo_conn_queue(struct luo_conn *c, struct json_object *msg, const int *fds, size_t n_fds)
{
	struct luo_out *o;
	const char *s;
	size_t len;

	if (n_fds > LUO_PROTO_MAX_FDS)
		return -EINVAL;
	if (n_fds)
		json_object_object_add(msg, "fds", json_object_new_int((int)n_fds));
	s = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s)
		return -ENOMEM;
	len = strlen(s);
	if (len + 1 > LUO_PROTO_MAX_LINE)
		return -EMSGSIZE;
	if (c->out_bytes + len + 1 > LUO_PROTO_MAX_OUTPUT)
		return -ENOBUFS;
	o = malloc(sizeof(*o) + len + 1);
	if (!o)
		return -ENOMEM;
	*o = (struct luo_out){ .len = len + 1 };
	memcpy(o->data, s, len);
	o->data[len] = '\n';
	for (size_t i = 0; i < n_fds; i++) {
		o->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
		if (o->fds[i] < 0) {
			int err = -errno;

			out_free(o);
			return err;
		}
		o->n_fds++;
	}
	*c->out_tail = o;
	c->out_tail = &o->next;
	c->out_bytes += o->len;
	return 0;
}

/**
 * luo_conn_flush() - write queued output.
 * @c: the connection (blocking or not)
 *
 * Return: 0 when everything went out, -EAGAIN when the socket is full, or
 * -errno (-EPIPE: the peer is gone).
 */
int luo_conn_flush(struct luo_conn *c)
{
	struct luo_out *o;

	while ((o = c->out_head)) {
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int) * LUO_PROTO_MAX_FDS)];
		} ctrl;
		struct iovec iov = { .iov_base = o->data + o->off, .iov_len = o->len - o->off };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		/* fds go with the first byte of their message. */
		if (o->off == 0 && o->n_fds) {
			struct cmsghdr *cm;

			memset(&ctrl, 0, sizeof(ctrl));
			mh.msg_control = &ctrl;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * o->n_fds);
			cm = CMSG_FIRSTHDR(&mh);
			if (!cm)
				return -EINVAL;
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * o->n_fds);
			memcpy(CMSG_DATA(cm), o->fds, sizeof(int) * o->n_fds);
		}
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		}
		if (o->off == 0)
			close_fds(o->fds, o->n_fds);
		o->off += n;
		c->out_bytes -= n;
		if (o->off < o->len)
			continue;
		c->out_head = o->next;
		if (!c->out_head)
			c->out_tail = &c->out_head;
		free(o);
	}
	return 0;
}

/**
 * luo_conn_has_output() - whether output is waiting to be written.
 * @c: the connection
 *
 * Return: true if luo_conn_flush() has work.
 */
bool luo_conn_has_output(const struct luo_conn *c)
{
	return c->out_head != NULL;
}

/**
 * luo_id_valid() - whether @id is an acceptable client id.
 * @id: the id
 *
 * Return: true for 1..LUO_ID_MAX bytes of letters, digits, '.', '_', '-'
 * not starting with '.' or '-'.
 */
bool luo_id_valid(const char *id)
{
	size_t n = 0;

	if (!id || !*id || *id == '.' || *id == '-')
		return false;
	for (; id[n]; n++) {
		char ch = id[n];

		if (n >= LUO_ID_MAX)
			return false;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
		      ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

/**
 * luo_msg_ok() - a new success reply, {"ok":true}.
 *
 * Return: the object, or NULL without memory.
 */
struct json_object *luo_msg_ok(void)
{
	struct json_object *o = json_object_new_object();

	if (o)
		json_object_object_add(o, "ok", json_object_new_boolean(1));
	return o;
}

/**
 * luo_msg_error() - a new error reply, {"ok":false,"error":TEXT,"errno":N}.
 * @err: a positive errno value
 * @fmt: printf format of the text
 *
 * Return: the object, or NULL without memory.
 */
struct json_object *luo_msg_error(int err, const char *fmt, ...)
{
	struct json_object *o = json_object_new_object();
	char text[1024];
	va_list ap;

	if (!o)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(text));
	json_object_object_add(o, "errno", json_object_new_int(err));
	json_object_object_add(o, "errname", json_object_new_string(luo_errno_name(err)));
	return o;
}

/**
 * luo_msg_event() - a new event message, {"event":NAME}.
 * @event: the event's name
 *
 * Return: the object, or NULL without memory.
 */
struct json_object *luo_msg_event(const char *event)
{
	struct json_object *o = json_object_new_object();

	if (o)
		json_object_object_add(o, "event", json_object_new_string(event));
	return o;
}

/**
 * luo_msg_string() - a string member.
 * @msg: the message
 * @key: the member
 *
 * Return: the string, owned by @msg, or NULL if absent or not a string.
 */
const char *luo_msg_string(struct json_object *msg, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(msg, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/**
 * luo_msg_int() - an integer member.
 * @msg: the message
 * @key: the member
 * @out: receives the value
 *
 * Return: 0, -ENOENT if absent, -EINVAL if not an integer.
 */
int luo_msg_int(struct json_object *msg, const char *key, int64_t *out)
{
	struct json_object *v;

	if (!json_object_object_get_ex(msg, key, &v))
		return -ENOENT;
	if (!json_object_is_type(v, json_type_int))
		return -EINVAL;
	*out = json_object_get_int64(v);
	return 0;
}

/**
 * luo_msg_bool() - a boolean member.
 * @msg: the message
 * @key: the member
 *
 * Return: its value; false when absent or not a boolean.
 */
bool luo_msg_bool(struct json_object *msg, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(msg, key, &v) && json_object_is_type(v, json_type_boolean) &&
	       json_object_get_boolean(v);
}

/**
 * luo_errno_name() - the symbolic name of an errno value.
 * @err: positive errno
 *
 * Return: "EINVAL" and the like, or "E?" for values glibc does not name.
 */
const char *luo_errno_name(int err)
{
	const char *name = strerrorname_np(err);

	return name ? name : "E?";
}
