/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of luod's log (src/daemon/log.c): one call is one line, with
 * whatever the message quotes escaped, the per-call-site rate limit, and
 * the "<N>" prefixes only when stderr is the journal ($JOURNAL_STREAM).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"

static int mfd;

/* What the log wrote since the last call. */
static char *take(void)
{
	off_t end;
	char *buf;

	fflush(stderr);
	end = lseek(mfd, 0, SEEK_CUR);
	buf = calloc(1, end + 1);
	pread(mfd, buf, end, 0);
	ftruncate(mfd, 0);
	lseek(mfd, 0, SEEK_SET);
	return buf;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_escape(void)
{
	char *out, big[3000];

	log_warning("client %s failed: %s", "vm-1", "disk full\n<0>FORGED\r\x1b[2J\x7f\xc2\x9b\xff\xc3 \xc3\xa9 a\\b");
	out = take();
	ok(!strcmp(out,
		   "<4>client vm-1 failed: disk full\\n<0>FORGED\\r\\x1b[2J\\x7f\\u009b\\xff\\xc3 \xc3\xa9 a\\\\b\n"),
	   "controls and bytes that are not UTF-8 are escaped, on one line");
	free(out);

	/* Cut at 2047 bytes inside a 2-byte character. */
	for (size_t i = 0; i + 2 < sizeof(big); i += 2)
		memcpy(big + i, "\xc3\xa9", 2);
	big[sizeof(big) - 2] = '\0';
	log_info("%s", big);
	out = take();
	ok(count_lines(out) == 1 && strstr(out, "\xc3\xa9...\n") && !strstr(out, "\\x"),
	   "a long message is one line, cut at a character, marked with ...");
	free(out);
	log_debug("not shown");
	out = take();
	ok(!*out, "lines below log_max_priority are dropped");
	free(out);
}

static void test_ratelimit(void)
{
	struct log_ratelimit rl = { 0 };
	char *out;

	for (int i = 0; i < 100; i++)
		log_msg_ratelimited(&rl, LOG_WARNING, "bad peer %d", i);
	out = take();
	ok(count_lines(out) == LOG_RATELIMIT_BURST && strstr(out, "bad peer 9\n") && !strstr(out, "bad peer 10\n"),
	   "a burst of %d lines, then silence", LOG_RATELIMIT_BURST);
	free(out);
	/* The interval is over (without waiting for it). */
	rl.begin_ms -= LOG_RATELIMIT_INTERVAL_MS;
	log_msg_ratelimited(&rl, LOG_WARNING, "bad peer %d", 100);
	out = take();
	ok(count_lines(out) == 2 && strstr(out, "<4>suppressed 90 message(s) like \"bad peer %d\"") &&
		   strstr(out, "\n<4>bad peer 100\n"),
	   "the next line says how many were suppressed");
	free(out);
	log_msg_ratelimited(&rl, LOG_WARNING, "other");
	out = take();
	ok(count_lines(out) == 1 && !strstr(out, "suppressed"), "once said, the count starts again");
	free(out);
}

/* Set $JOURNAL_STREAM to the device and inode of @fd, plus @ino_delta. */
static void journal_stream(int fd, int ino_delta)
{
	struct stat st;
	char v[64];

	fstat(fd, &st);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino + ino_delta);
	setenv("JOURNAL_STREAM", v, 1);
}

static void test_journal(void)
{
	char *out;
	int pty, saved;

	journal_stream(mfd, 0);
	ok(log_stderr_is_journal(), "stderr is the journal when $JOURNAL_STREAM names its device and inode");
	journal_stream(mfd, 1);
	ok(!log_stderr_is_journal(), "not when $JOURNAL_STREAM names another file (inherited, stderr redirected)");
	setenv("JOURNAL_STREAM", "12:34x", 1);
	ok(!log_stderr_is_journal(), "not when $JOURNAL_STREAM is malformed");
	unsetenv("JOURNAL_STREAM");
	ok(!log_stderr_is_journal(), "not without $JOURNAL_STREAM");

	log_prefix = -1; /* the first line decides again */
	log_warning("plain");
	out = take();
	ok(!strcmp(out, "plain\n"), "without the journal a line has no <N> prefix");
	free(out);
	journal_stream(mfd, 0);
	log_warning("still plain");
	out = take();
	ok(!strcmp(out, "still plain\n"), "the first line decided, once");
	free(out);
	log_prefix = -1;
	log_error("prefixed");
	out = take();
	ok(!strcmp(out, "<3>prefixed\n"), "under the journal a line has its <N> prefix");
	free(out);

	/* A terminal, with a $JOURNAL_STREAM inherited from a service: no prefix. */
	pty = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (pty < 0 || grantpt(pty) < 0 || unlockpt(pty) < 0) {
		ok(1, "# SKIP no pty: %m");
		return;
	}
	saved = dup(STDERR_FILENO);
	dup2(open(ptsname(pty), O_RDWR | O_NOCTTY | O_CLOEXEC), STDERR_FILENO);
	ok(isatty(STDERR_FILENO) && !log_stderr_is_journal(), "a terminal is never the journal");
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(pty);
}

int main(void)
{
	mfd = memfd_create("log", MFD_CLOEXEC);
	dup2(mfd, STDERR_FILENO);
	setvbuf(stderr, NULL, _IONBF, 0);
	/* The tests of the lines' text run as under the journal: with prefixes. */
	journal_stream(mfd, 0);
	test_escape();
	test_ratelimit();
	test_journal();
	return tap_done();
}
