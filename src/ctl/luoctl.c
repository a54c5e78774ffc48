/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * luoctl's entry point and its edge: global options, the command table,
 * option parsing shared by the commands, the socket choice, and every
 * message for people about errors (luod's refusals, an unreachable luod,
 * usage), with hints. Also the version command, and the output helpers:
 * every text from luod reaches the terminal through ctl_text() (or
 * ctl_kv(), ctl_error(), a table cell, which escape what they print), so
 * a control character in it is shown escaped, never obeyed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "text.h"
#include "util.h"

static const struct ctl_cmd commands[] = {
	{ "status", "", "Show the state of luod, LUO and the loaded kernel", NULL, cmd_status },
	{ "list", "", "List subscribed clients and carried-over sessions", NULL, cmd_list },
	{ "load",
	  "KERNEL [--initrd FILE]... [--reuse-cmdline | --cmdline STR] [--append STR]... [--dry-run] [--force] "
	  "[--if-changed]",
	  "Load the kernel to live-update into; luoctl opens the files as the calling user",
	  "  --initrd FILE     an initrd (repeatable: they are concatenated); also --ramdisk, as kexec(8) says\n"
	  "  --cmdline STR     the new kernel's command line; also --command-line, as kexec(8) says\n"
	  "  --reuse-cmdline   start from /proc/cmdline, without BOOT_IMAGE=\n"
	  "  --append STR      add parameters (repeatable); a parameter given twice keeps its last value\n"
	  "  --dry-run         let luod check the files without loading them\n"
	  "  --force           load a kernel whose LUO ABI differs from this one's (the sessions are lost)\n"
	  "  --if-changed      do nothing if luod has loaded the same kernel, initrds and command line (sha256)\n",
	  cmd_load },
	{ "unload", "", "Unload the loaded kernel", NULL, cmd_unload },
	{ "kexec",
	  "[--timeout SECONDS] [--force] [--require ID[,ID]...]... [--require-all-sessions] [--no-wait]"
	  " [--shutdown]",
	  "Run a live update and follow it to the reboot",
	  "  --timeout SECONDS how long clients have to become ready (default 30, at most 3600)\n"
	  "  --force           go on without a loaded kernel, discard unclaimed sessions, or into a kernel\n"
	  "                    whose LUO ABI differs (the sessions are lost)\n"
	  "  --require ID      refuse unless client ID is subscribed (repeatable, or a comma list)\n"
	  "  --require-all-sessions\n"
	  "                    refuse while a session from the last update is not claimed and finished\n"
	  "  --no-wait         return once the update is committed (all clients ready, luod reboots)\n"
	  "  --shutdown        for luod-barrier.service: if systemd is going down for a kexec luod did not\n"
	  "                    start, run the barrier now and leave the kexec to systemd\n",
	  cmd_kexec },
	{ "abort", "[--reason TEXT]", "Abort the update being prepared",
	  "  --reason TEXT     why, for the clients and the log\n", cmd_abort },
	{ "release", "ID", "Discard the carried-over session of client ID", NULL, cmd_release },
	{ "reserve", "ID --uid UID", "Bind client ID to a uid: only that uid may subscribe or claim it",
	  "  --uid UID         the uid that owns the id\n", cmd_reserve },
	{ "unreserve", "ID", "Free client ID: the next uid to subscribe it owns it", NULL, cmd_unreserve },
	{ "ids", "", "List the client ids bound to a uid", NULL, cmd_ids },
	{ "check", "", "Tell whether this machine is ready for a live update", NULL, cmd_check },
	{ "version", "", "Show the versions of luoctl and luod", NULL, cmd_version },
	{ "wait", "[--timeout SECONDS] [--subscribed ID[,ID]...]... [--claimed]",
	  "Wait until clients are subscribed, or every carried-over session is claimed",
	  "  --subscribed ID   wait until client ID is subscribed (repeatable, or a comma list)\n"
	  "  --claimed         wait until no session carried over from before the last update is unclaimed\n"
	  "  --timeout SECONDS give up after this long (default 60; 0: look once); exit status 4\n",
	  cmd_wait },
	{ "help", "[COMMAND]", "Show the usage of luoctl, or of COMMAND", NULL, cmd_help },
};

