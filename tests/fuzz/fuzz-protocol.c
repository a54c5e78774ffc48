/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer harness for the protocol decoder: the bytes a peer may send,
 * with a number of received fds taken from the first byte, go through
 * luo_conn_next() until it stops. It must never crash, hand out more fds
 * than a message may carry, or lose an fd.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protocol.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct luo_conn c;
	size_t n_fds, handed = 0;
	int r;

	if (size < 1 || size - 1 > LUO_PROTO_MAX_LINE)
		return 0;
	luo_conn_init(&c, -1);
	c.in = malloc(LUO_PROTO_MAX_LINE);
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
		if (!json_object_is_type(msg, json_type_object) || n > LUO_PROTO_MAX_FDS)
			abort();
		/* Encoding what was decoded must work too. */
		if (!json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN))
			abort();
		handed += n;
		close_fds(fds, n);
		json_object_put(msg);
	}
	if (handed + c.n_in_fds != n_fds)
		abort();
	luo_conn_release(&c);
	return 0;
}
