/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * luod's entry point: options, the singleton checks, taking
 * /dev/liveupdate, restoring state after a live update, and the socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "config.h"
#include "daemon.h"
#include "kexec.h"
#include "log.h"
#include "sd.h"
#include "luo-ops.h"
#include "systemd.h"
#include "util.h"

static const char *arg_socket;
/* Work with systemd 261+ as PID 1: -1 when it runs (auto), 0 never, 1 always. */
static int arg_systemd = -1;

static void help(void)
{
	printf("Usage: luod [OPTIONS]\n\n"
	       "The live update daemon: owns /dev/liveupdate and drives kernel live updates\n"
	       "for the clients that subscribe on its socket.\n\n"
	       "  -s, --socket PATH   control socket (default $LUOD_SOCKET or %s)\n"
	       "      --systemd=auto|yes|no\n"
	       "                      work with systemd 261+ as PID 1: hold /dev/liveupdate only\n"
	       "                      briefly, carry the sessions in the fd store, let systemd\n"
	       "                      kexec (default auto: when luod is its service)\n"
	       "  -v, --verbose       log debug messages\n"
	       "  -h, --help          show this help\n"
	       "      --version       show the version\n",
	       LUOD_DEFAULT_SOCKET);
}

static int parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },  { "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },	     { "version", no_argument, NULL, 'V' },
		{ "systemd", required_argument, NULL, 'S' }, {},
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
		case 'S':
			arg_systemd = !strcmp(optarg, "auto")  ? -1
				      : !strcmp(optarg, "yes") ? 1
				      : !strcmp(optarg, "no")  ? 0
							       : -2;
			if (arg_systemd == -2) {
				fprintf(stderr, "luod: --systemd takes auto, yes or no, not '%s'\n", optarg);
				return -EINVAL;
			}
			break;
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

/*
 * Whoever can write to a parent of the socket's directory can rename the
 * directory away and put their own in its place: every parent up to the
 * root must belong to root (or luod's uid) and be writable by no one else,
 * unless it is sticky (like /tmp), where only the owner of an entry may
 * rename it. The parents checked are those of the directory luod opened,
 * whatever symbolic links the path went through.
 */
static int socket_dir_parents(int dir_fd, const char *dir)
{
	_cleanup_close_ int fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
	struct stat st, up;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	for (;;) {
		int parent = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (parent < 0 || fstat(parent, &up) < 0) {
			int err = errno;

			if (parent >= 0)
				close(parent);
			log_error("cannot check the parents of the socket directory %s: %s", dir, strerror(err));
			return -err;
		}
		close(fd);
		fd = parent;
		if (up.st_dev == st.st_dev && up.st_ino == st.st_ino)
			return 0; /* The root. */
		if (up.st_uid != 0 && up.st_uid != geteuid()) {
			log_error("a parent of the socket directory %s is owned by uid %u, not root: that user could "
				  "replace the directory; refusing it",
				  dir, (unsigned)up.st_uid);
			return -EPERM;
		}
		if ((up.st_mode & (S_IWGRP | S_IWOTH)) && !(up.st_mode & S_ISVTX)) {
			log_error("a parent of the socket directory %s is writable by others and not sticky (mode "
				  "%04o): they could replace the directory; refusing it",
				  dir, (unsigned)(up.st_mode & 07777));
			return -EPERM;
		}
		st = up;
	}
}

/*
 * Open the socket's directory, creating it if missing, and make sure only
 * root (or luod's own uid) can change what is in it: another user could
 * otherwise replace the socket with an impostor's. Everything after this
 * is done relative to the directory, never through the path again.
 */
static int socket_dir_open(const char *sock, int *dir_fd, const char **name)
{
	const char *slash = strrchr(sock, '/');
	char dir[PATH_MAX];
	_cleanup_close_ int fd = -1;
	struct stat st;
	size_t len;
	int r;

	*name = slash ? slash + 1 : sock;
	if (!**name || !strcmp(*name, ".") || !strcmp(*name, "..")) {
		log_error("socket path %s does not name a file", sock);
		return -EINVAL;
	}
	/* Without trailing slashes, or the last directory would be followed. */
	len = slash ? (size_t)(slash - sock) : 0;
	while (len > 1 && sock[len - 1] == '/')
		len--;
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", len ? (int)len : 1, len ? sock : "/");

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			log_error("cannot create the socket directory %s: %m", dir);
			return -errno;
		}
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0) {
		int err = errno;

		if (lstat(dir, &st) == 0 && S_ISLNK(st.st_mode))
			log_error("the socket directory %s is a symbolic link; refusing it (name the directory itself)",
				  dir);
		else
			log_error("cannot open the socket directory %s: %s", dir, strerror(err));
		return -err;
	}
	if (fstat(fd, &st) < 0) {
		log_error("cannot stat the socket directory %s: %m", dir);
		return -errno;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		log_error("the socket directory %s is owned by uid %u, not root: that user could replace the "
			  "socket; refusing it",
			  dir, (unsigned)st.st_uid);
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		log_error("the socket directory %s is writable by %s (mode %04o): they could replace the socket; "
			  "refusing it",
			  dir, st.st_mode & S_IWOTH ? "others" : "its group", (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	r = socket_dir_parents(fd, dir);
	if (r < 0)
		return r;
	*dir_fd = steal_fd(&fd);
	return 0;
}

/* connect() or bind() @fd to @name in the directory @dir_fd. */
static int socket_at(int dir_fd, const char *name, int fd, bool do_bind)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int r, err;

	if (cwd < 0)
		return -errno;
	if (strlen(name) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, name);
	/* A name relative to the directory: no path is resolved again. */
	if (fchdir(dir_fd) < 0)
		return -errno;
	r = do_bind ? bind(fd, (struct sockaddr *)&sa, sizeof(sa)) : connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	err = errno;
	if (fchdir(cwd) < 0)
		return -errno;
	return r < 0 ? -err : 0;
}

/*
 * What is at the socket path: 0 if nothing, 1 if a socket (stale, once the
 * lock is ours), or -EEXIST (logged) for anything else, which luod never
 * removes.
 */
static int socket_stale(int dir_fd, const char *name, const char *path)
{
	struct stat st;

	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		log_error("cannot stat %s: %m", path);
		return -errno;
	}
	if (S_ISSOCK(st.st_mode))
		return 1;
	log_error("%s exists and is not a socket (%s); not removing it", path,
		  S_ISLNK(st.st_mode)	? "a symbolic link"
		  : S_ISDIR(st.st_mode) ? "a directory"
		  : S_ISREG(st.st_mode) ? "a regular file"
					: "a special file");
	return -EEXIST;
}

