// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * luo-fake-preload: the LD_PRELOAD half of the /dev/liveupdate test double.
 *
 * It owns the seams between our programs and the kernel's Live Update
 * Orchestrator: open() of /dev/liveupdate and /sys/kernel/kexec_loaded,
 * the LUO ioctls, syscall(SYS_kexec_file_load) and reboot(). When
 * LUO_FAKE_SOCKET names the socket of a luo-fake-kernel, each of them is
 * carried there (fake-proto.h); otherwise, and for everything else, the
 * real call is made.
 *
 * The device fd is a connection to the fake, a session fd a socketpair end
 * the fake made: an ioctl of type 0xBA on a socket whose peer is the fake
 * process is ours (real LUO fds are never sockets). What the kernel would
 * read from or write to the caller's memory is accessed with
 * process_vm_readv()/process_vm_writev(), so a bad pointer gives EFAULT.
 */
/* Define open() and open64() as themselves, not one as the other. */
#undef _FILE_OFFSET_BITS
#undef _FORTIFY_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/reboot.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "fake-proto.h"

#define KEXEC_LOADED_PATH "/sys/kernel/kexec_loaded"
#ifndef KEXEC_FILE_NO_CMA
#define KEXEC_FILE_NO_CMA 0x00000010
#define KEXEC_FILE_FORCE_DTB 0x00000020
#endif
#define KEXEC_FILE_FLAGS                                                                                            \
	(KEXEC_FILE_UNLOAD | KEXEC_FILE_ON_CRASH | KEXEC_FILE_NO_INITRAMFS | KEXEC_FILE_DEBUG | KEXEC_FILE_NO_CMA | \
	 KEXEC_FILE_FORCE_DTB)
#define NOT_OURS INT_MIN

/* The fortified open variants glibc's headers declare only with fortify. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

static struct sockaddr_un fake_addr;
static bool fake_active;
static pid_t fake_pid;
/* Threads of one process take turns on a session: one reply per request. */
static pthread_mutex_t call_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((constructor)) static void preload_init(void)
{
	const char *path = getenv("LUO_FAKE_SOCKET");

	if (!path || !*path)
		return;
	if (strlen(path) >= sizeof(fake_addr.sun_path)) {
		fprintf(stderr, "luo-fake-preload: LUO_FAKE_SOCKET too long\n");
		return;
	}
	fake_addr.sun_family = AF_UNIX;
	strcpy(fake_addr.sun_path, path);
	fake_active = true;
}

/**
 * luo_fake_preload_active() - whether calls go to a fake kernel.
 *
 * Return: 1 when LUO_FAKE_SOCKET was set at load time, else 0.
 */
int luo_fake_preload_active(void)
{
	return fake_active;
}

static void *real(const char *name)
{
	void *fn = dlsym(RTLD_NEXT, name);

	if (!fn) {
		fprintf(stderr, "luo-fake-preload: no %s: %s\n", name, dlerror());
		abort();
	}
	return fn;
}

#define REAL(name)                            \
	static __typeof__(name) *real_##name; \
	if (!real_##name)                     \
	real_##name = real(#name)

static int ret_errno(int r)
{
	if (r >= 0)
		return r;
	errno = -r;
	return -1;
}

/* Caller memory, as copy_from_user() and copy_to_user() see it. */
static int user_copy(void *dst, const void *src, size_t len, bool to_user)
{
	struct iovec local = { .iov_base = to_user ? (void *)src : dst, .iov_len = len };
	struct iovec remote = { .iov_base = to_user ? dst : (void *)src, .iov_len = len };
	ssize_t n = to_user ? process_vm_writev(getpid(), &local, 1, &remote, 1, 0)
			    : process_vm_readv(getpid(), &local, 1, &remote, 1, 0);

	/* Without the syscall (seccomp, old kernel), trust the pointer. */
	if (n < 0 && (errno == ENOSYS || errno == EPERM)) {
		memcpy(dst, src, len);
		return 0;
	}
	return n == (ssize_t)len ? 0 : -EFAULT;
}

/* copy_struct_from_user(): zero-extend, or refuse a non-zero tail. */
static int user_copy_struct(void *dst, size_t ksize, const char *src, size_t usize)
{
	size_t size = usize < ksize ? usize : ksize;
	char chunk[256];
	size_t off;

	memset(dst, 0, ksize);
	for (off = ksize; off < usize; off += sizeof(chunk)) {
		size_t n = usize - off < sizeof(chunk) ? usize - off : sizeof(chunk);
		size_t i;

		if (user_copy(chunk, src + off, n, false) < 0)
			return -EFAULT;
		for (i = 0; i < n; i++)
			if (chunk[i])
				return -E2BIG;
	}
	return user_copy(dst, src, size, false);
}

static int fake_connect(int type_flags)
{
	_cleanup_(closep) int fd = -1;
	int r;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | type_flags, 0);
	if (fd < 0)
		return -errno;
	do
		r = connect(fd, (struct sockaddr *)&fake_addr, sizeof(fake_addr));
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		/* Loud: a test without its fake kernel must not look like a host without LUO. */
		fprintf(stderr, "luo-fake-preload: cannot reach the fake kernel at %s: %m\n", fake_addr.sun_path);
		return -EIO;
	}
	return steal_fd(&fd);
}

