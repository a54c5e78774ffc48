/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns the kernel command line that luoctl load builds: splitting it into
 * words as the kernel does (blanks split, double quotes group), dropping
 * BOOT_IMAGE=, appending, keeping the last value of a parameter given twice,
 * and spotting a line that would leave the next kernel unable to live-update.
 * Pure functions: no I/O, 0/-errno.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "util.h"

/* Parameters that the kernel takes more than once, each adding a value. */
static const char *const multi_keys[] = { "console" };

struct wordlist {
	char **v;
	size_t n;
	size_t cap;
};

static void wordlist_free(struct wordlist *l)
{
	cmdline_words_free(l->v, l->n);
	*l = (struct wordlist){};
}

/* Takes @w, also on failure. */
static int wordlist_push(struct wordlist *l, char *w)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		char **v = reallocarray(l->v, cap, sizeof(*v));

		if (!v) {
			free(w);
			return -ENOMEM;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = w;
	return 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/**
 * cmdline_split() - split a command line into words.
 * @s: the line
 * @words: receives the words (free with cmdline_words_free())
 * @n: receives their number
 *
 * Words are separated by blanks outside double quotes; quotes stay in the
 * words (foo="a b" is one word, written as given).
 *
 * Return: 0, -EINVAL for an unbalanced double quote, or -ENOMEM.
 */
int cmdline_split(const char *s, char ***words, size_t *n)
{
	struct wordlist l = {};
	int r;

	for (;;) {
		const char *start;
		bool quoted = false;

		while (is_blank(*s))
			s++;
		if (!*s)
			break;
		start = s;
		for (; *s && (quoted || !is_blank(*s)); s++) {
			if (*s == '"')
				quoted = !quoted;
		}
		if (quoted) {
			wordlist_free(&l);
			return -EINVAL;
		}
		r = wordlist_push(&l, strndup(start, s - start));
		if (r < 0 || !l.v[l.n - 1]) {
			wordlist_free(&l);
			return -ENOMEM;
		}
	}
	*words = l.v;
	*n = l.n;
	return 0;
}

/**
 * cmdline_words_free() - free what cmdline_split() returned.
 * @words: the words (entries may be NULL)
 * @n: their number
 */
void cmdline_words_free(char **words, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(words[i]);
	free(words);
}

/* The parameter's name: up to '=' (or the closing quote), a leading quote skipped. */
static size_t word_key(const char *w, const char **key)
{
	if (*w == '"')
		w++;
	*key = w;
	return strcspn(w, "=\"");
}

/* The value after '=', quotes removed, into @buf; NULL for a bare flag. */
static const char *word_value(const char *w, char *buf, size_t len)
{
	const char *eq = strchr(w, '=');
	size_t o = 0;

	if (!eq)
		return NULL;
	for (const char *p = eq + 1; *p && o + 1 < len; p++) {
		if (*p != '"')
			buf[o++] = *p;
	}
	buf[o] = '\0';
	return buf;
}

/**
 * cmdline_same_key() - whether two words set the same parameter.
 * @a: a word (key=value, or a bare flag)
 * @b: another
 *
 * Names compare up to '=', with '-' and '_' equal, as the kernel does.
 *
 * Return: true if they name the same parameter.
 */
bool cmdline_same_key(const char *a, const char *b)
{
	const char *ka, *kb;
	size_t na = word_key(a, &ka), nb = word_key(b, &kb);

	if (na != nb || na == 0)
		return false;
	for (size_t i = 0; i < na; i++) {
		char ca = ka[i] == '-' ? '_' : ka[i];
		char cb = kb[i] == '-' ? '_' : kb[i];

		if (ca != cb)
			return false;
	}
	return true;
}

static bool key_is(const char *w, const char *name)
{
	const char *k;
	size_t n = word_key(w, &k);

	return n == strlen(name) && strncmp(k, name, n) == 0;
}

static bool key_is_multi(const char *w)
{
	for (size_t i = 0; i < ARRAY_SIZE(multi_keys); i++)
		if (key_is(w, multi_keys[i]))
			return true;
	return false;
}

/* Words before "--" go to @kern, after it to @init (arguments of init). */
static int add_words(struct wordlist *kern, struct wordlist *init, const char *s, bool drop_boot_image)
{
	char **w = NULL;
	size_t n = 0;
	bool after = false;
	int r;

	r = cmdline_split(s, &w, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		char *word = steal_ptr(&w[i]);

		if (!after && strcmp(word, "--") == 0) {
			after = true;
			free(word);
			continue;
		}
		if (!after && drop_boot_image && key_is(word, "BOOT_IMAGE")) {
			free(word);
			continue;
		}
		r = wordlist_push(after ? init : kern, word);
		if (r < 0)
			break;
	}
	cmdline_words_free(w, n);
	return r;
}

/* A parameter given again takes the place of the first with its last value. */
static void dedup(struct wordlist *l)
{
	size_t o = 0;

	for (size_t i = 0; i < l->n; i++) {
		if (!l->v[i] || key_is_multi(l->v[i]))
			continue;
		for (size_t j = i + 1; j < l->n; j++) {
			if (l->v[j] && cmdline_same_key(l->v[i], l->v[j])) {
				free(l->v[i]);
				l->v[i] = steal_ptr(&l->v[j]);
			}
		}
	}
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i])
			l->v[o++] = l->v[i];
	}
	l->n = o;
}

