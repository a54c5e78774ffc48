// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * test-fake: checks that the /dev/liveupdate test double keeps the
 * kernel's rules, through the same libc calls our programs make. It runs
 * under luo-fake-preload with LUO_FAKE_SOCKET set and LUO_FAKE_KERNEL
 * naming the luo-fake-kernel binary (for its ctl); test-fake.sh runs the
 * phases in order and checks the fake's status between them:
 *   rules	everything within one boot
 *   prepare	sessions for the next boot, a failed reboot, then the reboot
 *   after	the boot after: retrieve, finish, release
 *   reboot	one outgoing session, then a second reboot
 *   no-luo	against a fake started with --no-luo
 *   passthrough without LUO_FAKE_SOCKET: the host's own calls
 * It prints TAP lines without numbers ("ok - ..."), which test-fake.sh
 * numbers, and exits non-zero if any failed.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/reboot.h>
#include <signal.h>
#include <spawn.h>
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
#include <sys/wait.h>
#include <unistd.h>

#include "fake-proto.h"

extern char **environ;

static int failures;

static void tap(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok - ", ok ? "" : "not ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!ok)
		failures++;
}

static const char *err_name(int r)
{
	const char *name = r < 0 ? strerrorname_np(-r) : NULL;

	return name ? name : "?";
}

/*
 * @r is what a wrapper below returned: >= 0 success, else -errno. @want
 * is -errno, 0 for any success, or a positive value @r must be.
 */
static void expect(int r, int want, const char *what)
{
	bool ok = want ? r == want : r >= 0;

	if (want < 0)
		tap(ok, "%s: %s", what, err_name(want));
	else
		tap(ok, "%s", what);
	if (!ok)
		printf("# got %d %s\n", r, r < 0 ? err_name(r) : "(success)");
}

static int neg_errno(int r)
{
	return r < 0 ? -errno : r;
}

static int luo_open(void)
{
	return neg_errno(open(LIVEUPDATE_DEVICE, O_RDWR | O_CLOEXEC));
}

static int luo_ioctl(int fd, unsigned long cmd, void *arg)
{
	return neg_errno(ioctl(fd, cmd, arg));
}

static int create_session(int dev, const char *name)
{
	struct liveupdate_ioctl_create_session a = { .size = sizeof(a) };
	int r;

	memcpy(a.name, name, strnlen(name, sizeof(a.name)));
	r = luo_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &a);
	return r < 0 ? r : a.fd;
}

static int retrieve_session(int dev, const char *name)
{
	struct liveupdate_ioctl_retrieve_session a = { .size = sizeof(a) };
	int r;

	memcpy(a.name, name, strnlen(name, sizeof(a.name)));
	r = luo_ioctl(dev, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, &a);
	return r < 0 ? r : a.fd;
}

static int preserve(int s, int fd, uint64_t token)
{
	struct liveupdate_session_preserve_fd a = {
		.size = sizeof(a),
		.fd = fd,
		.token = token,
	};

	return luo_ioctl(s, LIVEUPDATE_SESSION_PRESERVE_FD, &a);
}

static int retrieve_fd(int s, uint64_t token)
{
	struct liveupdate_session_retrieve_fd a = { .size = sizeof(a), .token = token };
	int r;

	r = luo_ioctl(s, LIVEUPDATE_SESSION_RETRIEVE_FD, &a);
	return r < 0 ? r : a.fd;
}

static int finish(int s, uint32_t reserved)
{
	struct liveupdate_session_finish a = { .size = sizeof(a), .reserved = reserved };

	return luo_ioctl(s, LIVEUPDATE_SESSION_FINISH, &a);
}

static bool name_is(int s, const char *name)
{
	struct liveupdate_session_get_name a = { .size = sizeof(a) };

	return luo_ioctl(s, LIVEUPDATE_SESSION_GET_NAME, &a) == 0 && !strncmp((char *)a.name, name, sizeof(a.name));
}

static int kexec_load(int kernel, int initrd, const char *cmdline, unsigned long len, unsigned long flags)
{
	return neg_errno(syscall(SYS_kexec_file_load, kernel, initrd, len, cmdline, flags));
}