static const struct ctl_cmd *cmd_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: luoctl [--socket PATH] [--json] COMMAND [ARGS]\n"
		   "       luoctl help [COMMAND] | -h|--help | --version\n\n"
		   "Control luod, the live update agent.\n\nCommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		const char *h = commands[i].help;

		fprintf(f, "  %-10s%.*s\n", commands[i].name, (int)strcspn(h, ";"), h);
	}
	fprintf(f,
		"\nOptions:\n"
		"  --socket PATH  luod's socket (default: $LUOD_SOCKET, else %s)\n"
		"  --json         print JSON for scripts\n"
		"  -h, --help     show this help ('luoctl help COMMAND' for a command)\n"
		"  --version      show the versions of luoctl and luod\n\n"
		"Exit status: 0 success, 1 failed, 2 usage error, 3 luod unreachable,\n"
		"4 'wait' timed out. With --json a failure prints {\"ok\": false, \"errno\", \"errname\", "
		"\"error\"}.\n",
		LUOD_DEFAULT_SOCKET);
}

/**
 * ctl_cmd_help() - print the synopsis of the running command.
 * @ctl: the invocation
 */
void ctl_cmd_help(const struct ctl *ctl)
{
	const struct ctl_cmd *cmd = cmd_find(ctl->cmd);

	if (!cmd)
		return;
	printf("Usage: luoctl [--socket PATH] [--json] %s%s%s\n\n%s.\n\nOptions:\n%s", cmd->name, *cmd->args ? " " : "",
	       cmd->args, cmd->help, cmd->options ? cmd->options : "");
	printf("  --json            print JSON for scripts\n"
	       "  --socket PATH     luod's socket\n"
	       "  -h, --help        show this help\n\nSee luoctl(8).\n");
}

/**
 * ctl_text() - a text from luod, safe to print on a terminal.
 * @s: the text, or NULL
 *
 * Control characters (newline, ESC, DEL, C1 ...) and bytes that are not
 * UTF-8 are escaped (src/shared/text.c). The result stays valid until
 * seven more escaped texts were asked for: use it in the next print.
 *
 * Return: @s itself when nothing needed escaping, the escaped copy, NULL
 * for NULL, or "?" without memory.
 */
const char *ctl_text(const char *s)
{
	static char *ring[8];
	static unsigned next;
	size_t len, size;
	char *e;

	if (!s)
		return NULL;
	len = strlen(s);
	size = luo_text_escape(NULL, 0, s, len);
	if (size == len)
		return s;
	e = malloc(size + 1);
	if (!e)
		return "?";
	luo_text_escape(e, size + 1, s, len);
	free(ring[next]);
	ring[next] = e;
	next = (next + 1) % ARRAY_SIZE(ring);
	return e;
}

/* Print a formatted line, its text escaped as by ctl_text(). */
static void vprint_escaped(FILE *f, const char *fmt, va_list ap)
{
	_cleanup_free_ char *text = NULL;

	if (vasprintf(&text, fmt, ap) < 0) {
		fputs("?\n", f);
		return;
	}
	fputs(ctl_text(text), f);
	fputc('\n', f);
}

/* An error (not a warning) is noted for the --json failure document; the first one tells. */
static void vmessage(const struct ctl *ctl, const char *fmt, va_list ap)
{
	_cleanup_free_ char *text = NULL;

	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	fputs("luoctl: ", stderr);
	if (ctl && ctl->cmd)
		fprintf(stderr, "%s: ", ctl->cmd);
	fputs(text ? ctl_text(text) : "?", stderr);
	fputc('\n', stderr);
	if (text && ctl && ctl->failure && !ctl->failure->text && strncmp(text, "warning:", 8) != 0)
		ctl->failure->text = steal_ptr(&text);
}

/**
 * ctl_failure_errno() - note the errno of the failure being reported.
 * @ctl: the invocation
 * @err: positive errno; the first one noted tells
 */
void ctl_failure_errno(const struct ctl *ctl, int err)
{
	if (ctl && ctl->failure && !ctl->failure->err && err > 0)
		ctl->failure->err = err;
}

