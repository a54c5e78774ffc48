/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The Live Update Orchestrator ioctl ABI, as in the kernel's
 * include/uapi/linux/liveupdate.h (Linux 6.19+). Debian bookworm's
 * linux-libc-dev predates it, so the project carries the definitions.
 */
#ifndef LUO_UAPI_H
#define LUO_UAPI_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define LIVEUPDATE_IOCTL_TYPE 0xBA
#define LIVEUPDATE_SESSION_NAME_LENGTH 64

enum {
	LIVEUPDATE_CMD_CREATE_SESSION = 0x00,
	LIVEUPDATE_CMD_RETRIEVE_SESSION = 0x01,
};

enum {
	LIVEUPDATE_CMD_SESSION_PRESERVE_FD = 0x40,
	LIVEUPDATE_CMD_SESSION_RETRIEVE_FD = 0x41,
	LIVEUPDATE_CMD_SESSION_FINISH = 0x42,
	LIVEUPDATE_CMD_SESSION_GET_NAME = 0x43,
};

struct liveupdate_ioctl_create_session {
	__u32 size;
	__s32 fd;
	__u8 name[LIVEUPDATE_SESSION_NAME_LENGTH];
};

struct liveupdate_ioctl_retrieve_session {
	__u32 size;
	__s32 fd;
	__u8 name[LIVEUPDATE_SESSION_NAME_LENGTH];
};

struct liveupdate_session_preserve_fd {
	__u32 size;
	__s32 fd;
	__aligned_u64 token;
};

struct liveupdate_session_retrieve_fd {
	__u32 size;
	__s32 fd;
	__aligned_u64 token;
};

struct liveupdate_session_finish {
	__u32 size;
	__u32 reserved;
};

struct liveupdate_session_get_name {
	__u32 size;
	__u32 reserved;
	__u8 name[LIVEUPDATE_SESSION_NAME_LENGTH];
};

#define LIVEUPDATE_IOCTL_CREATE_SESSION _IO(LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_CMD_CREATE_SESSION)
#define LIVEUPDATE_IOCTL_RETRIEVE_SESSION _IO(LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_CMD_RETRIEVE_SESSION)
#define LIVEUPDATE_SESSION_PRESERVE_FD _IO(LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_CMD_SESSION_PRESERVE_FD)
#define LIVEUPDATE_SESSION_RETRIEVE_FD _IO(LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_CMD_SESSION_RETRIEVE_FD)
#define LIVEUPDATE_SESSION_FINISH _IO(LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_CMD_SESSION_FINISH)
#define LIVEUPDATE_SESSION_GET_NAME _IO(LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_CMD_SESSION_GET_NAME)

#define LIVEUPDATE_DEVICE "/dev/liveupdate"

/* kexec_file_load(2) flags (include/uapi/linux/kexec.h) */
#ifndef KEXEC_FILE_UNLOAD
#define KEXEC_FILE_UNLOAD 0x00000001
#define KEXEC_FILE_ON_CRASH 0x00000002
#define KEXEC_FILE_NO_INITRAMFS 0x00000004
#define KEXEC_FILE_DEBUG 0x00000008
#endif

#endif /* LUO_UAPI_H */