/* What /sys/kernel/kexec_loaded says: 0, 1, or -errno. */
static int kexec_loaded(void)
{
	char buf[4] = "";
	int fd = open("/sys/kernel/kexec_loaded", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n == 2 && buf[1] == '\n' && (buf[0] == '0' || buf[0] == '1'))
		return buf[0] - '0';
	return -EIO;
}

static bool is_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	return fl >= 0 && (fl & FD_CLOEXEC);
}

static int memfd_with(const char *text)
{
	int fd = memfd_create("test-fake", MFD_CLOEXEC);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		perror("memfd");
		exit(EXIT_FAILURE);
	}
	return fd;
}

static bool has_text(int fd, const char *text)
{
	char buf[256] = "";
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	return n == (ssize_t)strlen(text) && !memcmp(buf, text, n);
}

static bool same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* luo-fake-kernel ctl CMD [ARG], without the preload in its environment. */
static void ctl(const char *cmd, const char *arg)
{
	const char *argv[] = {
		getenv("LUO_FAKE_KERNEL"), "ctl", "--socket", getenv("LUO_FAKE_SOCKET"), cmd, arg, NULL,
	};
	char *envp[256];
	size_t i, n = 0;
	pid_t pid;
	int status;

	for (i = 0; environ[i] && n < 255; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11))
			envp[n++] = environ[i];
	envp[n] = NULL;
	if (!argv[0] || posix_spawn(&pid, argv[0], NULL, NULL, (char **)argv, envp) || waitpid(pid, &status, 0) < 0 ||
	    !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "test-fake: ctl %s failed\n", cmd);
		exit(EXIT_FAILURE);
	}
}

/*
 * Hand @fd over to a child that keeps it until *release is closed (or
 * this process dies). Return: the child's pid.
 */
static pid_t hold_in_child(int fd, int *release)
{
	pid_t pid;
	int p[2];
	char c;

	if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		perror("fork");
		exit(EXIT_FAILURE);
	}
	if (pid == 0) {
		close(p[1]);
		while (read(p[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(p[0]);
	close(fd);
	*release = p[1];
	return pid;
}

static int send_fd(int sock, int fd)
{
	return fake_send(sock, "x", 1, fd, 0);
}

static int recv_fd(int sock)
{
	char c;
	int fd;

	return fake_recv(sock, &c, 1, 0, &fd) == 1 ? fd : -EIO;
}

static void test_sizes(int dev)
{
	struct {
		struct liveupdate_ioctl_create_session s;
		uint64_t tail;
	} big = { .s.size = sizeof(big), .s.name = "big", .tail = 1 };
	struct liveupdate_ioctl_create_session a = { .size = sizeof(a) - 1, .name = "small" };
	struct liveupdate_session_get_name gn = { .size = sizeof(gn) };

	expect(luo_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &a), -EINVAL, "a struct smaller than the minimum");
	a.size = 0;
	expect(luo_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &a), -EINVAL, "size 0");
	expect(luo_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &big), -E2BIG, "a larger struct with a non-zero tail");
	big.tail = 0;
	expect(luo_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, &big), 0, "a larger struct with a zero tail");
	tap(big.s.fd > 2 && name_is(big.s.fd, "big"), "it returns the session fd");
	close(big.s.fd);
	expect(luo_ioctl(dev, LIVEUPDATE_IOCTL_CREATE_SESSION, NULL), -EFAULT, "a NULL argument");
	expect(luo_ioctl(dev, _IO(LIVEUPDATE_IOCTL_TYPE, 0x05), &a), -EINVAL,
	       "an unknown request number on the device");
	expect(luo_ioctl(dev, LIVEUPDATE_SESSION_GET_NAME, &gn), -EINVAL, "a session request on the device");
	expect(luo_ioctl(dev, _IOW(LIVEUPDATE_IOCTL_TYPE, 0, int), &a), -ENOTTY,
	       "a known number with other direction/size bits");
}

