/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the protocol module: framing, fd passing, limits and the
 * message helpers, over real socketpairs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "protocol.h"
#include "tap.h"
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
	test_limits();
	test_split();
	test_helpers();
	return tap_done();
}
