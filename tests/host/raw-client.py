#!/usr/bin/env python3
"""Speak the luod protocol by hand, for tests: send each argument as one line
(or raw bytes with --raw: then print what comes back until the connection
closes, and "closed"), print every line received until as many replies
(lines with "ok") as commands sent have come, then hold the connection
--hold seconds (received fds are kept open meanwhile) and exit."""
import argparse, array, json, os, socket, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--socket", default=os.environ.get("LUOD_SOCKET"))
ap.add_argument("--raw", action="store_true", help="send the arguments as raw bytes, expect no reply")
ap.add_argument("--hold", type=float, default=0)
ap.add_argument("lines", nargs="*")
a = ap.parse_args()

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(a.socket)
s.settimeout(10)
fds = []
if a.raw:
    # Print the lines luod sends (an error reply before it closes), then
    # "closed" at the end of the stream or "timeout".
    try:
        for l in a.lines:
            s.sendall(l.encode().decode("unicode_escape").encode("latin-1"))
    except (ConnectionResetError, BrokenPipeError):
        pass
    data = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
        end = "closed"
    except ConnectionResetError:
        end = "closed"
    except socket.timeout:
        end = "timeout"
    for line in data.decode(errors="replace").splitlines():
        print(line)
    print(end)
    sys.exit(0)

buf = b""
for l in a.lines:
    s.sendall(l.encode() + b"\n")
    while True:
        while b"\n" not in buf:
            msg, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(8 * 4))
            for lvl, typ, data in anc:
                if lvl == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                    fds += array.array("i", data[: len(data) - len(data) % 4]).tolist()
            if not msg:
                print("closed")
                sys.exit(1)
            buf += msg
        line, buf = buf.split(b"\n", 1)
        print(line.decode())
        if "ok" in json.loads(line):
            break
sys.stdout.flush()
time.sleep(a.hold)
