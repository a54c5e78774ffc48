#!/usr/bin/env python3
"""Hold many luod subscriptions in one process, for tests: subscribe COUNT
clients with ids of exactly 48 characters (PREFIX, then a zero-padded
number), answer every START_PRESERVATION with READY (closing the session
fd), create READY_FILE once every subscription is confirmed, and run until
luod closes every connection or the process is killed."""
import argparse, array, json, os, select, socket, sys

ap = argparse.ArgumentParser()
ap.add_argument("--socket", default=os.environ.get("LUOD_SOCKET"))
ap.add_argument("--count", type=int, default=256)
ap.add_argument("--prefix", default="c")
ap.add_argument("--ready-file", required=True)
a = ap.parse_args()


def recv(s):
    data, anc, _, _ = s.recvmsg(1 << 20, socket.CMSG_SPACE(8 * 4))
    for lvl, typ, fds in anc:
        if lvl == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            for fd in array.array("i", fds[: len(fds) - len(fds) % 4]):
                os.close(fd)
    return data


conns = {}
for i in range(a.count):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(a.socket)
    cid = "%s%0*d" % (a.prefix, 48 - len(a.prefix), i)
    s.sendall(json.dumps({"cmd": "SUBSCRIBE", "id": cid}).encode() + b"\n")
    buf = b""
    while b"\n" not in buf:
        d = recv(s)
        if not d:
            sys.exit("luod closed the connection of %s" % cid)
        buf += d
    line, buf = buf.split(b"\n", 1)
    if not json.loads(line).get("ok"):
        sys.exit("SUBSCRIBE %s: %s" % (cid, line.decode()))
    conns[s] = buf
open(a.ready_file, "w").close()

while conns:
    readable, _, _ = select.select(list(conns), [], [])
    for s in readable:
        d = recv(s)
        if not d:
            del conns[s]
            s.close()
            continue
        conns[s] += d
        while b"\n" in conns[s]:
            line, conns[s] = conns[s].split(b"\n", 1)
            if json.loads(line).get("event") == "START_PRESERVATION":
                s.sendall(b'{"cmd":"READY"}\n')
