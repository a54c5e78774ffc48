/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests libluo-client against a fake luod: a forked child that listens on a
 * socket in a temporary directory and plays a fixed script with protocol.c.
 * Needs neither luod nor LUO. Prints TAP.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "luo-client.h"
#include "protocol.h"
#include "util.h"

/* START_PRESERVATION events sent in one burst before a reply. */
#define N_BURST 40

static int n_tests;
static int n_failed;

static void ok(bool pass, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ok(bool pass, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", pass ? "ok" : "not ok", ++n_tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!pass)
		n_failed++;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int memfd_with(const char *text)
{
	int fd = memfd_create("test-client", MFD_CLOEXEC);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	return fd;
}

/* The content of @fd (from offset 0), or "" */
static const char *fd_text(int fd)
{
	static char buf[64];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* --- the fake luod (child process) ------------------------------------ */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("# fake luod: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	_exit(1);
}

static void fake_accept(int lfd, struct luo_conn *c)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		die("accept: %m");
	luo_conn_init(c, fd);
}

static struct json_object *fake_recv(struct luo_conn *c, int *fds, size_t *n_fds)
{
	struct json_object *msg;
	int r;

	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };

		r = luo_conn_next(c, &msg, fds, n_fds);
		if (r > 0)
			return msg;
		if (r < 0)
			die("bad message from the client: %s", strerror(-r));
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			die("poll: %m");
		r = luo_conn_read(c);
		if (r == LUO_CONN_EOF)
			die("the client closed the connection");
		if (r < 0 && r != -EAGAIN)
			die("read: %s", strerror(-r));
	}
}

/* Receive a command, check its name and optional string member. */
static struct json_object *fake_expect(struct luo_conn *c, const char *cmd, const char *key, const char *value)
{
	int fds[LUO_PROTO_MAX_FDS];
	size_t n_fds;
	struct json_object *msg = fake_recv(c, fds, &n_fds);
	const char *name = luo_msg_string(msg, "cmd");
	const char *v;

	if (n_fds)
		die("%s carried %zu fds", cmd, n_fds);
	if (!name || strcmp(name, cmd))
		die("expected %s, got %s", cmd, json_object_to_json_string(msg));
	if (key) {
		v = luo_msg_string(msg, key);
		if (!v || strcmp(v, value))
			die("%s: expected %s=\"%s\", got %s", cmd, key, value, json_object_to_json_string(msg));
	}
	return msg;
}

static void fake_send(struct luo_conn *c, struct json_object *msg, int fd)
{
	int r = luo_conn_queue(c, msg, &fd, fd >= 0 ? 1 : 0);

	json_object_put(msg);
	if (r == 0)
		r = luo_conn_flush(c);
	if (r < 0)
		die("send: %s", strerror(-r));
	closep(&fd);
}

static void fake_send_raw(struct luo_conn *c, const char *line)
{
	if (write(c->fd, line, strlen(line)) != (ssize_t)strlen(line))
		die("write: %m");
}

static struct json_object *aborted(const char *reason, int err)
{
	struct json_object *e = luo_msg_event("ABORTED");

	json_object_object_add(e, "reason", json_object_new_string(reason));
	json_object_object_add(e, "errno", json_object_new_int(err));
	json_object_object_add(e, "errname", json_object_new_string(luo_errno_name(err)));
	json_object_object_add(e, "clients", json_object_new_array());
	return e;
}

static struct json_object *start_preservation(const char *session, int update)
{
	struct json_object *e = luo_msg_event("START_PRESERVATION");

	json_object_object_add(e, "session", json_object_new_string(session));
	json_object_object_add(e, "update", json_object_new_int(update));
	json_object_object_add(e, "deadline_ms", json_object_new_int(30000));
	return e;
}

static struct json_object *ok_with(const char *key, const char *value)
{
	struct json_object *o = luo_msg_ok();

	json_object_object_add(o, key, json_object_new_string(value));
	return o;
}

