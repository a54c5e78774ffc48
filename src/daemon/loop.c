/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns luod's event loop: the epoll set of watches (each callback finds its
 * owner with container_of), the signals taken through a signalfd, and the
 * turns of the loop: signals and timers first, then every watch with
 * events, then the connections left with commands buffered (conn.c).
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

/* Signals that stop luod cleanly (an update in progress is aborted first). */
static bool signal_stops(int sig)
{
	return sig == SIGTERM || sig == SIGINT || sig == SIGQUIT;
}

/*
 * Every signal whose default action would end luod without a word to its
 * clients, except the ones that report a fault of luod itself (SIGSEGV...)
 * and SIGKILL: taken through the signalfd.
 */
static void signal_mask(sigset_t *mask)
{
	static const int sigs[] = { SIGTERM, SIGINT,	SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2,
				    SIGALRM, SIGVTALRM, SIGPROF, SIGIO,	 SIGPWR,  SIGSTKFLT };

	sigemptyset(mask);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaddset(mask, sigs[i]);
	for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
		sigaddset(mask, sig);
}

/**
 * loop_block_signals() - hold the signals luod takes through its signalfd.
 *
 * Called first thing at start: one that arrives before the event loop runs
 * waits for it instead of ending luod, say while it takes its sessions back
 * after a live update.
 */
void loop_block_signals(void)
{
	sigset_t mask;

	signal_mask(&mask);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void signal_event(struct watch *w, uint32_t events)
{
	struct daemon *d = container_of(w, struct daemon, signal_w);
	struct signalfd_siginfo si;

	while (read(w->fd, &si, sizeof(si)) == sizeof(si)) {
		int sig = (int)si.ssi_signo;
		const char *name = sigabbrev_np(sig);

		if (signal_stops(sig)) {
			log_info("received SIG%s, stopping", name ? name : "?");
			d->quit = true;
		} else if (name) {
			log_notice("received SIG%s from pid %u: ignored (luod has nothing to reload; "
				   "SIGTERM stops it)",
				   name, si.ssi_pid);
		} else {
			log_notice("received signal %d from pid %u: ignored", sig, si.ssi_pid);
		}
	}
}

/**
 * loop_watch_add() - watch an fd for input in the event loop.
 * @d: the daemon
 * @w: the watch; its callback finds its owner with container_of
 *
 * Return: 0 or -errno.
 */
int loop_watch_add(struct daemon *d, struct watch *w)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };

	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0 ? -errno : 0;
}

/**
 * loop_init() - create the epoll set and watch the stop signals.
 * @d: the daemon
 *
 * Return: 0 or -errno.
 */
int loop_init(struct daemon *d)
{
	sigset_t mask;

	d->signal_w = (struct watch){ .fd = -1, .cb = signal_event };
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0)
		return -errno;
	loop_block_signals();
	signal_mask(&mask);
	d->signal_w.fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (d->signal_w.fd < 0)
		return -errno;
	return loop_watch_add(d, &d->signal_w);
}

/**
 * loop_run() - serve until SIGTERM, SIGINT or SIGQUIT.
 * @d: the daemon
 *
 * Each turn serves signals and timers first, then every connection with
 * something to do for one bounded batch (conn.c), so no peer can hold
 * the others, the update's deadline or a stop request back. While some
 * connection has commands buffered, the wait does not block.
 *
 * Return: 0 or -errno when the loop itself fails.
 */
int loop_run(struct daemon *d)
{
	while (!d->quit) {
		struct epoll_event evs[32];
		int n = epoll_wait(d->epfd, evs, ARRAY_SIZE(evs), d->ready ? 0 : -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		d->turn++;
		for (int i = 0; i < n; i++) {
			struct watch *w = evs[i].data.ptr;

			if (w == &d->signal_w || w == &d->timer_w) {
				w->cb(w, evs[i].events);
				evs[i].data.ptr = NULL;
			}
		}
		for (int i = 0; i < n && !d->quit; i++) {
			struct watch *w = evs[i].data.ptr;

			if (w)
				w->cb(w, evs[i].events);
		}
		if (!d->quit)
			conn_serve_ready(d);
		conn_reap(d);
	}
	return 0;
}

/**
 * loop_done() - close the signalfd and the epoll set.
 * @d: the daemon
 */
void loop_done(struct daemon *d)
{
	closep(&d->signal_w.fd);
	closep(&d->epfd);
}
