/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Small helpers shared by every component: cleanup attributes for fds,
 * memory and json objects, ownership transfer, array sizes and the
 * monotonic clock.
 */
#ifndef LUO_UTIL_H
#define LUO_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct json_object;
int json_object_put(struct json_object *obj);

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;

		close(*fd);
		errno = saved;
	}
}

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void json_putp(struct json_object **obj)
{
	if (*obj)
		json_object_put(*obj);
}

#define _cleanup_close_ __attribute__((cleanup(closep)))
#define _cleanup_free_ __attribute__((cleanup(freep)))
#define _cleanup_json_ __attribute__((cleanup(json_putp)))

/* Hand ownership out: return the value and leave an empty one behind. */
#define steal_fd(pfd)             \
	({                        \
		int _fd = *(pfd); \
		*(pfd) = -1;      \
		_fd;              \
	})
#define steal_ptr(pp)                         \
	({                                    \
		__typeof__(*(pp)) _p = *(pp); \
		*(pp) = NULL;                 \
		_p;                           \
	})

/* Close a set of fds (those < 0 are skipped) and mark them closed. */
static inline void close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

/* The monotonic clock in milliseconds, from an arbitrary point. */
static inline int64_t luo_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif /* LUO_UTIL_H */
