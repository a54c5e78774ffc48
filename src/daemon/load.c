/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns LOAD and UNLOAD: staging the next kernel from fds that luoctl opened
 * as the calling user, checking that it can take the LUO state over (its
 * LUO ABI against the running kernel's), and remembering what was loaded
 * for STATUS. The slow part of a LOAD (reading and hashing the image,
 * decompressing its payload, concatenating initrds, kexec_file_load) runs
 * in a worker thread: the event loop serves everyone else meanwhile, and
 * the connection that sent LOAD waits for its reply (replies stay in order).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <time.h>

#include "bzimage.h"
#include "daemon.h"
#include "kexec.h"
#include "load.h"
#include "log.h"
#include "sha256.h"
#include "util.h"

/* One LOAD being worked on. Fields below "worker" are the thread's until it ends. */
struct load_job {
	struct daemon *d;
	struct conn *conn; /* NULL once the connection closed */
	struct watch w; /* eventfd: the worker is done */
	pthread_t thread;
	struct json_object *msg;
	int fds[LUO_PROTO_MAX_FDS];
	size_t n_fds;
	const char *cmdline;
	char kernel[1024];
	uid_t uid;
	bool dry_run;
	bool force;
	bool need_running;
	off_t ksize;
	off_t isize;
	uint64_t started_ms;

	/* worker */
	int err;
	char why[768];
	char sha[65];
	char initrd_sha[LUO_PROTO_MAX_FDS - 1][65]; /* each initrd's, in order */
	struct bzimage_info info;
	struct luo_abi target;
	char target_why[160];
	bool running_done;
	struct luo_abi running;
	char running_src[512];
	enum luo_abi_verdict verdict;
	char verdict_msg[768];
};

/* What LOAD keeps between commands. */
struct load_ctx {
	struct load_job *job;
	bool running_known; /* kexec_running_abi() ran (once per boot of luod) */
	struct luo_abi running;
	char running_src[512];
};

/* Several initrds become one: the kernel unpacks concatenated cpio archives. */
static int initrd_concat(const int *fds, size_t n)
{
	_cleanup_close_ int mfd = memfd_create("luod-initrd", MFD_CLOEXEC);

	if (mfd < 0)
		return -errno;
	for (size_t i = 0; i < n; i++) {
		off_t off = 0;
		struct stat st;

		if (fstat(fds[i], &st) < 0)
			return -errno;
		while (off < st.st_size) {
			ssize_t k = sendfile(mfd, fds[i], &off, st.st_size - off);

			if (k < 0)
				return -errno;
			if (k == 0)
				return -EIO;
		}
	}
	return steal_fd(&mfd);
}

/* Read all of a file of @size bytes. */
static int read_all(int fd, uint8_t *buf, size_t size)
{
	size_t off = 0;

	while (off < size) {
		ssize_t n = pread(fd, buf + off, size - off, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* shrunk meanwhile */
		off += n;
	}
	return 0;
}

static void job_fail(struct load_job *j, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void job_fail(struct load_job *j, int err, const char *fmt, ...)
{
	va_list ap;

	j->err = err;
	va_start(ap, fmt);
	vsnprintf(j->why, sizeof(j->why), fmt, ap);
	va_end(ap);
}

/* The image: hash it, check its header again (the file may have changed), learn its LUO ABI. */
static int work_image(struct load_job *j)
{
	const char *kernel = j->kernel;
	_cleanup_free_ uint8_t *buf = malloc(j->ksize);
	struct sha256 s;
	uint8_t digest[32];
	const char *bad;
	int r;

	if (!buf) {
		job_fail(j, ENOMEM, "out of memory for the kernel image");
		return -ENOMEM;
	}
	r = read_all(j->fds[0], buf, j->ksize);
	if (r < 0) {
		job_fail(j, -r, "kernel image %s: cannot read: %s", kernel, strerror(-r));
		return r;
	}
	sha256_init(&s);
	sha256_update(&s, buf, j->ksize);
	sha256_final(&s, digest);
	sha256_hex(digest, j->sha);
	r = bzimage_parse(buf, j->ksize, j->ksize, &j->info, &bad);
	if (r < 0) {
		job_fail(j, -r, "kernel image %s: %s", kernel, bad);
		return r;
	}
	r = bzimage_abi(buf, j->ksize, BZIMAGE_ABI_MAX_OUT, BZIMAGE_ABI_MAX_MS, &j->target, &bad);
	if (r < 0)
		snprintf(j->target_why, sizeof(j->target_why), "%s", bad);
	return 0;
}

/* Hash each initrd: STATUS names them, so that luoctl load --if-changed can compare. */
static int work_initrds(struct load_job *j)
{
	for (size_t i = 1; i < j->n_fds; i++) {
		int r = sha256_fd(j->fds[i], j->initrd_sha[i - 1]);

		if (r < 0) {
			job_fail(j, -r, "initrd %zu: cannot read: %s", i, strerror(-r));
			return r;
		}
	}
	return 0;
}

static void *load_work(void *arg)
{
	struct load_job *j = arg;
	_cleanup_close_ int initrd = -1;
	uint64_t one = 1;
	int r;

	if (work_image(j) < 0 || work_initrds(j) < 0)
		goto done;
	if (j->need_running) {
		kexec_running_abi(&j->running, j->running_src, sizeof(j->running_src), j->target_why[0] ? NULL : j->sha,
				  &j->target);
		j->running_done = true;
	}
	if (j->target_why[0]) {
		j->verdict = LUO_ABI_UNKNOWN;
		snprintf(j->verdict_msg, sizeof(j->verdict_msg), "the target kernel's LUO ABI is unknown: %s",
			 j->target_why);
	} else if (!luo_abi_known(&j->running)) {
		j->verdict = LUO_ABI_UNKNOWN;
		snprintf(j->verdict_msg, sizeof(j->verdict_msg), "the running kernel's LUO ABI is unknown: %s",
			 j->running_src);
	} else {
		j->verdict = luo_abi_compare(&j->target, &j->running, j->verdict_msg, sizeof(j->verdict_msg));
	}
	if (j->verdict == LUO_ABI_INCOMPATIBLE && !j->force) {
		job_fail(j, EPROTONOSUPPORT, "%s", j->verdict_msg);
		goto done;
	}
	if (j->n_fds == 2) {
		initrd = fcntl(j->fds[1], F_DUPFD_CLOEXEC, 3);
	} else if (j->n_fds > 2) {
		initrd = initrd_concat(j->fds + 1, j->n_fds - 1);
		if (initrd < 0) {
			job_fail(j, -initrd, "cannot concatenate the initrds: %s", strerror(-initrd));
			goto done;
		}
	}
	if (!j->dry_run) {
		r = kexec_load_file(j->fds[0], initrd, j->cmdline);
		if (r == -EPERM) {
			char why[512];

			kexec_eperm_reason(why, sizeof(why));
			job_fail(j, EPERM, "kexec_file_load: %s (EPERM): %s", strerror(EPERM), why);
		} else if (r < 0) {
			job_fail(j, -r, "kexec_file_load: %s (%s): %s", strerror(-r), luo_errno_name(-r),
				 kexec_load_explain(-r));
		}
	}
done:
	if (write(j->w.fd, &one, sizeof(one)) != sizeof(one))
		abort(); /* an eventfd write cannot fail here; never lose the reply */
	return NULL;
}

static struct json_object *abi_json(const struct luo_abi *abi)
{
	struct json_object *o = json_object_new_object();

	for (int p = 0; p < LUO_ABI_PARTS; p++)
		json_object_object_add(o, luo_abi_part_name(p),
				       abi->n[p] == 1 ? json_object_new_string(abi->v[p]) : NULL);
	return o;
}

/* Add what the LOAD learnt of the LUO ABI to @o (the reply, the "loaded" object). */
static void add_abi(struct json_object *o, const struct load_job *j, const struct load_ctx *ctx)
{
	struct json_object *x = json_object_new_object();

	json_object_object_add(o, "abi", abi_json(&j->target));
	json_object_object_add(x, "result", json_object_new_string(luo_abi_verdict_name(j->verdict)));
	json_object_object_add(x, "message", json_object_new_string(j->verdict_msg));
	json_object_object_add(x, "running", abi_json(&ctx->running));
	json_object_object_add(x, "running_source", json_object_new_string(ctx->running_src));
	json_object_object_add(x, "forced", json_object_new_boolean(j->force && j->verdict == LUO_ABI_INCOMPATIBLE));
	json_object_object_add(o, "abi_check", x);
}

static void job_free(struct load_job *j)
{
	close_fds(j->fds, j->n_fds);
	closep(&j->w.fd);
	json_object_put(j->msg);
	free(j);
}

static struct json_object *initrd_hashes(const struct load_job *j)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 1; i < j->n_fds; i++)
		json_object_array_add(a, json_object_new_string(j->initrd_sha[i - 1]));
	return a;
}

/* Remember what was loaded, for STATUS's "loaded". */
static void load_remember(struct daemon *d, const struct load_job *j)
{
	struct json_object *x, *names = NULL;

	json_object_put(d->loaded);
	d->loaded = x = json_object_new_object();
	json_object_object_add(x, "kernel", json_object_new_string(j->kernel));
	if (json_object_object_get_ex(j->msg, "initrds", &names) && json_object_is_type(names, json_type_array))
		json_object_object_add(x, "initrds", json_object_get(names));
	json_object_object_add(x, "cmdline", json_object_new_string(j->cmdline));
	json_object_object_add(x, "size", json_object_new_int64(j->ksize));
	json_object_object_add(x, "sha256", json_object_new_string(j->sha));
	json_object_object_add(x, "initrd_sha256", initrd_hashes(j));
	json_object_object_add(x, "version", json_object_new_string(j->info.version));
	json_object_object_add(x, "initrd_size", json_object_new_int64(j->isize));
	json_object_object_add(x, "loaded_at", json_object_new_int64(time(NULL)));
	json_object_object_add(x, "loaded_by", json_object_new_int64(j->uid));
	/* Nested objects last: the flat members stay easy to pick out. */
	add_abi(x, j, d->load);
	d->loaded_expect = 1;
	log_notice("kernel %s loaded in %llu ms (%lld bytes, initrd %lld bytes, LUO ABI %s), command line: %s",
		   j->kernel, (unsigned long long)(now_ms() - j->started_ms), (long long)j->ksize, (long long)j->isize,
		   luo_abi_verdict_name(j->verdict), j->cmdline);
}

/* The worker is done: reply, remember what was loaded. */
static void load_event(struct watch *w, uint32_t events)
{
	struct load_job *j = container_of(w, struct load_job, w);
	struct daemon *d = j->d;
	struct load_ctx *ctx = d->load;
	const char *kernel = j->kernel;
	struct json_object *reply;
	uint64_t v;

	if (read(w->fd, &v, sizeof(v)) != sizeof(v))
		return;
	pthread_join(j->thread, NULL);
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	ctx->job = NULL;
	if (j->running_done) {
		/* Found: it does not change while this kernel runs. Not found: look again next time. */
		ctx->running = j->running;
		memcpy(ctx->running_src, j->running_src, sizeof(ctx->running_src));
		ctx->running_known = luo_abi_known(&j->running);
	}

	if (j->err) {
		reply = luo_msg_error(j->err, "%s", j->why);
		log_info("LOAD of %s refused: %s", kernel, j->why);
		goto out;
	}
	if (j->verdict != LUO_ABI_COMPATIBLE)
		log_warning("kernel %s: LUO ABI %s: %s%s", kernel, luo_abi_verdict_name(j->verdict), j->verdict_msg,
			    j->verdict == LUO_ABI_INCOMPATIBLE ? " (loaded anyway: forced)" : "");
	if (!j->dry_run)
		load_remember(d, j);
	reply = luo_msg_ok();
	json_object_object_add(reply, "cmdline", json_object_new_string(j->cmdline));
	json_object_object_add(reply, "size", json_object_new_int64(j->ksize));
	json_object_object_add(reply, "sha256", json_object_new_string(j->sha));
	json_object_object_add(reply, "initrd_sha256", initrd_hashes(j));
	json_object_object_add(reply, "version", json_object_new_string(j->info.version));
	json_object_object_add(reply, "cmdline_max",
			       json_object_new_int64(j->info.cmdline_size - BZIMAGE_CMDLINE_RESERVE - 1));
	json_object_object_add(reply, "initrd_size", json_object_new_int64(j->isize));
	add_abi(reply, j, ctx);
	json_object_object_add(reply, "dry_run", json_object_new_boolean(j->dry_run));
out:
	if (j->conn) {
		struct conn *c = j->conn;

		conn_send(c, reply, NULL, 0);
		conn_resume(c);
	} else {
		json_object_put(reply);
	}
	job_free(j);
}

/* The job of a checked LOAD, with its own copies of the fds. */
static struct json_object *load_job_new(struct daemon *d, struct conn *c, struct json_object *msg, const int *fds,
					size_t n_fds, struct load_job **job)
{
	const char *kernel = luo_msg_string(msg, "kernel");
	struct load_job *j;

	if (!d->load) {
		d->load = calloc(1, sizeof(*d->load));
		if (!d->load)
			return luo_msg_error(ENOMEM, "out of memory");
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return luo_msg_error(ENOMEM, "out of memory");
	j->d = d;
	j->conn = c;
	j->msg = json_object_get(msg);
	j->cmdline = luo_msg_string(msg, "cmdline");
	snprintf(j->kernel, sizeof(j->kernel), "%s", kernel ? kernel : "?");
	j->uid = c->uid;
	j->dry_run = luo_msg_bool(msg, "dry_run");
	j->force = luo_msg_bool(msg, "force");
	j->need_running = !d->load->running_known;
	j->running = d->load->running;
	j->started_ms = now_ms();
	j->w = (struct watch){ .fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), .cb = load_event };
	for (size_t i = 0; i < n_fds; i++)
		j->fds[j->n_fds++] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
	for (size_t i = 0; i < n_fds; i++) {
		if (j->fds[i] < 0) {
			job_free(j);
			return luo_msg_error(errno, "cannot keep the fds: %m");
		}
	}
	*job = j;
	return NULL;
}

/* Hand the job to its worker thread; the loop hears of its end. */
static struct json_object *load_job_start(struct daemon *d, struct load_job *j)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &j->w };
	int r;

	if (j->w.fd < 0 || epoll_ctl(d->epfd, EPOLL_CTL_ADD, j->w.fd, &ev) < 0) {
		r = errno;
		job_free(j);
		return luo_msg_error(r, "cannot wait for the load: %s", strerror(r));
	}
	r = pthread_create(&j->thread, NULL, load_work, j);
	if (r) {
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, j->w.fd, NULL);
		job_free(j);
		return luo_msg_error(r, "cannot start the load: %s", strerror(r));
	}
	d->load->job = j;
	return NULL;
}

