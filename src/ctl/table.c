/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Owns luoctl's table printer: rows of strings printed in columns as wide
 * as their widest cell, separated by two spaces, the last column unpadded.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "text.h"
#include "util.h"

struct ctl_table {
	size_t n_cols;
	size_t n_rows; /* the header included */
	size_t cap;
	char **cells; /* n_rows * n_cols, row-major */
	size_t *width;
};

/**
 * ctl_table_new() - a table with a header row.
 * @n_cols: number of columns
 * @headers: their titles
 *
 * Return: the table, or NULL without memory.
 */
struct ctl_table *ctl_table_new(size_t n_cols, const char *const *headers)
{
	struct ctl_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->n_cols = n_cols;
	t->width = calloc(n_cols, sizeof(*t->width));
	if (!t->width || ctl_table_add(t, headers) < 0) {
		ctl_table_free(t);
		return NULL;
	}
	return t;
}

/**
 * ctl_table_add() - append a row.
 * @t: the table
 * @cells: n_cols strings (copied, escaped as by ctl_text()); NULL prints as "-"
 *
 * Return: 0 or -ENOMEM.
 */
int ctl_table_add(struct ctl_table *t, const char *const *cells)
{
	size_t base = t->n_rows * t->n_cols;

	if (t->n_rows == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 8;
		char **c = reallocarray(t->cells, cap * t->n_cols, sizeof(*c));

		if (!c)
			return -ENOMEM;
		t->cells = c;
		t->cap = cap;
	}
	for (size_t i = 0; i < t->n_cols; i++) {
		t->cells[base + i] = luo_text_escape_dup(cells[i] ? cells[i] : "-");
		if (!t->cells[base + i]) {
			for (size_t j = 0; j < i; j++)
				free(t->cells[base + j]);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < t->n_cols; i++) {
		size_t w = strlen(t->cells[base + i]);

		if (w > t->width[i])
			t->width[i] = w;
	}
	t->n_rows++;
	return 0;
}

/**
 * ctl_table_print() - print the table on stdout.
 * @t: the table
 * @indent: printed before each row
 */
void ctl_table_print(const struct ctl_table *t, const char *indent)
{
	for (size_t r = 0; r < t->n_rows; r++) {
		fputs(indent, stdout);
		for (size_t i = 0; i < t->n_cols; i++) {
			const char *cell = t->cells[r * t->n_cols + i];

			if (i + 1 < t->n_cols)
				printf("%-*s  ", (int)t->width[i], cell);
			else
				printf("%s\n", cell);
		}
	}
}

/**
 * ctl_table_free() - free a table.
 * @t: the table, or NULL
 */
void ctl_table_free(struct ctl_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->width);
	free(t);
}
