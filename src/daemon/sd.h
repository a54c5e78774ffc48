/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef LUOD_SD_H
#define LUOD_SD_H

#include <stddef.h>

struct sd_fd {
	char name[256];
	int fd;
};

int sd_notify_fds(const char *state, const int *fds, size_t n_fds);
int sd_listen_fds(struct sd_fd **fds, size_t *n);

#endif /* LUOD_SD_H */
