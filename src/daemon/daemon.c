/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns luod as a whole: setting its layers up in order (the event loop,
 * the connections with dispatch.c as their owner, the update's timer),
 * running it, and taking everything down at the end.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "daemon.h"
#include "kexec.h"
#include "log.h"
#include "util.h"

/**
 * daemon_init() - set up the event loop around a listening socket.
 * @d: the daemon; its device fields must already be set
 * @listen_fd: bound and listening; owned by @d from now on
 *
 * Return: 0 or -errno.
 */
int daemon_init(struct daemon *d, int listen_fd)
{
	int r;

	d->listen_w.fd = listen_fd;
	d->signal_w.fd = -1;
	d->timer_w.fd = -1;
	d->conn_ops = &dispatch_conn_ops;
	r = loop_init(d);
	if (r == 0)
		r = conn_listen(d, listen_fd);
	if (r == 0)
		r = update_init(d);
	return r;
}

/**
 * daemon_run() - serve until SIGTERM, SIGINT or SIGQUIT.
 * @d: the daemon
 *
 * Return: 0 or -errno when the loop itself fails.
 */
int daemon_run(struct daemon *d)
{
	return loop_run(d);
}

/**
 * daemon_done() - stop: abort an update in progress, close everything.
 * @d: the daemon
 */
void daemon_done(struct daemon *d)
{
	if (d->state == D_PREPARING)
		update_abort(d, ESHUTDOWN, NULL, "luod is stopping");
	conn_done(d);
	update_done(d);
	if (d->store_committed)
		log_notice("stopping; the sessions of live update %llu are in the service manager's fd store for the "
			   "kexec",
			   (unsigned long long)d->updates + 1);
	else if (d->carried && d->store_fd < 0)
		log_warning("stopping with sessions from the previous update unclaimed: their data is lost");
	else if (d->carried)
		log_notice("stopping; the sessions from the previous update stay in the service manager's fd store");
	closep(&d->store_fd);
	while (d->carried)
		carried_free(d, d->carried);
	while (d->bindings)
		binding_drop(d, d->bindings);
	json_object_put(d->lost);
	free(d->record_path);
	load_done(d);
	json_object_put(d->loaded);
	loop_done(d);
	closep(&d->dev_fd);
}
