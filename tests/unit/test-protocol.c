/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the protocol module: framing, fd passing, limits, the
 * strict decoder, the UTF-8 guarantee of the encoder, the worst-case size
 * of a STATUS reply and the message helpers, over real socketpairs; and
 * the text escaping of src/shared/text.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "protocol.h"
#include "tap.h"
#include "text.h"
#include "util.h"

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1;
}

static void pair(struct luo_conn *a, struct luo_conn *b)
{
	int sv[2];

	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	luo_conn_init(a, sv[0]);
	luo_conn_init(b, sv[1]);
}

/* Read until a message or an error comes. */
static int next(struct luo_conn *c, struct json_object **msg, int *fds, size_t *n)
{
	for (;;) {
		int r = luo_conn_next(c, msg, fds, n);

		if (r != 0)
			return r;
		r = luo_conn_read(c);
		if (r < 0 || r == LUO_CONN_EOF)
			return r < 0 ? r : -ECONNRESET;
	}
}

static void test_roundtrip(void)
{
	struct luo_conn a, b;
	struct json_object *m = json_object_new_object(), *got = NULL;
	int fds[LUO_PROTO_MAX_FDS];
	size_t n = 9;

	pair(&a, &b);
	json_object_object_add(m, "cmd", json_object_new_string("SUBSCRIBE"));
	json_object_object_add(m, "id", json_object_new_string("a\nb\"c"));
	ok(luo_conn_queue(&a, m, NULL, 0) == 0 && luo_conn_flush(&a) == 0, "queue and flush a message");
	json_object_put(m);
	ok(next(&b, &got, fds, &n) == 1, "receive it");
	ok(got && !strcmp(luo_msg_string(got, "cmd"), "SUBSCRIBE") && !strcmp(luo_msg_string(got, "id"), "a\nb\"c"),
	   "members survive, newlines in strings are escaped");
	ok(n == 0, "no fds with it");
	json_object_put(got);
	luo_conn_release(&a);
	luo_conn_release(&b);
}

static void test_fds(void)
{
	struct luo_conn a, b;
	struct json_object *m, *got = NULL;
	int fds[LUO_PROTO_MAX_FDS], mfd[2];
	struct stat s1, s2;
	size_t n = 0;
	int before = count_fds();

	pair(&a, &b);
	mfd[0] = memfd_create("t0", MFD_CLOEXEC);
	mfd[1] = memfd_create("t1", MFD_CLOEXEC);
	m = luo_msg_event("START_PRESERVATION");
	ok(luo_conn_queue(&a, m, mfd, 2) == 0, "queue a message with two fds");
	ok(!strcmp(json_object_get_string(json_object_object_get(m, "fds")), "2"), "\"fds\" is set to 2");
	json_object_put(m);
	m = luo_msg_ok();
	luo_conn_queue(&a, m, NULL, 0);
	json_object_put(m);
	ok(luo_conn_flush(&a) == 0, "flush both");
	ok(next(&b, &got, fds, &n) == 1 && n == 2, "first message carries two fds");
	fstat(mfd[1], &s1);
	fstat(fds[1], &s2);
	ok(s1.st_ino == s2.st_ino && s1.st_dev == s2.st_dev, "the fds arrive in order and are the same files");
	ok((fcntl(fds[0], F_GETFD) & FD_CLOEXEC), "received fds are close-on-exec");
	close_fds(fds, n);
	json_object_put(got);
	ok(next(&b, &got, fds, &n) == 1 && n == 0, "second message carries none");
	json_object_put(got);
	close_fds(mfd, 2);
	luo_conn_release(&a);
	luo_conn_release(&b);
	ok(count_fds() == before, "no fd leaked (%d before, %d after)", before, count_fds());
}