/**
 * ctl_json_add_failure() - add "ok": false, "errno", "errname" and "error".
 * @obj: the JSON object
 * @err: positive errno, or 0 when unknown (errname is then null)
 * @text: the error message, or NULL
 */
void ctl_json_add_failure(struct json_object *obj, int err, const char *text)
{
	json_object_object_add(obj, "ok", json_object_new_boolean(false));
	json_object_object_add(obj, "errno", json_object_new_int(err));
	json_object_object_add(obj, "errname", err > 0 ? json_object_new_string(luo_errno_name(err)) : NULL);
	json_object_object_add(obj, "error", json_object_new_string(text ? text : "failed"));
}

/* --json: the command failed without printing why on stdout; say it there. */
static void print_failure(const struct ctl *ctl, int exit_code)
{
	_cleanup_json_ struct json_object *out = json_object_new_object();
	int err = ctl->failure->err;

	if (!err)
		err = exit_code == CTL_EXIT_USAGE ? EINVAL : exit_code == CTL_EXIT_UNREACHABLE ? ECONNREFUSED : EIO;
	if (!out)
		return;
	ctl_json_add_failure(out, err, ctl->failure->text);
	json_object_object_add(out, "exit", json_object_new_int(exit_code));
	ctl_print_json_line(out);
}

/**
 * ctl_error() - print "luoctl: COMMAND: message" on stderr.
 * @ctl: the invocation
 * @fmt: printf format
 */
void ctl_error(const struct ctl *ctl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(ctl, fmt, ap);
	va_end(ap);
}

/**
 * ctl_hint() - print a hint line on stderr, after an error or a warning.
 * @fmt: printf format
 */
void ctl_hint(const char *fmt, ...)
{
	va_list ap;

	fputs("hint: ", stderr);
	va_start(ap, fmt);
	vprint_escaped(stderr, fmt, ap);
	va_end(ap);
}

/**
 * ctl_usage_error() - report a usage error.
 * @ctl: the invocation
 * @fmt: printf format
 *
 * Return: CTL_EXIT_USAGE.
 */
int ctl_usage_error(const struct ctl *ctl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(ctl, fmt, ap);
	va_end(ap);
	ctl_failure_errno(ctl, EINVAL);
	if (ctl && ctl->cmd)
		fprintf(stderr, "Try 'luoctl %s --help'.\n", ctl->cmd);
	else
		fputs("Try 'luoctl --help'.\n", stderr);
	return CTL_EXIT_USAGE;
}

/**
 * ctl_getopt() - getopt_long() for a command, handling the shared options.
 * @ctl: the invocation
 * @argc: argument count, argv[0] being the command word
 * @argv: the arguments
 * @shortopts: the command's short options (no leading '+' or ':')
 * @longopts: the command's long options, ended by CTL_COMMON_OPTIONS and {}
 *
 * --json, --socket and -h/--help are accepted after the command too.
 *
 * Return: the next option of the command, -1 after the last one, or
 * CTL_OPT_EXIT when luoctl should stop with ctl->exit_code.
 */
int ctl_getopt(struct ctl *ctl, int argc, char **argv, const char *shortopts, const struct option *longopts)
{
	char opts[64];
	int c;

	snprintf(opts, sizeof(opts), ":h%s", shortopts);
	opterr = 0;
	c = getopt_long(argc, argv, opts, longopts, NULL);
	switch (c) {
	case 'h':
		ctl_cmd_help(ctl);
		ctl->exit_code = CTL_EXIT_OK;
		return CTL_OPT_EXIT;
	case CTL_OPT_JSON:
		ctl->json = true;
		return ctl_getopt(ctl, argc, argv, shortopts, longopts);
	case CTL_OPT_SOCKET:
		ctl->socket = optarg;
		ctl->socket_origin = "--socket";
		return ctl_getopt(ctl, argc, argv, shortopts, longopts);
	case ':':
		ctl->exit_code = ctl_usage_error(ctl, "option '%s' needs an argument", argv[optind - 1]);
		return CTL_OPT_EXIT;
	case '?':
		if (optopt)
			ctl->exit_code = ctl_usage_error(ctl, "unknown option '-%c'", optopt);
		else
			ctl->exit_code = ctl_usage_error(ctl, "unknown option '%s'", argv[optind - 1]);
		return CTL_OPT_EXIT;
	default:
		return c;
	}
}