static void fake_luod(int lfd)
{
	struct luo_conn c;
	struct json_object *o;

	alarm(30);

	/* Connection 1: the life of a client. */
	fake_accept(lfd, &c);
	json_object_put(fake_expect(&c, "SUBSCRIBE", "id", "t-1"));
	fake_send(&c, ok_with("id", "t-1"), -1);

	json_object_put(fake_expect(&c, "SUBSCRIBE", "id", "t-1"));
	fake_send(&c, luo_msg_error(EEXIST, "client t-1 is already subscribed"), -1);

	/* Events before the reply: queued, in order, with their fds. */
	json_object_put(fake_expect(&c, "READY", NULL, NULL));
	fake_send(&c, aborted("first", ETIMEDOUT), -1);
	fake_send(&c, start_preservation("luod.t-1", 3), memfd_with("hello"));
	fake_send(&c, luo_msg_event("FROM_THE_FUTURE"), memfd_with("ignored"));
	fake_send_raw(&c, "\n");
	fake_send(&c, aborted("second", ECANCELED), -1);
	fake_send(&c, luo_msg_ok(), -1);

	/* Many events with fds before an error reply. */
	json_object_put(fake_expect(&c, "SUBSCRIBE", "id", "t-1"));
	for (int i = 0; i < N_BURST; i++) {
		char text[16];

		snprintf(text, sizeof(text), "m%d", i);
		fake_send(&c, start_preservation("luod.t-1", 100 + i), memfd_with(text));
	}
	fake_send(&c, luo_msg_error(EALREADY, "already subscribed"), -1);

	json_object_put(fake_expect(&c, "CLAIM", "id", "t-1"));
	o = ok_with("id", "t-1");
	json_object_object_add(o, "session", json_object_new_string("luod.t-1"));
	json_object_object_add(o, "uid", json_object_new_int(4242));
	fake_send(&c, o, memfd_with("claimed"));

	json_object_put(fake_expect(&c, "DONE", NULL, NULL));
	fake_send(&c, ok_with("id", "t-1"), -1);

	/* A CLAIM reply without its fd. */
	json_object_put(fake_expect(&c, "CLAIM", "id", "t-1"));
	fake_send(&c, ok_with("id", "t-1"), -1);

	/* FAIL (and READY) name the session of the last START_PRESERVATION. */
	o = fake_expect(&c, "FAIL", "session", "luod.t-1");
	if (!luo_msg_string(o, "reason") || strcmp(luo_msg_string(o, "reason"), "disk full"))
		die("FAIL without its reason: %s", json_object_to_json_string(o));
	json_object_put(o);
	fake_send(&c, luo_msg_error(ECANCELED, "live update 7 was aborted: too late"), -1);
	json_object_put(fake_expect(&c, "FAIL", "reason", "disk full"));
	fake_send(&c, luo_msg_ok(), -1);
	/* A START_PRESERVATION without its fd, then a good event. */
	fake_send(&c, start_preservation("luod.t-1", 4), -1);
	fake_send(&c, aborted("after", EPERM), -1);

	/* The client waits for nothing (timeout), then sends DONE. */
	json_object_put(fake_expect(&c, "DONE", NULL, NULL));
	fake_send(&c, luo_msg_error(ENOTCONN, "this connection holds no claim"), -1);
	fake_send(&c, aborted("bye", ESHUTDOWN), -1);
	luo_conn_release(&c);

	/* Connection 2: junk instead of a reply. */
	fake_accept(lfd, &c);
	json_object_put(fake_expect(&c, "SUBSCRIBE", "id", "t-2"));
	fake_send_raw(&c, "this is not json\n");
	/* Wait for the client to give up. */
	{
		char b;

		while (read(c.fd, &b, 1) > 0)
			;
	}
	luo_conn_release(&c);

	/* Connection 3: luod goes away while a command waits. */
	fake_accept(lfd, &c);
	json_object_put(fake_expect(&c, "SUBSCRIBE", "id", "t-3"));
	luo_conn_release(&c);

	close(lfd);
	_exit(0);
}

/* --- the tests (parent) ----------------------------------------------- */

