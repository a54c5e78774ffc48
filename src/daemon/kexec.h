/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef LUOD_KEXEC_H
#define LUOD_KEXEC_H

#include <stdbool.h>
#include <stddef.h>

#include "bzimage.h"

/* Where KHO's debugfs shows the outgoing and incoming state. */
#define KEXEC_KHO_DEBUGFS "/sys/kernel/debug/kho"

int kexec_load_file(int kernel_fd, int initrd_fd, const char *cmdline);
int kexec_unload(void);
int kexec_loaded(void);
int kexec_reboot(void);
const char *kexec_load_explain(int err);
const char *kexec_reboot_explain(int err);
void kexec_eperm_reason(char *buf, size_t len);
void kexec_running_abi(struct luo_abi *abi, char *src, size_t len, const char *known_sha, const struct luo_abi *known);

#endif /* LUOD_KEXEC_H */