static int send_raw(int fd, const char *data, size_t len, const int *fds, size_t n_fds)
{
	char ctrl[CMSG_SPACE(sizeof(int) * 16)] = { 0 };
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (n_fds) {
		struct cmsghdr *cm;

		mh.msg_control = ctrl;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * n_fds);
	}
	return sendmsg(fd, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static int raw_case(const char *data, size_t len, const int *fds, size_t n_fds, size_t *got_fds)
{
	struct luo_conn a, b;
	struct json_object *got = NULL;
	int out[LUO_PROTO_MAX_FDS];
	size_t n = 0;
	int r;

	pair(&a, &b);
	send_raw(a.fd, data, len, fds, n_fds);
	luo_conn_release(&a);
	r = next(&b, &got, out, &n);
	if (r == 1)
		close_fds(out, n);
	if (got_fds)
		*got_fds = n;
	json_object_put(got);
	luo_conn_release(&b);
	return r;
}

static void test_malformed(void)
{
	int fd = memfd_create("x", MFD_CLOEXEC), many[9];
	int before;
	size_t n;

	ok(raw_case("not json\n", 9, NULL, 0, NULL) == -EBADMSG, "garbage is EBADMSG");
	ok(raw_case("[1,2]\n", 6, NULL, 0, NULL) == -EBADMSG, "an array is EBADMSG");
	ok(raw_case("{\"a\":1} x\n", 10, NULL, 0, NULL) == -EBADMSG, "trailing bytes are EBADMSG");
	ok(raw_case("{\"a\":1}{}\n", 10, NULL, 0, NULL) == -EBADMSG, "two objects on a line are EBADMSG");
	ok(raw_case("{\"a\":\0}\n", 8, NULL, 0, NULL) == -EBADMSG, "a NUL byte is EBADMSG");
	ok(raw_case("\n\r\n{\"a\":1}\r\n", 12, NULL, 0, NULL) == 1, "blank lines and CRLF are tolerated");
	ok(raw_case("{\"fds\":1}\n", 10, NULL, 0, NULL) == -EPROTO, "declared fds that never came: EPROTO");
	ok(raw_case("{\"fds\":-1}\n", 11, NULL, 0, NULL) == -EPROTO, "negative fd count: EPROTO");
	ok(raw_case("{\"fds\":\"1\"}\n", 12, &fd, 1, NULL) == -EPROTO, "non-integer fd count: EPROTO");
	ok(raw_case("{\"a\":1}\n", 8, &fd, 1, &n) == 1, "a message without \"fds\" takes no fd");
	ok(raw_case("{\"fds\":1}\n", 10, &fd, 1, &n) == 1 && n == 1, "declared fd is handed out");
	ok(raw_case("{\"a\":1}", 7, NULL, 0, NULL) == -ECONNRESET, "a line cut by EOF is not a message");

	before = count_fds();
	for (int i = 0; i < 9; i++)
		many[i] = fd;
	ok(raw_case("{\"fds\":9}\n", 10, many, 9, NULL) == -EPROTO, "9 fds in one message: EPROTO (truncated)");
	ok(count_fds() == before, "the fds of a rejected message are closed");
	close(fd);
}

/* What a peer may send, and what the strict decoder must make of it. */
static void test_strict(void)
{
	static const struct {
		const char *text; /* the line without its newline */
		bool good;
		const char *what;
	} cases[] = {
		{ "{}", true, "an empty object" },
		{ " {\"cmd\":\"STATUS\"} \t\r", true, "whitespace around it" },
		{ "{\"a\":[1,-0,0.5,-1.25e+10,3E-2,0e0,{\"b\":null}],\"c\":true,\"d\":false}", true,
		  "every kind of value" },
		{ "{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u20ac\\ud83d\\ude00\"}", true,
		  "every escape, a surrogate pair" },
		{ "{\"a\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}", true, "raw UTF-8 of 2, 3 and 4 bytes" },
		{ "{\"a\":\"x\",\"A\":\"y\",\"b\":{\"a\":1}}", true, "the same name in another object or case" },
		{ "{\"a\":[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]}", true, "nesting of 16 levels" },
		{ "{\"a\":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}", false, "nesting of 17 levels" },
		{ "{'cmd':'STATUS'}", false, "single quotes" },
		{ "{\"cmd\":'STATUS'}", false, "a single-quoted value" },
		{ "{\"a\":1,}", false, "a trailing comma in an object" },
		{ "{\"a\":[1,2,]}", false, "a trailing comma in an array" },
		{ "{\"a\":[1,,2]}", false, "an empty array element" },
		{ "{,\"a\":1}", false, "a leading comma" },
		{ "{\"a\":1 /* c */}", false, "a block comment" },
		{ "{\"a\":1} // c", false, "a line comment" },
		{ "{\"a\":1 # c\n}", false, "a hash comment" },
		{ "{\"a\":NaN}", false, "NaN" },
		{ "{\"a\":nan}", false, "nan" },
		{ "{\"a\":Infinity}", false, "Infinity" },
		{ "{\"a\":-Infinity}", false, "-Infinity" },
		{ "{\"a\":01}", false, "a leading zero" },
		{ "{\"a\":-01}", false, "a negative leading zero" },
		{ "{\"a\":00}", false, "two zeros" },
		{ "{\"a\":0x10}", false, "a hex number" },
		{ "{\"a\":+1}", false, "a plus sign" },
		{ "{\"a\":.5}", false, "no digit before the point" },
		{ "{\"a\":1.}", false, "no digit after the point" },
		{ "{\"a\":1e}", false, "no digit in the exponent" },
		{ "{\"a\":-}", false, "a lone minus" },
		{ "{\"a\":True}", false, "True" },
		{ "{\"a\":TRUE}", false, "TRUE" },
		{ "{\"a\":nul}", false, "a cut null" },
		{ "{\"a\":undefined}", false, "a bare word" },
		{ "{a:1}", false, "an unquoted name" },
		{ "{\"a\" 1}", false, "no colon" },
		{ "{\"a\":1 \"b\":2}", false, "no comma" },
		{ "{\"a\":\"x\ty\"}", false, "a raw tab in a string" },
		{ "{\"a\":\"x\x1by\"}", false, "a raw ESC in a string" },
		{ "{\"a\":\"\\x41\"}", false, "an unknown escape" },
		{ "{\"a\":\"\\u12\"}", false, "a short \\u escape" },
		{ "{\"a\":\"\\u12g4\"}", false, "a \\u escape that is not hex" },
		{ "{\"a\":\"\\ud800\"}", false, "a lone high surrogate" },
		{ "{\"a\":\"\\udc00\"}", false, "a lone low surrogate" },
		{ "{\"a\":\"\\ud800\\u0041\"}", false, "a high surrogate and no low one" },
		{ "{\"a\":\"\xff\"}", false, "a byte that is never UTF-8" },
		{ "{\"a\":\"\xc3\"}", false, "a character cut in half" },
		{ "{\"a\":\"\xc0\x80\"}", false, "an overlong NUL" },
		{ "{\"a\":\"\xe0\x80\xaf\"}", false, "an overlong slash" },
		{ "{\"a\":\"\xed\xa0\x80\"}", false, "a surrogate in UTF-8" },
		{ "{\"a\":\"\xf4\x90\x80\x80\"}", false, "beyond U+10FFFF" },
		{ "{\"a\":\"\x80\"}", false, "a lone continuation byte" },
		{ "{\"a\xff\":1}", false, "invalid UTF-8 in a name" },
		{ "{\"a\":1}\xff", false, "invalid UTF-8 after the object" },
		{ "{\"cmd\":\"VERSION\\u0000x\"}", false, "\\u0000 in a value" },
		{ "{\"cmd\\u0000x\":\"VERSION\"}", false, "\\u0000 in a name" },
		{ "{\"a\":[\"\\u0000\"]}", false, "\\u0000 in an array" },
		{ "{\"cmd\":\"STATUS\",\"cmd\":\"KEXEC\"}", false, "a duplicate name" },
		{ "{\"cmd\":\"STATUS\",\"\\u0063md\":\"KEXEC\"}", false, "a duplicate name spelled with an escape" },
		{ "{\"a\":{\"x\":1,\"y\":2,\"x\":3}}", false, "a duplicate name in a nested object" },
		{ "{\"a\":1}{\"b\":2}", false, "two objects" },
		{ "\"a\"", false, "a string" },
		{ "1", false, "a number" },
		{ "", false, "nothing" },
		{ "{", false, "an open object" },
		{ "{\"a\":\"x}", false, "an open string" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct json_object *got = NULL;
		int r = luo_proto_parse(cases[i].text, strlen(cases[i].text), &got);

		ok(cases[i].good ? r == 0 : r == -EBADMSG, "strict: %s %s", cases[i].what,
		   cases[i].good ? "is accepted" : "is EBADMSG");
		json_object_put(got);
	}
}

/* The last of many duplicate names is found, and sorting many names works. */
static void test_strict_many_names(void)
{
	size_t n = 5000, len = 0, cap = n * 16 + 16;
	char *line = malloc(cap);
	struct json_object *got = NULL;

	len += sprintf(line + len, "{");
	for (size_t i = 0; i < n; i++)
		len += sprintf(line + len, "%s\"k%zu\":%zu", i ? "," : "", (i * 7919) % n, i);
	len += sprintf(line + len, "}");
	ok(luo_proto_parse(line, len, &got) == 0 && json_object_object_length(got) == (int)n,
	   "%zu distinct names are accepted", n);
	json_object_put(got);
	got = NULL;
	len -= 1;
	len += sprintf(line + len, ",\"k%zu\":0}", n / 2);
	ok(luo_proto_parse(line, len, &got) == -EBADMSG, "one duplicate among %zu names is EBADMSG", n + 1);
	json_object_put(got);
	free(line);
}

/* A NUL-truncating decoder would run VERSION: the connection must fail instead. */
static void test_strict_conn(void)
{
	const char *line = "{\"cmd\":\"VERSION\\u0000x\"}\n";

	ok(raw_case(line, strlen(line), NULL, 0, NULL) == -EBADMSG,
	   "a command with \\u0000 is EBADMSG on a connection");
}

static bool all_strings_utf8(struct json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_string:
		return luo_utf8_valid(json_object_get_string(o), json_object_get_string_len(o));
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			if (!all_strings_utf8(json_object_array_get_idx(o, i)))
				return false;
		return true;
	case json_type_object: {
		json_object_object_foreach(o, k, v)
		{
			if (!luo_utf8_valid(k, strlen(k)) || !all_strings_utf8(v))
				return false;
		}
		return true;
	}
	default:
		return true;
	}
}

/* Whatever luod's strings hold, what goes on the wire is UTF-8 the peer accepts. */
static void test_encode_utf8(void)
{
	struct json_object *m = json_object_new_object(), *got = NULL, *e;
	char long_text[2000], *out = NULL;
	struct luo_conn a, b;
	int fds[LUO_PROTO_MAX_FDS];
	size_t n, len = 0;

	json_object_object_add(m, "version", json_object_new_string("6.1 \xff\xfe built \xc3"));
	json_object_object_add(m, "\xe2\x82", json_object_new_string("\xed\xa0\x80 \xc3\xa9"));
	json_object_object_add(m, "nul", json_object_new_string_len("a\0b", 3));
	ok(luo_proto_encode(m, &out, &len) == 0 && luo_utf8_valid(out, len), "the encoder writes valid UTF-8 (%s)",
	   out);
	ok(out && strstr(out, "6.1 \xef\xbf\xbd\xef\xbf\xbd built \xef\xbf\xbd\"") &&
		   strstr(out, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \xc3\xa9\"") && strstr(out, "\"a\\ufffdb\""),
	   "invalid bytes become U+FFFD, valid characters stay");
	ok(out && luo_proto_parse(out, len, &got) == 0, "the strict decoder accepts what the encoder wrote");
	json_object_put(got);
	got = NULL;
	free(out);

	pair(&a, &b);
	ok(luo_conn_queue(&a, m, NULL, 0) == 0 && luo_conn_flush(&a) == 0 && next(&b, &got, fds, &n) == 1 &&
		   all_strings_utf8(got),
	   "a message with invalid UTF-8 arrives repaired");
	json_object_put(got);
	json_object_put(m);
	luo_conn_release(&a);
	luo_conn_release(&b);

	/* 2-byte characters: the cut after 1023 bytes falls inside one. */
	for (size_t i = 0; i + 2 < sizeof(long_text); i += 2)
		memcpy(long_text + i, "\xc3\xa9", 2);
	long_text[sizeof(long_text) - 2] = '\0';
	e = luo_msg_error(EINVAL, "%s", long_text);
	ok(luo_utf8_valid(luo_msg_string(e, "error"), strlen(luo_msg_string(e, "error"))) &&
		   strlen(luo_msg_string(e, "error")) == 1022,
	   "a long error text is cut at a character (%zu bytes)", strlen(luo_msg_string(e, "error")));
	json_object_put(e);
}

static void test_text(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain text, é € 😀", "plain text, é € 😀" },
		{ "a\nb\rc\td", "a\\nb\\rc\\td" },
		{ "\x1b[31mred\x1b]0;title\x07", "\\x1b[31mred\\x1b]0;title\\x07" },
		{ "del\x7f c1\xc2\x9b\xc2\x85 nbsp\xc2\xa0", "del\\x7f c1\\u009b\\u0085 nbsp\xc2\xa0" },
		{ "bad\xff\xc3 end\xe2\x82", "bad\\xff\\xc3 end\\xe2\\x82" },
		{ "back\\slash", "back\\\\slash" },
		{ "\xed\xa0\x80", "\\xed\\xa0\\x80" },
	};
	char buf[128];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t n = luo_text_escape(buf, sizeof(buf), cases[i].in, strlen(cases[i].in));

		ok(!strcmp(buf, cases[i].out) && n == strlen(cases[i].out), "escape: \"%s\"", cases[i].out);
	}
	ok(luo_text_escape(buf, 4, "ab\ncd", 5) == 6 && !strcmp(buf, "ab"),
	   "an escape that does not fit is left out whole");
	ok(luo_text_escape(buf, sizeof(buf), "a\0b", 3) == 6 && !strcmp(buf, "a\\x00b"), "NUL is escaped");
	ok(luo_utf8_trim("ab\xe2\x82", 4) == 2 && luo_utf8_trim("ab\xe2\x82\xac", 5) == 5 &&
		   luo_utf8_trim("ab\xc3", 3) == 2 && luo_utf8_trim("abc", 3) == 3,
	   "a character cut at the end is trimmed");
}

