/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The wire protocol between luo-fake-preload (inside the program under
 * test) and luo-fake-kernel: one fixed-size request, one fixed-size reply,
 * each a single SOCK_SEQPACKET message that may carry one fd (SCM_RIGHTS).
 *
 * A connection to the fake's listening socket starts unbound. OPEN_DEVICE
 * turns it into the /dev/liveupdate holder, which then only takes IOCTL.
 * Every other op is one-shot: connect, ask, close. Session fds are the
 * client ends of socketpairs the fake made; they only take IOCTL.
 */
#ifndef FAKE_PROTO_H
#define FAKE_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "luo-uapi.h"

enum fake_op {
	FAKE_OP_OPEN_DEVICE = 1, /* open("/dev/liveupdate") */
	FAKE_OP_IOCTL, /* a LUO ioctl on the device or a session */
	FAKE_OP_KEXEC_LOAD, /* kexec_file_load(), fds checked; flags */
	FAKE_OP_KEXEC_LOADED, /* read /sys/kernel/kexec_loaded: value */
	FAKE_OP_REBOOT, /* reboot(LINUX_REBOOT_CMD_KEXEC) */
	FAKE_OP_CTL, /* test control: cmd is an enum fake_ctl */
};

enum fake_ctl {
	FAKE_CTL_STATUS = 1, /* reply is followed by the status text */
	FAKE_CTL_FAIL_OPEN, /* arg: errno for open(), 0 clears */
	FAKE_CTL_FAIL_LOAD, /* arg: errno for kexec_file_load() */
	FAKE_CTL_FAIL_REBOOT, /* arg: errno for reboot() */
	FAKE_CTL_LOAD, /* an image is loaded behind our back */
	FAKE_CTL_UNLOAD,
};

/* The largest LUO ioctl argument: the fake keeps the kernel's copy of it. */
union fake_ioctl_arg {
	struct liveupdate_ioctl_create_session create;
	struct liveupdate_ioctl_retrieve_session retrieve;
	struct liveupdate_session_preserve_fd preserve;
	struct liveupdate_session_retrieve_fd retrieve_fd;
	struct liveupdate_session_finish finish;
	struct liveupdate_session_get_name get_name;
};

/*
 * IOCTL: the preload reads the caller's struct the way the kernel's
 * copy_struct_from_user() would, but cannot know which checks come first
 * (the fake knows the fd's kind), so it reports what it found and the fake
 * applies each result at the kernel's point: size_err is get_user() of
 * the size field, copy_err is copy_struct_from_user() (-EFAULT, -E2BIG).
 * A PRESERVE_FD request carries arg.preserve.fd as SCM_RIGHTS when that
 * fd is open in the caller; without it the fake answers EBADF.
 */
struct fake_req {
	uint32_t op; /* enum fake_op */
	uint32_t cmd; /* IOCTL: the request number; CTL: enum fake_ctl */
	uint32_t user_size; /* IOCTL: the caller's size field */
	int32_t size_err; /* IOCTL: 0 or -EFAULT */
	int32_t copy_err; /* IOCTL: 0, -EFAULT or -E2BIG */
	uint32_t flags; /* KEXEC_LOAD: KEXEC_FILE_* */
	int32_t arg; /* CTL: the knob's errno */
	uint32_t reserved;
	union fake_ioctl_arg ioctl; /* IOCTL: the caller's struct, zero-extended */
};

struct fake_reply {
	int32_t err; /* 0 or -errno */
	uint32_t value; /* KEXEC_LOADED: 0 or 1 */
	union fake_ioctl_arg ioctl; /* IOCTL: what the kernel copies back */
};

/* The status text that follows a FAKE_CTL_STATUS reply fits in this. */
#define FAKE_STATUS_MAX 65536

/* The fd a reply carries lands in the same place in every struct. */
_Static_assert(offsetof(struct liveupdate_ioctl_create_session, fd) ==
		       offsetof(struct liveupdate_session_retrieve_fd, fd),
	       "fd offset");
_Static_assert(offsetof(struct liveupdate_ioctl_retrieve_session, fd) ==
		       offsetof(struct liveupdate_session_retrieve_fd, fd),
	       "fd offset");

/*
 * Exported by luo-fake-preload: whether it is loaded and carries calls to
 * a fake kernel. Look it up with dlsym() before anything that would touch
 * the real kernel (reboot!) if it were not.
 */
int luo_fake_preload_active(void);

/* Helpers all three programs use. */
#define _cleanup_(f) __attribute__((cleanup(f)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline int steal_fd(int *fd)
{
	int r = *fd;

	*fd = -1;
	return r;
}

int fake_send(int sock, const void *buf, size_t len, int fd, int flags);
long fake_recv(int sock, void *buf, size_t len, int flags, int *fdp);

#endif /* FAKE_PROTO_H */