/**
 * ctl_parse_no_args() - parse the options of a command that takes none.
 * @ctl: the invocation
 * @argc: argument count, argv[0] being the command word
 * @argv: the arguments
 *
 * Return: -1 to go on, or the exit code to stop with.
 */
int ctl_parse_no_args(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = { CTL_COMMON_OPTIONS, {} };
	int c;

	while ((c = ctl_getopt(ctl, argc, argv, "", longopts)) != -1) {
		if (c == CTL_OPT_EXIT)
			return ctl->exit_code;
	}
	if (optind < argc)
		return ctl_usage_error(ctl, "unexpected argument '%s'", argv[optind]);
	return -1;
}

/**
 * ctl_connect() - open the connection to luod if not open yet.
 * @ctl: the invocation
 *
 * Return: 0 or -errno (nothing printed).
 */
int ctl_connect(struct ctl *ctl)
{
	int r;

	if (ctl->connected)
		return 0;
	r = luo_conn_connect(&ctl->conn, ctl->socket);
	if (r < 0)
		return r;
	ctl->connected = true;
	return 0;
}

/**
 * ctl_report_transport() - say that luod could not be talked to.
 * @ctl: the invocation
 * @err: negative errno from connecting, sending or receiving
 *
 * Return: CTL_EXIT_UNREACHABLE.
 */
int ctl_report_transport(const struct ctl *ctl, int err)
{
	ctl_failure_errno(ctl, -err);
	switch (-err) {
	case ENOENT:
	case ECONNREFUSED:
	case ENOTDIR:
		ctl_error(ctl, "cannot reach luod at %s: %s", ctl->socket, strerror(-err));
		if (ctl->socket_origin)
			ctl_hint("is luod running? (the socket path came from %s)", ctl->socket_origin);
		else
			ctl_hint("is luod running? (the default socket; --socket PATH or $LUOD_SOCKET choose another)");
		break;
	case EACCES:
	case EPERM:
		ctl_error(ctl, "cannot reach luod at %s: %s", ctl->socket, strerror(-err));
		ctl_hint("this user may not open the socket or its directory");
		break;
	case ECONNRESET:
	case EPIPE:
		ctl_error(ctl, "luod closed the connection (%s) before answering", ctl->socket);
		ctl_hint("see luod's log");
		break;
	case ETIMEDOUT:
		ctl_error(ctl, "no reply from luod (%s) within %d seconds", ctl->socket, CTL_REPLY_TIMEOUT_MS / 1000);
		break;
	case EBADMSG:
	case EPROTO:
	case EMSGSIZE:
		ctl_error(ctl, "luod (%s) sent a malformed message: %s", ctl->socket, strerror(-err));
		break;
	default:
		ctl_error(ctl, "cannot talk to luod at %s: %s", ctl->socket, strerror(-err));
		break;
	}
	return CTL_EXIT_UNREACHABLE;
}

/**
 * ctl_errname() - the name of an errno that luod sent.
 * @given: luod's "errname", or NULL
 * @err: luod's "errno"
 *
 * Return: @given, or the name luo_errno_name() gives when luod did not know it.
 */
const char *ctl_errname(const char *given, int64_t err)
{
	if (given && strcmp(given, "E?") != 0)
		return given;
	return err > 0 && err < INT32_MAX ? luo_errno_name((int)err) : given ? given : "E?";
}

/**
 * ctl_fail() - report a local failure that is not luod's.
 * @ctl: the invocation
 * @err: negative errno
 *
 * Return: CTL_EXIT_FAILED.
 */
int ctl_fail(const struct ctl *ctl, int err)
{
	ctl_failure_errno(ctl, -err);
	ctl_error(ctl, "%s", strerror(-err));
	return CTL_EXIT_FAILED;
}