static void test_life(void)
{
	struct luo_client *c = NULL;
	struct luo_event ev;
	uid_t owner = 0;
	int64_t t0;
	int fd = -1;
	int r;

	r = luo_client_connect(NULL, &c);
	ok(r == 0 && c, "connect through $LUOD_SOCKET (%d)", r);
	if (r < 0)
		return;
	ok(luo_client_fd(c) >= 0 && (fcntl(luo_client_fd(c), F_GETFD) & FD_CLOEXEC), "the socket is CLOEXEC");

	r = luo_client_subscribe(c, "-bad");
	ok(r == -EINVAL && luo_client_error(c), "a bad id is refused locally (%d)", r);

	r = luo_client_subscribe(c, "t-1");
	ok(r == 0 && !luo_client_error(c), "subscribe ok (%d)", r);

	r = luo_client_subscribe(c, "t-1");
	ok(r == -EEXIST, "error reply gives -errno (%d)", r);
	ok(luo_client_error(c) && !strcmp(luo_client_error(c), "client t-1 is already subscribed"),
	   "error reply text in luo_client_error(): %s", luo_client_error(c));

	r = luo_client_ready(c);
	ok(r == 0, "a reply after events (%d)", r);

	r = luo_client_next_event(c, 0, &ev);
	ok(r == 0 && ev.type == LUO_EVENT_ABORTED && !strcmp(ev.reason, "first") && ev.error == ETIMEDOUT &&
		   ev.session_fd == -1,
	   "queued event 1: ABORTED first (%d)", r);
	luo_event_release(&ev);

	r = luo_client_next_event(c, 0, &ev);
	ok(r == 0 && ev.type == LUO_EVENT_START_PRESERVATION && !strcmp(ev.session, "luod.t-1") && ev.update == 3 &&
		   ev.deadline_ms == 30000,
	   "queued event 2: START_PRESERVATION (%d)", r);
	ok(ev.session_fd >= 0 && !strcmp(fd_text(ev.session_fd), "hello"), "START_PRESERVATION carries its fd");
	ok(ev.session_fd >= 0 && (fcntl(ev.session_fd, F_GETFD) & FD_CLOEXEC), "the event's fd is CLOEXEC");
	luo_event_release(&ev);
	ok(ev.session_fd == -1 && ev.type == LUO_EVENT_NONE, "luo_event_release() resets the event");
	luo_event_release(&ev);

	r = luo_client_next_event(c, 0, &ev);
	ok(r == 0 && ev.type == LUO_EVENT_ABORTED && !strcmp(ev.reason, "second"),
	   "queued event 3: unknown event skipped, ABORTED second (%d)", r);
	luo_event_release(&ev);

	r = luo_client_next_event(c, 0, &ev);
	ok(r == -ETIMEDOUT && ev.type == LUO_EVENT_NONE, "queue drained (%d)", r);

	r = luo_client_subscribe(c, "t-1");
	ok(r == -EALREADY, "error reply after %d events with fds (%d)", N_BURST, r);
	{
		int good = 0;

		for (int i = 0; i < N_BURST; i++) {
			char text[16];

			snprintf(text, sizeof(text), "m%d", i);
			r = luo_client_next_event(c, 0, &ev);
			if (r == 0 && ev.type == LUO_EVENT_START_PRESERVATION && ev.update == (uint64_t)(100 + i) &&
			    !strcmp(fd_text(ev.session_fd), text))
				good++;
			luo_event_release(&ev);
		}
		ok(good == N_BURST, "%d of %d queued events in order with their fds", good, N_BURST);
	}

	r = luo_client_claimed_uid(c, &owner);
	ok(r == -ENOENT, "no owner before a claim (%d)", r);
	r = luo_client_claim(c, "t-1", &fd);
	ok(r == 0 && fd >= 0 && !strcmp(fd_text(fd), "claimed"), "claim returns the session fd (%d)", r);
	r = luo_client_claimed_uid(c, &owner);
	ok(r == 0 && owner == 4242, "the claim reply's owner uid (%d, %u)", r, (unsigned)owner);
	ok(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC), "the claimed fd is CLOEXEC");
	closep(&fd);

	r = luo_client_done(c);
	ok(r == 0, "done (%d)", r);

	fd = 1234;
	r = luo_client_claim(c, "t-1", &fd);
	ok(r == -EPROTO && fd == -1 && luo_client_error(c), "a claim reply without fd is -EPROTO (%d): %s", r,
	   luo_client_error(c));

	r = luo_client_fail(c, "disk full");
	ok(r == -ECANCELED && luo_client_error(c) && strstr(luo_client_error(c), "was aborted"),
	   "a late FAIL is -ECANCELED with luod's reason (%d)", r);
	r = luo_client_fail(c, "disk full");
	ok(r == 0, "fail (%d)", r);

	r = luo_client_next_event(c, 5000, &ev);
	ok(r == -EPROTO && ev.session_fd == -1, "START_PRESERVATION without fd is -EPROTO (%d): %s", r,
	   luo_client_error(c));
	r = luo_client_next_event(c, 5000, &ev);
	ok(r == 0 && ev.type == LUO_EVENT_ABORTED && !strcmp(ev.reason, "after") && ev.error == EPERM,
	   "the connection survives a malformed event (%d)", r);
	luo_event_release(&ev);

	t0 = now_ms();
	r = luo_client_next_event(c, 150, &ev);
	t0 = now_ms() - t0;
	ok(r == -ETIMEDOUT && t0 >= 140 && t0 < 2000, "timeout gives -ETIMEDOUT (%d after %lld ms)", r, (long long)t0);

	r = luo_client_done(c);
	ok(r == -ENOTCONN && luo_client_error(c), "done without claim: -ENOTCONN (%d)", r);

	alarm(10);
	r = luo_client_next_event(c, -1, &ev);
	ok(r == 0 && ev.type == LUO_EVENT_ABORTED && !strcmp(ev.reason, "bye"), "an event sent before closing (%d)", r);
	luo_event_release(&ev);
	r = luo_client_next_event(c, -1, &ev);
	ok(r == -ECONNRESET, "luod closing gives -ECONNRESET, not a hang (%d): %s", r, luo_client_error(c));
	r = luo_client_ready(c);
	ok(r == -ECONNRESET && luo_client_error(c), "later commands fail too (%d): %s", r, luo_client_error(c));
	alarm(0);

	luo_client_free(c);
}

