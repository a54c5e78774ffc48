/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns the live update itself: its state machine (below, in one place),
 * the subscriptions (struct sub: created and freed here), the sessions
 * luod creates for its clients, the READY barrier and its deadline, the
 * abort that puts everything back, and the final step: luod saves its
 * state and calls reboot(), or under systemd 261+ puts the sessions into
 * its fd store and asks systemd for its orderly kexec (kexec.target).
 *
 *   state      event                                          next state
 *   idle       KEXEC (update_start())                         preparing
 *   preparing  every client READY (update_ready(), finalize()) rebooting
 *   preparing  FAIL, ABORT, the deadline, a client gone        idle
 *              before READY, luod stopping, the state cannot
 *              be saved, systemd refuses the kexec
 *              (update_abort())
 *   rebooting  the kernel refuses the reboot (update_abort())  idle
 *
 * A subscription follows: subscribed -> preparing (START_PRESERVATION)
 * -> ready (READY); an abort puts every one back to subscribed. Which
 * commands each state accepts is the table gates[] below.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "daemon.h"
#include "kexec.h"
#include "log.h"
#include "luo-ops.h"
#include "util.h"

/* The transitions the table above allows, one bit per next state. */
static const unsigned transitions[] = {
	[D_IDLE] = 1u << D_PREPARING,
	[D_PREPARING] = 1u << D_IDLE | 1u << D_REBOOTING,
	[D_REBOOTING] = 1u << D_IDLE,
};

/* The commands that only some states accept, and the refusal in the others. */
static const struct {
	const char *cmd;
	unsigned states;
	int err;
	const char *refusal;
} gates[] = {
	{ LUO_CMD_SUBSCRIBE, 1u << D_IDLE, EBUSY, "a live update is in progress; subscribe after it" },
	{ LUO_CMD_KEXEC, 1u << D_IDLE, EBUSY, "a live update is already in progress" },
	{ LUO_CMD_ABORT, 1u << D_PREPARING, ENOENT, "no live update is in progress" },
	{ LUO_CMD_LOAD, 1u << D_IDLE, EBUSY, "a live update is in progress: load the next kernel after it" },
	{ LUO_CMD_UNLOAD, 1u << D_IDLE, EBUSY, "a live update is in progress: it needs the loaded kernel" },
};

/**
 * update_gate() - does the update's state accept a command now?
 * @d: the daemon
 * @cmd: the command's name (LUO_CMD_*)
 *
 * Return: NULL if it does, else the refusal to reply with.
 */
struct json_object *update_gate(struct daemon *d, const char *cmd)
{
	for (size_t i = 0; i < ARRAY_SIZE(gates); i++)
		if (!strcmp(cmd, gates[i].cmd) && !(gates[i].states & 1u << d->state))
			return luo_msg_error(gates[i].err, "%s", gates[i].refusal);
	return NULL;
}

/* Every change of the update's state goes through here. */
static void update_enter(struct daemon *d, enum daemon_state next)
{
	if (!(transitions[d->state] & 1u << next))
		log_error("internal error: live update state %s -> %s", update_state_name(d->state),
			  update_state_name(next));
	d->state = next;
}

/**
 * update_state_name() - the protocol's name of the update's state.
 * @s: the state
 *
 * Return: "idle", "preparing" or "rebooting".
 */
const char *update_state_name(enum daemon_state s)
{
	static const char *const names[] = {
		[D_IDLE] = "idle",
		[D_PREPARING] = "preparing",
		[D_REBOOTING] = "rebooting",
	};

	return names[s];
}

/**
 * sub_state_name() - the protocol's name of a subscription state.
 * @s: the state
 *
 * Return: "subscribed", "preparing" or "ready".
 */
const char *sub_state_name(enum sub_state s)
{
	static const char *const names[] = {
		[SUB_SUBSCRIBED] = "subscribed",
		[SUB_PREPARING] = "preparing",
		[SUB_READY] = "ready",
	};

	return names[s];
}

