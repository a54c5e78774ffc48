/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns the luod wire format: framing (one JSON object per line), fd passing
 * (SCM_RIGHTS; every message that carries fds says how many in "fds"), the
 * protocol limits, the strict decoder and the encoder (both guarantee
 * UTF-8, so no handler has to care), and the small builders and getters
 * for messages.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "protocol.h"
#include "text.h"
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
 *
 * This is luod's side: it receives commands (up to LUO_PROTO_MAX_LINE
 * bytes) and sends replies and events (up to LUO_PROTO_MAX_LUOD_LINE).
 */
void luo_conn_init(struct luo_conn *c, int fd)
{
	*c = (struct luo_conn){ .fd = fd, .max_in = LUO_PROTO_MAX_LINE, .max_out = LUO_PROTO_MAX_LUOD_LINE };
	c->out_tail = &c->out_head;
}

/**
 * luo_conn_init_client() - set up a connection to luod around a connected socket.
 * @c: the connection
 * @fd: the socket; @c owns it from now on
 *
 * As luo_conn_init(), for the other side: it receives messages from luod
 * (up to LUO_PROTO_MAX_LUOD_LINE) and sends commands (up to LUO_PROTO_MAX_LINE).
 */
void luo_conn_init_client(struct luo_conn *c, int fd)
{
	luo_conn_init(c, fd);
	c->max_in = LUO_PROTO_MAX_LUOD_LINE;
	c->max_out = LUO_PROTO_MAX_LINE;
}

/**
 * luo_conn_connect() - connect to luod's socket (blocking, close-on-exec).
 * @c: receives the connection (luo_conn_release() by the caller)
 * @path: the socket's path
 *
 * Return: 0, -EINVAL for an empty @path, -ENAMETOOLONG if it does not fit
 * a socket address, or the -errno of socket(2)/connect(2).
 */