/**
 * handle_load() - LOAD: stage the next kernel for kexec.
 * @d: the daemon
 * @c: the requesting connection (root)
 * @msg: the command
 * @fds: kernel image, then initrds; the caller closes them
 * @n_fds: their number
 *
 * The quick checks run here, the rest in a worker thread: @c waits (busy)
 * until load_event() replies.
 * Return: the refusal, or NULL (the reply comes later).
 */
struct json_object *handle_load(struct daemon *d, struct conn *c, struct json_object *msg, int *fds, size_t n_fds)
{
	const char *cmdline = luo_msg_string(msg, "cmdline");
	const char *kernel = luo_msg_string(msg, "kernel");
	struct json_object *refusal;
	struct load_job *j = NULL;
	off_t ksize = 0, isize = 0;

	refusal = load_check_request(d, cmdline, n_fds);
	if (!refusal)
		refusal = load_check_image(fds[0], kernel ? kernel : "", cmdline, &ksize);
	if (!refusal)
		refusal = load_check_initrds(fds, n_fds, &isize);
	if (!refusal)
		refusal = load_job_new(d, c, msg, fds, n_fds, &j);
	if (refusal)
		return refusal;
	j->ksize = ksize;
	j->isize = isize;
	refusal = load_job_start(d, j);
	if (refusal)
		return refusal;
	c->busy = true;
	log_debug("LOAD of %s (%lld bytes) started for pid %d", kernel ? kernel : "?", (long long)ksize, (int)c->pid);
	return NULL;
}

