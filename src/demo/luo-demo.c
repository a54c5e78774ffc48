/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * luo-demo: a client of luod that keeps memfds full of checkable data across
 * a live update. Owns the demo's command line, its data pattern (a
 * splitmix64 stream per (seed, token), ended by a checksum), its manifest,
 * and the three modes: preserve, verify, run.
 *
 * File token T (1..N) of SIZE bytes holds, in little-endian 64-bit words,
 * word i = splitmix64(key(seed, T) + (i + 1) * golden) for i < SIZE/8 - 1,
 * then the FNV-1a 64 of those words (one word at a time). Token 0 is the
 * manifest, text: "luo-demo manifest 1" then "key value" lines.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "luo-client.h"
#include "protocol.h"
#include "text.h"
#include "util.h"

enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,
	EXIT_NOTHING = 2,
	EXIT_NO_LUOD = 3,
	EXIT_USAGE = 64,
};

#define MAX_FILES 1024
#define CHUNK (1024 * 1024)
#define MANIFEST_MAX 65536
#define GOLDEN 0x9e3779b97f4a7c15ULL
#define FNV_BASIS 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

enum mode { MODE_PRESERVE, MODE_VERIFY, MODE_RUN };

/* The command line: the only global state. */
static struct {
	const char *socket;
	const char *id;
	uint64_t size;
	uint64_t files;
	uint64_t seed;
	bool size_set, files_set, seed_set;
	bool exit_after_ready;
	bool never_ready;
	const char *fail_reason;
	bool quiet;
	enum mode mode;
} arg = { .size = 16 << 20, .files = 1, .seed = 1 };

/* What was preserved or verified. */
struct summary {
	uint64_t files;
	uint64_t bytes;
	uint64_t total;
	uint64_t sums[MAX_FILES + 1];
};

/* Result lines: always printed. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Progress lines: not with -q. */
static void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The id as given on the command line, escaped (it is checked only later). */
static const char *esc_id(void)
{
	static char buf[4 * 64 + 1];

	if (!arg.id)
		return "?";
	luo_text_escape(buf, sizeof(buf), arg.id, strlen(arg.id));
	return buf;
}

/* One line; what it quotes (luod's texts, the id) is escaped: never a terminal command. */
static void vline(FILE *f, const char *fmt, va_list ap)
{
	_cleanup_free_ char *text = NULL, *esc = NULL;

	if (vasprintf(&text, fmt, ap) < 0 || !(esc = luo_text_escape_dup(text))) {
		fputs("luo-demo: out of memory\n", f);
		return;
	}
	fprintf(f, "luo-demo[%s]: %s\n", esc_id(), esc);
	fflush(f);
}

static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(stdout, fmt, ap);
	va_end(ap);
}

static void info(const char *fmt, ...)
{
	va_list ap;

	if (arg.quiet)
		return;
	va_start(ap, fmt);
	vline(stdout, fmt, ap);
	va_end(ap);
}

static void err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(stderr, fmt, ap);
	va_end(ap);
}

/* A failed library call: luod's explanation (if any) and strerror. */
static void err_client(struct luo_client *c, int r, const char *what)
{
	const char *text = luo_client_error(c);

	if (text)
		err("%s: %s (%s)", what, text, strerror(-r));
	else
		err("%s: %s", what, strerror(-r));
}

/* --- the data ---------------------------------------------------------- */

static inline uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t stream_key(uint64_t seed, uint64_t token)
{
	return mix64(seed * GOLDEN + mix64(token ^ 0x6c756f2d64656d6fULL));
}

static inline uint64_t pattern_word(uint64_t key, uint64_t index)
{
	return mix64(key + (index + 1) * GOLDEN);
}

static inline uint64_t fnv_word(uint64_t h, uint64_t w)
{
	return (h ^ w) * FNV_PRIME;
}

static int pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

/* Read up to @len bytes at @off; return how many (short only at EOF). */
static ssize_t pread_all(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, p + done, len - done, off + done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += n;
	}
	return done;
}

