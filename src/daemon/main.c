/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * luod's entry point: options, the singleton checks, taking
 * /dev/liveupdate, restoring state after a live update, and the socket.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "config.h"
#include "daemon.h"
#include "kexec.h"
#include "log.h"
#include "sd.h"
#include "luo-ops.h"
#include "util.h"

static const char *arg_socket;

static void help(void)
{
	printf("Usage: luod [OPTIONS]\n\n"
	       "The live update daemon: owns /dev/liveupdate and drives kernel live updates\n"
	       "for the clients that subscribe on its socket.\n\n"
	       "  -s, --socket PATH   control socket (default $LUOD_SOCKET or %s)\n"
	       "  -v, --verbose       log debug messages\n"
	       "  -h, --help          show this help\n"
	       "      --version       show the version\n",
	       LUOD_DEFAULT_SOCKET);
}

static int parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{},
	};
	int c;

	arg_socket = getenv("LUOD_SOCKET");
	if (!arg_socket || !*arg_socket)
		arg_socket = LUOD_DEFAULT_SOCKET;
	while ((c = getopt_long(argc, argv, "s:vh", opts, NULL)) >= 0) {
		switch (c) {
		case 's':
			arg_socket = optarg;
			break;
		case 'v':
			log_max_priority = LOG_DEBUG;
			break;
		case 'h':
			help();
			return 0;
		case 'V':
			printf("luod %s (protocol %d)\n", PACKAGE_VERSION, LUO_PROTO_VERSION);
			return 0;
		default:
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "luod: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (strlen(arg_socket) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		fprintf(stderr, "luod: socket path too long: %s\n", arg_socket);
		return -EINVAL;
	}
	return 1;
}

/* Who holds /dev/liveupdate? For the error message only. */
static void device_holder(char *buf, size_t len)
{
	struct dirent *de;
	DIR *proc;

	snprintf(buf, len, "unknown process");
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

/* Take the lock beside the socket; refuse if another luod answers. */
static int take_lock(const char *sock, int *lock_fd)
{
	char path[PATH_MAX];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1, probe = -1;
	char *dir, *slash;

	snprintf(path, sizeof(path), "%s", sock);
	slash = strrchr(path, '/');
	if (slash && slash != path) {
		*slash = '\0';
		dir = path;
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			log_error("cannot create %s: %m", dir);
			return -errno;
		}
	}
	snprintf(path, sizeof(path), "%s.lock", sock);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		log_error("cannot open lock file %s: %m", path);
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		log_error("another luod is running (it holds %s); not starting", path);
		return -EALREADY;
	}
	/* Belt and braces: something that answers on the socket is alive. */
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	strcpy(sa.sun_path, sock);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		log_error("another luod answers on %s; not starting", sock);
		return -EALREADY;
	}
	*lock_fd = steal_fd(&fd);
	return 0;
}

static int listen_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	mode_t old;
	int r;

	if (fd < 0)
		return -errno;
	strcpy(sa.sun_path, path);
	/* A stale socket of a dead luod: the lock says nobody owns it. */
	if (unlink(path) == 0)
		log_info("removed stale socket %s", path);
	old = umask(0111);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0)
		return -errno;
	/* Explicit mode: every command is authorized by the peer's credentials. */
	if (chmod(path, 0666) < 0 || listen(fd, 64) < 0)
		return -errno;
	return steal_fd(&fd);
}

int main(int argc, char **argv)
{
	struct daemon d = { .epfd = -1, .dev_fd = -1, .loaded_expect = -1, .store_fd = -1 };
	_cleanup_close_ int lock_fd = -1;
	int r, lfd;

	r = parse_args(argc, argv);
	if (r <= 0)
		return r < 0 ? 2 : 0;
	if (take_lock(arg_socket, &lock_fd) < 0)
		return 1;
	if (record_init(&d, arg_socket) < 0)
		return 1;

	d.dev_fd = luo_device_open();
	if (d.dev_fd == -EBUSY) {
		char who[128];

		device_holder(who, sizeof(who));
		log_error("/dev/liveupdate is held by %s: another live update agent is running; "
			  "only one process may hold the device",
			  who);
		return 1;
	}
	if (d.dev_fd < 0) {
		d.dev_err = -d.dev_fd;
		d.dev_fd = -1;
		if (d.dev_err == ENOENT)
			log_warning("LUO is not available: /dev/liveupdate does not exist (the kernel needs "
				    "CONFIG_LIVEUPDATE and the liveupdate=on boot parameter); serving status only");
		else
			log_warning("LUO is not available: cannot open /dev/liveupdate: %s", strerror(d.dev_err));
	} else {
		/* A restart: the service manager kept the sessions for us. */
		r = state_restore_stored(&d);
		if (r > 0)
			log_notice("restarted: %u session(s) from live update %llu taken back from the fd store",
				   carried_count(&d), (unsigned long long)d.updates);
		else if (r < 0)
			log_error("cannot use the fd store the service manager passed: %s", strerror(-r));
		if (r <= 0)
			r = state_restore(&d);
		if (r > 0 && !d.carried)
			log_notice("live update %llu completed: no session to hand back",
				   (unsigned long long)d.updates);
		else if (r > 0)
			log_notice("live update %llu completed: %u session(s) wait to be claimed",
				   (unsigned long long)d.updates, carried_count(&d));
		else if (r < 0 && r != -EALREADY)
			log_error("cannot restore luod's state after the live update: %s", strerror(-r));
		if (r > 0 && store_sync(&d) < 0)
			log_warning("cannot put the sessions into the service manager's fd store: a restart "
				    "of luod would lose them");
		/* What an earlier luod of this boot held and we do not: lost. */
		record_check(&d);
	}

	/* What is staged now is the baseline for noticing changes behind our back. */
	d.loaded_expect = kexec_loaded();
	lfd = listen_socket(arg_socket);
	if (lfd < 0) {
		log_error("cannot listen on %s: %s", arg_socket, strerror(-lfd));
		daemon_done(&d);
		return 1;
	}
	r = daemon_init(&d, lfd);
	if (r < 0) {
		log_error("cannot set up the event loop: %s", strerror(-r));
		daemon_done(&d);
		unlink(arg_socket);
		return 1;
	}
	log_info("luod %s listening on %s", PACKAGE_VERSION, arg_socket);
	sd_notify_fds("READY=1", NULL, 0);
	r = daemon_run(&d);
	if (r < 0)
		log_error("event loop failed: %s", strerror(-r));
	daemon_done(&d);
	unlink(arg_socket);
	return r < 0 ? 1 : 0;
}