/* Take the lock beside the socket; refuse if another luod answers. */
static int take_lock(int dir_fd, const char *name, const char *sock, int *lock_fd)
{
	char lock[NAME_MAX + 1];
	_cleanup_close_ int fd = -1, probe = -1;
	struct stat st;
	int r;

	if ((size_t)snprintf(lock, sizeof(lock), "%s.lock", name) >= sizeof(lock)) {
		log_error("socket name too long: %s", name);
		return -ENAMETOOLONG;
	}
	fd = openat(dir_fd, lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_error("cannot open lock file %s.lock: %s", sock,
			  fd < 0 && errno == ELOOP ? "it is a symbolic link"
			  : fd < 0		   ? strerror(errno)
						   : "not a regular file");
		return fd < 0 ? -errno : -EINVAL;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		log_error("another luod is running (it holds %s.lock); not starting", sock);
		return -EALREADY;
	}
	/* Belt and braces: something that answers on the socket is alive. */
	r = socket_stale(dir_fd, name, sock);
	if (r < 0)
		return r;
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (r > 0 && probe >= 0 && socket_at(dir_fd, name, probe, false) == 0) {
		log_error("another luod answers on %s; not starting", sock);
		return -EALREADY;
	}
	*lock_fd = steal_fd(&fd);
	return 0;
}

static int listen_socket(int dir_fd, const char *name, const char *path)
{
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	mode_t old;
	int r;

	if (fd < 0)
		return -errno;
	/* A stale socket of a dead luod: the lock says nobody owns it. */
	r = socket_stale(dir_fd, name, path);
	if (r < 0)
		return r;
	if (r > 0 && unlinkat(dir_fd, name, 0) < 0)
		return -errno;
	if (r > 0)
		log_info("removed stale socket %s", path);
	/*
	 * Mode 0666 from the start, never changed by path afterwards: every
	 * command is authorized by the peer's credentials.
	 */
	old = umask(0111);
	r = socket_at(dir_fd, name, fd, true);
	umask(old);
	if (r < 0)
		return r;
	if (listen(fd, 64) < 0)
		return -errno;
	return steal_fd(&fd);
}

/*
 * luod uses epoll, never select(): the soft limit on fds (1024 under
 * systemd) may go up to the hard one. What it ends up as sizes the fd
 * budget of non-root peers (fd_budget()).
 */
static unsigned raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = { .rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max };

		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl = want;
		else
			log_warning("cannot raise the limit on open files to %llu: %m",
				    (unsigned long long)rl.rlim_max);
	}
	return rl.rlim_cur > INT_MAX ? INT_MAX : (unsigned)rl.rlim_cur;
}

/*
 * After a live update, or a restart of luod, take back the sessions:
 * first from the service manager's fd store (a restart, or the kexec under
 * systemd 261+), else from LUO (the update); then note what an earlier
 * luod of this boot lost.
 */
