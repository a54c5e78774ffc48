/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns load and unload: luoctl opens the kernel image and the initrds as
 * the calling user, builds the command line (cmdline.c), warns when the
 * next kernel could not live-update again, and passes the fds to luod.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmdline.h"
#include "ctl.h"
#include "sha256.h"
#include "util.h"

#define PROC_CMDLINE_MAX 65536
#define MAX_INITRDS (LUO_PROTO_MAX_FDS - 1)
#define MAX_APPENDS 64
/* luod's own limits on a LOAD's work are 20 s per decompression. */
#define LOAD_REPLY_TIMEOUT_MS 300000

struct fdset {
	int fd[LUO_PROTO_MAX_FDS];
	size_t n;
};

static void fdset_close(struct fdset *s)
{
	close_fds(s->fd, s->n);
	s->n = 0;
}

/* Read /proc/cmdline, without its newline. */
static int read_proc_cmdline(char **out)
{
	_cleanup_close_ int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;

	if (fd < 0)
		return -errno;
	buf = malloc(PROC_CMDLINE_MAX);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(fd, buf + len, PROC_CMDLINE_MAX - 1 - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		len += n;
		if (len == PROC_CMDLINE_MAX - 1)
			return -EFBIG;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\0'))
		len--;
	buf[len] = '\0';
	*out = steal_ptr(&buf);
	return 0;
}

/* Open @path for luod; its absolute name goes into @names for display. */
static int open_image(struct ctl *ctl, struct fdset *fds, const char *path, struct json_object **name)
{
	char abs[PATH_MAX];
	int fd;

	struct stat st;
	int fl;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer; a tty must not become ours. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		ctl_failure_errno(ctl, errno);
		ctl_error(ctl, "cannot open %s: %m", path);
		return CTL_EXIT_FAILED;
	}
	fds->fd[fds->n++] = fd;
	if (fstat(fd, &st) < 0 || (fl = fcntl(fd, F_GETFL)) < 0) {
		ctl_failure_errno(ctl, errno);
		ctl_error(ctl, "cannot stat %s: %m", path);
		return CTL_EXIT_FAILED;
	}
	if (!S_ISREG(st.st_mode)) {
		ctl_failure_errno(ctl, EINVAL);
		ctl_error(ctl, "%s is not a regular file", path);
		return CTL_EXIT_FAILED;
	}
	if (fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		ctl_failure_errno(ctl, errno);
		ctl_error(ctl, "cannot use %s: %m", path);
		return CTL_EXIT_FAILED;
	}
	*name = json_object_new_string(realpath(path, abs) ? abs : path);
	return CTL_EXIT_OK;
}

static void warn_luo(struct ctl *ctl, const char *cmdline)
{
	int missing = cmdline_luo_missing(cmdline);

	if (missing <= 0)
		return;
	ctl_error(ctl, "warning: the command line lacks %s: the new kernel will not be able to live-update again",
		  missing == (CMDLINE_NO_LIVEUPDATE | CMDLINE_NO_KHO) ? "liveupdate=on and kho=on"
		  : missing == CMDLINE_NO_LIVEUPDATE		      ? "liveupdate=on"
								      : "kho=on");
	ctl_hint("add --append '%s'%s",
		 missing == (CMDLINE_NO_LIVEUPDATE | CMDLINE_NO_KHO) ? "liveupdate=on kho=on"
		 : missing == CMDLINE_NO_LIVEUPDATE		     ? "liveupdate=on"
								     : "kho=on",
		 missing & CMDLINE_NO_KHO ? " (kho=on is not needed by a kernel built with "
					    "CONFIG_KEXEC_HANDOVER_ENABLE_DEFAULT=y)"
					  : "");
}

/* The LUO ABI luod found in the image and its check against this kernel's. */
static void print_abi(struct json_object *reply)
{
	struct json_object *abi = NULL, *chk = NULL;
	const char *res, *msg;
	char buf[128] = "";
	size_t off = 0;

	if (json_object_object_get_ex(reply, "abi", &abi) && json_object_is_type(abi, json_type_object)) {
		json_object_object_foreach(abi, k, v)
		{
			const char *s = json_object_get_string(v);

			if (off < sizeof(buf))
				off += snprintf(buf + off, sizeof(buf) - off, "%s%s", off ? " " : "", v ? s : k);
			if (!v && off < sizeof(buf))
				off += snprintf(buf + off, sizeof(buf) - off, ":none");
		}
		ctl_kv("luo abi", "%s", buf);
	}
	if (!json_object_object_get_ex(reply, "abi_check", &chk) || !json_object_is_type(chk, json_type_object))
		return;
	res = luo_msg_string(chk, "result") ?: "unknown";
	msg = luo_msg_string(chk, "message") ?: "";
	ctl_kv("abi check", "%s: %s", res, msg);
	if (!strcmp(res, "incompatible"))
		fprintf(stderr, "luoctl load: warning: loaded anyway (--force): %s\n", msg);
	else if (strcmp(res, "compatible"))
		fprintf(stderr,
			"luoctl load: warning: cannot tell whether this kernel can take the sessions over: %s\n", msg);
}