/*
 * One request, one reply, over @sock. The socket may be O_NONBLOCK (the
 * caller's choice on its fd): wait for the reply then. A broken link (the
 * fake closed it at a reboot, or died) is EIO. Return: 0 or -errno; the
 * fake's answer is in @rep.
 */
static int fake_call(int sock, const struct fake_req *req, int sendfd, struct fake_reply *rep, int *recvfd)
{
	long n;
	int r;

	pthread_mutex_lock(&call_lock);
	r = fake_send(sock, req, sizeof(*req), sendfd, 0);
	if (r == 0) {
		for (;;) {
			struct pollfd p = { .fd = sock, .events = POLLIN };

			n = fake_recv(sock, rep, sizeof(*rep), 0, recvfd);
			if (n != -EAGAIN)
				break;
			poll(&p, 1, -1);
		}
		if (n >= 0 && n != sizeof(*rep)) {
			if (*recvfd >= 0)
				close(*recvfd);
			*recvfd = -1;
			n = -EIO;
		}
		r = n < 0 ? (int)n : 0;
	}
	pthread_mutex_unlock(&call_lock);

	/* EBADF: @sendfd was closed meanwhile, as fget() would have found. */
	return r == 0 || r == -EBADF ? r : -EIO;
}

/* A request on a fresh connection; returns the fake's answer. */
static int fake_oneshot(const struct fake_req *req, struct fake_reply *rep)
{
	_cleanup_(closep) int sock = -1;
	_cleanup_(closep) int fd = -1;
	int r;

	sock = fake_connect(SOCK_CLOEXEC);
	if (sock < 0)
		return sock;
	r = fake_call(sock, req, -1, rep, &fd);
	return r < 0 ? r : rep->err;
}

/* The fake's pid, as SO_PEERCRED shows it on every socket it made. */
static pid_t fake_kernel_pid(void)
{
	pid_t pid = __atomic_load_n(&fake_pid, __ATOMIC_RELAXED);
	_cleanup_(closep) int sock = -1;
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (pid > 0)
		return pid;
	sock = fake_connect(SOCK_CLOEXEC);
	if (sock < 0 || getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return 0;
	__atomic_store_n(&fake_pid, cred.pid, __ATOMIC_RELAXED);
	return cred.pid;
}

static bool is_fake_fd(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
		return false;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.pid <= 0)
		return false;
	return cred.pid == fake_kernel_pid();
}

static int open_device(int flags)
{
	_cleanup_(closep) int sock = -1;
	_cleanup_(closep) int fd = -1;
	struct fake_req req = { .op = FAKE_OP_OPEN_DEVICE };
	struct fake_reply rep;
	int r;

	sock = fake_connect((flags & O_CLOEXEC ? SOCK_CLOEXEC : 0) | (flags & O_NONBLOCK ? SOCK_NONBLOCK : 0));
	if (sock < 0)
		return sock;
	r = fake_call(sock, &req, -1, &rep, &fd);
	if (r < 0)
		return r;
	if (rep.err < 0)
		return rep.err;
	return steal_fd(&sock);
}

