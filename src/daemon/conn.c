/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns luod's connections, the transport below the commands: accepting
 * with the peer's credentials and the caps per uid, the file descriptor
 * budget, reading and framing commands (a bounded batch per turn, the ready
 * list), the output queue, and closing. It knows no command: complete
 * commands and closed connections go to the layer above through
 * d->conn_ops.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

/* Serve @c again in the next turn of the loop, even without a new EPOLLIN. */
static void conn_set_ready(struct conn *c)
{
	if (c->ready || c->dead)
		return;
	c->ready = true;
	c->ready_next = c->d->ready;
	c->d->ready = c;
}

static void conn_update_events(struct conn *c)
{
	/*
	 * A peer that does not take its replies gets no more commands read, nor
	 * does one whose command is being worked on (LOAD) until conn_resume().
	 */
	uint32_t want = luo_conn_has_output(&c->lc) ? EPOLLOUT : c->busy ? 0 : EPOLLIN;
	struct epoll_event ev = { .events = want, .data.ptr = &c->w };

	if (c->dead || want == c->events)
		return;
	if (epoll_ctl(c->d->epfd, EPOLL_CTL_MOD, c->lc.fd, &ev) == 0)
		c->events = want;
}

/**
 * conn_send() - queue a message to a connection and try to write it.
 * @c: the connection
 * @msg: the message; consumed
 * @fds: fds to attach (duplicated; the caller keeps its own)
 * @n_fds: their number
 *
 * A peer that does not keep up, or that is gone, is disconnected.
 */
void conn_send(struct conn *c, struct json_object *msg, const int *fds, size_t n_fds)
{
	int r;

	if (c->dead || c->failed) {
		json_object_put(msg);
		return;
	}
	r = msg ? luo_conn_queue(&c->lc, msg, fds, n_fds) : -ENOMEM;
	json_object_put(msg);
	if (r == 0)
		r = luo_conn_flush(&c->lc);
	if (r < 0 && r != -EAGAIN) {
		/* Closing is left to the loop: callers may be walking lists. */
		c->failed = r == -ENOBUFS ? "peer does not read its messages" : strerror(-r);
		return;
	}
	conn_update_events(c);
}

/**
 * conn_close() - end a connection; what it held is handed back.
 * @c: the connection; freed after the current batch of events
 * @why: for the debug log, or NULL
 *
 * The owner of the connections hears of it through conn_ops->closed().
 */
void conn_close(struct conn *c, const char *why)
{
	struct daemon *d = c->d;
	struct conn **p;

	if (c->dead)
		return;
	c->dead = true;
	log_debug("connection pid %d uid %u closed%s%s", (int)c->pid, (unsigned)c->uid, why ? ": " : "",
		  why ? why : "");
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->lc.fd, NULL);
	/* Its fds go at once, not at the end of the turn. */
	luo_conn_release(&c->lc);
	for (p = &d->conns; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	/* Off the ready list (a list being served skips dead connections). */
	for (p = &d->ready; c->ready && *p; p = &(*p)->ready_next) {
		if (*p == c) {
			*p = c->ready_next;
			c->ready = false;
			break;
		}
	}
	c->next = d->zombies;
	d->zombies = c;
	d->n_conns--;
	if (d->listen_paused) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &d->listen_w };

		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->listen_w.fd, &ev) == 0)
			d->listen_paused = false;
	}
	/* What the layers above hold of it (a subscription, a claim, a LOAD). */
	d->conn_ops->closed(c);
}

/*
 * The fds luod holds for @c: its socket, fds received and not yet used, and
 * the copy of a session it may be sending (a claimed one, or its own at
 * START_PRESERVATION; the session itself is charged to the subscription).
 */
static unsigned conn_fds(const struct conn *c)
{
	return 1 + (unsigned)c->lc.n_in_fds + (c->claim ? 1 : 0) + (c->sub && c->sub->session_fd >= 0 ? 1 : 0);
}

/* The fds charged to @uid, or to all non-root uids together for uid 0. */
static unsigned fds_charged(struct daemon *d, uid_t uid)
{
	unsigned n = 0;

	for (struct conn *c = d->conns; c; c = c->next)
		if (uid ? c->uid == uid : c->uid != 0)
			n += conn_fds(c);
	for (struct sub *s = d->subs; s; s = s->next)
		if (uid ? s->uid == uid : s->uid != 0)
			n++;
	return n;
}

/**
 * fd_budget() - may a uid make luod hold more file descriptors?
 * @d: the daemon
 * @uid: the peer's uid; root always may
 * @more: how many more it asks for (0: is it within its budget now?)
 * @why: receives the reason of a refusal, for the log and the peer
 * @len: its size
 *
 * Non-root uids share what RLIMIT_NOFILE leaves beyond the reserve for
 * root and updates, at most LUOD_MAX_FDS_PER_UID each (see daemon.h).
 *
 * Return: 0, or -EMFILE with @why set.
 */