static void progress(struct daemon *d, struct sub *s)
{
	struct json_object *ev;

	if (!d->watcher)
		return;
	ev = luo_msg_event(LUO_EV_PROGRESS);
	json_object_object_add(ev, "id", json_object_new_string(s->id));
	json_object_object_add(ev, "state", json_object_new_string(sub_state_name(s->state)));
	conn_send(d->watcher, ev, NULL, 0);
}

static void timer_arm(struct daemon *d, uint64_t ms)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 },
	};

	timerfd_settime(d->timer_w.fd, 0, &its, NULL);
}

static void timer_event(struct watch *w, uint32_t events)
{
	struct daemon *d = container_of(w, struct daemon, timer_w);
	uint64_t ticks;

	if (read(w->fd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return;
	update_timeout(d);
}

/**
 * update_init() - create the timer of the update's deadline.
 * @d: the daemon; its loop is set up (loop_init())
 *
 * Return: 0 or -errno.
 */
int update_init(struct daemon *d)
{
	d->timer_w = (struct watch){ .fd = -1, .cb = timer_event };
	d->timer_w.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (d->timer_w.fd < 0)
		return -errno;
	return loop_watch_add(d, &d->timer_w);
}

static void sub_free(struct daemon *d, struct sub *s)
{
	for (struct sub **p = &d->subs; *p; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			break;
		}
	}
	d->n_subs--;
	closep(&s->session_fd);
	free(s);
}

/**
 * sub_find() - the subscription of a client id.
 * @d: the daemon
 * @id: the client id
 *
 * Return: it, or NULL.
 */
struct sub *sub_find(struct daemon *d, const char *id)
{
	for (struct sub *s = d->subs; s; s = s->next)
		if (!strcmp(s->id, id))
			return s;
	return NULL;
}

/**
 * sub_add() - subscribe a connection as a client id.
 * @d: the daemon
 * @c: the connection, not subscribed yet
 * @id: a valid client id, not subscribed yet
 *
 * Return: 0 or -ENOMEM.
 */
int sub_add(struct daemon *d, struct conn *c, const char *id)
{
	struct sub *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	snprintf(s->id, sizeof(s->id), "%s", id);
	s->uid = c->uid;
	s->pid = c->pid;
	s->conn = c;
	s->session_fd = -1;
	s->next = d->subs;
	d->subs = s;
	d->n_subs++;
	c->sub = s;
	return 0;
}

/*
 * Create the session of one client. A session of an earlier, aborted attempt
 * may still exist if the client kept its copy of the fd: each attempt uses a
 * new name.
 */
static int session_create(struct daemon *d, struct sub *s)
{
	for (int tries = 0; tries < 16; tries++) {
		int fd;

		snprintf(s->session, sizeof(s->session), "luod.%s.%u", s->id, ++d->attempt);
		fd = luo_device_create_session(d->dev_fd, s->session);
		if (fd != -EEXIST) {
			if (fd >= 0)
				s->session_fd = fd;
			return fd < 0 ? fd : 0;
		}
	}
	return -EEXIST;
}

/*
 * Every client's session first: if one cannot be made, nothing has
 * started. Return: NULL with @ids set, or the refusal.
 */
static struct json_object *sessions_create(struct daemon *d, struct json_object **ids)
{
	char why[512];
	int r;

	r = device_acquire(d, why, sizeof(why));
	if (r < 0) {
		log_error("cannot create the clients' LUO sessions: %s", why);
		return luo_msg_error(-r, "cannot create the clients' LUO sessions: %s", why);
	}
	*ids = json_object_new_array();
	for (struct sub *s = d->subs; s; s = s->next) {
		r = session_create(d, s);
		if (r < 0) {
			json_object_put(*ids);
			for (struct sub *t = d->subs; t; t = t->next)
				close_fds(&t->session_fd, 1);
			device_release(d);
			log_error("cannot create the LUO session of client %s: %s", s->id, strerror(-r));
			return luo_msg_error(-r, "cannot create the LUO session of client %s: %s", s->id, strerror(-r));
		}
		json_object_array_add(*ids, json_object_new_string(s->id));
	}
	device_release(d);
	return NULL;
}

static void finalize(struct daemon *d);

/**
 * update_start() - start a live update (KEXEC).
 * @d: the daemon
 * @by: the requesting connection; it receives the progress events
 * @timeout_ms: how long clients have to become ready
 * @force: skip the checks for a loaded kernel and for unclaimed sessions
 *
 * Return: the reply to KEXEC.
 */
struct json_object *update_start(struct daemon *d, struct conn *by, int64_t timeout_ms, bool force)
{
	unsigned unclaimed = carried_unclaimed(d);
	struct json_object *reply, *ids = NULL, *dropped;

	reply = update_gate(d, LUO_CMD_KEXEC);
	if (reply)
		return reply;
	if (!luo_usable(d))
		return luo_msg_error(ENODEV, "LUO is not available: %s",
				     d->dev_err == ENOENT ? "/dev/liveupdate does not exist" : strerror(d->dev_err));
	if (!force && unclaimed)
		return luo_msg_error(ENOTEMPTY,
				     "%u session(s) from the previous update are not claimed yet and would be lost",
				     unclaimed);
	if (!force && kexec_loaded() == 0)
		return luo_msg_error(ENOEXEC, "no kernel is loaded for kexec");

	reply = sessions_create(d, &ids);
	if (reply)
		return reply;

	/* Sessions handed to a claimer do not block: their clients had them. */
	dropped = json_object_new_array();
	for (struct carried *k = d->carried; k; k = k->next) {
		if (k->handed || force) {
			log_notice("client %s %s session %s; this update drops it", k->id,
				   k->handed ? "claimed but did not say DONE for" : "did not claim", k->session);
			json_object_array_add(dropped, json_object_new_string(k->id));
		}
	}
	update_enter(d, D_PREPARING);
	d->watcher = by;
	d->update_by = by->uid;
	d->update_started_ms = now_ms();
	d->update_deadline_ms = d->update_started_ms + timeout_ms;
	log_notice("live update %llu requested by uid %u: %u client(s), timeout %lld ms",
		   (unsigned long long)d->updates + 1, (unsigned)by->uid, d->n_subs, (long long)timeout_ms);

	reply = luo_msg_ok();
	json_object_object_add(reply, "clients", ids);
	json_object_object_add(reply, "update", json_object_new_int64((int64_t)d->updates + 1));
	json_object_object_add(reply, "dropped", dropped);
	conn_send(by, reply, NULL, 0);

	for (struct sub *s = d->subs; s; s = s->next) {
		struct json_object *ev = luo_msg_event(LUO_EV_START_PRESERVATION);

		s->state = SUB_PREPARING;
		json_object_object_add(ev, "session", json_object_new_string(s->session));
		json_object_object_add(ev, "update", json_object_new_int64((int64_t)d->updates + 1));
		json_object_object_add(ev, "deadline_ms", json_object_new_int64(timeout_ms));
		log_info("client %s: session %s created, waiting for READY", s->id, s->session);
		progress(d, s);
		conn_send(s->conn, ev, &s->session_fd, 1);
	}
	timer_arm(d, timeout_ms);
	if (!d->subs)
		finalize(d);
	return NULL;
}

static bool all_ready(struct daemon *d)
{
	for (struct sub *s = d->subs; s; s = s->next)
		if (s->state != SUB_READY)
			return false;
	return true;
}

/**
 * update_ready() - a client has preserved what it needs.
 * @d: the daemon
 * @s: the client, in SUB_PREPARING
 */
void update_ready(struct daemon *d, struct sub *s)
{
	s->state = SUB_READY;
	log_info("client %s is ready", s->id);
	progress(d, s);
	if (all_ready(d))
		finalize(d);
}

/* The ABORTED event, as the clients get it (the watcher's names the faulty). */
static struct json_object *aborted_event(const char *reason, int err)
{
	struct json_object *ev = luo_msg_event(LUO_EV_ABORTED);

	json_object_object_add(ev, "reason", json_object_new_string(reason));
	json_object_object_add(ev, "errno", json_object_new_int(err));
	json_object_object_add(ev, "errname", json_object_new_string(luo_errno_name(err)));
	return ev;
}

/**
 * update_abort() - abort the update being prepared; nothing reboots.
 * @d: the daemon
 * @err: errno of the cause
 * @faulty: the id of the client at fault, "*" for all clients not ready,
 *          NULL for none
 * @fmt: the reason, printf format
 *
 * Every client is told with an ABORTED event and returns to "subscribed";
 * luod closes its references of their sessions, so the kernel unpreserves
 * their files once the clients close theirs.
 */
void update_abort(struct daemon *d, int err, const char *faulty, const char *fmt, ...)
{
	struct json_object *ev, *blame = json_object_new_array();
	char reason[1024];
	struct sub *s, *next;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	log_error("live update aborted: %s", reason);

	timer_arm(d, 0);
	for (s = d->subs; s; s = next) {
		next = s->next;
		if (faulty && ((!strcmp(faulty, "*") && s->state != SUB_READY) || !strcmp(faulty, s->id)))
			json_object_array_add(blame, json_object_new_string(s->id));
		close_fds(&s->session_fd, 1);
		if (!s->conn) {
			sub_free(d, s);
			continue;
		}
		if (s->state != SUB_SUBSCRIBED) {
			/* Its READY or FAIL may be on the way: answer it with this. */
			s->aborted_update = d->updates + 1;
			snprintf(s->aborted_session, sizeof(s->aborted_session), "%s", s->session);
			snprintf(s->aborted_reason, sizeof(s->aborted_reason), "%s", reason);
			ev = aborted_event(reason, err);
			s->state = SUB_SUBSCRIBED;
			conn_send(s->conn, ev, NULL, 0);
		}
	}
	/* A client that vanished was freed above; it is still named. */
	if (faulty && strcmp(faulty, "*")) {
		bool named = false;

		for (size_t i = 0; i < json_object_array_length(blame); i++)
			named |= !strcmp(json_object_get_string(json_object_array_get_idx(blame, i)), faulty);
		if (!named)
			json_object_array_add(blame, json_object_new_string(faulty));
	}
	update_enter(d, D_IDLE);
	d->kexec_underway = false;
	if (d->watcher) {
		ev = aborted_event(reason, err);
		json_object_object_add(ev, "clients", json_object_get(blame));
		conn_send(d->watcher, ev, NULL, 0);
	}
	json_object_put(blame);
	d->watcher = NULL;
}

/**
 * update_timeout() - the deadline passed before every client was ready.
 * @d: the daemon
 */
void update_timeout(struct daemon *d)
{
	char late[512] = "";
	size_t n = 0;

	if (d->state != D_PREPARING)
		return;
	for (struct sub *s = d->subs; s; s = s->next)
		if (s->state != SUB_READY && n < sizeof(late))
			n += snprintf(late + n, sizeof(late) - n, "%s%s", n ? ", " : "", s->id);
	update_abort(d, ETIMEDOUT, "*", "timed out after %llu ms waiting for READY from: %s",
		     (unsigned long long)(now_ms() - d->update_started_ms), late);
}

/*
 * A subscribed client's connection closed: before READY this aborts the
 * update; after READY luod keeps the session until the reboot; when no
 * update runs, the subscription ends.
 */
static void sub_lost(struct daemon *d, struct sub *s)
{
	if (d->state == D_PREPARING && s->state == SUB_PREPARING) {
		char id[sizeof(s->id)];

		strcpy(id, s->id);
		update_abort(d, ECONNRESET, id, "client %s disconnected before it was ready", id);
		return;
	}
	if (d->state == D_IDLE || s->state == SUB_SUBSCRIBED) {
		log_info_uid(s->uid, "client %s unsubscribed", s->id);
		sub_free(d, s);
		return;
	}
	log_info("client %s left after READY; luod keeps its session until the reboot", s->id);
}

/**
 * update_conn_closed() - a connection closed: it watches the update no more,
 * and its subscription, if any, is lost.
 * @d: the daemon
 * @c: the connection
 */
void update_conn_closed(struct daemon *d, struct conn *c)
{
	struct sub *s = c->sub;

	if (d->watcher == c)
		d->watcher = NULL;
	if (!s)
		return;
	c->sub = NULL;
	s->conn = NULL;
	sub_lost(d, s);
}

/**
 * update_done() - luod stops: free the subscriptions left, close the timer.
 * @d: the daemon; its connections are closed
 */
void update_done(struct daemon *d)
{
	while (d->subs)
		sub_free(d, d->subs);
	closep(&d->timer_w.fd);
}

/* The REBOOTING event for the watcher: the update is committed. */
static void rebooting_event(struct daemon *d)
{
	struct json_object *ev, *ids;

	if (!d->watcher)
		return;
	ids = json_object_new_array();
	for (struct sub *s = d->subs; s; s = s->next)
		json_object_array_add(ids, json_object_new_string(s->id));
	ev = luo_msg_event(LUO_EV_REBOOTING);
	json_object_object_add(ev, "clients", ids);
	json_object_object_add(ev, "update", json_object_new_int64((int64_t)d->updates + 1));
	if (d->with_systemd)
		json_object_object_add(ev, "by", json_object_new_string("systemd"));
	conn_send(d->watcher, ev, NULL, 0);
}

/* Without systemd 261+: the state into luod's own LUO session. */
static int save_state(struct daemon *d, int *state_fd, char *why, size_t len)
{
	int r = state_save(d, state_fd);

	if (r < 0)
		snprintf(why, len, "cannot save luod's state in LUO session '%s': %s", LUOD_STATE_SESSION,
			 strerror(-r));
	return r;
}

static void finalize(struct daemon *d)
{
	_cleanup_close_ int state_fd = -1;
	char why[1024];
	int r;

	if (d->with_systemd)
		r = store_hand_over(d, why, sizeof(why));
	else
		r = save_state(d, &state_fd, why, sizeof(why));
	if (r < 0) {
		update_abort(d, -r, NULL, "%s", why);
		return;
	}
	update_enter(d, D_REBOOTING);
	timer_arm(d, 0);
	rebooting_event(d);
	if (d->with_systemd) {
		log_notice("all %u client(s) ready, their sessions are in the fd store: %s (live update %llu)",
			   d->n_subs,
			   d->kexec_underway ? "the kexec systemd is running goes on"
					     : "systemd is taking the system down for the kexec",
			   (unsigned long long)d->updates + 1);
		return;
	}
	log_notice("all %u client(s) ready, state saved: rebooting into the new kernel (live update %llu)", d->n_subs,
		   (unsigned long long)d->updates + 1);
	sync();
#ifdef LUOD_FAULT_CLOSE_SESSIONS
	/* Fault injection for the VM tests: a luod that lets go too early. */
	for (struct sub *s = d->subs; s; s = s->next)
		close_fds(&s->session_fd, 1);
#endif
	r = kexec_reboot();
	update_abort(d, -r, NULL, "the kernel refused the reboot: %s (%s): %s", strerror(-r), luo_errno_name(-r),
		     kexec_reboot_explain(-r));
}

/**
 * update_resume_committed() - a restarted luod found an update it had
 * committed to the fd store in this boot (store_restore()): the kexec is
 * under way, nothing is to be started again.
 * @d: the daemon
 */
void update_resume_committed(struct daemon *d)
{
	update_enter(d, D_PREPARING);
	update_enter(d, D_REBOOTING);
}