/**
 * load_conn_closed() - a connection that waits for a LOAD is gone.
 * @d: the daemon
 * @c: the connection
 *
 * The load goes on (the kernel cannot be interrupted in kexec_file_load);
 * its reply is dropped, what it loaded is remembered.
 */
void load_conn_closed(struct daemon *d, struct conn *c)
{
	if (d->load && d->load->job && d->load->job->conn == c)
		d->load->job->conn = NULL;
}

/**
 * load_busy() - is a LOAD being worked on?
 * @d: the daemon
 *
 * Return: true while a worker loads a kernel.
 */
bool load_busy(const struct daemon *d)
{
	return d->load && d->load->job;
}

/**
 * load_status() - the LOAD in progress, for STATUS.
 * @d: the daemon
 *
 * Return: {"kernel":..., "elapsed_ms":N} or NULL (JSON null) when none.
 */
struct json_object *load_status(struct daemon *d)
{
	struct load_job *j = d->load ? d->load->job : NULL;
	struct json_object *o;

	if (!j)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "kernel", json_object_new_string(j->kernel));
	json_object_object_add(o, "elapsed_ms", json_object_new_int64(now_ms() - j->started_ms));
	return o;
}

/**
 * load_done() - luod stops: wait for a LOAD in progress, free what LOAD kept.
 * @d: the daemon
 */
void load_done(struct daemon *d)
{
	if (!d->load)
		return;
	if (d->load->job) {
		struct load_job *j = d->load->job;

		pthread_join(j->thread, NULL);
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, j->w.fd, NULL);
		job_free(j);
	}
	free(d->load);
	d->load = NULL;
}

/**
 * handle_unload() - UNLOAD: unstage the kernel loaded for kexec.
 * @d: the daemon
 *
 * Return: the reply.
 */
struct json_object *handle_unload(struct daemon *d, struct conn *c, struct json_object *msg, int *fds, size_t n_fds)
{
	struct json_object *refusal;
	int r;

	if (load_busy(d))
		return luo_msg_error(EBUSY, "a LOAD is in progress");
	refusal = update_gate(d, LUO_CMD_UNLOAD);
	if (refusal)
		return refusal;
	r = kexec_unload();
	if (r < 0)
		return luo_msg_error(-r, "unload: %s: %s", strerror(-r), kexec_load_explain(-r));
	json_object_put(d->loaded);
	d->loaded = NULL;
	d->loaded_expect = 0;
	log_notice("kexec image unloaded");
	return luo_msg_ok();
}
