/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * luod's log: one line per message on stderr, with the "<N>" priority
 * prefix that journald understands (sd-daemon(3)) only when stderr is the
 * journal ($JOURNAL_STREAM names its device and inode), never on a
 * terminal or in a file. Whatever the message
 * quotes (a client's reason, an image's version string), control
 * characters and bytes that are not UTF-8 are escaped (src/shared/text.c),
 * so a call is always exactly one line and no peer can forge an entry.
 * Warnings a peer can cause at will go through a rate limit per call site.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "text.h"

#define LOG_LINE_MAX 2048

int log_max_priority = LOG_INFO;
int log_prefix = -1;

/**
 * log_stderr_is_journal() - is stderr connected to the journal?
 *
 * systemd sets $JOURNAL_STREAM to "DEVICE:INODE" of the stream it connects
 * stdout and stderr to; stderr is the journal if it is still that file (a
 * child whose stderr was redirected inherits the variable, not the stream).
 *
 * Return: true if so.
 */
bool log_stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int n = 0;

	if (!env || sscanf(env, "%llu:%llu%n", &dev, &ino, &n) != 2 || env[n] != '\0')
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static void log_vmsg(int prio, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX], esc[LUO_TEXT_ESCAPE_RATIO * LOG_LINE_MAX + 4];
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	size_t len;

	if (n < 0)
		return;
	len = (size_t)n < sizeof(line) ? (size_t)n : luo_utf8_trim(line, sizeof(line) - 1);
	luo_text_escape(esc, sizeof(esc), line, len);
	if (log_prefix < 0)
		log_prefix = log_stderr_is_journal();
	if (log_prefix)
		fprintf(stderr, "<%d>", prio);
	fprintf(stderr, "%s%s\n", esc, (size_t)n > len ? "..." : "");
}

/**
 * log_msg() - write one log line.
 * @prio: a syslog priority; lines less important than log_max_priority are dropped
 * @fmt: printf format; %m works and errno is preserved
 */
void log_msg(int prio, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (prio > log_max_priority)
		return;
	va_start(ap, fmt);
	errno = saved;
	log_vmsg(prio, fmt, ap);
	va_end(ap);
	errno = saved;
}

/**
 * log_msg_ratelimited() - write one log line, unless its call site is flooding.
 * @rl: the call site's state (see log_warning_peer())
 * @prio: a syslog priority
 * @fmt: printf format, as for log_msg()
 *
 * At most LOG_RATELIMIT_BURST lines per LOG_RATELIMIT_INTERVAL_MS go out;
 * the first line after a window in which lines were dropped is preceded by
 * one saying how many.
 */
void log_msg_ratelimited(struct log_ratelimit *rl, int prio, const char *fmt, ...)
{
	int saved = errno;
	uint64_t now = (uint64_t)luo_now_ms();
	va_list ap;

	if (prio > log_max_priority)
		return;
	if (rl->begin_ms == 0 || now - rl->begin_ms >= LOG_RATELIMIT_INTERVAL_MS) {
		if (rl->suppressed)
			log_msg(prio, "suppressed %u message(s) like \"%s\" in %u s", rl->suppressed, fmt,
				(unsigned)((now - rl->begin_ms) / 1000));
		rl->begin_ms = now ? now : 1;
		rl->printed = 0;
		rl->suppressed = 0;
	}
	if (rl->printed >= LOG_RATELIMIT_BURST) {
		rl->suppressed++;
		errno = saved;
		return;
	}
	rl->printed++;
	va_start(ap, fmt);
	errno = saved;
	log_vmsg(prio, fmt, ap);
	va_end(ap);
	errno = saved;
}
