/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * luod's objects: the daemon, its connections, the subscriptions of this
 * boot and the sessions carried over from the previous one.
 */
#ifndef LUOD_DAEMON_H
#define LUOD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "protocol.h"

#define LUOD_MAX_CONNS 512
#define LUOD_MAX_CONNS_PER_UID 32
#define LUOD_MAX_SUBS 256
#define LUOD_DEFAULT_TIMEOUT_MS 30000
#define LUOD_MAX_TIMEOUT_MS 3600000
#define LUOD_STATE_SESSION "luod"
#define LUOD_STATE_TOKEN 1
#define LUOD_SESSION_NAME_MAX 64

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

struct daemon;

/* Something in the epoll set; the callback finds its owner with container_of. */
struct watch {
	int fd;
	void (*cb)(struct watch *w, uint32_t events);
};

enum sub_state {
	SUB_SUBSCRIBED,
	SUB_PREPARING,
	SUB_READY,
};

/*
 * A client taking part in the next update. It outlives its connection once
 * READY: luod then holds the session alone until the reboot.
 */
struct sub {
	struct sub *next;
	struct conn *conn;
	char id[LUO_ID_MAX + 1];
	uid_t uid;
	pid_t pid;
	enum sub_state state;
	int session_fd;
	char session[LUOD_SESSION_NAME_MAX];
};

/* A session from before the update, waiting for its client. */
struct carried {
	struct carried *next;
	char id[LUO_ID_MAX + 1];
	char session[LUOD_SESSION_NAME_MAX];
	uid_t uid;
	int fd;
	struct conn *claimer;
};

struct conn {
	struct conn *next;
	struct daemon *d;
	struct watch w;
	struct luo_conn lc;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	uint32_t events;
	bool dead;
	const char *failed;
	struct sub *sub;
	struct carried *claim;
	/* A command of this connection is being worked on (LOAD): its input waits. */
	bool busy;
};

enum daemon_state {
	D_IDLE,
	D_PREPARING,
	D_REBOOTING,
};

struct daemon {
	int epfd;
	struct watch listen_w;
	struct watch signal_w;
	struct watch timer_w;
	bool listen_paused;
	bool quit;

	int dev_fd;
	int dev_err;

	struct conn *conns;
	struct conn *zombies;
	unsigned n_conns;
	struct sub *subs;
	unsigned n_subs;
	struct carried *carried;

	enum daemon_state state;
	uint64_t updates;
	unsigned attempt;
	struct conn *watcher;
	uint64_t update_started_ms;
	uint64_t update_deadline_ms;
	uid_t update_by;

	struct json_object *loaded;
	int loaded_expect;
	/* LOAD's state (load.c): the load in progress, the running kernel's LUO ABI. */
	struct load_ctx *load;

	/* The list of carried sessions in the service manager's fd store, or -1. */
	int store_fd;
};

/* daemon.c */
int daemon_init(struct daemon *d, int listen_fd);
int daemon_run(struct daemon *d);
void daemon_done(struct daemon *d);
void conn_send(struct conn *c, struct json_object *msg, const int *fds, size_t n_fds);
void conn_close(struct conn *c, const char *why);
void conn_resume(struct conn *c);
uint64_t now_ms(void);
const char *sub_state_name(enum sub_state s);

/* update.c */
struct json_object *update_start(struct daemon *d, struct conn *by, int64_t timeout_ms, bool force);
void update_ready(struct daemon *d, struct sub *s);
void update_abort(struct daemon *d, int err, const char *faulty, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void update_timeout(struct daemon *d);
void update_sub_lost(struct daemon *d, struct sub *s);

/* state.c */
int state_save(struct daemon *d, int *state_fd);
int state_restore(struct daemon *d);
void carried_free(struct daemon *d, struct carried *k);
void carried_drop(struct daemon *d, struct carried *k);
unsigned carried_count(const struct daemon *d);
int state_restore_stored(struct daemon *d);
int store_sync(struct daemon *d);

/* load.c */
struct json_object *load_handle(struct daemon *d, struct conn *c, struct json_object *msg, int *fds, size_t n_fds);
struct json_object *load_unload(struct daemon *d);
void load_conn_closed(struct daemon *d, struct conn *c);
struct json_object *load_status(struct daemon *d);
void load_done(struct daemon *d);

#endif /* LUOD_DAEMON_H */