static void print_loaded(struct json_object *reply, struct json_object *req)
{
	struct json_object *initrds;
	const char *s;
	char buf[64];
	int64_t n;

	s = luo_msg_string(req, "kernel");
	if (luo_msg_int(reply, "size", &n) == 0)
		ctl_kv("kernel", "%s (%s)", s, ctl_format_size(buf, sizeof(buf), n));
	else
		ctl_kv("kernel", "%s", s);
	if (json_object_object_get_ex(req, "initrds", &initrds)) {
		for (size_t i = 0; i < json_object_array_length(initrds); i++)
			ctl_kv("initrd", "%s", json_object_get_string(json_object_array_get_idx(initrds, i)));
		if (json_object_array_length(initrds) > 1 && luo_msg_int(reply, "initrd_size", &n) == 0)
			ctl_kv("initrd size", "%s, concatenated", ctl_format_size(buf, sizeof(buf), n));
	}
	s = luo_msg_string(reply, "sha256");
	if (s)
		ctl_kv("sha256", "%s", s);
	s = luo_msg_string(reply, "cmdline");
	ctl_kv("cmdline", "%s", s ? s : luo_msg_string(req, "cmdline"));
	s = luo_msg_string(reply, "version");
	if (s)
		ctl_kv("version", "%s", s);
	print_abi(reply);
	if (luo_msg_bool(reply, "dry_run"))
		printf("dry run: luod checked the files, nothing was loaded\n");
	else
		printf("loaded: 'luoctl kexec' runs the live update into it\n");
}

/* What luoctl load was asked for. */
struct load_args {
	const char *kernel;
	const char *initrd[MAX_INITRDS];
	size_t n_initrd;
	const char *append[MAX_APPENDS];
	size_t n_append;
	const char *cmdline;
	bool reuse, dry_run, force, if_changed;
};

/* Parse the options: -1 to go on, else the CTL_EXIT_* code to return. */
static int load_parse(struct ctl *ctl, int argc, char **argv, struct load_args *a)
{
	enum { OPT_REUSE = CTL_OPT_CMD, OPT_DRY_RUN, OPT_FORCE, OPT_IF_CHANGED };
	static const struct option longopts[] = {
		{ "initrd", required_argument, NULL, 'i' },
		{ "ramdisk", required_argument, NULL, 'i' }, /* kexec(8)'s name */
		{ "cmdline", required_argument, NULL, 'c' },
		{ "command-line", required_argument, NULL, 'c' }, /* kexec(8)'s name */
		{ "if-changed", no_argument, NULL, OPT_IF_CHANGED },
		{ "append", required_argument, NULL, 'a' },
		{ "reuse-cmdline", no_argument, NULL, OPT_REUSE },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "force", no_argument, NULL, OPT_FORCE },
		CTL_COMMON_OPTIONS,
		{},
	};
	int c;

	while ((c = ctl_getopt(ctl, argc, argv, "i:c:a:", longopts)) != -1) {
		switch (c) {
		case CTL_OPT_EXIT:
			return ctl->exit_code;
		case 'i':
			if (a->n_initrd == MAX_INITRDS)
				return ctl_usage_error(ctl, "at most %d initrds", MAX_INITRDS);
			a->initrd[a->n_initrd++] = optarg;
			break;
		case 'c':
			a->cmdline = optarg;
			break;
		case 'a':
			if (a->n_append == MAX_APPENDS)
				return ctl_usage_error(ctl, "at most %d --append", MAX_APPENDS);
			a->append[a->n_append++] = optarg;
			break;
		case OPT_REUSE:
			a->reuse = true;
			break;
		case OPT_DRY_RUN:
			a->dry_run = true;
			break;
		case OPT_FORCE:
			a->force = true;
			break;
		case OPT_IF_CHANGED:
			a->if_changed = true;
			break;
		}
	}
	if (optind >= argc)
		return ctl_usage_error(ctl, "which kernel? give the image's path");
	if (optind + 1 < argc)
		return ctl_usage_error(ctl, "unexpected argument '%s' (initrds go after --initrd)", argv[optind + 1]);
	if (a->reuse && a->cmdline)
		return ctl_usage_error(ctl, "--cmdline and --reuse-cmdline exclude each other");
	if (a->dry_run && a->if_changed)
		return ctl_usage_error(ctl, "--dry-run and --if-changed exclude each other");
	a->kernel = argv[optind];
	return -1;
}

