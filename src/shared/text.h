/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Text that crosses a trust boundary: UTF-8 validation, and escaping for
 * places where a control character would do harm (the journal, where a
 * newline starts a new entry, and a terminal, where ESC starts a command).
 */
#ifndef LUO_TEXT_H
#define LUO_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* luo_text_escape() writes at most this many bytes per input byte. */
#define LUO_TEXT_ESCAPE_RATIO 4

size_t luo_utf8_char(const char *s, size_t len);
bool luo_utf8_valid(const char *s, size_t len);
size_t luo_utf8_trim(const char *s, size_t len);
size_t luo_text_escape(char *dst, size_t size, const char *src, size_t len);
char *luo_text_escape_dup(const char *src);

#endif /* LUO_TEXT_H */