/* Move one message from @a to @b, however large: returns what luo_conn_next() said. */
static int transfer(struct luo_conn *a, struct luo_conn *b, struct json_object **got)
{
	int fds[LUO_PROTO_MAX_FDS];
	size_t n;
	int r;

	fcntl(a->fd, F_SETFL, O_NONBLOCK);
	fcntl(b->fd, F_SETFL, O_NONBLOCK);
	for (;;) {
		r = luo_conn_flush(a);
		if (r < 0 && r != -EAGAIN)
			return r;
		r = luo_conn_next(b, got, fds, &n);
		if (r != 0)
			return r;
		r = luo_conn_read(b);
		if (r < 0 && r != -EAGAIN)
			return r;
		if (r == LUO_CONN_EOF)
			return -ECONNRESET;
	}
}

static struct json_object *new_with_string(const char *key, char ch, size_t len)
{
	struct json_object *m = json_object_new_object();
	char *v = malloc(len + 1);

	memset(v, ch, len);
	v[len] = '\0';
	json_object_object_add(m, key, json_object_new_string(v));
	free(v);
	return m;
}

/* The two limits: commands to luod, and the larger messages from luod. */
static void test_side_limits(void)
{
	const size_t big = LUO_PROTO_MAX_LUOD_LINE;
	struct luo_conn luod, client;
	struct json_object *m, *got = NULL;
	int sv[2];

	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	luo_conn_init(&luod, sv[0]);
	luo_conn_init_client(&client, sv[1]);

	/* A short command takes a small buffer: luod has hundreds of peers. */
	m = new_with_string("a", 'x', 16);
	ok(luo_conn_queue(&client, m, NULL, 0) == 0 && transfer(&client, &luod, &got) == 1, "a short command");
	ok(luod.in_cap == 4096, "is read into a buffer of 4096 bytes, not the %d of the limit (%zu)",
	   LUO_PROTO_MAX_LINE, luod.in_cap);
	json_object_put(got);
	json_object_put(m);

	/* {"a":"..."} is 8 bytes and the newline. */
	m = new_with_string("a", 'x', LUO_PROTO_MAX_LINE - 9);
	ok(luo_conn_queue(&client, m, NULL, 0) == 0, "a command of exactly %d bytes can be sent", LUO_PROTO_MAX_LINE);
	ok(transfer(&client, &luod, &got) == 1, "and luod takes it");
	ok(luod.in_cap == LUO_PROTO_MAX_LINE, "in a buffer grown to the limit (%zu)", luod.in_cap);
	json_object_put(got);
	json_object_put(m);
	m = new_with_string("a", 'x', LUO_PROTO_MAX_LINE - 8);
	ok(luo_conn_queue(&client, m, NULL, 0) == -EMSGSIZE, "one byte more is not sent: EMSGSIZE");
	json_object_put(m);

	m = new_with_string("a", 'x', big - 9);
	ok(luo_conn_queue(&luod, m, NULL, 0) == 0, "luod can send a message of exactly %zu bytes", big);
	got = NULL;
	ok(transfer(&luod, &client, &got) == 1 && strlen(luo_msg_string(got, "a")) == big - 9, "and a client takes it");
	json_object_put(got);
	json_object_put(m);
	m = new_with_string("a", 'x', big - 8);
	ok(luo_conn_queue(&luod, m, NULL, 0) == -EMSGSIZE, "one byte more is not sent by luod: EMSGSIZE");
	json_object_put(m);

	/* A command as large as a message from luod is still refused by luod. */
	m = new_with_string("a", 'x', LUO_PROTO_MAX_LINE);
	client.max_out = big;
	ok(luo_conn_queue(&client, m, NULL, 0) == 0, "(a client that ignores the limit)");
	got = NULL;
	ok(transfer(&client, &luod, &got) == -EMSGSIZE, "luod refuses a command over %d bytes: EMSGSIZE",
	   LUO_PROTO_MAX_LINE);
	json_object_put(m);
	luo_conn_release(&luod);
	luo_conn_release(&client);
}

