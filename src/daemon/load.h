/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LOAD's quick checks (load-check.c), for load.c. */
#ifndef LUOD_LOAD_H
#define LUOD_LOAD_H

#include <stddef.h>
#include <sys/types.h>

#include "daemon.h"

#define CMDLINE_MAX 4096
/* The kernel reads an initrd of at most INT_MAX bytes (kernel_read_file). */
#define INITRD_MAX 0x7fffffffLL

struct json_object *load_check_request(struct daemon *d, const char *cmdline, size_t n_fds);
struct json_object *load_check_image(int fd, const char *kernel, const char *cmdline, off_t *ksize);
struct json_object *load_check_initrds(const int *fds, size_t n_fds, off_t *isize);

#endif /* LUOD_LOAD_H */
