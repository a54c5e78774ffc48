/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one place that talks to /dev/liveupdate and to LUO session fds.
 * Every function returns a non-negative value on success and -errno on
 * failure; nothing here prints.
 */
#ifndef LUO_OPS_H
#define LUO_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "luo-uapi.h"

int luo_device_open(void);
int luo_device_create_session(int dev_fd, const char *name);
int luo_device_retrieve_session(int dev_fd, const char *name);

int luo_session_preserve_fd(int session_fd, int fd, uint64_t token);
int luo_session_retrieve_fd(int session_fd, uint64_t token);
int luo_session_finish(int session_fd);
int luo_session_get_name(int session_fd, char *buf, size_t len);

#endif /* LUO_OPS_H */