int fd_budget(struct daemon *d, uid_t uid, unsigned more, char *why, size_t len)
{
	unsigned reserve = d->fd_limit / 4 > LUOD_FD_RESERVE_MIN ? d->fd_limit / 4 : LUOD_FD_RESERVE_MIN;
	unsigned held = d->n_carried + reserve;
	unsigned share = d->fd_limit > held ? d->fd_limit - held : 0;
	unsigned mine, all;

	if (uid == 0)
		return 0;
	mine = fds_charged(d, uid);
	if (mine + more > LUOD_MAX_FDS_PER_UID) {
		snprintf(why, len,
			 "uid %u would hold %u of luod's file descriptors (connections, fds sent, sessions); "
			 "the limit per uid is %d",
			 (unsigned)uid, mine + more, LUOD_MAX_FDS_PER_UID);
		return -EMFILE;
	}
	all = fds_charged(d, 0);
	if (all + more > share) {
		snprintf(why, len,
			 "the file descriptors luod lets non-root users hold are all in use (%u of %u; "
			 "the rest is kept for root and live updates)",
			 all, share);
		return -EMFILE;
	}
	return 0;
}

/* Close a connection whose uid holds more fds than it may; tell it why. */
static bool conn_over_budget(struct conn *c)
{
	char why[256];

	if (fd_budget(c->d, c->uid, 0, why, sizeof(why)) == 0)
		return false;
	log_warning_peer("closing a connection of pid %d: %s", (int)c->pid, why);
	conn_send(c, luo_msg_error(EMFILE, "%s", why), NULL, 0);
	conn_close(c, NULL);
	return true;
}

/* The peer broke the protocol: say why (best effort), log it (rate-limited) and close. */
static void conn_protocol_error(struct conn *c, int err)
{
	const char *why = err == -EMSGSIZE  ? "message too long"
			  : err == -EBADMSG ? "malformed message (not one strict JSON object in UTF-8)"
			  : err == -EPROTO  ? "protocol error in fd passing"
					    : strerror(-err);

	log_warning_peer("closing connection of pid %d uid %u: %s", (int)c->pid, (unsigned)c->uid, why);
	if (err == -EMSGSIZE || err == -EBADMSG || err == -EPROTO)
		conn_send(c, luo_msg_error(-err, "protocol error: %s; closing the connection", why), NULL, 0);
	conn_close(c, NULL);
}

/*
 * Serve one connection for one turn of the loop: at most LUOD_CONN_BATCH
 * commands and one read. If it may have more commands buffered it goes on
 * the ready list; more data on the socket brings EPOLLIN again (level
 * triggered); a peer that does not read its replies is served again once
 * they are written.
 */
static void conn_input(struct conn *c)
{
	bool did_read = false;

	c->turn = c->d->turn;
	for (unsigned n = 0;; n++) {
		_cleanup_json_ struct json_object *msg = NULL;
		int fds[LUO_PROTO_MAX_FDS];
		size_t n_fds = 0;
		int r;

		if (c->dead || c->failed || c->busy || luo_conn_has_output(&c->lc))
			return;
		if (n == LUOD_CONN_BATCH) {
			conn_set_ready(c);
			return;
		}
		r = luo_conn_next(&c->lc, &msg, fds, &n_fds);
		if (r == 0) {
			if (did_read)
				return;
			did_read = true;
			r = luo_conn_read(&c->lc);
			if (r == -EAGAIN)
				return;
			if (r == LUO_CONN_EOF) {
				conn_close(c, "end of stream");
				return;
			}
			if (r < 0) {
				conn_protocol_error(c, r);
				return;
			}
			if (c->lc.n_in_fds && conn_over_budget(c))
				return;
			continue;
		}
		if (r < 0) {
			conn_protocol_error(c, r);
			return;
		}
		c->d->conn_ops->command(c, msg, fds, n_fds);
		if (c->busy)
			conn_update_events(c); /* stop reading until conn_resume() */
	}
}

static void conn_event(struct watch *w, uint32_t events)
{
	struct conn *c = container_of(w, struct conn, w);

	if (c->dead)
		return;
	if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) && luo_conn_has_output(&c->lc)) {
		int r = luo_conn_flush(&c->lc);

		if (r < 0 && r != -EAGAIN) {
			conn_close(c, strerror(-r));
			return;
		}
		conn_update_events(c);
		/* Written out: the commands it sent meanwhile are served next turn. */
		if (!luo_conn_has_output(&c->lc))
			conn_set_ready(c);
	}
	if (c->failed)
		return;
	if (c->busy) {
		/* Its input waits for the reply in progress; a peer gone is closed now. */
		if (events & (EPOLLHUP | EPOLLERR))
			conn_close(c, "hung up while waiting for its reply");
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		conn_input(c);
}

