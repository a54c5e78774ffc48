/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * TAP tests of cmdline.c: splitting with quotes, BOOT_IMAGE removal,
 * appending, last value wins, init's arguments, and the LUO check.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmdline.h"
#include "util.h"

static int n_test, n_fail;

static void ok(bool cond, const char *what)
{
	n_test++;
	if (!cond)
		n_fail++;
	printf("%sok %d - %s\n", cond ? "" : "not ", n_test, what);
}

/* Build from base and appends; compare with @want (NULL: expect @want_err). */
static void check_build(const char *what, const char *base, bool drop, const char *const *app, size_t n_app,
			const char *want, int want_err)
{
	struct cmdline_args a = { .base = base, .drop_boot_image = drop, .append = app, .n_append = n_app };
	_cleanup_free_ char *out = NULL;
	int r = cmdline_build(&a, &out);

	if (want) {
		ok(r == 0 && strcmp(out, want) == 0, what);
		if (r != 0 || strcmp(out, want) != 0)
			printf("#   got [%s] (%d), want [%s]\n", r == 0 ? out : "", r, want);
	} else {
		ok(r == want_err, what);
	}
}

static void test_split(void)
{
	char **w = NULL;
	size_t n = 0;

	ok(cmdline_split("  a b=\"x y\"\t\"c=d e\" f\n", &w, &n) == 0 && n == 4 && !strcmp(w[0], "a") &&
		   !strcmp(w[1], "b=\"x y\"") && !strcmp(w[2], "\"c=d e\"") && !strcmp(w[3], "f"),
	   "split: blanks separate, double quotes group");
	cmdline_words_free(w, n);
	ok(cmdline_split("", &w, &n) == 0 && n == 0, "split: empty line has no words");
	cmdline_words_free(w, n);
	ok(cmdline_split("a=\"b c", &w, &n) == -EINVAL, "split: unbalanced quote is EINVAL");
}

static void test_keys(void)
{
	ok(cmdline_same_key("root=/dev/sda", "root=/dev/vda"), "key: key=value compares up to '='");
	ok(cmdline_same_key("quiet", "quiet"), "key: bare flags compare whole");
	ok(cmdline_same_key("foo", "foo=1"), "key: flag and key=value of one name");
	ok(!cmdline_same_key("root=a", "rootwait"), "key: prefix is not the same key");
	ok(cmdline_same_key("a-b=1", "a_b=2"), "key: '-' and '_' are equal");
	ok(cmdline_same_key("\"foo=a b\"", "foo=c"), "key: leading quote skipped");
}

static void test_build(void)
{
	static const char *const app1[] = { "liveupdate=on kho=on" };
	static const char *const app2[] = { "root=/dev/vdb", "quiet" };
	static const char *const app3[] = { "foo=\"x y\"" };
	static const char *const app4[] = { "console=ttyS1" };
	static const char *const app5[] = { "ro -- single" };
	static const char *const app6[] = { "a=\"b" };

	check_build("BOOT_IMAGE dropped from /proc/cmdline", "BOOT_IMAGE=/boot/vmlinuz-7.2 root=/dev/vda ro\n", true,
		    NULL, 0, "root=/dev/vda ro", 0);
	check_build("BOOT_IMAGE kept from --cmdline", "BOOT_IMAGE=/x root=/dev/vda", false, NULL, 0,
		    "BOOT_IMAGE=/x root=/dev/vda", 0);
	check_build("append adds words", "root=/dev/vda", false, app1, 1, "root=/dev/vda liveupdate=on kho=on", 0);
	check_build("append alone", NULL, false, app1, 1, "liveupdate=on kho=on", 0);
	check_build("nothing at all", NULL, false, NULL, 0, "", 0);
	check_build("dedup keeps the last value in the first place", "root=/dev/vda quiet ro root=/dev/vdc", false,
		    app2, 2, "root=/dev/vdb quiet ro", 0);
	check_build("dedup: flag given twice", "quiet ro quiet", false, NULL, 0, "quiet ro", 0);
	check_build("dedup: kho=off then kho=on", "kho=off liveupdate=on", false, app1, 1, "kho=on liveupdate=on", 0);
	check_build("quoted value with spaces survives", "foo=\"a b\" bar", false, app3, 1, "foo=\"x y\" bar", 0);
	check_build("quoted value kept as written", "x=\"1  2\"   y", false, NULL, 0, "x=\"1  2\" y", 0);
	check_build("blanks collapse", "  a \t b  \n", false, NULL, 0, "a b", 0);
	check_build("console= is not deduplicated", "console=tty0", false, app4, 1, "console=tty0 console=ttyS1", 0);
	check_build("init arguments after -- kept apart", "root=/dev/vda -- emergency", false, app5, 1,
		    "root=/dev/vda ro -- emergency single", 0);
	check_build("unbalanced quote in base is EINVAL", "a=\"b c", false, NULL, 0, NULL, -EINVAL);
	check_build("unbalanced quote in append is EINVAL", "x", false, app6, 1, NULL, -EINVAL);
}

static void test_luo(void)
{
	ok(cmdline_luo_missing("root=/dev/vda liveupdate=on kho=on") == 0, "luo: liveupdate=on kho=on is fine");
	ok(cmdline_luo_missing("liveupdate=1 kho=1") == 0, "luo: =1 is on");
	ok(cmdline_luo_missing("liveupdate=on kho") == 0, "luo: bare kho is on");
	ok(cmdline_luo_missing("liveupdate=\"on\" kho=yes") == 0, "luo: quoted and yes are on");
	ok(cmdline_luo_missing("root=/dev/vda") == (CMDLINE_NO_LIVEUPDATE | CMDLINE_NO_KHO), "luo: both missing");
	ok(cmdline_luo_missing("kho=on") == CMDLINE_NO_LIVEUPDATE, "luo: liveupdate missing");
	ok(cmdline_luo_missing("liveupdate=on") == CMDLINE_NO_KHO, "luo: kho missing");
	ok(cmdline_luo_missing("liveupdate=on kho=off") == CMDLINE_NO_KHO, "luo: kho=off is off");
	ok(cmdline_luo_missing("liveupdate=off kho=on") == CMDLINE_NO_LIVEUPDATE, "luo: liveupdate=off is off");
	ok(cmdline_luo_missing("liveupdate kho=on") == CMDLINE_NO_LIVEUPDATE, "luo: bare liveupdate is not on");
	ok(cmdline_luo_missing("liveupdate=on kho=on liveupdate=0") == CMDLINE_NO_LIVEUPDATE,
	   "luo: the last occurrence counts");
	ok(cmdline_luo_missing("kho=on -- liveupdate=on") == CMDLINE_NO_LIVEUPDATE, "luo: init's words do not count");
	ok(cmdline_luo_missing("xliveupdate=on kho_x=on") == (CMDLINE_NO_LIVEUPDATE | CMDLINE_NO_KHO),
	   "luo: other keys do not count");
	ok(cmdline_luo_missing("a=\"b") == -EINVAL, "luo: unbalanced quote is EINVAL");
}

int main(void)
{
	test_split();
	test_keys();
	test_build();
	test_luo();
	printf("1..%d\n", n_test);
	return n_fail ? 1 : 0;
}