/* sysfs says "1\n" or "0\n"; a memfd says it here. */
static int open_kexec_loaded(int flags)
{
	_cleanup_(closep) int fd = -1;
	struct fake_req req = { .op = FAKE_OP_KEXEC_LOADED };
	struct fake_reply rep;
	int r;

	if ((flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	r = fake_oneshot(&req, &rep);
	if (r < 0)
		return r;
	fd = memfd_create("kexec_loaded", flags & O_CLOEXEC ? MFD_CLOEXEC : 0);
	if (fd < 0)
		return -errno;
	if (pwrite(fd, rep.value ? "1\n" : "0\n", 2, 0) != 2)
		return -EIO;
	return steal_fd(&fd);
}

static int fake_open(const char *path, int flags)
{
	if (!fake_active || !path)
		return NOT_OURS;
	if (!strcmp(path, LIVEUPDATE_DEVICE))
		return open_device(flags);
	if (!strcmp(path, KEXEC_LOADED_PATH))
		return open_kexec_loaded(flags);
	return NOT_OURS;
}

static bool open_has_mode(int flags)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

#define DEFINE_OPEN(name)                                      \
	int name(const char *path, int flags, ...)             \
	{                                                      \
		mode_t mode = 0;                               \
		int r;                                         \
		REAL(name);                                    \
                                                               \
		if (open_has_mode(flags)) {                    \
			va_list ap;                            \
			va_start(ap, flags);                   \
			mode = va_arg(ap, mode_t);             \
			va_end(ap);                            \
		}                                              \
		r = fake_open(path, flags);                    \
		if (r == NOT_OURS)                             \
			return real_##name(path, flags, mode); \
		return ret_errno(r);                           \
	}

#define DEFINE_OPENAT(name)                                           \
	int name(int dirfd, const char *path, int flags, ...)         \
	{                                                             \
		mode_t mode = 0;                                      \
		int r;                                                \
		REAL(name);                                           \
                                                                      \
		if (open_has_mode(flags)) {                           \
			va_list ap;                                   \
			va_start(ap, flags);                          \
			mode = va_arg(ap, mode_t);                    \
			va_end(ap);                                   \
		}                                                     \
		r = fake_open(path, flags);                           \
		if (r == NOT_OURS)                                    \
			return real_##name(dirfd, path, flags, mode); \
		return ret_errno(r);                                  \
	}

DEFINE_OPEN(open)
DEFINE_OPEN(open64)
DEFINE_OPENAT(openat)
DEFINE_OPENAT(openat64)

/* The fortified variants only check that no mode was needed. */
static int fortify_flags(int flags)
{
	if (open_has_mode(flags)) {
		fprintf(stderr, "luo-fake-preload: invalid open call: O_CREAT without mode\n");
		abort();
	}
	return flags;
}

int __open_2(const char *path, int flags)
{
	return open(path, fortify_flags(flags));
}

int __open64_2(const char *path, int flags)
{
	return open64(path, fortify_flags(flags));
}

int __openat_2(int dirfd, const char *path, int flags)
{
	return openat(dirfd, path, fortify_flags(flags));
}

int __openat64_2(int dirfd, const char *path, int flags)
{
	return openat64(dirfd, path, fortify_flags(flags));
}

/* The size of the struct each LUO ioctl takes, by _IOC_NR(); 0: none. */
static size_t ioctl_arg_size(unsigned int nr)
{
	switch (nr) {
	case LIVEUPDATE_CMD_CREATE_SESSION:
		return sizeof(struct liveupdate_ioctl_create_session);
	case LIVEUPDATE_CMD_RETRIEVE_SESSION:
		return sizeof(struct liveupdate_ioctl_retrieve_session);
	case LIVEUPDATE_CMD_SESSION_PRESERVE_FD:
		return sizeof(struct liveupdate_session_preserve_fd);
	case LIVEUPDATE_CMD_SESSION_RETRIEVE_FD:
		return sizeof(struct liveupdate_session_retrieve_fd);
	case LIVEUPDATE_CMD_SESSION_FINISH:
		return sizeof(struct liveupdate_session_finish);
	case LIVEUPDATE_CMD_SESSION_GET_NAME:
		return sizeof(struct liveupdate_session_get_name);
	}
	return 0;
}

/*
 * Test knobs: with LUO_FAKE_PRESERVE_GATE=PATH, PRESERVE_FD waits while PATH
 * exists (after creating PATH.waiting), and so does kexec_file_load with
 * LUO_FAKE_LOAD_GATE=PATH, so a test can let something happen, e.g. an
 * abort, while a client is in the middle of preserving or luod of loading.
 */
static void gate(const char *env)
{
	const char *gate = getenv(env);
	char waiting[PATH_MAX];
	int fd;

	if (!gate || !*gate || access(gate, F_OK) < 0)
		return;
	snprintf(waiting, sizeof(waiting), "%s.waiting", gate);
	fd = open(waiting, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	while (access(gate, F_OK) == 0)
		poll(NULL, 0, 10);
}

static int fake_ioctl(int fd, unsigned long cmd, void *uarg)
{
	struct fake_req req = { .op = FAKE_OP_IOCTL, .cmd = cmd };
	size_t ksize = ioctl_arg_size(_IOC_NR(cmd));
	_cleanup_(closep) int outfd = -1;
	struct fake_reply rep;
	int sendfd = -1;
	int r;

	if (user_copy(&req.user_size, uarg, sizeof(req.user_size), false) < 0)
		req.size_err = -EFAULT;
	else if (ksize)
		req.copy_err = user_copy_struct(&req.ioctl, ksize, uarg, req.user_size);
	if (cmd == LIVEUPDATE_SESSION_PRESERVE_FD)
		gate("LUO_FAKE_PRESERVE_GATE");
	if (!req.size_err && !req.copy_err && cmd == LIVEUPDATE_SESSION_PRESERVE_FD &&
	    fcntl(req.ioctl.preserve.fd, F_GETFD) >= 0)
		sendfd = req.ioctl.preserve.fd;

	r = fake_call(fd, &req, sendfd, &rep, &outfd);
	if (r < 0)
		return r;
	if (rep.err < 0)
		return rep.err;
	if (outfd >= 0)
		rep.ioctl.retrieve_fd.fd = outfd;
	/* luo_ucmd_respond(): min(user size, kernel size) bytes go back. */
	if (user_copy(uarg, &rep.ioctl, req.user_size < ksize ? req.user_size : ksize, true) < 0)
		return -EFAULT;
	outfd = -1;
	return 0;
}

int ioctl(int fd, unsigned long request, ...)
{
	void *arg;
	va_list ap;
	REAL(ioctl);

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);

	if (fake_active && _IOC_TYPE(request) == LIVEUPDATE_IOCTL_TYPE && is_fake_fd(fd))
		return ret_errno(fake_ioctl(fd, request, arg));
	return real_ioctl(fd, request, arg);
}

/* kernel_read_file_from_fd(): a readable regular file, not empty. */
static int kexec_check_file(int fd)
{
	struct stat st;
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || (fl & O_PATH) || (fl & O_ACCMODE) == O_WRONLY)
		return -EBADF;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size <= 0)
		return -EINVAL;
	return 0;
}

