/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * luod's log: one line per message on stderr, each with the "<N>" priority
 * prefix that journald understands (sd-daemon(3)).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

int log_max_priority = LOG_INFO;

/**
 * log_msg() - write one log line.
 * @prio: a syslog priority; lines less important than log_max_priority are dropped
 * @fmt: printf format; %m works and errno is preserved
 */
void log_msg(int prio, const char *fmt, ...)
{
	int saved = errno;
	char line[2048];
	va_list ap;

	if (prio > log_max_priority)
		return;
	va_start(ap, fmt);
	errno = saved;
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "<%d>%s\n", prio, line);
	errno = saved;
}