/* The kernel's command line: -1 with *cmdline set, else a CTL_EXIT_* code. */
static int load_cmdline(struct ctl *ctl, const struct load_args *a, char **cmdline)
{
	_cleanup_free_ char *proc = NULL;
	struct cmdline_args ca = { .base = a->cmdline, .append = a->append, .n_append = a->n_append };
	int r;

	if (a->reuse) {
		r = read_proc_cmdline(&proc);
		if (r < 0) {
			ctl_failure_errno(ctl, -r);
			ctl_error(ctl, "cannot read /proc/cmdline: %s", strerror(-r));
			return CTL_EXIT_FAILED;
		}
		ca.base = proc;
		ca.drop_boot_image = true;
	}
	r = cmdline_build(&ca, cmdline);
	if (r == -EINVAL)
		return ctl_usage_error(ctl, "the command line has an unbalanced double quote");
	if (r < 0)
		return ctl_fail(ctl, r);
	return -1;
}

/* The LOAD command with the files opened into @fds: -1, or a CTL_EXIT_* code. */
static int load_request(struct ctl *ctl, const struct load_args *a, const char *cmdline, struct fdset *fds,
			struct json_object **req)
{
	struct json_object *names, *name;
	int r;

	*req = luo_msg_command(LUO_CMD_LOAD);
	names = json_object_new_array();
	if (!*req || !names) {
		json_object_put(names);
		return ctl_fail(ctl, -ENOMEM);
	}
	json_object_object_add(*req, "initrds", names);
	r = open_image(ctl, fds, a->kernel, &name);
	if (r != CTL_EXIT_OK)
		return r;
	json_object_object_add(*req, "kernel", name);
	for (size_t i = 0; i < a->n_initrd; i++) {
		r = open_image(ctl, fds, a->initrd[i], &name);
		if (r != CTL_EXIT_OK)
			return r;
		json_object_array_add(names, name);
	}
	warn_luo(ctl, cmdline);

	json_object_object_add(*req, "cmdline", json_object_new_string(cmdline));
	json_object_object_add(*req, "dry_run", json_object_new_boolean(a->dry_run));
	json_object_object_add(*req, "force", json_object_new_boolean(a->force));
	return -1;
}

/*
 * Is what luod loaded the same kernel, initrds (by sha256) and command line?
 * Return: 1 if so, 0 if not (@why says what differs), or -errno.
 */
static int load_same(struct json_object *st, const struct load_args *a, const char *cmdline, const struct fdset *fds,
		     struct json_object *hashes, const char **why)
{
	struct json_object *ld = NULL, *loaded_initrds = NULL, *chk = NULL;
	char sha[65];
	int r;

	for (size_t i = 0; i < fds->n; i++) {
		r = sha256_fd(fds->fd[i], sha);
		if (r < 0)
			return r;
		json_object_array_add(hashes, json_object_new_string(sha));
	}
	*why = "no kernel was loaded through luod";
	if (!luo_msg_bool(st, "kexec_loaded") || !json_object_object_get_ex(st, "loaded", &ld) || !ld)
		return 0;
	*why = "the loaded kernel was changed behind luod's back";
	if (luo_msg_bool(st, "loaded_changed"))
		return 0;
	*why = "the kernel image differs";
	if (strcmp(luo_msg_string(ld, "sha256") ?: "", json_object_get_string(json_object_array_get_idx(hashes, 0))))
		return 0;
	*why = "the initrds differ";
	if (!json_object_object_get_ex(ld, "initrd_sha256", &loaded_initrds) ||
	    !json_object_is_type(loaded_initrds, json_type_array) ||
	    json_object_array_length(loaded_initrds) != a->n_initrd)
		return 0;
	for (size_t i = 0; i < a->n_initrd; i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(loaded_initrds, i)) ?: "",
			   json_object_get_string(json_object_array_get_idx(hashes, i + 1))))
			return 0;
	*why = "the command line differs";
	if (strcmp(luo_msg_string(ld, "cmdline") ?: "", cmdline))
		return 0;
	*why = "it was loaded with --force: load it again to check its LUO ABI";
	if (json_object_object_get_ex(ld, "abi_check", &chk) && luo_msg_bool(chk, "forced") && !a->force)
		return 0;
	return 1;
}

