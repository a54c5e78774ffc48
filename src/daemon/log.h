/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef LUOD_LOG_H
#define LUOD_LOG_H

#include <syslog.h>

extern int log_max_priority;

void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)

#endif /* LUOD_LOG_H */
