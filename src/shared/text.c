/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns what the project does with text from a peer before a person sees it:
 * strict UTF-8 validation (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF) and one escaping rule for the log and the
 * terminal. The escaped form is printable ASCII plus valid non-control
 * UTF-8, so it is always one line and never a terminal command:
 *   \n \r \t \\          for newline, carriage return, tab and backslash
 *   \xHH                 other C0 controls, DEL, and bytes that are not UTF-8
 *   \uHHHH               C1 controls (U+0080..U+009F)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/**
 * luo_utf8_char() - length of the UTF-8 character at @s.
 * @s: the bytes
 * @len: how many there are (at least 1)
 *
 * Return: 1 to 4 for a well-formed character (ASCII included, NUL too),
 * 0 if @s does not start one (bad lead byte, overlong form, surrogate,
 * beyond U+10FFFF, or cut off by @len).
 */
size_t luo_utf8_char(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (len == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] < 0xc2 || p[0] > 0xf4)
		return 0;
	n = p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;
	if (len < n)
		return 0;
	/* The second byte's range rules out overlong forms, surrogates and > U+10FFFF. */
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/**
 * luo_utf8_valid() - whether @s is well-formed UTF-8.
 * @s: the bytes
 * @len: their number
 *
 * Return: true if every byte belongs to a well-formed character.
 */
bool luo_utf8_valid(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t n;

		/* The common case first: a run of ASCII. */
		if ((unsigned char)s[i] < 0x80) {
			i++;
			continue;
		}
		n = luo_utf8_char(s + i, len - i);
		if (!n)
			return false;
		i += n;
	}
	return true;
}

/**
 * luo_utf8_trim() - drop a character cut in half at the end.
 * @s: well-formed UTF-8 that may have been truncated
 * @len: its length
 *
 * Return: @len, or less so that a trailing incomplete character is left out.
 */
size_t luo_utf8_trim(const char *s, size_t len)
{
	size_t k = 0;

	/* A character is at most 4 bytes: look at the last 3 for its start. */
	while (k < 3 && k < len && ((unsigned char)s[len - 1 - k] & 0xc0) == 0x80)
		k++;
	if (k < len && (unsigned char)s[len - 1 - k] >= 0xc0 && luo_utf8_char(s + len - 1 - k, k + 1) == 0)
		return len - 1 - k;
	return len;
}

/**
 * luo_text_escape() - escape control characters and bytes that are not UTF-8.
 * @dst: receives the escaped text, NUL-terminated (may be NULL if @size is 0)
 * @size: room at @dst; an escape or character that does not fit is left out whole
 * @src: the text
 * @len: its length; NUL bytes in it are escaped too
 *
 * Return: the length the whole escaped text has (as snprintf(): compare
 * with @size to detect truncation); at most LUO_TEXT_ESCAPE_RATIO * @len.
 */
size_t luo_text_escape(char *dst, size_t size, const char *src, size_t len)
{
	size_t i = 0, total = 0, written = 0;
	bool full = false;

	while (i < len) {
		unsigned char ch = src[i];
		size_t n = luo_utf8_char(src + i, len - i), k;
		const char *piece = src + i;
		char esc[8];

		if (n == 1 && ch >= 0x20 && ch != 0x7f && ch != '\\') {
			k = 1;
		} else if (n == 2 && ch == 0xc2 && (unsigned char)src[i + 1] < 0xa0) {
			k = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", (unsigned char)src[i + 1]);
			piece = esc;
		} else if (n <= 1) {
			const char *named = ch == '\n'	 ? "\\n"
					    : ch == '\r' ? "\\r"
					    : ch == '\t' ? "\\t"
					    : ch == '\\' ? "\\\\"
							 : NULL;

			/* A byte that starts no character is escaped alone; resync at the next. */
			n = 1;
			k = named ? (size_t)snprintf(esc, sizeof(esc), "%s", named)
				  : (size_t)snprintf(esc, sizeof(esc), "\\x%02x", ch);
			piece = esc;
		} else {
			k = n;
		}
		if (!full && written + k < size) {
			memcpy(dst + written, piece, k);
			written += k;
		} else {
			full = true;
		}
		total += k;
		i += n;
	}
	if (size)
		dst[written] = '\0';
	return total;
}

/**
 * luo_text_escape_dup() - luo_text_escape() into new memory.
 * @src: a NUL-terminated text
 *
 * Return: the escaped copy (free() it), or NULL without memory.
 */
char *luo_text_escape_dup(const char *src)
{
	size_t len = strlen(src);
	size_t size = luo_text_escape(NULL, 0, src, len) + 1;
	char *dst = malloc(size);

	if (dst)
		luo_text_escape(dst, size, src, len);
	return dst;
}