/* The longest text a LOAD command can give luod to keep, as luod decodes it. */
static struct json_object *largest_load(void)
{
	const size_t max = LUO_PROTO_MAX_LINE - 1; /* without the newline */
	char *line = malloc(max + 1), *p = line;
	struct json_object *req = NULL;
	size_t used;

	/* Each \u0001 is 6 bytes on the wire and stays 6 when luod writes it again. */
	p += sprintf(p, "{\"cmd\":\"LOAD\",\"dry_run\":false,\"fds\":8,\"cmdline\":\"");
	for (int i = 0; i < 4095 / 6; i++)
		p += sprintf(p, "\\u0001");
	p += sprintf(p, "\",\"initrds\":[");
	for (int i = 0; i < LUO_PROTO_MAX_FDS - 1; i++)
		p += sprintf(p, "%s\"/boot/initrd-%d\"", i ? "," : "", i);
	p += sprintf(p, "],\"kernel\":\"");
	used = p - line + 2;
	memset(p, 'k', max - used);
	p += max - used;
	p += sprintf(p, "\"}");
	if ((size_t)(p - line) != max || luo_proto_parse(line, max, &req) < 0)
		req = NULL;
	free(line);
	return req;
}

static struct json_object *new_text(char ch, size_t len)
{
	char *v = malloc(len + 1);
	struct json_object *o;

