/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns when luod holds /dev/liveupdate, which only one process may hold at
 * a time. Without systemd 261+ luod holds it for its whole life, as the
 * only LUO agent. Under systemd 261+ PID 1 and systemd-shutdown need it
 * too: luod opens it only for the moments it needs it (creating the
 * sessions of an update, taking back state at start), waits a bounded
 * time while another process holds it, and names that process when it
 * gives up.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "luo-ops.h"
#include "util.h"

/* How long luod waits for /dev/liveupdate while another process holds it. */
#define DEVICE_WAIT_MS 5000
#define DEVICE_RETRY_MS 20

/**
 * device_holder() - who holds /dev/liveupdate, for an error message.
 * @buf: receives "pid N (comm)", or what luod may not see
 * @len: its size
 */
void device_holder(char *buf, size_t len)
{
	struct dirent *de;
	DIR *proc;

	snprintf(buf, len,
		 "a process luod cannot see (without CAP_SYS_PTRACE it cannot look into PID 1 or "
		 "other services; systemd holds the device while it starts LUOSession= units)");
	proc = opendir("/proc");
	if (!proc)
		return;
	while ((de = readdir(proc))) {
		char path[PATH_MAX], target[PATH_MAX];
		DIR *fds;
		struct dirent *fe;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", de->d_name);
		fds = opendir(path);
		if (!fds)
			continue;
		while ((fe = readdir(fds))) {
			char link[PATH_MAX + 300];
			ssize_t n;

			snprintf(link, sizeof(link), "%s/%s", path, fe->d_name);
			n = readlink(link, target, sizeof(target) - 1);
			if (n <= 0)
				continue;
			target[n] = '\0';
			if (!strcmp(target, LIVEUPDATE_DEVICE)) {
				char comm[64] = "?";
				FILE *f;

				snprintf(link, sizeof(link), "/proc/%s/comm", de->d_name);
				f = fopen(link, "re");
				if (f) {
					if (fgets(comm, sizeof(comm), f))
						comm[strcspn(comm, "\n")] = '\0';
					fclose(f);
				}
				snprintf(buf, len, "pid %.16s (%s)", de->d_name, comm);
				closedir(fds);
				closedir(proc);
				return;
			}
		}
		closedir(fds);
	}
	closedir(proc);
}

static int device_open_waiting(void)
{
	uint64_t deadline = now_ms() + DEVICE_WAIT_MS;
	int fd;

	for (;;) {
		struct timespec ts = { .tv_nsec = DEVICE_RETRY_MS * 1000000L };

		fd = luo_device_open();
		if (fd != -EBUSY || now_ms() >= deadline)
			return fd;
		nanosleep(&ts, NULL);
	}
}

/**
 * device_acquire() - make sure luod holds /dev/liveupdate (d->dev_fd) for
 * what it is about to do; under systemd 261+ it is opened now, waiting up
 * to DEVICE_WAIT_MS while another process holds it.
 * @d: the daemon
 * @why: receives the reason on failure (the holder, for EBUSY)
 * @len: its size
 *
 * Return: 0 or -errno (-EBUSY: another process kept it).
 */
int device_acquire(struct daemon *d, char *why, size_t len)
{
	char who[256];
	int fd;

	if (d->dev_fd >= 0)
		return 0;
	if (!d->with_systemd) {
		snprintf(why, len, "%s",
			 d->dev_err == ENOENT ? "/dev/liveupdate does not exist" : strerror(d->dev_err));
		return -(d->dev_err ? d->dev_err : ENODEV);
	}
	fd = device_open_waiting();
	if (fd >= 0) {
		d->dev_fd = fd;
		return 0;
	}
	if (fd == -EBUSY) {
		device_holder(who, sizeof(who));
		snprintf(why, len, "/dev/liveupdate is held by %s (waited %d ms for it)", who, DEVICE_WAIT_MS);
	} else {
		snprintf(why, len, "cannot open /dev/liveupdate: %s", strerror(-fd));
	}
	return fd;
}

/**
 * device_release() - done with /dev/liveupdate for now: under systemd 261+
 * it is closed (sessions outlive it), so that systemd can have it.
 * @d: the daemon
 */
void device_release(struct daemon *d)
{
	if (d->with_systemd) {
		closep(&d->dev_fd);
		d->dev_fd = -1;
	}
}