static void test_junk(const char *path)
{
	struct luo_client *c = NULL;
	struct luo_event ev;
	int r;

	r = luo_client_connect(path, &c);
	ok(r == 0, "connect to an explicit path (%d)", r);
	if (r < 0)
		return;
	alarm(10);
	r = luo_client_subscribe(c, "t-2");
	ok(r == -EPROTO, "junk instead of a reply: -EPROTO (%d): %s", r, luo_client_error(c));
	r = luo_client_next_event(c, -1, &ev);
	ok(r == -EPROTO, "the connection stays broken (%d)", r);
	alarm(0);
	luo_client_free(c);
}

static void test_gone(const char *path)
{
	struct luo_client *c = NULL;
	int r;

	r = luo_client_connect(path, &c);
	if (r < 0) {
		ok(false, "connect (%d)", r);
		return;
	}
	alarm(10);
	r = luo_client_subscribe(c, "t-3");
	ok(r == -ECONNRESET, "luod closing while a command waits: -ECONNRESET (%d)", r);
	alarm(0);
	luo_client_free(c);
}

int main(void)
{
	char dir[] = "/tmp/test-client.XXXXXX";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct luo_client *c = NULL;
	int lfd, status, fds_before, r;
	pid_t pid;

	fds_before = count_fds();
	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp: %m\n");
		return 1;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", dir);

	r = luo_client_connect(sa.sun_path, &c);
	ok((r == -ENOENT || r == -ECONNREFUSED) && !c, "connect without luod fails (%d)", r);

	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 8) < 0) {
		printf("Bail out! listen on %s: %m\n", sa.sun_path);
		return 1;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		printf("Bail out! fork: %m\n");
		return 1;
	}
	if (pid == 0)
		fake_luod(lfd);
	close(lfd);

	setenv("LUOD_SOCKET", sa.sun_path, 1);
	test_life();
	test_junk(sa.sun_path);
	test_gone(sa.sun_path);

	if (waitpid(pid, &status, 0) < 0)
		status = -1;
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the fake luod saw what it expected");
	ok(count_fds() == fds_before, "no fd leaked (%d before, %d after)", fds_before, count_fds());

	unlink(sa.sun_path);
	rmdir(dir);
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