/*
 * --if-changed: nothing to do when luod has this very kernel loaded.
 * Return: -1 to load, or the CTL_EXIT_* code to return.
 */
static int load_if_changed(struct ctl *ctl, const struct load_args *a, const char *cmdline, const struct fdset *fds)
{
	_cleanup_json_ struct json_object *st = NULL, *hashes = json_object_new_array(), *out = NULL;
	const char *why = NULL;
	int r;

	if (!hashes)
		return ctl_fail(ctl, -ENOMEM);
	r = ctl_fetch_status(ctl, &st);
	if (r != CTL_EXIT_OK)
		return r;
	r = load_same(st, a, cmdline, fds, hashes, &why);
	if (r < 0)
		return ctl_fail(ctl, r);
	if (r == 0) {
		if (!ctl->json)
			printf("loading: %s\n", why);
		return -1;
	}
	if (!ctl->json) {
		printf("already loaded: the same kernel, initrds and command line (sha256 %s); not loaded again\n",
		       json_object_get_string(json_object_array_get_idx(hashes, 0)));
		return CTL_EXIT_OK;
	}
	out = json_object_new_object();
	if (!out)
		return ctl_fail(ctl, -ENOMEM);
	json_object_object_add(out, "changed", json_object_new_boolean(false));
	json_object_object_add(out, "sha256", json_object_get(json_object_array_get_idx(hashes, 0)));
	json_object_array_del_idx(hashes, 0, 1);
	json_object_object_add(out, "initrd_sha256", json_object_get(hashes));
	json_object_object_add(out, "cmdline", json_object_new_string(cmdline));
	ctl_print_json(out);
	return CTL_EXIT_OK;
}

/**
 * cmd_load() - luoctl load KERNEL [--initrd FILE]... [--reuse-cmdline]
 *              [--cmdline STR] [--append STR]... [--dry-run] [--force]
 *              [--if-changed].
 * @ctl: the invocation
 * @argc: argument count
 * @argv: the arguments
 *
 * Return: a CTL_EXIT_* code.
 */
int cmd_load(struct ctl *ctl, int argc, char **argv)
{
	__attribute__((cleanup(fdset_close))) struct fdset fds = {};
	_cleanup_json_ struct json_object *req = NULL, *reply = NULL;
	_cleanup_free_ char *cmdline = NULL;
	struct load_args a = {};
	int r;

	r = load_parse(ctl, argc, argv, &a);
	if (r < 0)
		r = load_cmdline(ctl, &a, &cmdline);
	if (r < 0)
		r = load_request(ctl, &a, cmdline, &fds, &req);
	if (r < 0 && a.if_changed)
		r = load_if_changed(ctl, &a, cmdline, &fds);
	if (r >= 0)
		return r;

	/* luod may take a while: it reads, hashes and decompresses the image. */
	r = ctl_connect(ctl);
	if (r < 0)
		return ctl_report_transport(ctl, r);
	r = ctl_conn_call(&ctl->conn, req, fds.fd, fds.n, &reply, LOAD_REPLY_TIMEOUT_MS);
	if (r == -ETIMEDOUT) {
		ctl_failure_errno(ctl, ETIMEDOUT);
		ctl_error(ctl, "no reply from luod within %d seconds", LOAD_REPLY_TIMEOUT_MS / 1000);
		return CTL_EXIT_UNREACHABLE;
	}
	if (r < 0)
		return ctl_report_transport(ctl, r);
	if (!luo_msg_bool(reply, "ok"))
		return ctl_report_reply(ctl, reply);
	if (a.if_changed)
		json_object_object_add(reply, "changed", json_object_new_boolean(true));
	if (ctl->json)
		ctl_print_reply_json(reply);
	else
		print_loaded(reply, req);
	return CTL_EXIT_OK;
}

/**
 * cmd_unload() - luoctl unload.
 * @ctl: the invocation
 * @argc: argument count
 * @argv: the arguments
 *
 * Return: a CTL_EXIT_* code.
 */
int cmd_unload(struct ctl *ctl, int argc, char **argv)
{
	_cleanup_json_ struct json_object *req = NULL;
	int r;

	r = ctl_parse_no_args(ctl, argc, argv);
	if (r >= 0)
		return r;
	req = luo_msg_command(LUO_CMD_UNLOAD);
	return ctl_run_simple(ctl, req, "unloaded: no kernel is staged for kexec");
}