int luo_conn_connect(struct luo_conn *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	size_t len = strlen(path);

	if (len == 0)
		return -EINVAL;
	if (len >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, len);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	luo_conn_init_client(c, steal_fd(&fd));
	return 0;
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
	c->in_cap = 0;
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

	/*
	 * The buffer grows as a line needs it, up to the limit: most
	 * connections only ever hold short commands, and luod has hundreds.
	 */
	if (c->in_len == c->in_cap) {
		size_t cap = c->in_cap ? 2 * c->in_cap : 4096;
		char *in;

		if (c->in_cap >= c->max_in)
			return -EMSGSIZE;
		if (cap > c->max_in)
			cap = c->max_in;
		in = realloc(c->in, cap);
		if (!in)
			return -ENOMEM;
		c->in = in;
		c->in_cap = cap;
	}
	room = c->in_cap - c->in_len;
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

/*
 * The strict decoder. json-c's tokener is lenient even in strict mode (it
 * has accepted comments, single quotes, NaN and trailing commas in some
 * release or other), so every line is first checked here against RFC 8259
 * and the protocol's own rules, and only then handed to json-c to build
 * the objects:
 * - the grammar of RFC 8259 exactly: no comments, single quotes, trailing
 *   commas, NaN/Infinity, leading zeros, hex numbers, bare words, control
 *   characters in strings or unknown escapes;
 * - UTF-8 (RFC 8259 section 8.1): the raw bytes are well-formed, and a
 *   \u escape is a scalar value (surrogates only as a proper pair);
 * - no NUL in any string, raw or as \u0000: C sees a string up to its NUL,
 *   so "VERSION\u0000x" would otherwise run VERSION;
 * - no duplicate member names in an object: which one wins differs between
 *   implementations (RFC 8259 section 4), so it is refused;
 * - at most LUO_PROTO_MAX_DEPTH nested arrays and objects.
 */
struct strict {
	const char *p, *end;
	char *names; /* decoded member names of the open objects */
	size_t names_len; /* bytes used in names */
	struct name_span {
		size_t off, len;
	} * spans; /* one per member name of the open objects */
	size_t n_spans, cap_spans;
};

static int strict_value(struct strict *s, unsigned depth);

static void strict_ws(struct strict *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n'))
		s->p++;
}

static int hex4(const char *p, const char *end, unsigned *out)
{
	unsigned v = 0;

	if (end - p < 4)
		return -EBADMSG;
	for (int i = 0; i < 4; i++) {
		char ch = p[i];

		v <<= 4;
		if (ch >= '0' && ch <= '9')
			v |= ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			v |= ch - 'a' + 10;
		else if (ch >= 'A' && ch <= 'F')
			v |= ch - 'A' + 10;
		else
			return -EBADMSG;
	}
	*out = v;
	return 0;
}

/* The escape after a backslash (at s->p, the backslash passed): its code point. */
static int strict_escape(struct strict *s, unsigned *cp)
{
	unsigned char ch = *s->p++;

	switch (ch) {
	case '"':
	case '\\':
	case '/':
		*cp = ch;
		return 0;
	case 'b':
		*cp = '\b';
		return 0;
	case 'f':
		*cp = '\f';
		return 0;
	case 'n':
		*cp = '\n';
		return 0;
	case 'r':
		*cp = '\r';
		return 0;
	case 't':
		*cp = '\t';
		return 0;
	case 'u':
		break;
	default:
		return -EBADMSG;
	}
	if (hex4(s->p, s->end, cp) < 0)
		return -EBADMSG;
	s->p += 4;
	if (*cp >= 0xdc00 && *cp <= 0xdfff)
		return -EBADMSG; /* a low surrogate alone */
	if (*cp >= 0xd800 && *cp <= 0xdbff) {
		unsigned lo;

		if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u' || hex4(s->p + 2, s->end, &lo) < 0 ||
		    lo < 0xdc00 || lo > 0xdfff)
			return -EBADMSG; /* a high surrogate without its low half */
		s->p += 6;
		*cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	return *cp == 0 ? -EBADMSG : 0;
}

/* Encode @cp as UTF-8 at @out (when not NULL); its length. */
static size_t utf8_put(char *out, unsigned cp)
{
	if (out) {
		if (cp < 0x80) {
			out[0] = (char)cp;
		} else if (cp < 0x800) {
			out[0] = (char)(0xc0 | cp >> 6);
			out[1] = (char)(0x80 | (cp & 0x3f));
		} else if (cp < 0x10000) {
			out[0] = (char)(0xe0 | cp >> 12);
			out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
			out[2] = (char)(0x80 | (cp & 0x3f));
		} else {
			out[0] = (char)(0xf0 | cp >> 18);
			out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
			out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
			out[3] = (char)(0x80 | (cp & 0x3f));
		}
	}
	return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/* A string; with @out (room for as many bytes as the raw string has) it is decoded there. */
static int strict_string(struct strict *s, char *out, size_t *out_len)
{
	size_t o = 0;

	if (s->p >= s->end || *s->p != '"')
		return -EBADMSG;
	s->p++;
	for (;;) {
		unsigned char ch;
		unsigned cp;
		size_t n;

		if (s->p >= s->end)
			return -EBADMSG;
		ch = *s->p;
		if (ch == '"')
			break;
		if (ch < 0x20)
			return -EBADMSG; /* NUL and other controls must be escaped (and NUL never is) */
		if (ch != '\\') {
			n = luo_utf8_char(s->p, s->end - s->p);
			if (!n)
				return -EBADMSG;
			if (out)
				memcpy(out + o, s->p, n);
			o += n;
			s->p += n;
			continue;
		}
		if (s->end - s->p < 2)
			return -EBADMSG;
		s->p++;
		if (strict_escape(s, &cp) < 0)
			return -EBADMSG;
		/* Encoded as UTF-8, an escape is never longer than itself. */
		o += utf8_put(out ? out + o : NULL, cp);
	}
	s->p++;
	if (out_len)
		*out_len = o;
	return 0;
}

static bool is_digit(const struct strict *s)
{
	return s->p < s->end && *s->p >= '0' && *s->p <= '9';
}

/* -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int strict_number(struct strict *s)
{
	if (s->p < s->end && *s->p == '-')
		s->p++;
	if (!is_digit(s))
		return -EBADMSG;
	if (*s->p++ != '0')
		while (is_digit(s))
			s->p++;
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (!is_digit(s))
			return -EBADMSG;
		while (is_digit(s))
			s->p++;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (!is_digit(s))
			return -EBADMSG;
		while (is_digit(s))
			s->p++;
	}
	return 0;
}

static int strict_word(struct strict *s, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n))
		return -EBADMSG;
	s->p += n;
	return 0;
}

static int name_cmp(const void *a, const void *b, void *names)
{
	const struct name_span *x = a, *y = b;
	int r = memcmp((char *)names + x->off, (char *)names + y->off, x->len < y->len ? x->len : y->len);

	return r ? r : (x->len > y->len) - (x->len < y->len);
}

/* After a member or an element: ',' (another follows) or @close (the end). */
enum { STRICT_MORE, STRICT_END };

static int strict_separator(struct strict *s, char close)
{
	strict_ws(s);
	if (s->p < s->end && *s->p == ',') {
		s->p++;
		return STRICT_MORE;
	}
	if (s->p < s->end && *s->p == close)
		return STRICT_END;
	return -EBADMSG;
}

static int strict_object(struct strict *s, unsigned depth)
{
	size_t first = s->n_spans, names_start = s->names_len;
	int r;

	s->p++;
	strict_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return 0;
	}
	for (;;) {
		size_t len;

		strict_ws(s);
		if (s->n_spans == s->cap_spans) {
			size_t cap = s->cap_spans ? 2 * s->cap_spans : 16;
			struct name_span *n = reallocarray(s->spans, cap, sizeof(*n));

			if (!n)
				return -ENOMEM;
			s->spans = n;
			s->cap_spans = cap;
		}
		r = strict_string(s, s->names + s->names_len, &len);
		if (r < 0)
			return r;
		s->spans[s->n_spans++] = (struct name_span){ .off = s->names_len, .len = len };
		s->names_len += len;
		strict_ws(s);
		if (s->p >= s->end || *s->p != ':')
			return -EBADMSG;
		s->p++;
		r = strict_value(s, depth);
		if (r < 0)
			return r;
		r = strict_separator(s, '}');
		if (r < 0)
			return r;
		if (r == STRICT_END)
			break;
	}
	s->p++;
	qsort_r(s->spans + first, s->n_spans - first, sizeof(*s->spans), name_cmp, s->names);
	for (size_t i = first + 1; i < s->n_spans; i++)
		if (!name_cmp(&s->spans[i - 1], &s->spans[i], s->names))
			return -EBADMSG;
	s->n_spans = first;
	s->names_len = names_start;
	return 0;
}

static int strict_array(struct strict *s, unsigned depth)
{
	int r;

	s->p++;
	strict_ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		return 0;
	}
	for (;;) {
		r = strict_value(s, depth);
		if (r < 0)
			return r;
		r = strict_separator(s, ']');
		if (r < 0)
			return r;
		if (r == STRICT_END)
			break;
	}
	s->p++;
	return 0;
}