	memset(v, ch, len);
	v[len] = '\0';
	o = json_object_new_string(v);
	free(v);
	return o;
}

/*
 * The largest STATUS luod can send, built as status_json() (src/daemon/daemon.c)
 * and load_handle() (src/daemon/load.c) build it, at the documented maxima:
 * LUOD_MAX_SUBS clients and as many sessions carried over, with the longest
 * ids, session names, texts and numbers, and the kernel loaded by the largest
 * LOAD command. It must fit LUO_PROTO_MAX_LUOD_LINE; the host test
 * test_status_at_maxima checks the real thing.
 */
static void test_status_worst_case(void)
{
	struct json_object *st = luo_msg_ok(), *arr, *x, *req = largest_load(), *ld, *v;
	char *text = NULL;
	size_t len = 0;

	ok(req != NULL, "the largest LOAD command is a valid command");
	json_object_object_add(st, "version", json_object_new_int(LUO_PROTO_VERSION));
	json_object_object_add(st, "daemon", new_text('v', 32));
	json_object_object_add(st, "state", json_object_new_string("subscribed"));
	x = json_object_new_object();
	json_object_object_add(x, "available", json_object_new_boolean(0));
	json_object_object_add(x, "error", new_text('e', 128));
	json_object_object_add(st, "luo", x);
	json_object_object_add(st, "kexec_loaded", json_object_new_boolean(0));
	json_object_object_add(st, "updates", json_object_new_int64(INT64_MIN));
	x = json_object_new_object();
	json_object_object_add(x, "elapsed_ms", json_object_new_int64(INT64_MIN));
	json_object_object_add(x, "remaining_ms", json_object_new_int64(INT64_MIN));
	json_object_object_add(x, "requested_by", json_object_new_int64(UINT32_MAX));
	json_object_object_add(st, "update", x);
	arr = json_object_new_array();
	for (int i = 0; i < LUOD_MAX_SUBS; i++) {
		x = json_object_new_object();
		json_object_object_add(x, "id", new_text('i', LUO_ID_MAX));
		json_object_object_add(x, "pid", json_object_new_int(INT32_MIN));
		json_object_object_add(x, "uid", json_object_new_int64(UINT32_MAX));
		json_object_object_add(x, "state", json_object_new_string("subscribed"));
		json_object_object_add(x, "connected", json_object_new_boolean(0));
		json_object_object_add(x, "session", new_text('s', LUOD_SESSION_NAME_MAX - 1));
		json_object_array_add(arr, x);
	}
	json_object_object_add(st, "clients", arr);
	arr = json_object_new_array();
	for (int i = 0; i < LUOD_MAX_SUBS; i++) {
		x = json_object_new_object();
		json_object_object_add(x, "id", new_text('i', LUO_ID_MAX));
		json_object_object_add(x, "uid", json_object_new_int64(UINT32_MAX));
		json_object_object_add(x, "session", new_text('s', LUOD_SESSION_NAME_MAX - 1));
		json_object_object_add(x, "state", json_object_new_string("unclaimed"));
		json_object_object_add(x, "pid", json_object_new_int(INT32_MIN));
		json_object_array_add(arr, x);
	}
	json_object_object_add(st, "sessions", arr);
	ld = json_object_new_object();
	json_object_object_add(ld, "kernel", json_object_get(json_object_object_get(req, "kernel")));
	if (json_object_object_get_ex(req, "initrds", &v))
		json_object_object_add(ld, "initrds", json_object_get(v));
	json_object_object_add(ld, "cmdline", json_object_get(json_object_object_get(req, "cmdline")));
	json_object_object_add(ld, "size", json_object_new_int64(INT64_MIN));
	json_object_object_add(ld, "sha256", new_text('0', 64));
	/* The image's version string: 127 bytes, each a control character (6 bytes escaped). */
	json_object_object_add(ld, "version", new_text('\x01', 127));
	json_object_object_add(ld, "initrd_size", json_object_new_int64(INT64_MIN));
	json_object_object_add(ld, "loaded_at", json_object_new_int64(INT64_MIN));
	json_object_object_add(ld, "loaded_by", json_object_new_int64(UINT32_MAX));
	json_object_object_add(st, "loaded", ld);
	json_object_object_add(st, "loaded_changed", json_object_new_boolean(0));

	ok(luo_proto_encode(st, &text, &len) == 0, "the worst-case STATUS encodes");
	ok(len + 1 > LUO_PROTO_MAX_LINE, "it does not fit a command's limit (%zu bytes > %d)", len + 1,
	   LUO_PROTO_MAX_LINE);
	ok(len + 1 <= LUO_PROTO_MAX_LUOD_LINE, "it fits the limit of messages from luod (%zu <= %d bytes)", len + 1,
	   LUO_PROTO_MAX_LUOD_LINE);
	free(text);
	json_object_put(st);
	json_object_put(req);
}

