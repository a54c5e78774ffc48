/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer harness for the protocol decoder and encoder: the bytes a peer
 * may send, with a number of received fds taken from the first byte, go
 * through luo_conn_next() until it stops. It must never crash, hand out more
 * fds than a message may carry, or lose an fd; what the strict decoder
 * accepts has only UTF-8 strings without NUL, and encodes to text it accepts
 * again. The same bytes, as a string luod might hold, must encode to valid
 * UTF-8 and escape (for the log and terminals) to text without controls.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protocol.h"
#include "text.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every string (names too) is UTF-8 without NUL. */
static bool strings_ok(struct json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_string: {
		const char *s = json_object_get_string(o);
		size_t n = (size_t)json_object_get_string_len(o);

		return strlen(s) == n && luo_utf8_valid(s, n);
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			if (!strings_ok(json_object_array_get_idx(o, i)))
				return false;
		return true;
	case json_type_object: {
		json_object_object_foreach(o, k, v)
		{
			if (!luo_utf8_valid(k, strlen(k)) || !strings_ok(v))
				return false;
		}
		return true;
	}
	default:
		return true;
	}
}

/* The encoder's promise: valid UTF-8 that the strict decoder takes back. */
static void check_encode(struct json_object *msg)
{
	struct json_object *back = NULL;
	char *text = NULL;
	size_t len;

	if (luo_proto_encode(msg, &text, &len) < 0)
		abort();
	if (!luo_utf8_valid(text, len) || luo_proto_parse(text, len, &back) < 0)
		abort();
	json_object_put(back);
	free(text);
}

/* Arbitrary bytes in a string of luod's: encoded and escaped safely. */
static void check_text(const char *data, size_t size)
{
	struct json_object *m = json_object_new_object();
	size_t n = size < 4096 ? size : 4096;
	char *esc = malloc(LUO_TEXT_ESCAPE_RATIO * n + 1);
	size_t len;

	json_object_object_add(m, "reason", json_object_new_string_len(data, (int)n));
	check_encode(m);
	json_object_put(m);
	len = luo_text_escape(esc, LUO_TEXT_ESCAPE_RATIO * n + 1, data, n);
	if (len > LUO_TEXT_ESCAPE_RATIO * n || strlen(esc) != len || !luo_utf8_valid(esc, len))
		abort();
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = esc[i];

		if (ch < 0x20 || ch == 0x7f || (ch == 0xc2 && i + 1 < len && (unsigned char)esc[i + 1] < 0xa0))
			abort();
	}
	free(esc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct luo_conn c;
	size_t n_fds, handed = 0;
	int r;

	if (size < 1 || size - 1 > LUO_PROTO_MAX_LINE)
		return 0;
	check_text((const char *)data + 1, size - 1);
	/* What the strict check accepts, json-c builds: they agree. */
	{
		const char *nl = memchr(data + 1, '\n', size - 1);
		size_t len = nl ? (size_t)(nl - (const char *)data - 1) : size - 1;
		struct json_object *m = NULL;

		if (!memchr(data + 1, '\0', len) && luo_proto_check((const char *)data + 1, len) == 0 &&
		    luo_proto_parse((const char *)data + 1, len, &m) < 0)
			abort();
		json_object_put(m);
	}
	luo_conn_init(&c, -1);
	c.in = malloc(c.max_in);
	if (!c.in)
		abort();
	memcpy(c.in, data + 1, size - 1);
	c.in_len = size - 1;
	n_fds = data[0] % (ARRAY_SIZE(c.in_fds) + 1);
	for (size_t i = 0; i < n_fds; i++)
		c.in_fds[c.n_in_fds++] = open("/dev/null", O_RDONLY | O_CLOEXEC);

	for (;;) {
		struct json_object *msg = NULL;
		int fds[LUO_PROTO_MAX_FDS];
		size_t n = 0;

		r = luo_conn_next(&c, &msg, fds, &n);
		if (r <= 0)
			break;
		if (!json_object_is_type(msg, json_type_object) || n > LUO_PROTO_MAX_FDS || !strings_ok(msg))
			abort();
		/* Encoding what was decoded must work too, and decode again. */
		check_encode(msg);
		handed += n;
		close_fds(fds, n);
		json_object_put(msg);
	}
	if (handed + c.n_in_fds != n_fds)
		abort();
	luo_conn_release(&c);
	return 0;
}
