/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns the command table and dispatch: which handler serves each command,
 * which commands are reserved to root and which take file descriptors.
 * It is the connections' owner above the transport (conn.c): complete
 * commands come in here, closed connections are handed to the layers that
 * hold something of theirs.
 */
#include <errno.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

/* clang-format off */
static const struct command {
	const char *name;
	handler_fn *handler;
	bool admin_only;
	bool takes_fds;
} commands[] = {
	/* name, handler, admin_only (root only), takes_fds (SCM_RIGHTS) */
	{ LUO_CMD_SUBSCRIBE,    handle_subscribe,  false,     false },
	{ LUO_CMD_READY,        handle_ready,      false,     false },
	{ LUO_CMD_FAIL,         handle_fail,       false,     false },
	{ LUO_CMD_CLAIM,        handle_claim,      false,     false },
	{ LUO_CMD_DONE,         handle_done,       false,     false },
	{ LUO_CMD_STATUS,       handle_status,     false,     false },
	{ LUO_CMD_VERSION,      handle_version,    false,     false },
	{ LUO_CMD_BINDINGS,     handle_bindings,   false,     false },
	{ LUO_CMD_KEXEC,        handle_kexec,      true,      false },
	{ LUO_CMD_ABORT,        handle_abort,      true,      false },
	{ LUO_CMD_RELEASE,      handle_release,    true,      false },
	{ LUO_CMD_RESERVE,      handle_reserve,    true,      false },
	{ LUO_CMD_UNRESERVE,    handle_unreserve,  true,      false },
	{ LUO_CMD_LOAD,         handle_load,       true,      true },
	{ LUO_CMD_UNLOAD,       handle_unload,     true,      false },
};
/* clang-format on */

static const struct command *command_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(name, commands[i].name))
			return &commands[i];
	return NULL;
}

/* Handle one command: its reply, or NULL when the handler replied (handler_fn). */
static struct json_object *dispatch(struct daemon *d, struct conn *c, struct json_object *msg, int *fds, size_t n_fds)
{
	const char *name = luo_msg_string(msg, "cmd");
	const struct command *cmd;

	if (!name)
		return luo_msg_error(EINVAL, "a command needs a string member \"cmd\"");
	cmd = command_find(name);
	if (cmd && cmd->admin_only && c->uid != 0)
		return luo_msg_error(EPERM, "%s is reserved to root", name);
	if (n_fds && !(cmd && cmd->takes_fds))
		return luo_msg_error(EINVAL, "%s takes no file descriptors", name);
	if (!cmd)
		return luo_msg_error(EOPNOTSUPP, "unknown command '%.64s'", name);
	return cmd->handler(d, c, msg, fds, n_fds);
}

/* conn_ops->command: serve it and send its reply; fds not taken are closed. */
static void dispatch_command(struct conn *c, struct json_object *msg, int *fds, size_t n_fds)
{
	struct json_object *reply = dispatch(c->d, c, msg, fds, n_fds);

	close_fds(fds, n_fds);
	if (reply)
		conn_send(c, reply, NULL, 0);
}

/* conn_ops->closed: what the connection held is handed back. */
static void dispatch_closed(struct conn *c)
{
	struct daemon *d = c->d;

	if (c->busy)
		load_conn_closed(d, c);
	claim_conn_closed(c);
	update_conn_closed(d, c);
}

const struct conn_ops dispatch_conn_ops = {
	.command = dispatch_command,
	.closed = dispatch_closed,
};
