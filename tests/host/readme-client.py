#!/usr/bin/env python3
"""A luod client written only from the upstream README's protocol: no DONE,
no library, no extension. Run it with the test double preloaded (the LUO
ioctls go through LD_PRELOAD).

  readme-client.py --id ID [--claim GEN] [--preserve GEN] [--ready-after FILE]

--claim GEN: connect, CLAIM, RETRIEVE_FD token 1, check that it holds the
data of generation GEN, FINISH, close everything (no DONE).
--preserve GEN: connect, SUBSCRIBE, wait for START_PRESERVATION, preserve a
memfd with generation GEN's data as token 1, READY, then stay connected
until killed. With --ready-after FILE, READY waits until FILE exists
(without reading what luod sends meanwhile).
Prints one line per step; exit 0 when every step worked."""
import argparse, array, fcntl, json, os, socket, struct, sys, time

PRESERVE_FD, RETRIEVE_FD, FINISH = 0xBA40, 0xBA41, 0xBA42

ap = argparse.ArgumentParser()
ap.add_argument("--socket", default=os.environ.get("LUOD_SOCKET", "/run/luod/liveupdate.sock"))
ap.add_argument("--id", required=True)
ap.add_argument("--claim", type=int)
ap.add_argument("--preserve", type=int)
ap.add_argument("--ready-after")
a = ap.parse_args()


def data(gen):
    return ("readme-client %s generation %d\n" % (a.id, gen)).encode() * 64


def say(*args):
    print("readme-client[%s]:" % a.id, *args, flush=True)


class Conn:
    def __init__(self):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(a.socket)
        self.buf = b""
        self.fds = []

    def send(self, obj):
        self.s.sendall(json.dumps(obj).encode() + b"\n")

    def recv(self):
        while b"\n" not in self.buf:
            msg, anc, _, _ = self.s.recvmsg(65536, socket.CMSG_SPACE(8 * 4))
            for lvl, typ, d in anc:
                if lvl == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                    self.fds += array.array("i", d[: len(d) - len(d) % 4]).tolist()
            if not msg:
                say("luod closed the connection")
                sys.exit(1)
            self.buf += msg
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)


def ioctl_fd(sfd, req, fd, token):
    arg = bytearray(struct.pack("=IiQ", 16, fd, token))
    fcntl.ioctl(sfd, req, arg)
    return struct.unpack("=IiQ", arg)[1]


if a.claim is not None:
    c = Conn()
    c.send({"cmd": "CLAIM", "id": a.id})
    r = c.recv()
    if not r.get("ok") or not c.fds:
        say("CLAIM failed:", r)
        sys.exit(1)
    sfd = c.fds.pop(0)
    fd = ioctl_fd(sfd, RETRIEVE_FD, -1, 1)
    got = os.pread(fd, 1 << 20, 0)
    os.close(fd)
    if got != data(a.claim):
        say("MISMATCH: token 1 holds %r" % got[:80])
        sys.exit(1)
    fcntl.ioctl(sfd, FINISH, bytearray(struct.pack("=II", 8, 0)))
    os.close(sfd)
    c.s.close()
    say("claimed and verified generation", a.claim)

if a.preserve is not None:
    c = Conn()
    c.send({"cmd": "SUBSCRIBE", "id": a.id})
    r = c.recv()
    if not r.get("ok"):
        say("SUBSCRIBE failed:", r)
        sys.exit(1)
    say("subscribed")
    while True:
        ev = c.recv()
        if ev.get("event") == "START_PRESERVATION":
            break
    sfd = c.fds.pop(0)
    fd = os.memfd_create("readme-client")
    os.write(fd, data(a.preserve))
    ioctl_fd(sfd, PRESERVE_FD, fd, 1)
    os.close(fd)
    say("preserved generation", a.preserve)
    if a.ready_after:
        while not os.path.exists(a.ready_after):
            time.sleep(0.02)
    c.send({"cmd": "READY"})
    while True:
        r = c.recv()
        if "event" not in r:
            break
    say("READY answered", json.dumps(r))
    if not r.get("ok"):
        sys.exit(1)
    while True:
        time.sleep(60)