/* Write the pattern of (@seed, @token) into @fd; @sum receives the checksum. */
static int fill_file(int fd, uint64_t seed, uint64_t token, uint64_t size, uint64_t *sum)
{
	uint64_t key = stream_key(seed, token);
	uint64_t words = size / 8, i = 0, h = FNV_BASIS;
	uint64_t *buf = malloc(CHUNK);
	int r = 0;

	if (!buf)
		return -ENOMEM;
	while (i < words && r == 0) {
		uint64_t first = i;
		size_t n = words - i < CHUNK / 8 ? words - i : CHUNK / 8;

		for (size_t k = 0; k < n; k++, i++) {
			uint64_t w;

			if (i == words - 1) {
				w = h;
			} else {
				w = pattern_word(key, i);
				h = fnv_word(h, w);
			}
			buf[k] = htole64(w);
		}
		r = pwrite_all(fd, buf, n * 8, first * 8);
	}
	free(buf);
	*sum = h;
	return r;
}

/*
 * Compare @fd with the pattern of (@seed, @token) and @size bytes.
 * Return 0 when equal (@sum: the checksum), 1 with the first differing
 * offset in @bad, or -errno.
 */
static int check_file(int fd, uint64_t seed, uint64_t token, uint64_t size, uint64_t *sum, uint64_t *bad)
{
	uint64_t key = stream_key(seed, token);
	uint64_t words = size / 8, h = FNV_BASIS, lim, off = 0;
	uint64_t *buf;
	struct stat st;
	int r = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	lim = (uint64_t)st.st_size < size ? (uint64_t)st.st_size : size;
	buf = malloc(CHUNK);
	if (!buf)
		return -ENOMEM;

	while (off < lim) {
		size_t want = lim - off < CHUNK ? lim - off : CHUNK;
		ssize_t n = pread_all(fd, buf, want, off);

		if (n < 0) {
			r = n;
			goto out;
		}
		for (size_t k = 0; k * 8 < (size_t)n; k++) {
			uint64_t i = off / 8 + k, w, le;
			size_t avail = (size_t)n - k * 8 < 8 ? (size_t)n - k * 8 : 8;

			if (i == words - 1) {
				w = h;
			} else {
				w = pattern_word(key, i);
				h = fnv_word(h, w);
			}
			le = htole64(w);
			if (memcmp(&buf[k], &le, avail)) {
				const unsigned char *a = (const unsigned char *)&buf[k],
						    *b = (const unsigned char *)&le;
				size_t j = 0;

				while (a[j] == b[j])
					j++;
				*bad = i * 8 + j;
				r = 1;
				goto out;
			}
		}
		if ((size_t)n < want) {
			/* The file ended early. */
			*bad = off + n;
			r = 1;
			goto out;
		}
		off += n;
	}
	if ((uint64_t)st.st_size != size) {
		*bad = lim;
		r = 1;
	}
	*sum = h;
out:
	free(buf);
	return r;
}

static uint64_t total_checksum(const struct summary *s)
{
	uint64_t h = FNV_BASIS;

	for (uint64_t t = 1; t <= s->files; t++)
		h = fnv_word(h, s->sums[t]);
	return h;
}

/* --- preserve ---------------------------------------------------------- */

