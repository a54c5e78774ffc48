/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * luod's objects: the daemon, its connections, the subscriptions of this
 * boot and the sessions carried over from the previous one; and what each
 * file offers the others. The layers, from the bottom: loop.c and conn.c
 * (the transport); update.c (the state machine), state.c, store.c,
 * record.c, binding.c, device.c, systemd.c; the commands (cmd-*.c,
 * load.c); dispatch.c; daemon.c. A layer calls the ones below it; the transport reaches its owner only through
 * struct conn_ops and the callbacks of its watches.
 */
#ifndef LUOD_DAEMON_H
#define LUOD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "protocol.h"
#include "util.h"

/* Connections of non-root uids, in all and per uid; root's are not capped. */
#define LUOD_MAX_CONNS 512
#define LUOD_MAX_CONNS_PER_UID 32
/*
 * File descriptors: luod raises its soft RLIMIT_NOFILE to the hard limit
 * and keeps a reserve, the larger of LUOD_FD_RESERVE_MIN and a quarter of
 * the limit, that non-root uids cannot take: root's connections and an
 * update (sessions, the state memfd, kexec) are served from it. A non-root
 * uid is charged for its connections, the fds they hold received or queued,
 * and a session for each of its subscriptions; beyond LUOD_MAX_FDS_PER_UID,
 * or when the non-root share is used up, it is refused with EMFILE.
 */
#define LUOD_FD_RESERVE_MIN 64
#define LUOD_MAX_FDS_PER_UID 96
#define LUOD_MAX_SUBS 256
/*
 * What one connection gets done per turn of the event loop: at most this
 * many commands and one read (LUO_PROTO_MAX_LINE bytes), so that no peer
 * keeps luod from the others, its timers and its signals.
 */
#define LUOD_CONN_BATCH 16
#define LUOD_MAX_BINDINGS 1024
#define LUOD_MAX_BINDINGS_PER_UID 64
#define LUOD_DEFAULT_TIMEOUT_MS 30000
#define LUOD_MAX_TIMEOUT_MS 3600000
#define LUOD_STATE_SESSION "luod"
#define LUOD_STATE_TOKEN 1
#define LUOD_SESSION_NAME_MAX 64

/* The monotonic clock in milliseconds, as luod keeps its times. */
static inline uint64_t now_ms(void)
{
	return (uint64_t)luo_now_ms();
}

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

struct daemon;
struct conn;
struct json_object;

/* What the connections ask of the layer above them (conn.c calls it). */
struct conn_ops {
	/* One complete command; the callee closes the fds it does not keep. */
	void (*command)(struct conn *c, struct json_object *msg, int *fds, size_t n_fds);
	/* The connection is closed: let go of what refers to it. */
	void (*closed)(struct conn *c);
};

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
	/* The last update aborted while this client took part: a late READY. */
	uint64_t aborted_update;
	char aborted_session[LUOD_SESSION_NAME_MAX];
	char aborted_reason[1024];
};

/*
 * A session from before the update, waiting for its client. Once handed to
 * a claimer it no longer blocks the next update (a client that follows only
 * the upstream README never says DONE), but stays claimable until then.
 */
struct carried {
	struct carried *next;
	char id[LUO_ID_MAX + 1];
	char session[LUOD_SESSION_NAME_MAX];
	uid_t uid;
	int fd;
	struct conn *claimer;
	bool handed;
};

/*
 * A client id bound to a uid: by its first SUBSCRIBE in this lineage of
 * luod state, by a session that carries it, or by an administrator
 * (RESERVE). Only that uid may SUBSCRIBE or CLAIM the id (root may CLAIM
 * any). Saved across updates and restarts.
 */
struct binding {
	struct binding *next;
	char id[LUO_ID_MAX + 1];
	uid_t uid;
	bool reserved;
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
	/* Complete commands may be buffered: serve it again without EPOLLIN. */
	bool ready;
	struct conn *ready_next;
	/* The turn of the event loop it was last served in. */
	uint64_t turn;
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
	const struct conn_ops *conn_ops;
	struct watch listen_w;
	struct watch signal_w;
	struct watch timer_w;
	bool listen_paused;
	bool quit;
	/* RLIMIT_NOFILE, as raised at the start. */
	unsigned fd_limit;
	/* Connections to serve again in the next turn, and that turn's number. */
	struct conn *ready;
	uint64_t turn;

	/*
	 * /dev/liveupdate (device.c): held for luod's whole life, or under
	 * systemd 261+ (with_systemd) only while luod needs it. dev_err: why
	 * LUO is not usable, 0 if it is.
	 */
	int dev_fd;
	int dev_err;
	/*
	 * Working with systemd 261+ as PID 1 (luod(8)): the update's sessions
	 * cross the kexec in the fd store (store.c), and the kexec is systemd's
	 * (kexec.target). store_committed: the update's sessions are in the
	 * store. kexec_underway: the update was started by the shutdown of a
	 * kexec already under way (luod-barrier.service), not by luod.
	 */
	bool with_systemd;
	bool store_committed;
	bool kexec_underway;

	struct conn *conns;
	struct conn *zombies;
	unsigned n_conns;
	struct sub *subs;
	unsigned n_subs;
	struct carried *carried;
	/* Their number (state.c keeps it; the fd budget of conn.c reads it). */
	unsigned n_carried;
	struct binding *bindings;
	unsigned n_bindings;

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