/**
 * conn_resume() - the command a connection waited for has its reply: read on.
 * @c: the connection (busy until now)
 *
 * Its buffered commands are served in the next turn of the loop.
 */
void conn_resume(struct conn *c)
{
	c->busy = false;
	if (c->dead || c->failed)
		return;
	conn_update_events(c);
	conn_set_ready(c);
}

/* Refuse a connection just accepted, with a reply that says why. */
static void refuse(int fd, const struct ucred *cred, int err, const char *why)
{
	_cleanup_json_ struct json_object *msg = luo_msg_error(err, "%s", why);
	const char *s = msg ? json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN) : NULL;

	log_warning_peer("refusing a connection of pid %d uid %u: %s", (int)cred->pid, (unsigned)cred->uid, why);
	if (s && send(fd, s, strlen(s), MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
		send(fd, "\n", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

/* Accept one connection; false when there is none to accept now. */
static bool accept_one(struct daemon *d, struct watch *w)
{
	struct epoll_event ev;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	unsigned all = 0, mine = 0;
	char why[256];
	struct conn *c;
	int fd;

	fd = accept4(w->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE) {
			/* Stop accepting until a connection goes away, rather than spin. */
			log_warning_peer("out of file descriptors; not accepting connections for now");
			epoll_ctl(d->epfd, EPOLL_CTL_DEL, w->fd, NULL);
			d->listen_paused = true;
		}
		return false;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		close(fd);
		return true;
	}
	for (c = d->conns; c; c = c->next) {
		all += c->uid != 0;
		mine += c->uid == cred.uid;
	}
	if (cred.uid != 0 && (all >= LUOD_MAX_CONNS || mine >= LUOD_MAX_CONNS_PER_UID)) {
		snprintf(why, sizeof(why),
			 "too many connections (%u of uid %u, limit %d; %u of non-root uids, limit %d)", mine,
			 (unsigned)cred.uid, LUOD_MAX_CONNS_PER_UID, all, LUOD_MAX_CONNS);
		refuse(fd, &cred, EUSERS, why);
		return true;
	}
	if (fd_budget(d, cred.uid, 1, why, sizeof(why)) < 0) {
		refuse(fd, &cred, EMFILE, why);
		return true;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return true;
	}
	c->d = d;
	luo_conn_init(&c->lc, fd);
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->pid = cred.pid;
	c->w = (struct watch){ .fd = fd, .cb = conn_event };
	c->events = EPOLLIN;
	ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &c->w };
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		luo_conn_release(&c->lc);
		free(c);
		return true;
	}
	c->next = d->conns;
	d->conns = c;
	d->n_conns++;
	log_debug("connection from pid %d uid %u", (int)c->pid, (unsigned)c->uid);
	return true;
}

/* A bounded number of connections per turn, like the commands of one. */
static void listen_event(struct watch *w, uint32_t events)
{
	struct daemon *d = container_of(w, struct daemon, listen_w);

	for (unsigned n = 0; n < LUOD_CONN_BATCH && !d->listen_paused; n++)
		if (!accept_one(d, w))
			return;
}

/**
 * conn_reap() - close the connections that failed, free the closed ones.
 * @d: the daemon
 *
 * Called at the end of each turn of the loop, when no list is being walked.
 */
void conn_reap(struct daemon *d)
{
	struct conn *c;
	bool again = true;

	/* Closing one connection can make sends to others fail: repeat. */
	while (again) {
		again = false;
		for (c = d->conns; c; c = c->next) {
			if (c->failed) {
				conn_close(c, c->failed);
				again = true;
				break;
			}
		}
	}

	while ((c = d->zombies)) {
		d->zombies = c->next;
		luo_conn_release(&c->lc);
		free(c);
	}
}

/**
 * conn_serve_ready() - serve the connections left with commands buffered.
 * @d: the daemon
 *
 * One batch each; one whose event was served in this turn waits for the next.
 */
void conn_serve_ready(struct daemon *d)
{
	struct conn *list = d->ready, *c;

	d->ready = NULL;
	while ((c = list)) {
		list = c->ready_next;
		c->ready = false;
		if (c->dead)
			continue;
		if (c->turn == d->turn)
			conn_set_ready(c); /* Its event came first: next turn. */
		else
			conn_input(c);
	}
}

/**
 * conn_listen() - accept connections on a listening socket.
 * @d: the daemon; its loop is set up (loop_init())
 * @listen_fd: bound and listening; owned by @d from now on
 *
 * Return: 0 or -errno.
 */
int conn_listen(struct daemon *d, int listen_fd)
{
	d->listen_w = (struct watch){ .fd = listen_fd, .cb = listen_event };
	return loop_watch_add(d, &d->listen_w);
}

/**
 * conn_done() - close every connection and the listening socket.
 * @d: the daemon
 */
void conn_done(struct daemon *d)
{
	while (d->conns)
		conn_close(d->conns, "luod is stopping");
	conn_reap(d);
	closep(&d->listen_w.fd);
}