static int strict_value(struct strict *s, unsigned depth)
{
	strict_ws(s);
	if (s->p >= s->end)
		return -EBADMSG;
	switch (*s->p) {
	case '{':
		return depth >= LUO_PROTO_MAX_DEPTH ? -EBADMSG : strict_object(s, depth + 1);
	case '[':
		return depth >= LUO_PROTO_MAX_DEPTH ? -EBADMSG : strict_array(s, depth + 1);
	case '"':
		return strict_string(s, NULL, NULL);
	case 't':
		return strict_word(s, "true");
	case 'f':
		return strict_word(s, "false");
	case 'n':
		return strict_word(s, "null");
	default:
		return strict_number(s);
	}
}

/**
 * luo_proto_check() - whether a line is one message in the strict protocol syntax.
 * @line: the bytes, without the newline
 * @len: their number
 *
 * See the comment above for what is refused.
 *
 * Return: 0, -EBADMSG if it is not, or -ENOMEM.
 */
int luo_proto_check(const char *line, size_t len)
{
	struct strict s = { .p = line, .end = line + len };
	int r;

	strict_ws(&s);
	if (s.p >= s.end || *s.p != '{')
		return -EBADMSG;
	/* Decoded names are never longer than the line. */
	s.names = malloc(len);
	if (!s.names)
		return -ENOMEM;
	r = strict_value(&s, 0);
	free(s.names);
	free(s.spans);
	if (r < 0)
		return r;
	strict_ws(&s);
	return s.p == s.end ? 0 : -EBADMSG;
}

/**
 * luo_proto_parse() - decode one line into a JSON object.
 * @line: the bytes, without the newline
 * @len: their number
 * @msg: receives the object
 *
 * Only what luo_proto_check() accepts is decoded: every string in @msg is
 * then well-formed UTF-8 without NUL, every member name is unique.
 *
 * Return: 0, -EBADMSG if it is not exactly one JSON object in the strict
 * protocol syntax, or -ENOMEM.
 */
int luo_proto_parse(const char *line, size_t len, struct json_object **msg)
{
	struct json_tokener *tok;
	struct json_object *obj;
	size_t end;
	int r;

	if (len > INT32_MAX || memchr(line, '\0', len))
		return -EBADMSG;
	r = luo_proto_check(line, len);
	if (r < 0)
		return r;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
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
 * Return: LUO_CONN_MESSAGE with a message, 0 when no complete line is buffered, or
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
	return LUO_CONN_MESSAGE;
}

