/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libluo-client: take part in live updates driven by luod.
 *
 * A service that wants its state to survive a kernel live update:
 *
 *   luo_client_connect(NULL, &c);
 *   if (luo_client_claim(c, "my-id", &sfd) == 0) {    // after an update
 *           luo_client_claimed_uid(c, &uid);           // == getuid()?
 *           fd = luo_session_retrieve_fd(sfd, 1);      // by token
 *           ...
 *           luo_session_finish(sfd);
 *           luo_client_done(c);
 *           close(sfd);
 *   }
 *   luo_client_subscribe(c, "my-id");
 *   for (;;) {                                         // or poll luo_client_fd()
 *           luo_client_next_event(c, -1, &ev);
 *           if (ev.type == LUO_EVENT_START_PRESERVATION) {
 *                   luo_session_preserve_fd(ev.session_fd, memfd, 1);
 *                   luo_client_ready(c);
 *           }
 *           luo_event_release(&ev);
 *   }
 *
 * Every function returns 0 (or a non-negative fd) on success and a negative
 * errno on failure. When luod refused a command, its explanation is in
 * luo_client_error(). The library never prints and never exits. Commands
 * block until luod replies; events arriving meanwhile are queued and come
 * out of luo_client_next_event() in order. Before polling luo_client_fd(),
 * drain the queue: luo_client_next_event(c, 0, &ev) until -ETIMEDOUT.
 * A struct luo_client is not for two threads at once. See luo-client(3).
 */
#ifndef LUO_CLIENT_H
#define LUO_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct luo_client;

enum luo_event_type {
	LUO_EVENT_NONE = 0,
	/* luod created a session for this client: preserve, then ready. */
	LUO_EVENT_START_PRESERVATION,
	/* The update was aborted; stay subscribed for the next one. */
	LUO_EVENT_ABORTED,
};

/**
 * struct luo_event - an event from luod.
 * @type: what happened
 * @session_fd: START_PRESERVATION: the outgoing session, owned by the event
 *              (luo_event_release() closes it); -1 otherwise
 * @session: START_PRESERVATION: the session's name ("luod.<id>.<n>")
 * @update: START_PRESERVATION: the number the update will have
 * @deadline_ms: START_PRESERVATION: milliseconds left to answer (-1: not said)
 * @error: ABORTED: errno of the cause (0 if none)
 * @reason: ABORTED: what happened, for people
 */
struct luo_event {
	enum luo_event_type type;
	int session_fd;
	char session[64];
	uint64_t update;
	int64_t deadline_ms;
	int error;
	char reason[512];
};

int luo_client_connect(const char *socket_path, struct luo_client **ret);
void luo_client_free(struct luo_client *c);
int luo_client_fd(const struct luo_client *c);
const char *luo_client_error(const struct luo_client *c);

int luo_client_subscribe(struct luo_client *c, const char *id);
int luo_client_next_event(struct luo_client *c, int timeout_ms, struct luo_event *ev);
void luo_event_release(struct luo_event *ev);
int luo_client_ready(struct luo_client *c);
int luo_client_fail(struct luo_client *c, const char *reason);

int luo_client_claim(struct luo_client *c, const char *id, int *session_fd);
int luo_client_claimed_uid(const struct luo_client *c, uid_t *uid);
int luo_client_done(struct luo_client *c);

int luo_session_preserve_fd(int session_fd, int fd, uint64_t token);
int luo_session_retrieve_fd(int session_fd, uint64_t token);
int luo_session_finish(int session_fd);
int luo_session_get_name(int session_fd, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* LUO_CLIENT_H */
