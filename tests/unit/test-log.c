/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of luod's log (src/daemon/log.c): one call is one line, with
 * whatever the message quotes escaped, and the per-call-site rate limit.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

int main(void)
{
	mfd = memfd_create("log", MFD_CLOEXEC);
	dup2(mfd, STDERR_FILENO);
	setvbuf(stderr, NULL, _IONBF, 0);
	test_escape();
	test_ratelimit();
	return tap_done();
}
