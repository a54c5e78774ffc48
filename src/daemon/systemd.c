/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns what luod asks of systemd as PID 1, beyond the notification
 * protocol (sd.c): which systemd runs (261 and later keep fd stores across
 * a kexec with LUO, and use /dev/liveupdate themselves), starting its
 * orderly kexec (kexec.target), and telling whether one is underway. Both
 * go through systemctl(1), found in $PATH, so that luod needs no D-Bus
 * library; each run is bounded in time.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "systemd.h"
#include "util.h"

extern char **environ;

/* systemctl answers at once, or after its own D-Bus timeout (25 s). */
#define SYSTEMCTL_TIMEOUT_MS 60000

/* Read the child's output until it closes it or the time is up. */
static int collect(int fd, char *out, size_t len, uint64_t deadline_ms)
{
	size_t n = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = now_ms();
		char sink[256];
		ssize_t k;
		int r;

		if (now >= deadline_ms)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)(deadline_ms - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		if (n + 1 < len)
			k = read(fd, out + n, len - n - 1);
		else
			k = read(fd, sink, sizeof(sink));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		if (n + 1 < len)
			n += k;
	}
	if (len)
		out[n] = '\0';
	return 0;
}

/**
 * systemctl_run() - run systemctl with some arguments, bounded in time.
 * @argv: its arguments, argv[0] being "systemctl"; NULL-terminated
 * @out: receives its standard output and error (NUL-terminated, cut short)
 * @len: the size of @out
 *
 * Return: its exit status (0..255), or -errno when it could not be run or
 * did not finish in time (it is killed then).
 */
int systemctl_run(char *const argv[], char *out, size_t len)
{
	posix_spawn_file_actions_t fa;
	_cleanup_close_ int rd = -1, wr = -1, null_fd = -1;
	int pipefd[2], status, r;
	pid_t pid;

	if (len)
		out[0] = '\0';
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	rd = pipefd[0];
	wr = pipefd[1];
	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null_fd < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, null_fd, 0);
	posix_spawn_file_actions_adddup2(&fa, wr, 1);
	posix_spawn_file_actions_adddup2(&fa, wr, 2);
	r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r)
		return -r;
	closep(&wr);
	r = collect(rd, out, len, now_ms() + SYSTEMCTL_TIMEOUT_MS);
	if (r < 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (r < 0)
		return r;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -EINTR;
}

/* The first line of @s, without trailing blanks, for a log line. */
static const char *first_line(char *s)
{
	size_t n = strcspn(s, "\n");

	while (n && (s[n - 1] == ' ' || s[n - 1] == '\r'))
		n--;
	s[n] = '\0';
	return s;
}

/**
 * systemd_version() - the version of systemd, when it is PID 1.
 *
 * Return: its major number (e.g. 262), 0 when PID 1 is not systemd
 * (/run/systemd/system missing) or systemctl cannot say, or -errno.
 */
int systemd_version(void)
{
	char *const argv[] = { "systemctl", "--version", NULL };
	char out[512];
	int r;

	if (access("/run/systemd/system", F_OK) < 0)
		return 0;
	r = systemctl_run(argv, out, sizeof(out));
	if (r != 0)
		return r < 0 ? r : 0;
	if (strncmp(out, "systemd ", 8))
		return 0;
	return atoi(out + 8);
}

/**
 * systemd_start_kexec() - ask systemd for its orderly kexec: kexec.target,
 * which stops the services, flushes the journal, unmounts the file systems
 * and then kexecs into the loaded kernel (`systemctl kexec`).
 * @why: receives the reason on failure
 * @len: its size
 *
 * Return: 0 once systemd has the job (irreversible from then on), or -errno.
 */
int systemd_start_kexec(char *why, size_t len)
{
	char *const argv[] = { "systemctl", "--no-wall", "kexec", NULL };
	char out[1024];
	int r = systemctl_run(argv, out, sizeof(out));

	if (r == 0)
		return 0;
	if (r < 0)
		snprintf(why, len, "cannot run systemctl kexec: %s", strerror(-r));
	else
		snprintf(why, len, "systemctl kexec failed (status %d): %s", r, first_line(out));
	return r < 0 ? r : -ECANCELED;
}

/**
 * systemd_kexec_underway() - is systemd taking the system down for a kexec
 * (a job for kexec.target, whoever asked for it)?
 *
 * Return: 1 if so, 0 if not, or -errno when systemctl cannot tell.
 */
int systemd_kexec_underway(void)
{
	char *const argv[] = { "systemctl", "show", "--property=Job", "--value", "kexec.target", NULL };
	char out[128];
	int r = systemctl_run(argv, out, sizeof(out));

	if (r != 0)
		return r < 0 ? r : -EIO;
	return first_line(out)[0] != '\0';
}