static void test_names(int dev)
{
	char name[LIVEUPDATE_SESSION_NAME_LENGTH + 1];
	int s;

	expect(create_session(dev, ""), -EINVAL, "CREATE_SESSION with an empty name");
	memset(name, 'x', sizeof(name));
	expect(create_session(dev, name), -EINVAL, "a name without NUL in 64 bytes");
	name[LIVEUPDATE_SESSION_NAME_LENGTH - 1] = '\0';
	s = create_session(dev, name);
	expect(s, 0, "a 63-byte name");
	tap(s >= 0 && name_is(s, name), "GET_NAME gives it back");
	close(s);
	expect(retrieve_session(dev, "a"), -ENOENT, "RETRIEVE_SESSION of an outgoing name");
	expect(retrieve_session(dev, ""), -ENOENT, "RETRIEVE_SESSION of an empty name");
}

static void test_preserve(int dev, int a)
{
	int b, m, m2, md, fd, p[2];
	struct liveupdate_session_get_name gn = { .size = sizeof(gn), .reserved = 1 };
	char path[64];

	tap(name_is(a, "a"), "GET_NAME on an outgoing session");
	expect(luo_ioctl(a, LIVEUPDATE_SESSION_GET_NAME, &gn), -EINVAL, "GET_NAME, reserved set");
	expect(luo_ioctl(a, LIVEUPDATE_IOCTL_CREATE_SESSION, &gn), -EINVAL, "a device request on a session");
	expect(retrieve_fd(a, 1), -EINVAL, "RETRIEVE_FD on an outgoing session");
	expect(finish(a, 0), -EINVAL, "FINISH on an outgoing session");

	m = memfd_with("one");
	expect(preserve(a, 999, 1), -EBADF, "PRESERVE_FD of a closed fd");
	expect(preserve(a, m, 1), 0, "PRESERVE_FD of a memfd");
	expect(preserve(a, 999, 1), -EEXIST, "a used token is checked before the fd");
	m2 = memfd_with("two");
	expect(preserve(a, m2, 1), -EEXIST, "a used token");
	expect(preserve(a, m, 2), -EBUSY, "the same memfd under another token");
	b = create_session(dev, "b");
	expect(b, 0, "CREATE_SESSION b");
	md = dup(m);
	expect(preserve(b, md, 1), -EBUSY, "the same memfd in another session");

	if (pipe2(p, O_CLOEXEC) == 0) {
		expect(preserve(b, p[0], 1), -ENOENT, "a pipe");
		close(p[0]);
		close(p[1]);
	}
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	expect(preserve(b, fd, 1), -ENOENT, "/dev/null");
	close(fd);
	snprintf(path, sizeof(path), "/dev/shm/test-fake-%d", (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		expect(preserve(b, fd, 1), -ENOENT, "a tmpfs file with a name");
		unlink(path);
		close(fd);
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", m2);
	fd = open(path, O_PATH | O_CLOEXEC);
	expect(preserve(b, fd, 1), -EBADF, "an O_PATH fd of a memfd");
	close(fd);
	fd = memfd_create("huge", MFD_CLOEXEC | MFD_HUGETLB);
	if (fd >= 0) {
		expect(preserve(b, fd, 1), -ENOENT, "a hugetlb memfd");
		close(fd);
	}

	close(m);
	expect(preserve(b, md, 1), -EBUSY, "LUO keeps its own reference");
	expect(preserve(b, m2, 7), 0, "PRESERVE_FD in b");
	close(m2);
	close(b);
	close(md);
}

/* A session lives as long as any reference to its fd. */
static void test_refcount(int dev, int a)
{
	int d, m, s, sv[2], release;
	pid_t pid;

	d = dup(a);
	close(a);
	expect(create_session(dev, "a"), -EEXIST, "a session lives while a dup of its fd does");
	close(d);
	s = create_session(dev, "a");
	expect(s, 0, "closing the last reference releases it");
	m = memfd_with("m");
	expect(preserve(s, m, 1), 0, "... and the memfd it had can be preserved again");
	close(s);
	close(m);

	s = create_session(dev, "forked");
	pid = hold_in_child(s, &release);
	expect(create_session(dev, "forked"), -EEXIST, "a session held by a child lives on");
	close(release);
	waitpid(pid, NULL, 0);
	s = create_session(dev, "forked");
	expect(s, 0, "it is released when the child exits");
	close(s);

	s = create_session(dev, "flying");
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0 || send_fd(sv[0], s) < 0)
		return;
	close(s);
	expect(create_session(dev, "flying"), -EEXIST, "a session fd in flight (SCM_RIGHTS) lives on");
	s = recv_fd(sv[1]);
	tap(s >= 0 && name_is(s, "flying"), "the received fd is the session");
	close(s);
	close(sv[0]);
	close(sv[1]);
	s = create_session(dev, "flying");
	expect(s, 0, "it is released once the receiver closes it");
	close(s);
}

static void test_kexec(void)
{
	int kernel = memfd_with("kernel"), empty = memfd_create("e", MFD_CLOEXEC);
	const char cmdline[] = "console=ttyS0";
	int fd;

	expect(kexec_loaded(), 0, "kexec_loaded says 0 at first");
	expect(kexec_load(-1, -1, cmdline, sizeof(cmdline), KEXEC_FILE_NO_INITRAMFS), -EBADF,
	       "kexec_file_load of a closed kernel fd");
	expect(kexec_load(kernel, -1, cmdline, sizeof(cmdline), 0x100), -EINVAL, "unknown flags");
	expect(kexec_load(kernel, -1, cmdline, sizeof(cmdline), 0), -EBADF,
	       "no initrd without KEXEC_FILE_NO_INITRAMFS");
	expect(kexec_load(empty, -1, cmdline, sizeof(cmdline), KEXEC_FILE_NO_INITRAMFS), -EINVAL,
	       "an empty kernel file");
	expect(kexec_load(kernel, -1, cmdline, strlen(cmdline), KEXEC_FILE_NO_INITRAMFS), -EINVAL,
	       "a command line without its NUL");
	expect(kexec_load(kernel, -1, NULL, 4, KEXEC_FILE_NO_INITRAMFS), -EFAULT, "an unreadable command line");
	expect(kexec_load(kernel, -1, cmdline, sizeof(cmdline), KEXEC_FILE_ON_CRASH | KEXEC_FILE_NO_INITRAMFS), 0,
	       "a crash kernel loads");
	expect(kexec_loaded(), 0, "... and kexec_loaded still says 0");
	expect(kexec_load(kernel, -1, cmdline, sizeof(cmdline), KEXEC_FILE_NO_INITRAMFS), 0, "kexec_file_load");
	expect(kexec_loaded(), 1, "kexec_loaded says 1");
	expect(kexec_load(-1, -1, NULL, 0, KEXEC_FILE_UNLOAD), 0, "unload (fds unused)");
	expect(kexec_loaded(), 0, "kexec_loaded says 0");
	expect(kexec_load(kernel, kernel, NULL, 0, 0), 0, "with an initrd, no command line");
	ctl("unload", NULL);
	ctl("fail-load", "EPERM");
	expect(kexec_load(kernel, -1, cmdline, sizeof(cmdline), KEXEC_FILE_NO_INITRAMFS), -EPERM, "the fail-load knob");
	expect(kexec_loaded(), 0, "... and nothing is loaded");
	ctl("fail-load", "0");
	ctl("load", NULL);
	expect(kexec_loaded(), 1, "ctl load");
	ctl("unload", NULL);
	expect(kexec_loaded(), 0, "ctl unload");
	fd = open("/sys/kernel/kexec_loaded", O_RDWR | O_CLOEXEC);
	expect(neg_errno(fd), -EACCES, "kexec_loaded is read-only");
	expect(neg_errno(reboot(LINUX_REBOOT_CMD_KEXEC)), -EINVAL, "reboot with nothing loaded");
	expect(neg_errno(reboot(RB_AUTOBOOT)), -EPERM, "any other reboot is refused");
	close(kernel);
	close(empty);
}

static void test_rules(void)
{
	int dev, a, kept, sv[2], fd;

	dev = luo_open();
	expect(dev, 0, "open /dev/liveupdate");
	if (dev < 0)
		return;
	tap(is_cloexec(dev), "the device fd is O_CLOEXEC");
	expect(luo_open(), -EBUSY, "a second open");
	expect(neg_errno(openat(AT_FDCWD, LIVEUPDATE_DEVICE, O_RDWR)), -EBUSY, "a second openat");

	a = create_session(dev, "a");
	expect(a, 0, "CREATE_SESSION a");
	tap(is_cloexec(a), "the session fd is O_CLOEXEC");
	expect(create_session(dev, "a"), -EEXIST, "CREATE_SESSION a again");
	test_names(dev);
	test_sizes(dev);
	test_preserve(dev, a);
	test_refcount(dev, a);

	kept = create_session(dev, "kept");
	close(dev);
	dev = luo_open();
	expect(dev, 0, "closing the device frees it");
	expect(create_session(dev, "kept"), -EEXIST, "... and keeps its sessions");
	close(kept);
	close(dev);
	ctl("fail-open", "EIO");
	expect(luo_open(), -EIO, "the fail-open knob");
	ctl("fail-open", "0");
	dev = luo_open();
	expect(dev, 0, "open once the knob is cleared");
	close(dev);

	test_kexec();

	/* Only sockets the fake made are its fds. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0) {
		struct liveupdate_ioctl_create_session cs = { .size = sizeof(cs), .name = "x" };

		expect(luo_ioctl(sv[0], LIVEUPDATE_IOCTL_CREATE_SESSION, &cs), -ENOTTY,
		       "a LUO ioctl on another socket goes to the real kernel");
		close(sv[0]);
		close(sv[1]);
	}
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	expect(luo_ioctl(fd, LIVEUPDATE_SESSION_FINISH, &sv), -ENOTTY,
	       "a LUO ioctl on a non-socket goes to the real kernel");
	close(fd);
}

static void test_prepare(void)
{
	int dev = luo_open(), keep, s, m, release;

	expect(dev, 0, "open /dev/liveupdate");
	keep = create_session(dev, "keep");
	m = memfd_with("hello, next kernel");
	expect(preserve(keep, m, 1), 0, "preserve a memfd in keep");
	/* Writes after PRESERVE_FD still land; so does the file position. */
	tap(pwrite(m, "H", 1, 0) == 1 && lseek(m, 7, SEEK_SET) == 7, "write to it, seek");
	close(m);
	m = memfd_with("never retrieved");
	expect(preserve(keep, m, 2), 0, "preserve another in keep");
	close(m);

	s = create_session(dev, "gone");
	m = memfd_with("gone");
	expect(preserve(s, m, 1), 0, "preserve a memfd in gone, then close gone");
	close(m);
	close(s);

	s = create_session(dev, "held");
	expect(s, 0, "a session held only by a child at the reboot");
	/* The child goes when this process dies at the reboot. */
	hold_in_child(s, &release);
	expect(create_session(dev, "spare"), 0, "a session nobody claims after the reboot");

	ctl("load", NULL);
	ctl("fail-reboot", "EIO");
	expect(neg_errno(reboot(LINUX_REBOOT_CMD_KEXEC)), -EIO, "a failed serialization: reboot() returns its error");
	m = memfd_with("after the failed reboot");
	expect(preserve(keep, m, 3), 0, "the sessions are still usable");
	close(m);
	ctl("fail-reboot", "0");

	printf("# rebooting\n");
	reboot(LINUX_REBOOT_CMD_KEXEC);
	tap(false, "reboot() returned: %m");
}

static void test_after(void)
{
	int dev = luo_open(), keep, out, m, m1, m3, s;

	expect(dev, 0, "the device is free after the reboot");
	expect(retrieve_session(dev, "gone"), -ENOENT, "a session closed before the reboot is gone");
	keep = retrieve_session(dev, "keep");
	expect(keep, 0, "RETRIEVE_SESSION keep");
	tap(is_cloexec(keep) && name_is(keep, "keep"), "it is O_CLOEXEC and named keep");
	expect(retrieve_session(dev, "keep"), -EINVAL, "RETRIEVE_SESSION keep again");
	out = create_session(dev, "keep");
	expect(out, 0, "an outgoing keep beside the incoming one");
	m = memfd_with("m");
	expect(preserve(keep, m, 9), -EINVAL, "PRESERVE_FD on an incoming session");
	close(m);

	m1 = retrieve_fd(keep, 1);
	expect(m1, 0, "RETRIEVE_FD 1");
	tap(is_cloexec(m1), "the retrieved fd is O_CLOEXEC");
	tap(has_text(m1, "Hello, next kernel"), "its bytes, with the write after PRESERVE_FD");
	tap(lseek(m1, 0, SEEK_CUR) == 7, "its file position");
	m = retrieve_fd(keep, 1);
	tap(m >= 0 && same_file(m, m1), "RETRIEVE_FD 1 again gives the same file");
	close(m);
	expect(retrieve_fd(keep, 99), -ENOENT, "RETRIEVE_FD of an unknown token");
	m3 = retrieve_fd(keep, 3);
	tap(m3 >= 0 && has_text(m3, "after the failed reboot"),
	    "the file preserved after the failed reboot came along");
	expect(preserve(out, m1, 1), -EBUSY, "a retrieved file is LUO's until FINISH");
	expect(finish(keep, 1), -EINVAL, "FINISH with reserved set");
	expect(finish(keep, 0), 0, "FINISH");
	expect(retrieve_fd(keep, 1), -ENOENT, "RETRIEVE_FD after FINISH");
	expect(retrieve_fd(keep, 2), -ENOENT, "the file never retrieved is discarded");
	tap(has_text(m1, "Hello, next kernel"), "a retrieved file stays ours");
	expect(preserve(out, m1, 1), 0, "... and can go to the next kernel");
	expect(retrieve_session(dev, "keep"), -EINVAL, "a finished session stays retrieved");
	close(keep);
	expect(retrieve_session(dev, "keep"), -ENOENT, "closed, it is released");

	s = retrieve_session(dev, "held");
	expect(s, 0, "the session a child held at the reboot survived");
	close(s);
	expect(retrieve_session(dev, "held"), -ENOENT, "closing a retrieved session finishes it");
	close(m1);
	close(m3);
	close(out);
	close(dev);
}

static void test_reboot(void)
{
	int dev = luo_open(), s, m;

	s = create_session(dev, "second");
	m = memfd_with("second");
	expect(preserve(s, m, 1), 0, "preserve a memfd in second");
	close(dev);
	ctl("load", NULL);
	printf("# rebooting\n");
	reboot(LINUX_REBOOT_CMD_KEXEC);
	tap(false, "reboot() returned: %m");
}

static void test_passthrough(void)
{
	struct stat st;
	int r;

	r = luo_open();
	if (stat(LIVEUPDATE_DEVICE, &st) < 0)
		expect(r, -ENOENT, "without LUO_FAKE_SOCKET, the host's /dev/liveupdate");
	else
		printf("ok - # SKIP the host has /dev/liveupdate\n");
	r = kexec_loaded();
	tap(r == 0 || r == 1 || r == -ENOENT, "the host's kexec_loaded");
}

int main(int argc, char **argv)
{
	int (*active)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "luo_fake_preload_active");
	const char *phase = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* A double that stops answering fails the phase rather than hanging it. */
	alarm(30);
	if (!strcmp(phase, "passthrough")) {
		if (!active || active()) {
			fprintf(stderr, "test-fake: passthrough wants the preload, without LUO_FAKE_SOCKET\n");
			return EXIT_FAILURE;
		}
		test_passthrough();
		return failures ? EXIT_FAILURE : EXIT_SUCCESS;
	}
	/* Never let reboot() or kexec_file_load() reach the real kernel. */
	if (!active || !active()) {
		fprintf(stderr, "test-fake: run me under luo-fake-preload with LUO_FAKE_SOCKET\n");
		return EXIT_FAILURE;
	}
	if (!strcmp(phase, "rules"))
		test_rules();
	else if (!strcmp(phase, "prepare"))
		test_prepare();
	else if (!strcmp(phase, "after"))
		test_after();
	else if (!strcmp(phase, "reboot"))
		test_reboot();
	else if (!strcmp(phase, "no-luo"))
		expect(luo_open(), -ENOENT, "a kernel without LUO has no /dev/liveupdate");
	else {
		fprintf(stderr, "usage: test-fake rules|prepare|after|reboot|no-luo|passthrough\n");
		return EXIT_FAILURE;
	}
	return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