/* Hints after luod refused a command; cmd NULL matches any command. */
static const struct {
	const char *cmd;
	int err;
	const char *hint;
} reply_hints[] = {
	{ "kexec", ENOEXEC, "no kernel is loaded: run 'luoctl load KERNEL' first (or --force: reboot() decides)" },
	{ "kexec", ENOTEMPTY,
	  "sessions from the last update are unclaimed ('luoctl list'): let their clients claim them, "
	  "discard one with 'luoctl release ID', or discard all with --force" },
	{ "kexec", EBUSY, "an update is already running: 'luoctl status' shows it, 'luoctl abort' stops it" },
	{ "kexec", ESRCH, "'luoctl list' shows who is subscribed; 'luoctl wait --subscribed ID' waits for a client" },
	{ "kexec", ENODEV, "the running kernel was not booted with liveupdate=on and kho=on ('luoctl status')" },
	{ "abort", ENOENT, "'luoctl status' shows whether an update is running" },
	{ "release", ENOENT, "'luoctl list' shows the carried-over sessions" },
	{ "release", EBUSY, "its client holds it and finishes it with DONE" },
	{ "reserve", EEXIST, "'luoctl unreserve ID' frees it first" },
	{ "unreserve", EBUSY, "a client uses the id: release its session or stop the client first" },
	{ "load", ETXTBSY, "the file is open for writing: wait until it is written" },
	{ "load", EADDRNOTAVAIL, "no room in the KHO scratch area for this image" },
	{ "load", EKEYREJECTED, "signatures are enforced and the image's was rejected" },
	{ "load", ENOKEY, "signatures are enforced and the image's key is unknown" },
	{ "load", ENODATA, "signatures are enforced and the image is not signed" },
	{ "load", EBADMSG, "signatures are enforced and the image's signature is malformed" },
	{ "load", EPERM, "running as root: check kernel.kexec_load_disabled, lockdown and signatures" },
	{ "load", EPROTONOSUPPORT,
	  "load a kernel with this kernel's LUO ABI, or give --force to load it anyway (its sessions would be lost)" },
	{ "load", EFBIG, "that is no kernel image" },
};

/**
 * ctl_report_reply() - say that luod refused the command, with a hint.
 * @ctl: the invocation
 * @reply: luod's {"ok":false,...} reply
 *
 * Return: CTL_EXIT_FAILED.
 */
int ctl_report_reply(const struct ctl *ctl, struct json_object *reply)
{
	const char *text = luo_msg_string(reply, "error");
	const char *name = luo_msg_string(reply, "errname");
	int64_t err = 0;

	luo_msg_int(reply, "errno", &err);
	name = ctl_errname(name, err);
	ctl_failure_errno(ctl, err > 0 && err < INT32_MAX ? (int)err : EPROTO);
	if (text && strstr(text, name))
		ctl_error(ctl, "%s", text);
	else
		ctl_error(ctl, "%s (%s)", text ? text : "failed", name);

	if (err == EPERM && geteuid() != 0) {
		ctl_hint("this command needs root: run it as root");
		return CTL_EXIT_FAILED;
	}
	for (size_t i = 0; i < ARRAY_SIZE(reply_hints); i++) {
		if (reply_hints[i].err == err && (!reply_hints[i].cmd || strcmp(reply_hints[i].cmd, ctl->cmd) == 0)) {
			ctl_hint("%s", reply_hints[i].hint);
			break;
		}
	}
	return CTL_EXIT_FAILED;
}

/**
 * ctl_request() - run one command against luod and report any failure.
 * @ctl: the invocation
 * @cmd: the command
 * @fds: fds to pass with it
 * @n_fds: their number
 * @reply: receives the successful reply (caller puts it)
 *
 * Return: CTL_EXIT_OK with @reply set, or the exit code after the error
 * was reported.
 */
int ctl_request(struct ctl *ctl, struct json_object *cmd, const int *fds, size_t n_fds, struct json_object **reply)
{
	_cleanup_json_ struct json_object *msg = NULL;
	int r;

	r = ctl_connect(ctl);
	if (r < 0)
		return ctl_report_transport(ctl, r);
	r = ctl_conn_call(&ctl->conn, cmd, fds, n_fds, &msg, CTL_REPLY_TIMEOUT_MS);
	if (r < 0)
		return ctl_report_transport(ctl, r);
	if (!luo_msg_bool(msg, "ok"))
		return ctl_report_reply(ctl, msg);
	*reply = steal_ptr(&msg);
	return CTL_EXIT_OK;
}