/*
 * json-c copies the bytes of a string as they are: the text of a message
 * is made well-formed UTF-8 here, whatever its strings hold (an image's
 * version string, a truncated error text), by replacing each byte that
 * starts no character with U+FFFD. A NUL escape (only from a string built
 * with its length) becomes U+FFFD too: the strict decoder refuses \u0000.
 */
static char *utf8_repair(const char *s, size_t len, size_t *out_len)
{
	char *out = malloc(3 * len + 1), *o = out;
	size_t i = 0;

	if (!out)
		return NULL;
	while (i < len) {
		size_t n = luo_utf8_char(s + i, len - i);

		if (s[i] == '\\' && i + 1 < len) {
			if (len - i >= 6 && !memcmp(s + i, "\\u0000", 6)) {
				o = mempcpy(o, "\\ufffd", 6);
				i += 6;
			} else {
				o = mempcpy(o, s + i, 2);
				i += 2;
			}
		} else if (n == 0) {
			o = mempcpy(o, "\xef\xbf\xbd", 3);
			i++;
		} else {
			o = mempcpy(o, s + i, n);
			i += n;
		}
	}
	*o = '\0';
	*out_len = o - out;
	return out;
}

/**
 * luo_proto_encode() - the wire form of a message.
 * @msg: the message
 * @out: receives the text, NUL-terminated, without the newline (free() it)
 * @len: receives its length
 *
 * The text is always well-formed UTF-8 that luo_proto_parse() accepts:
 * invalid bytes in strings become U+FFFD.
 *
 * Return: 0 or -ENOMEM.
 */
int luo_proto_encode(struct json_object *msg, char **out, size_t *len)
{
	const char *s = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t n;

	if (!s)
		return -ENOMEM;
	n = strlen(s);
	if (luo_utf8_valid(s, n) && !strstr(s, "\\u0000")) {
		*out = strdup(s);
		*len = n;
	} else {
		*out = utf8_repair(s, n, len);
	}
	return *out ? 0 : -ENOMEM;
}

/**
 * luo_conn_queue() - queue a message for sending.
 * @c: the connection
 * @msg: the message; "fds" is set here when @n_fds > 0 (not consumed)
 * @fds: fds to send with it; they are duplicated, the caller keeps its own
 * @n_fds: their number, at most LUO_PROTO_MAX_FDS
 *
 * Return: 0, -EMSGSIZE if the encoded message exceeds the limit of this
 * side (LUO_PROTO_MAX_LINE for commands, LUO_PROTO_MAX_LUOD_LINE from
 * luod), -ENOBUFS if the peer has let too much output pile up, or -errno.
 */
int luo_conn_queue(struct luo_conn *c, struct json_object *msg, const int *fds, size_t n_fds)
{
	_cleanup_free_ char *s = NULL;
	struct luo_out *o;
	size_t len;
	int r;

	if (n_fds > LUO_PROTO_MAX_FDS)
		return -EINVAL;
	if (n_fds)
		json_object_object_add(msg, "fds", json_object_new_int((int)n_fds));
	r = luo_proto_encode(msg, &s, &len);
	if (r < 0)
		return r;
	if (len + 1 > c->max_out)
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
 * @fmt: printf format of the text; it is cut to 1023 bytes (at a character)
 *
 * Return: the object, or NULL without memory.
 */
struct json_object *luo_msg_error(int err, const char *fmt, ...)
{
	struct json_object *o = json_object_new_object();
	char text[1024];
	va_list ap;
	int n;

	if (!o)
		return NULL;
	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	/* A long text is cut at a character, not inside one. */
	if (n >= (int)sizeof(text))
		text[luo_utf8_trim(text, sizeof(text) - 1)] = '\0';
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(text));
	json_object_object_add(o, "errno", json_object_new_int(err));
	json_object_object_add(o, "errname", json_object_new_string(luo_errno_name(err)));
	return o;
}

/**
 * luo_msg_command() - a new command message, {"cmd":NAME}.
 * @name: the command's name (LUO_CMD_*)
 *
 * Return: the object, or NULL without memory.
 */
struct json_object *luo_msg_command(const char *name)
{
	struct json_object *o = json_object_new_object();

	if (o)
		json_object_object_add(o, "cmd", json_object_new_string(name));
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