static void test_limits(void)
{
	size_t max = LUO_PROTO_MAX_LINE;
	char *big = malloc(max + 1);
	struct luo_conn a, b;
	struct json_object *m;
	int r;

	/* {"a":"xxx...x"}\n of exactly the limit */
	memcpy(big, "{\"a\":\"", 6);
	memset(big + 6, 'x', max - 9);
	memcpy(big + max - 3, "\"}\n", 3);
	ok(raw_case(big, max, NULL, 0, NULL) == 1, "a message of exactly %zu bytes is accepted", max);
	memset(big + 6, 'x', max - 8);
	memcpy(big + max - 2, "\"}\n", 3);
	ok(raw_case(big, max + 1, NULL, 0, NULL) == -EMSGSIZE, "one byte more is EMSGSIZE");

	pair(&a, &b);
	a.max_out = LUO_PROTO_MAX_LINE; /* a's commands */
	/* {"a":"<max-8 x>"} plus the newline is one byte over. */
	memset(big, 'x', max - 8);
	big[max - 8] = '\0';
	m = json_object_new_object();
	json_object_object_add(m, "a", json_object_new_string(big));
	ok(luo_conn_queue(&a, m, NULL, 0) == -EMSGSIZE, "encoding a too long message is refused");
	json_object_put(m);
	m = json_object_new_object();
	big[4096] = '\0';
	json_object_object_add(m, "a", json_object_new_string(big));
	r = 0;
	for (int i = 0; i < 2000 && r == 0; i++)
		r = luo_conn_queue(&a, m, NULL, 0);
	ok(r == -ENOBUFS, "output that piles up unread hits ENOBUFS");
	json_object_put(m);
	luo_conn_release(&a);
	luo_conn_release(&b);
	free(big);
}