static int new_memfd(uint64_t token)
{
	char name[96];
	int fd;

	snprintf(name, sizeof(name), "luo-demo.%s.%" PRIu64, arg.id, token);
	fd = memfd_create(name, MFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/*
 * Create, fill and preserve the files and the manifest in @session_fd.
 * On failure, @why says what failed (for FAIL and for people).
 */
static int preserve_all(int session_fd, uint64_t update, struct summary *s, char *why, size_t why_len)
{
	char *manifest = NULL;
	size_t mlen = 0;
	FILE *m;
	int fd, r;

	*s = (struct summary){ .files = arg.files, .bytes = arg.files * arg.size };
	for (uint64_t t = 1; t <= arg.files; t++) {
		fd = new_memfd(t);
		if (fd < 0) {
			snprintf(why, why_len, "cannot create memfd %" PRIu64 ": %s", t, strerror(-fd));
			return fd;
		}
		r = fill_file(fd, arg.seed, t, arg.size, &s->sums[t]);
		if (r < 0) {
			close(fd);
			snprintf(why, why_len, "cannot fill memfd %" PRIu64 ": %s", t, strerror(-r));
			return r;
		}
		r = luo_session_preserve_fd(session_fd, fd, t);
		close(fd); /* LUO holds its own reference */
		if (r < 0) {
			snprintf(why, why_len, "cannot preserve token %" PRIu64 ": %s", t, strerror(-r));
			return r;
		}
	}
	s->total = total_checksum(s);

	m = open_memstream(&manifest, &mlen);
	if (!m)
		goto nomem;
	fprintf(m,
		"luo-demo manifest 1\nid %s\nupdate %" PRIu64 "\npid %ld\nfiles %" PRIu64 "\nsize %" PRIu64
		"\nseed %" PRIu64 "\n",
		arg.id, update, (long)getpid(), arg.files, arg.size, arg.seed);
	for (uint64_t t = 1; t <= arg.files; t++)
		fprintf(m, "file %" PRIu64 " checksum 0x%016" PRIx64 "\n", t, s->sums[t]);
	fprintf(m, "total 0x%016" PRIx64 "\n", s->total);
	if (fclose(m) != 0)
		goto nomem;

	fd = new_memfd(0);
	if (fd < 0) {
		free(manifest);
		snprintf(why, why_len, "cannot create the manifest memfd: %s", strerror(-fd));
		return fd;
	}
	r = pwrite_all(fd, manifest, mlen, 0);
	free(manifest);
	if (r == 0)
		r = luo_session_preserve_fd(session_fd, fd, 0);
	close(fd);
	if (r < 0) {
		snprintf(why, why_len, "cannot preserve the manifest (token 0): %s", strerror(-r));
		return r;
	}
	return 0;
nomem:
	free(manifest);
	snprintf(why, why_len, "out of memory");
	return -ENOMEM;
}

/* One START_PRESERVATION: preserve, then READY (or FAIL, or nothing). */
static int on_start(struct luo_client *c, struct luo_event *ev, bool *exit_now)
{
	struct summary *s = malloc(sizeof(*s));
	char why[512];
	int r;

	if (!s) {
		err("out of memory");
		return EXIT_FAILED;
	}
	info("START_PRESERVATION: update %" PRIu64 ", session %s, %" PRId64 " ms to answer", ev->update, ev->session,
	     ev->deadline_ms);
	r = preserve_all(ev->session_fd, ev->update, s, why, sizeof(why));
	if (r < 0) {
		err("%s", why);
		free(s);
		r = luo_client_fail(c, why);
		if (r < 0)
			err_client(c, r, LUO_CMD_FAIL);
		return EXIT_FAILED;
	}

	/*
	 * Say it before answering: once luod has every READY it reboots, and a
	 * line printed after the reply may never reach the console.
	 */
	say("preserved %" PRIu64 " file(s), %" PRIu64 " bytes, checksum 0x%016" PRIx64 "; %s", s->files, s->bytes,
	    s->total,
	    arg.never_ready   ? "not sending READY"
	    : arg.fail_reason ? "sending FAIL"
			      : "sending READY");
	free(s);
	if (arg.never_ready)
		return EXIT_OK;
	if (arg.fail_reason) {
		r = luo_client_fail(c, arg.fail_reason);
		if (r == -ECANCELED) {
			say("update %" PRIu64 " was aborted before luod got FAIL: %s", ev->update, luo_client_error(c));
			return EXIT_OK;
		}
		if (r < 0) {
			err_client(c, r, LUO_CMD_FAIL);
			return EXIT_FAILED;
		}
		say("sent FAIL: %s", arg.fail_reason);
	} else {
		/*
		 * luod holds the session until the reboot: a client need not
		 * keep its copy. Letting go before READY also means that only
		 * luod's reference keeps the data alive, which the tests rely on.
		 */
		close(ev->session_fd);
		ev->session_fd = -1;
		r = luo_client_ready(c);
		if (r == -ECANCELED) {
			/* An abort can come at any moment; its event follows. */
			say("update %" PRIu64 " was aborted before luod got READY: %s", ev->update,
			    luo_client_error(c));
			return EXIT_OK;
		}
		if (r < 0) {
			err_client(c, r, LUO_CMD_READY);
			return EXIT_FAILED;
		}
		say("ready");
	}
	*exit_now = arg.exit_after_ready;
	return EXIT_OK;
}

static int do_preserve(struct luo_client *c)
{
	struct luo_event cur = { .session_fd = -1 };
	int r, ret = EXIT_FAILED;

	r = luo_client_subscribe(c, arg.id);
	if (r == -EBUSY) {
		/* An update is being prepared: luod takes subscriptions after it. */
		info("an update is in progress; subscribing after it");
		while (r == -EBUSY) {
			usleep(200 * 1000);
			r = luo_client_subscribe(c, arg.id);
		}
	}
	if (r < 0) {
		err_client(c, r, LUO_CMD_SUBSCRIBE);
		return EXIT_FAILED;
	}
	info("subscribed; waiting for a live update");

	for (;;) {
		struct luo_event ev;
		bool exit_now = false;

		r = luo_client_next_event(c, -1, &ev);
		if (r == -EINTR)
			continue;
		if (r < 0) {
			err_client(c, r, "waiting for luod");
			break;
		}
		if (ev.type == LUO_EVENT_START_PRESERVATION) {
			/* Held until READY, or until the update ends. */
			luo_event_release(&cur);
			cur = ev;
			ret = on_start(c, &cur, &exit_now);
			if (ret != EXIT_OK || exit_now)
				break;
		} else if (ev.type == LUO_EVENT_ABORTED) {
			say("update aborted: %s", ev.reason);
			luo_event_release(&cur);
			luo_event_release(&ev);
		} else {
			luo_event_release(&ev);
		}
	}
	luo_event_release(&cur);
	return ret;
}

/* --- verify ------------------------------------------------------------ */

struct manifest {
	char id[64];
	uint64_t update;
	uint64_t files;
	uint64_t size;
	uint64_t seed;
	uint64_t total;
	uint64_t sums[MAX_FILES + 1];
	bool have[MAX_FILES + 1];
};

static int parse_manifest(char *text, struct manifest *m, const char **why)
{
	char *save = NULL, *line;
	unsigned int seen = 0;
	uint64_t t, v;

	line = strtok_r(text, "\n", &save);
	if (!line || strcmp(line, "luo-demo manifest 1")) {
		*why = "not a luo-demo manifest (version 1)";
		return -EBADMSG;
	}
	while ((line = strtok_r(NULL, "\n", &save))) {
		if (sscanf(line, "id %63s", m->id) == 1)
			seen |= 1;
		else if (sscanf(line, "files %" SCNu64, &m->files) == 1)
			seen |= 2;
		else if (sscanf(line, "size %" SCNu64, &m->size) == 1)
			seen |= 4;
		else if (sscanf(line, "seed %" SCNu64, &m->seed) == 1)
			seen |= 8;
		else if (sscanf(line, "total 0x%" SCNx64, &m->total) == 1)
			seen |= 16;
		else if (sscanf(line, "update %" SCNu64, &m->update) == 1)
			;
		else if (sscanf(line, "file %" SCNu64 " checksum 0x%" SCNx64, &t, &v) == 2 && t >= 1 &&
			 t <= MAX_FILES) {
			m->sums[t] = v;
			m->have[t] = true;
		}
	}
	if (seen != 31) {
		*why = "incomplete manifest";
		return -EBADMSG;
	}
	if (m->files > MAX_FILES || m->size < 16 || m->size % 8) {
		*why = "impossible values in the manifest";
		return -EBADMSG;
	}
	for (t = 1; t <= m->files; t++) {
		if (!m->have[t]) {
			*why = "a file is missing from the manifest";
			return -EBADMSG;
		}
	}
	return 0;
}

static int retrieve(int session_fd, uint64_t token)
{
	int fd = luo_session_retrieve_fd(session_fd, token);

	/* The kernel does not preserve FD_CLOEXEC. */
	if (fd >= 0)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

static int read_manifest(int session_fd, struct manifest *m)
{
	char *text = malloc(MANIFEST_MAX + 1);
	const char *why = NULL;
	ssize_t n;
	int fd, r;

	if (!text) {
		err("out of memory");
		return EXIT_FAILED;
	}
	fd = retrieve(session_fd, 0);
	if (fd < 0) {
		say("MISMATCH token 0: cannot retrieve the manifest: %s", strerror(-fd));
		free(text);
		return EXIT_FAILED;
	}
	n = pread_all(fd, text, MANIFEST_MAX, 0);
	close(fd);
	if (n < 0) {
		err("cannot read the manifest: %s", strerror(-n));
		free(text);
		return EXIT_FAILED;
	}
	text[n] = '\0';
	*m = (struct manifest){ 0 };
	r = parse_manifest(text, m, &why);
	free(text);
	if (r < 0) {
		say("MISMATCH token 0: %s", why);
		return EXIT_FAILED;
	}
	if (strcmp(m->id, arg.id)) {
		say("MISMATCH token 0: the manifest belongs to client %s", m->id);
		return EXIT_FAILED;
	}
	if ((arg.files_set && m->files != arg.files) || (arg.size_set && m->size != arg.size) ||
	    (arg.seed_set && m->seed != arg.seed)) {
		say("MISMATCH token 0: preserved %" PRIu64 " file(s) of %" PRIu64 " bytes with seed %" PRIu64
		    ", expected %" PRIu64 " of %" PRIu64 " with seed %" PRIu64,
		    m->files, m->size, m->seed, arg.files, arg.size, arg.seed);
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

static int verify_files(int session_fd, const struct manifest *m, struct summary *s)
{
	*s = (struct summary){ .files = m->files, .bytes = m->files * m->size };
	for (uint64_t t = 1; t <= m->files; t++) {
		uint64_t bad = 0;
		int fd = retrieve(session_fd, t);
		int r;

		if (fd < 0) {
			say("MISMATCH token %" PRIu64 ": cannot retrieve it: %s", t, strerror(-fd));
			return EXIT_FAILED;
		}
		r = check_file(fd, m->seed, t, m->size, &s->sums[t], &bad);
		close(fd);
		if (r < 0) {
			err("cannot read token %" PRIu64 ": %s", t, strerror(-r));
			return EXIT_FAILED;
		}
		if (r == 0 && s->sums[t] != m->sums[t]) {
			bad = m->size - 8;
			r = 1;
		}
		if (r > 0) {
			say("MISMATCH token %" PRIu64 " at offset %" PRIu64, t, bad);
			return EXIT_FAILED;
		}
	}
	s->total = total_checksum(s);
	if (s->total != m->total) {
		say("MISMATCH token 0: total checksum 0x%016" PRIx64 ", the manifest says 0x%016" PRIx64, s->total,
		    m->total);
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

static int do_verify(struct luo_client *c)
{
	struct manifest *m = NULL;
	struct summary *s = NULL;
	char name[64] = "?";
	uid_t owner = 0;
	int sfd = -1, r, ret = EXIT_FAILED;

	r = luo_client_claim(c, arg.id, &sfd);
	if (r == -ENOENT) {
		if (arg.mode == MODE_RUN)
			info("nothing to claim: fresh start");
		else
			err("nothing to claim: %s", luo_client_error(c) ? luo_client_error(c) : strerror(-r));
		return EXIT_NOTHING;
	}
	if (r < 0) {
		err_client(c, r, LUO_CMD_CLAIM);
		return EXIT_FAILED;
	}
	/* Root may claim any id: make sure the data is ours before using it. */
	r = luo_client_claimed_uid(c, &owner);
	if (r == 0 && owner != getuid()) {
		err("the session of %s belongs to uid %u, not to this client's uid %u: not touching it", arg.id,
		    (unsigned)owner, (unsigned)getuid());
		close(sfd);
		return EXIT_FAILED;
	}
	if (r < 0)
		info("luod does not say whose session this is (%s)", strerror(-r));
	luo_session_get_name(sfd, name, sizeof(name));

	m = malloc(sizeof(*m));
	s = malloc(sizeof(*s));
	if (!m || !s) {
		err("out of memory");
		goto out;
	}
	ret = read_manifest(sfd, m);
	if (ret != EXIT_OK)
		goto out;
	info("claimed session %s: %" PRIu64 " file(s) of %" PRIu64 " bytes, seed %" PRIu64 ", update %" PRIu64, name,
	     m->files, m->size, m->seed, m->update);
	ret = verify_files(sfd, m, s);
	if (ret != EXIT_OK)
		goto out; /* unfinished: the data can be inspected or claimed again */

	ret = EXIT_FAILED;
	r = luo_session_finish(sfd);
	if (r < 0) {
		err("LIVEUPDATE_SESSION_FINISH: %s", strerror(-r));
		goto out;
	}
	r = luo_client_done(c);
	if (r < 0) {
		err_client(c, r, LUO_CMD_DONE);
		goto out;
	}
	say("verified %" PRIu64 " file(s), %" PRIu64 " bytes, checksum 0x%016" PRIx64, s->files, s->bytes, s->total);
	ret = EXIT_OK;
out:
	free(m);
	free(s);
	if (sfd >= 0)
		close(sfd);
	return ret;
}

/* --- main -------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: luo-demo [--socket P] --id ID [--size BYTES] [--files N] [--seed N]\n"
		"                [--exit-after-ready] [--never-ready] [--fail REASON] [-q] MODE\n"
		"\n"
		"A luod client that keeps memfds of checkable data across a live update.\n"
		"\n"
		"Modes:\n"
		"  preserve  subscribe; on START_PRESERVATION preserve N memfds and a manifest, READY\n"
		"  verify    claim the session after the update, check every byte, finish, DONE\n"
		"  run       verify if there is something to claim, then preserve\n"
		"\n"
		"Options:\n"
		"  --socket P          luod's socket (default: $LUOD_SOCKET or %s)\n"
		"  --id ID             the client id (required)\n"
		"  --size BYTES        size of each memfd, K/M/G suffixes, multiple of 8 (default 16M)\n"
		"  --files N           number of memfds, 0..%d (default 1)\n"
		"  --seed N            seed of the data pattern (default 1)\n"
		"  --exit-after-ready  exit once READY (or FAIL) is answered\n"
		"  --never-ready       preserve but never send READY\n"
		"  --fail REASON       preserve, then send FAIL with REASON instead of READY\n"
		"  -q, --quiet         print only results and errors\n"
		"\n"
		"Exit: 0 ok, 1 verification or operation failed, 2 nothing to claim (verify),\n"
		"      3 cannot reach luod, 64 usage.\n",
		LUOD_DEFAULT_SOCKET, MAX_FILES);
}

static int parse_u64(const char *s, uint64_t *out, bool suffix)
{
	unsigned long long v;
	uint64_t mult = 1;
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -EINVAL;
	if (suffix && *end) {
		switch (*end) {
		case 'k':
		case 'K':
			mult = 1ULL << 10;
			break;
		case 'm':
		case 'M':
			mult = 1ULL << 20;
			break;
		case 'g':
		case 'G':
			mult = 1ULL << 30;
			break;
		default:
			return -EINVAL;
		}
		end++;
		if (*end == 'i')
			end++;
		if (*end == 'B' || *end == 'b')
			end++;
	}
	if (*end)
		return -EINVAL;
	if (v > UINT64_MAX / mult)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

/* The checks across options, and the MODE argument. */
static int parse_mode(int argc, char **argv)
{
	const char *mode;

	if (!arg.id || !*arg.id) {
		err("--id is required");
		return EXIT_USAGE;
	}
	if (strlen(arg.id) > 48) {
		err("--id: at most 48 bytes");
		return EXIT_USAGE;
	}
	if (arg.never_ready && arg.fail_reason) {
		err("--never-ready and --fail exclude each other");
		return EXIT_USAGE;
	}
	if (optind != argc - 1) {
		err("want exactly one MODE: preserve, verify or run");
		return EXIT_USAGE;
	}
	mode = argv[optind];
	if (!strcmp(mode, "preserve"))
		arg.mode = MODE_PRESERVE;
	else if (!strcmp(mode, "verify"))
		arg.mode = MODE_VERIFY;
	else if (!strcmp(mode, "run"))
		arg.mode = MODE_RUN;
	else {
		err("unknown mode %s: want preserve, verify or run", mode);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static int parse_args(int argc, char **argv)
{
	enum { OPT_SOCKET = 256, OPT_ID, OPT_SIZE, OPT_FILES, OPT_SEED, OPT_EXIT, OPT_NEVER, OPT_FAIL };
	static const struct option opts[] = { { "socket", required_argument, NULL, OPT_SOCKET },
					      { "id", required_argument, NULL, OPT_ID },
					      { "size", required_argument, NULL, OPT_SIZE },
					      { "files", required_argument, NULL, OPT_FILES },
					      { "seed", required_argument, NULL, OPT_SEED },
					      { "exit-after-ready", no_argument, NULL, OPT_EXIT },
					      { "never-ready", no_argument, NULL, OPT_NEVER },
					      { "fail", required_argument, NULL, OPT_FAIL },
					      { "quiet", no_argument, NULL, 'q' },
					      { "help", no_argument, NULL, 'h' },
					      {} };
	int o;

	while ((o = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (o) {
		case OPT_SOCKET:
			arg.socket = optarg;
			break;
		case OPT_ID:
			arg.id = optarg;
			break;
		case OPT_SIZE:
			if (parse_u64(optarg, &arg.size, true) < 0 || arg.size < 16 || arg.size % 8) {
				err("--size: want a multiple of 8, at least 16 bytes: %s", optarg);
				return EXIT_USAGE;
			}
			arg.size_set = true;
			break;
		case OPT_FILES:
			if (parse_u64(optarg, &arg.files, false) < 0 || arg.files > MAX_FILES) {
				err("--files: want 0..%d: %s", MAX_FILES, optarg);
				return EXIT_USAGE;
			}
			arg.files_set = true;
			break;
		case OPT_SEED:
			if (parse_u64(optarg, &arg.seed, false) < 0) {
				err("--seed: want a number: %s", optarg);
				return EXIT_USAGE;
			}
			arg.seed_set = true;
			break;
		case OPT_EXIT:
			arg.exit_after_ready = true;
			break;
		case OPT_NEVER:
			arg.never_ready = true;
			break;
		case OPT_FAIL:
			arg.fail_reason = optarg;
			break;
		case 'q':
			arg.quiet = true;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_OK);
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	return parse_mode(argc, argv);
}

int main(int argc, char **argv)
{
	struct luo_client *c = NULL;
	const char *path;
	int r, ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ret = parse_args(argc, argv);
	if (ret != EXIT_OK)
		return ret;

	r = luo_client_connect(arg.socket, &c);
	if (r < 0) {
		path = arg.socket ? arg.socket : getenv("LUOD_SOCKET");
		err("cannot reach luod at %s: %s", path && *path ? path : LUOD_DEFAULT_SOCKET, strerror(-r));
		return EXIT_NO_LUOD;
	}

	switch (arg.mode) {
	case MODE_VERIFY:
		ret = do_verify(c);
		break;
	case MODE_RUN:
		ret = do_verify(c);
		if (ret == EXIT_OK || ret == EXIT_NOTHING)
			ret = do_preserve(c);
		break;
	case MODE_PRESERVE:
		ret = do_preserve(c);
		break;
	}
	luo_client_free(c);
	return ret;
}