/* kexec_file_load(2) in the kernel's order of checks; the image is not parsed. */
static int fake_kexec_file_load(int kernel_fd, int initrd_fd, unsigned long cmdline_len, const char *cmdline,
				unsigned long flags)
{
	struct fake_req req = { .op = FAKE_OP_KEXEC_LOAD, .flags = flags };
	struct fake_reply rep;
	int r;

	if (flags & ~(unsigned long)KEXEC_FILE_FLAGS)
		return -EINVAL;
	if (!(flags & KEXEC_FILE_UNLOAD)) {
		char *buf;

		r = kexec_check_file(kernel_fd);
		if (r < 0)
			return r;
		if (!(flags & KEXEC_FILE_NO_INITRAMFS)) {
			r = kexec_check_file(initrd_fd);
			if (r < 0)
				return r;
		}
		if (cmdline_len) {
			buf = malloc(cmdline_len);
			if (!buf)
				return -ENOMEM;
			r = user_copy(buf, cmdline, cmdline_len, false);
			if (r == 0 && buf[cmdline_len - 1] != '\0')
				r = -EINVAL;
			free(buf);
			if (r < 0)
				return r;
		}
		gate("LUO_FAKE_LOAD_GATE");
	}
	return fake_oneshot(&req, &rep);
}

long syscall(long nr, ...)
{
	va_list ap;
	long a[6];
	int i;
	REAL(syscall);

	/* As glibc's own syscall(): six arguments, whatever the call takes. */
	va_start(ap, nr);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);

	if (fake_active && nr == SYS_kexec_file_load)
		return ret_errno(fake_kexec_file_load((int)a[0], (int)a[1], a[2], (const char *)a[3], a[4]));
	return real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/*
 * The kexec reboot: on success the machine is gone for this process too,
 * so it dies here; the harness kills the rest of the old boot. Any other
 * reboot command is refused rather than passed to the host.
 */
int reboot(int howto)
{
	struct fake_req req = { .op = FAKE_OP_REBOOT };
	struct fake_reply rep;
	int r;
	REAL(reboot);

	if (!fake_active)
		return real_reboot(howto);
	if (howto != (int)LINUX_REBOOT_CMD_KEXEC)
		return ret_errno(-EPERM);
	r = fake_oneshot(&req, &rep);
	if (r < 0)
		return ret_errno(r);
	for (;;) {
		raise(SIGKILL);
		pause();
	}
}