/**
 * ctl_run_simple() - run a command whose reply only says it worked.
 * @ctl: the invocation
 * @req: the command, or NULL when building it ran out of memory; not consumed
 * @done: what to tell people on success
 *
 * Return: a CTL_EXIT_* code.
 */
int ctl_run_simple(struct ctl *ctl, struct json_object *req, const char *done)
{
	_cleanup_json_ struct json_object *reply = NULL;
	int r;

	if (!req)
		return ctl_fail(ctl, -ENOMEM);
	r = ctl_request(ctl, req, NULL, 0, &reply);
	if (r != CTL_EXIT_OK)
		return r;
	if (ctl->json)
		ctl_print_reply_json(reply);
	else
		printf("%s\n", ctl_text(done));
	return CTL_EXIT_OK;
}

/*
 * Print JSON text and a newline. json-c escapes C0 controls; DEL and C1
 * controls, which a terminal may obey too, become \u escapes here, and a
 * byte that is not UTF-8 (only from a local string: luod's are checked)
 * becomes \ufffd, so the output is valid JSON that is safe on a terminal.
 */
static void put_json(const char *s)
{
	size_t len = s ? strlen(s) : 0;

	for (size_t i = 0; i < len;) {
		size_t n = luo_utf8_char(s + i, len - i);
		unsigned char ch = s[i];

		if (n == 0)
			fputs("\\ufffd", stdout);
		else if (ch == 0x7f)
			fputs("\\u007f", stdout);
		else if (n == 2 && ch == 0xc2 && (unsigned char)s[i + 1] < 0xa0)
			printf("\\u%04x", (unsigned char)s[i + 1]);
		else
			fwrite(s + i, 1, n, stdout);
		i += n ? n : 1;
	}
	putchar('\n');
}

/**
 * ctl_print_json() - print a JSON value on stdout.
 * @obj: the value
 *
 * Indented on a terminal; one line otherwise, for scripts and grep.
 */
void ctl_print_json(struct json_object *obj)
{
	int flags = JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE;

	if (isatty(STDOUT_FILENO) &&
	    !(json_object_is_type(obj, json_type_object) && json_object_object_length(obj) == 0))
		flags |= JSON_C_TO_STRING_PRETTY;
	put_json(json_object_to_json_string_ext(obj, flags));
}

/**
 * ctl_print_json_line() - print a JSON value on one line of stdout.
 * @obj: the value
 */