static void test_split(void)
{
	struct luo_conn a, b;
	struct json_object *got = NULL;
	int fds[LUO_PROTO_MAX_FDS];
	size_t n;
	const char *rest = "ADY\"}\n{\"cmd\":\"A\"}\n{\"cmd\":\"B\"}\n";
	int r, count = 0;

	pair(&a, &b);
	send_raw(a.fd, "{\"cmd\":\"RE", 10, NULL, 0);
	ok(luo_conn_read(&b) == 0 && luo_conn_next(&b, &got, fds, &n) == 0, "a partial line is not a message");
	send_raw(a.fd, rest, strlen(rest), NULL, 0);
	luo_conn_release(&a);
	while ((r = next(&b, &got, fds, &n)) == 1) {
		count++;
		if (count == 1)
			ok(!strcmp(luo_msg_string(got, "cmd"), "READY"), "the split line is joined");
		json_object_put(got);
	}
	ok(count == 3, "three messages from two reads (%d)", count);
	luo_conn_release(&b);
}

static void test_helpers(void)
{
	struct json_object *e = luo_msg_error(EPERM, "no %s", "way");
	int64_t v = 0;

	ok(!luo_msg_bool(e, "ok") && !strcmp(luo_msg_string(e, "error"), "no way") &&
		   luo_msg_int(e, "errno", &v) == 0 && v == EPERM && !strcmp(luo_msg_string(e, "errname"), "EPERM"),
	   "error replies carry text, errno and errname");
	ok(luo_msg_string(e, "errno") == NULL, "a number is not a string");
	ok(luo_msg_int(e, "error", &v) == -EINVAL && luo_msg_int(e, "nope", &v) == -ENOENT, "int getter errors");
	json_object_put(e);
	ok(luo_id_valid("vm-42") && luo_id_valid("db_1.main") && luo_id_valid("A"), "good ids");
	ok(!luo_id_valid("") && !luo_id_valid(NULL) && !luo_id_valid("a b") && !luo_id_valid("a/b") &&
		   !luo_id_valid(".x") && !luo_id_valid("-x") && !luo_id_valid("é"),
	   "bad ids");
	ok(luo_id_valid("123456789012345678901234567890123456789012345678") &&
		   !luo_id_valid("1234567890123456789012345678901234567890123456789"),
	   "ids are at most %d bytes", LUO_ID_MAX);
	ok(!strcmp(luo_errno_name(ETIMEDOUT), "ETIMEDOUT") && !strcmp(luo_errno_name(9999), "E?"), "errno names");
}

int main(void)
{
	test_roundtrip();
	test_fds();
	test_malformed();
	test_strict();
	test_strict_many_names();
	test_strict_conn();
	test_encode_utf8();
	test_text();
	test_limits();
	test_side_limits();
	test_status_worst_case();
	test_split();
	test_helpers();
	return tap_done();
}