	/* The record beside the socket (what a restart without the fd store lost). */
	char *record_path;
	/* Sessions a restart lost, until acknowledged (RELEASE) or the next update. */
	struct json_object *lost;
};

/* Can luod use LUO (it may not hold the device at this moment)? */
static inline bool luo_usable(const struct daemon *d)
{
	return d->dev_err == 0;
}

/* device.c */
void device_holder(char *buf, size_t len);
int device_acquire(struct daemon *d, char *why, size_t len);
void device_release(struct daemon *d);

/* loop.c */
void loop_block_signals(void);
int loop_init(struct daemon *d);
int loop_watch_add(struct daemon *d, struct watch *w);
int loop_run(struct daemon *d);
void loop_done(struct daemon *d);

/* conn.c */
int conn_listen(struct daemon *d, int listen_fd);
void conn_send(struct conn *c, struct json_object *msg, const int *fds, size_t n_fds);
void conn_close(struct conn *c, const char *why);
void conn_resume(struct conn *c);
int fd_budget(struct daemon *d, uid_t uid, unsigned more, char *why, size_t len);
void conn_serve_ready(struct daemon *d);
void conn_reap(struct daemon *d);
void conn_done(struct daemon *d);

/* daemon.c: the layers set up and taken down in order */
int daemon_init(struct daemon *d, int listen_fd);
int daemon_run(struct daemon *d);
void daemon_done(struct daemon *d);

/*
 * A command's handler (dispatch.c's table). It returns the reply, which
 * dispatch sends, or NULL when it has replied itself (a reply carrying
 * fds, or one that must go out before the events it causes) or replies
 * later (LOAD: the connection is busy until then). The fds are closed
 * after it returns; it keeps duplicates of the ones it needs.
 */
typedef struct json_object *handler_fn(struct daemon *d, struct conn *c, struct json_object *msg, int *fds,
				       size_t n_fds);

/* dispatch.c */
extern const struct conn_ops dispatch_conn_ops;

/* cmd-update.c */
handler_fn handle_subscribe, handle_ready, handle_fail, handle_kexec, handle_abort;
/* cmd-claim.c */
handler_fn handle_claim, handle_done, handle_release, handle_reserve, handle_unreserve, handle_bindings;
void claim_conn_closed(struct conn *c);
/* cmd-status.c */
handler_fn handle_version, handle_status;

/* update.c: the state machine */
int update_init(struct daemon *d);
void update_done(struct daemon *d);
struct json_object *update_gate(struct daemon *d, const char *cmd);
const char *update_state_name(enum daemon_state s);
const char *sub_state_name(enum sub_state s);
struct sub *sub_find(struct daemon *d, const char *id);
int sub_add(struct daemon *d, struct conn *c, const char *id);
struct json_object *update_start(struct daemon *d, struct conn *by, int64_t timeout_ms, bool force);
void update_ready(struct daemon *d, struct sub *s);
void update_abort(struct daemon *d, int err, const char *faulty, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void update_timeout(struct daemon *d);
void update_conn_closed(struct daemon *d, struct conn *c);
void update_resume_committed(struct daemon *d);

/* state.c */
int state_save(struct daemon *d, int *state_fd);
int state_restore(struct daemon *d);
struct carried *carried_find(struct daemon *d, const char *id);
void carried_free(struct daemon *d, struct carried *k);
void carried_drop(struct daemon *d, struct carried *k);
unsigned carried_count(const struct daemon *d);
unsigned carried_unclaimed(const struct daemon *d);
const char *carried_state(const struct carried *k);
void state_changed(struct daemon *d);
int state_read(int fd, struct json_object **root);
int state_write_all(int fd, const char *buf, size_t len);
bool carried_entry(struct json_object *x, const char **id, const char **session, int64_t *uid);
int carried_add(struct daemon *d, const char *id, const char *session, int64_t uid, int fd, bool handed);

/* store.c */
void store_remove(const char *name);
void store_forget(struct daemon *d);
int store_sync(struct daemon *d);
int store_commit(struct daemon *d);
void store_rollback(struct daemon *d);
int store_hand_over(struct daemon *d, char *why, size_t len);
int store_restore(struct daemon *d);

/* record.c */
void boot_id(char *buf, size_t len);
int record_init(struct daemon *d, const char *socket_path);
void record_write(struct daemon *d);
void record_check(struct daemon *d);
bool lost_acknowledge(struct daemon *d, const char *id);

/* binding.c */
struct binding *binding_find(struct daemon *d, const char *id);
int binding_add(struct daemon *d, const char *id, uid_t uid, bool reserved, bool limited);
void binding_drop(struct daemon *d, struct binding *b);
struct json_object *bindings_json(const struct daemon *d);
void bindings_restore(struct daemon *d, struct json_object *root);
void binding_of_carried(struct daemon *d, struct carried *k);

/* load.c */
handler_fn handle_load, handle_unload;
void load_conn_closed(struct daemon *d, struct conn *c);
struct json_object *load_status(struct daemon *d);
bool load_busy(const struct daemon *d);
void load_done(struct daemon *d);

#endif /* LUOD_DAEMON_H */
