#!/usr/bin/env python3
"""A minimal stand-in for systemd's service manager, for the tests: runs a
command with $NOTIFY_SOCKET, keeps the fds it stores (FDSTORE=1 with
FDNAME=, FDSTOREREMOVE=1), and restarts it when it dies, passing them back
with LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID. Writes one line per event
to --log and the running pid to --pidfile."""
import argparse, array, fcntl, os, select, signal, socket, sys

ap = argparse.ArgumentParser()
ap.add_argument("--notify", required=True)
ap.add_argument("--log", required=True)
ap.add_argument("--pidfile", required=True)
ap.add_argument("cmd", nargs="+")
a = ap.parse_args()

store = {}  # name -> fd, in the order stored
logf = open(a.log, "a", buffering=1)
def log(s):
    logf.write(s + "\n")

sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(a.notify)

def spawn():
    names = list(store)
    high = [fcntl.fcntl(store[n], fcntl.F_DUPFD, 1000) for n in names]
    pid = os.fork()
    if pid == 0:
        for i, fd in enumerate(high):
            os.dup2(fd, 3 + i, inheritable=True)
        os.closerange(3 + len(high), 4096)
        env = dict(os.environ, NOTIFY_SOCKET=a.notify)
        if names:
            env.update(LISTEN_FDS=str(len(names)), LISTEN_FDNAMES=":".join(names), LISTEN_PID=str(os.getpid()))
        os.execvpe(a.cmd[0], a.cmd, env)
    for fd in high:
        os.close(fd)
    with open(a.pidfile + ".tmp", "w") as f:
        f.write("%d\n" % pid)
    os.rename(a.pidfile + ".tmp", a.pidfile)
    log("started %d with [%s]" % (pid, " ".join(names)))
    return pid

def stop(*_):
    try:
        os.kill(child, signal.SIGKILL)
    except ProcessLookupError:
        pass
    sys.exit(0)

signal.signal(signal.SIGTERM, stop)
child = spawn()
while True:
    r, _, _ = select.select([sock], [], [], 0.05)
    if r:
        data, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(4 * 253))
        fds = []
        for lvl, typ, d in anc:
            if lvl == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                fds += array.array("i", d[: len(d) - len(d) % 4]).tolist()
        kv = dict(l.split("=", 1) for l in data.decode().split("\n") if "=" in l)
        name = kv.get("FDNAME", "stored")
        if kv.get("FDSTORE") == "1":
            for fd in fds:
                if name in store:
                    os.close(fd)  # systemd too ignores a file it holds already
                else:
                    store[name] = fd
                    log("store %s" % name)
        elif kv.get("FDSTOREREMOVE") == "1" and name in store:
            os.close(store.pop(name))
            log("remove %s" % name)
        else:
            for fd in fds:
                os.close(fd)
        if kv.get("READY") == "1":
            log("ready")
    pid, status = os.waitpid(child, os.WNOHANG)
    if pid:
        log("exited %d" % status)
        child = spawn()