void ctl_print_json_line(struct json_object *obj)
{
	put_json(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/**
 * ctl_print_reply_json() - print a successful reply without its "ok".
 * @reply: the reply (modified)
 */
void ctl_print_reply_json(struct json_object *reply)
{
	json_object_object_del(reply, "ok");
	ctl_print_json(reply);
}

/**
 * ctl_kv() - print "key:" padded to CTL_KEY_WIDTH, then the value.
 * @key: the key, without the colon
 * @fmt: printf format of the value; the value is escaped as by ctl_text()
 */
void ctl_kv(const char *key, const char *fmt, ...)
{
	char label[64];
	va_list ap;

	snprintf(label, sizeof(label), "%s:", key);
	printf("%-*s", CTL_KEY_WIDTH, label);
	va_start(ap, fmt);
	vprint_escaped(stdout, fmt, ap);
	va_end(ap);
}

/**
 * ctl_format_size() - "812 bytes" or "12345678 bytes, 11.8 MiB".
 * @buf: where to write
 * @len: its size
 * @n: the size in bytes
 *
 * Return: @buf.
 */
const char *ctl_format_size(char *buf, size_t len, int64_t n)
{
	if (n >= 1024 * 1024)
		snprintf(buf, len, "%" PRId64 " bytes, %.1f MiB", n, n / (1024.0 * 1024.0));
	else
		snprintf(buf, len, "%" PRId64 " bytes", n);
	return buf;
}

/**
 * ctl_format_duration() - "850ms", "12.3s", "2m05s" or "1h02m".
 * @buf: where to write
 * @len: its size
 * @ms: the duration; negative counts as 0
 *
 * Return: @buf.
 */
const char *ctl_format_duration(char *buf, size_t len, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	if (ms < 1000)
		snprintf(buf, len, "%dms", (int)ms);
	else if (ms < 60000)
		snprintf(buf, len, "%d.%ds", (int)(ms / 1000), (int)(ms % 1000 / 100));
	else if (ms < 3600000)
		snprintf(buf, len, "%dm%02ds", (int)(ms / 60000), (int)(ms % 60000 / 1000));
	else
		snprintf(buf, len, "%dh%02dm", (int)(ms / 3600000), (int)(ms % 3600000 / 60000));
	return buf;
}

/**
 * cmd_version() - luoctl version: this program's version and luod's.
 * @ctl: the invocation
 * @argc: argument count
 * @argv: the arguments
 *
 * Return: CTL_EXIT_OK, also when luod is not reachable (that is said).
 */
int cmd_version(struct ctl *ctl, int argc, char **argv)
{
	_cleanup_json_ struct json_object *req = NULL, *reply = NULL;
	const char *daemon = NULL;
	int64_t proto = -1;
	int r;

	r = ctl_parse_no_args(ctl, argc, argv);
	if (r >= 0)
		return r;

	req = luo_msg_command(LUO_CMD_VERSION);
	if (!req)
		return ctl_fail(ctl, -ENOMEM);
	r = ctl_connect(ctl);
	if (r == 0)
		r = ctl_conn_call(&ctl->conn, req, NULL, 0, &reply, CTL_REPLY_TIMEOUT_MS);
	if (r == 0 && luo_msg_bool(reply, "ok")) {
		daemon = luo_msg_string(reply, "daemon");
		luo_msg_int(reply, "version", &proto);
	}

	if (ctl->json) {
		_cleanup_json_ struct json_object *out = json_object_new_object();
		struct json_object *d = NULL;

		if (!out)
			return ctl_fail(ctl, -ENOMEM);
		json_object_object_add(out, "luoctl", json_object_new_string(PACKAGE_VERSION));
		json_object_object_add(out, "protocol", json_object_new_int(LUO_PROTO_VERSION));
		if (daemon) {
			d = json_object_new_object();
			json_object_object_add(d, "daemon", json_object_new_string(daemon));
			json_object_object_add(d, "version", json_object_new_int64(proto));
		}
		json_object_object_add(out, "luod", d);
		ctl_print_json(out);
		return CTL_EXIT_OK;
	}

	printf("luoctl %s (protocol %d)\n", PACKAGE_VERSION, LUO_PROTO_VERSION);
	if (daemon)
		printf("luod   %s (protocol %lld)\n", ctl_text(daemon), (long long)proto);
	else if (r < 0)
		printf("luod   not reachable at %s: %s\n", ctl->socket, strerror(-r));
	else
		printf("luod   did not say its version\n");
	if (daemon && proto != LUO_PROTO_VERSION)
		ctl_error(ctl, "warning: luod speaks protocol %lld, luoctl %d", (long long)proto, LUO_PROTO_VERSION);
	return CTL_EXIT_OK;
}

/* help --json: the commands (or one) as {"commands":[{"name","args","help","options"}]}. */
static int print_help_json(struct ctl *ctl, const struct ctl_cmd *only)
{
	_cleanup_json_ struct json_object *out = json_object_new_object();
	struct json_object *arr = json_object_new_array();

	if (!out || !arr) {
		json_object_put(arr);
		return ctl_fail(ctl, -ENOMEM);
	}
	json_object_object_add(out, "commands", arr);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		struct json_object *c;

		if (only && only != &commands[i])
			continue;
		c = json_object_new_object();
		json_object_object_add(c, "name", json_object_new_string(commands[i].name));
		json_object_object_add(c, "args", json_object_new_string(commands[i].args));
		json_object_object_add(c, "help", json_object_new_string(commands[i].help));
		json_object_object_add(c, "options", json_object_new_string(commands[i].options ?: ""));
		json_object_array_add(arr, c);
	}
	ctl_print_json(out);
	return CTL_EXIT_OK;
}

/**
 * cmd_help() - luoctl help [COMMAND]: the usage of luoctl or of a command.
 * @ctl: the invocation
 * @argc: argument count
 * @argv: the arguments
 *
 * Return: CTL_EXIT_OK, or CTL_EXIT_USAGE for a command that does not exist.
 */
int cmd_help(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = { CTL_COMMON_OPTIONS, {} };
	const struct ctl_cmd *cmd;
	struct ctl other;
	int c;

	while ((c = ctl_getopt(ctl, argc, argv, "", longopts)) != -1) {
		if (c == CTL_OPT_EXIT)
			return ctl->exit_code;
	}
	if (optind >= argc) {
		if (ctl->json)
			return print_help_json(ctl, NULL);
		usage(stdout);
		return CTL_EXIT_OK;
	}
	if (optind + 1 < argc)
		return ctl_usage_error(ctl, "unexpected argument '%s'", argv[optind + 1]);
	cmd = cmd_find(argv[optind]);
	if (!cmd)
		return ctl_usage_error(ctl, "unknown command '%s'", argv[optind]);
	if (ctl->json)
		return print_help_json(ctl, cmd);
	other = *ctl;
	other.cmd = cmd->name;
	ctl_cmd_help(&other);
	return CTL_EXIT_OK;
}

/* The options before the command: -1 with argc/argv at the command, or the exit code. */
static int parse_global(struct ctl *ctl, int *argc, char ***argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, CTL_OPT_SOCKET },
		{ "json", no_argument, NULL, CTL_OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, CTL_OPT_VERSION },
		{},
	};
	static char *version_argv[] = { "version", NULL };
	bool want_version = false;
	int c;

	opterr = 0;
	while ((c = getopt_long(*argc, *argv, "+:h", longopts, NULL)) != -1) {
		switch (c) {
		case CTL_OPT_SOCKET:
			ctl->socket = optarg;
			ctl->socket_origin = "--socket";
			break;
		case CTL_OPT_JSON:
			ctl->json = true;
			break;
		case 'h':
			usage(stdout);
			return CTL_EXIT_OK;
		case CTL_OPT_VERSION:
			want_version = true;
			break;
		case ':':
			return ctl_usage_error(ctl, "option '%s' needs an argument", (*argv)[optind - 1]);
		default:
			if (optopt)
				return ctl_usage_error(ctl, "unknown option '-%c'", optopt);
			return ctl_usage_error(ctl, "unknown option '%s'", (*argv)[optind - 1]);
		}
	}
	if (want_version) {
		*argc = 1;
		*argv = version_argv;
	} else if (optind >= *argc) {
		return ctl_usage_error(ctl, "no command given");
	} else {
		*argc -= optind;
		*argv += optind;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct ctl_failure failure = {};
	struct ctl ctl = { .socket = LUOD_DEFAULT_SOCKET, .failure = &failure };
	const struct ctl_cmd *cmd;
	const char *env;
	int r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	env = getenv("LUOD_SOCKET");
	if (env && *env) {
		ctl.socket = env;
		ctl.socket_origin = "$LUOD_SOCKET";
	}

	/* A usage error before --json was parsed still answers in JSON. */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		ctl.json |= !strcmp(argv[i], "--json");
	r = parse_global(&ctl, &argc, &argv);
	if (r < 0) {
		cmd = cmd_find(argv[0]);
		if (cmd) {
			ctl.cmd = cmd->name;
			optind = 0; /* glibc: start the command's parse afresh */
			r = cmd->run(&ctl, argc, argv);
		} else {
			r = ctl_usage_error(&ctl, "unknown command '%s'", argv[0]);
		}
	}

	if (ctl.json && r != CTL_EXIT_OK && !ctl.outcome_printed)
		print_failure(&ctl, r);
	if (ctl.connected)
		luo_conn_release(&ctl.conn);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_error(&ctl, "writing the output failed: %m");
		if (r == CTL_EXIT_OK)
			r = CTL_EXIT_FAILED;
	}
	free(failure.text);
	return r;
}