static char *join(const struct wordlist *kern, const struct wordlist *init)
{
	size_t len = 1;
	char *out, *p;

	for (size_t i = 0; i < kern->n; i++)
		len += strlen(kern->v[i]) + 1;
	for (size_t i = 0; i < init->n; i++)
		len += strlen(init->v[i]) + 1;
	len += 3;
	p = out = malloc(len);
	if (!out)
		return NULL;
	*p = '\0';
	for (size_t i = 0; i < kern->n; i++)
		p = stpcpy(stpcpy(p, i ? " " : ""), kern->v[i]);
	if (init->n)
		p = stpcpy(p, kern->n ? " --" : "--");
	for (size_t i = 0; i < init->n; i++)
		p = stpcpy(stpcpy(p, " "), init->v[i]);
	return out;
}

/**
 * cmdline_build() - the command line of the next kernel.
 * @a: its parts
 * @out: receives the line (caller frees), words separated by one space
 *
 * The words of @a->base (without BOOT_IMAGE= if asked), then those of each
 * @a->append. A parameter given more than once keeps its last value, in
 * the place of its first occurrence; console= is the exception, each one
 * adds a console. Words after "--" are init's and kept as they are, after
 * the kernel's.
 *
 * Return: 0, -EINVAL for an unbalanced double quote, or -ENOMEM.
 */
int cmdline_build(const struct cmdline_args *a, char **out)
{
	struct wordlist kern = {}, init = {};
	int r = 0;

	if (a->base)
		r = add_words(&kern, &init, a->base, a->drop_boot_image);
	for (size_t i = 0; r == 0 && i < a->n_append; i++)
		r = add_words(&kern, &init, a->append[i], false);
	if (r == 0) {
		dedup(&kern);
		*out = join(&kern, &init);
		if (!*out)
			r = -ENOMEM;
	}
	wordlist_free(&kern);
	wordlist_free(&init);
	return r;
}

/* kstrtobool()'s idea of true. */
static bool value_true(const char *v)
{
	if (!v)
		return false;
	switch (v[0]) {
	case 'y':
	case 'Y':
	case 't':
	case 'T':
	case '1':
		return true;
	case 'o':
	case 'O':
		return v[1] == 'n' || v[1] == 'N';
	default:
		return false;
	}
}

/**
 * cmdline_luo_missing() - what the next kernel would lack for LUO.
 * @cmdline: its command line
 *
 * LUO needs liveupdate=on and KHO on (kho=on, kho=1 or kho); the last
 * occurrence counts. Words after "--" are init's and do not count.
 *
 * Return: a mask of CMDLINE_NO_LIVEUPDATE and CMDLINE_NO_KHO (0: both
 * there), -EINVAL for an unbalanced double quote, or -ENOMEM.
 */
int cmdline_luo_missing(const char *cmdline)
{
	bool liveupdate = false, kho = false;
	char **w = NULL, buf[16];
	size_t n = 0;
	int r;

	r = cmdline_split(cmdline, &w, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && strcmp(w[i], "--") != 0; i++) {
		const char *v = word_value(w[i], buf, sizeof(buf));

		if (key_is(w[i], "liveupdate"))
			liveupdate = value_true(v);
		else if (key_is(w[i], "kho"))
			kho = !v || value_true(v);
	}
	cmdline_words_free(w, n);
	return (liveupdate ? 0 : CMDLINE_NO_LIVEUPDATE) | (kho ? 0 : CMDLINE_NO_KHO);
}
