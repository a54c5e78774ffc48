/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef LUOD_SYSTEMD_H
#define LUOD_SYSTEMD_H

#include <stddef.h>

/* The first systemd that carries fd stores across a kexec with LUO (and uses the device itself). */
#define SYSTEMD_LUO_VERSION 261

int systemctl_run(char *const argv[], char *out, size_t len);
int systemd_version(void);
int systemd_start_kexec(char *why, size_t len);
int systemd_kexec_underway(void);

#endif /* LUOD_SYSTEMD_H */