static void take_sessions_back(struct daemon *d)
{
	int r;

	r = store_restore(d);
	if (r == 2) {
		log_warning("restarted after live update %llu was committed to the fd store: the kexec is under way",
			    (unsigned long long)d->updates + 1);
		update_resume_committed(d);
		return;
	}
	if (r > 0)
		log_notice("%u session(s) from live update %llu taken back from the fd store", carried_count(d),
			   (unsigned long long)d->updates);
	else if (r < 0)
		log_error("cannot use the fd store the service manager passed: %s", strerror(-r));
	if (r <= 0 && d->dev_fd >= 0)
		r = state_restore(d);
	if (r > 0 && !d->carried)
		log_notice("live update %llu completed: no session to hand back", (unsigned long long)d->updates);
	else if (r > 0)
		log_notice("live update %llu completed: %u session(s) wait to be claimed",
			   (unsigned long long)d->updates, carried_count(d));
	else if (r < 0 && r != -EALREADY)
		log_error("cannot restore luod's state after the live update: %s", strerror(-r));
	if (r > 0 && store_sync(d) < 0)
		log_warning("cannot put the sessions into the service manager's fd store: a restart "
			    "of luod would lose them");
	/* What an earlier luod of this boot held and we do not: lost. */
	record_check(d);
}

/*
 * With systemd 261+ as PID 1 and luod its service, work with it: it
 * needs /dev/liveupdate too, and carries fd stores across its own kexec.
 */
static int choose_mode(struct daemon *d)
{
	bool service = getenv("NOTIFY_SOCKET") && *getenv("NOTIFY_SOCKET");
	int version = 0;

	if (arg_systemd == 1 && !service) {
		log_error("--systemd=yes needs luod to run as a service of systemd ($NOTIFY_SOCKET is not set)");
		return -EINVAL;
	}
	if (arg_systemd == 0 || !service)
		return 0;
	version = systemd_version();
	if (arg_systemd == 1 || version >= SYSTEMD_LUO_VERSION) {
		d->with_systemd = true;
		log_info("working with systemd %d: /dev/liveupdate only when needed, the sessions in the fd store, "
			 "the kexec by kexec.target",
			 version);
	} else if (version > 0) {
		log_info("systemd %d (before %d) does not use LUO: luod holds /dev/liveupdate and reboots itself",
			 version, SYSTEMD_LUO_VERSION);
	}
	return 0;
}

/*
 * Take /dev/liveupdate: for luod's whole life, or under systemd 261+ for
 * the start only (device_release()). A missing device leaves luod serving
 * status only; another holder is fatal, unless it is systemd's moment.
 */
static int open_device(struct daemon *d)
{
	char why[512];
	int r = d->with_systemd ? device_acquire(d, why, sizeof(why)) : luo_device_open();

	if (!d->with_systemd && r >= 0)
		d->dev_fd = r;
	if (r >= 0)
		return 0;
	if (r == -EBUSY && d->with_systemd) {
		/* Its holder lets go soon; what the fd store kept needs no device. */
		log_warning("%s: luod goes on without it for now", why);
		return 0;
	}
	if (r == -EBUSY) {
		device_holder(why, sizeof(why));
		log_error("/dev/liveupdate is held by %s: another live update agent is running; "
			  "only one process may hold the device",
			  why);
		return r;
	}
	d->dev_err = -r;
	if (d->dev_err == ENOENT)
		log_warning("LUO is not available: /dev/liveupdate does not exist (the kernel needs "
			    "CONFIG_LIVEUPDATE and the liveupdate=on boot parameter); serving status only");
	else
		log_warning("LUO is not available: cannot open /dev/liveupdate: %s", strerror(d->dev_err));
	return 0;
}

int main(int argc, char **argv)
{
	struct daemon d = { .epfd = -1, .dev_fd = -1, .loaded_expect = -1, .store_fd = -1 };
	_cleanup_close_ int lock_fd = -1, dir_fd = -1;
	const char *sock_name;
	int r, lfd;

	r = parse_args(argc, argv);
	if (r <= 0)
		return r < 0 ? 2 : 0;
	loop_block_signals();
	d.fd_limit = raise_fd_limit();
	log_debug("up to %u open files", d.fd_limit);
	if (socket_dir_open(arg_socket, &dir_fd, &sock_name) < 0 ||
	    take_lock(dir_fd, sock_name, arg_socket, &lock_fd) < 0)
		return 1;
	if (record_init(&d, arg_socket) < 0)
		return 1;

	if (choose_mode(&d) < 0 || open_device(&d) < 0)
		return 1;
	if (luo_usable(&d))
		take_sessions_back(&d);
	device_release(&d);

	/* What is staged now is the baseline for noticing changes behind our back. */
	d.loaded_expect = kexec_loaded();
	lfd = listen_socket(dir_fd, sock_name, arg_socket);
	if (lfd < 0) {
		log_error("cannot listen on %s: %s", arg_socket, strerror(-lfd));
		daemon_done(&d);
		return 1;
	}
	r = daemon_init(&d, lfd);
	if (r < 0) {
		log_error("cannot set up the event loop: %s", strerror(-r));
		daemon_done(&d);
		unlinkat(dir_fd, sock_name, 0);
		return 1;
	}
	log_info("luod %s listening on %s", PACKAGE_VERSION, arg_socket);
	sd_notify_fds("READY=1", NULL, 0);
	r = daemon_run(&d);
	if (r < 0)
		log_error("event loop failed: %s", strerror(-r));
	daemon_done(&d);
	unlinkat(dir_fd, sock_name, 0);
	return r < 0 ? 1 : 0;
}
