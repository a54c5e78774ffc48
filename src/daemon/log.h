/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef LUOD_LOG_H
#define LUOD_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

extern int log_max_priority;
/* Whether lines carry "<N>": -1 until the first line decides (log_stderr_is_journal()). */
extern int log_prefix;

bool log_stderr_is_journal(void);

void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)

/* A call site logs at most this many lines per interval. */
#define LOG_RATELIMIT_BURST 10
#define LOG_RATELIMIT_INTERVAL_MS 5000

/**
 * struct log_ratelimit - the rate limit of one call site.
 * @begin_ms: start of the current interval (monotonic); 0 before the first line
 * @printed: lines written in it
 * @suppressed: lines dropped in it
 */
struct log_ratelimit {
	uint64_t begin_ms;
	unsigned printed;
	unsigned suppressed;
};

void log_msg_ratelimited(struct log_ratelimit *rl, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A warning a peer can cause at will (a malformed message, a connection too many). */
#define log_warning_peer(...)                                        \
	do {                                                         \
		static struct log_ratelimit _rl;                     \
		log_msg_ratelimited(&_rl, LOG_WARNING, __VA_ARGS__); \
	} while (0)

/*
 * A line about a peer's own doings (it subscribed, left, bound an id): as
 * it is for root's peers, limited for the others, who can repeat them at
 * will.
 */
#define log_info_uid(uid, ...)                                            \
	do {                                                              \
		static struct log_ratelimit _rl;                          \
		if ((uid) == 0)                                           \
			log_msg(LOG_INFO, __VA_ARGS__);                   \
		else                                                      \
			log_msg_ratelimited(&_rl, LOG_INFO, __VA_ARGS__); \
	} while (0)

#endif /* LUOD_LOG_H */
