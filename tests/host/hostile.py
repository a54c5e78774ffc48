#!/usr/bin/env python3
"""Hostile peers of luod, for the host tests. Runs until killed.

flood: N connections, each pipelining cheap commands (STATUS, VERSION)
    without end and reading the replies; a connection luod closes is opened
    again. Touches --ready once replies flow.
hog: N connections, each holding as many received fds in luod as the
    protocol lets it (two chunks of 8 fds with an unfinished line; with
    --no-fds none), then idling. Prints one line per connection: "held" if luod kept it open,
    or what luod said when it refused or closed it. Touches --ready when
    every connection got its answer.
subscribe: up to N connections, each subscribed as a new client, until luod
    refuses one; prints that reply (or "all subscribed"), touches --ready,
    and holds them."""
import argparse, array, os, socket, sys, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("mode", choices=["flood", "hog", "subscribe"])
ap.add_argument("--socket", default=os.environ.get("LUOD_SOCKET"))
ap.add_argument("--conns", type=int, default=4)
ap.add_argument("--no-fds", action="store_true", help="hog: plain idle connections")
ap.add_argument("--ready", help="file to create once the peer is at work")
ap.add_argument("--lifetime", type=float, default=600, help="exit after this many seconds at most")
a = ap.parse_args()
# Never outlive a test that forgot to stop us.
threading.Timer(a.lifetime, lambda: os._exit(0)).start()

lock = threading.Lock()
started = 0


def mark_ready(n):
    global started
    with lock:
        started += 1
        if started == n and a.ready:
            open(a.ready, "w").close()


def flood_one():
    burst = b'{"cmd":"STATUS"}\n{"cmd":"VERSION"}\n' * 2048
    first = True
    while True:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(a.socket)
        except FileNotFoundError:
            os._exit(0)  # luod is gone for good: so is the test
        except OSError:
            time.sleep(0.01)
            continue
        done = threading.Event()

        def reader():
            nonlocal first
            try:
                while True:
                    d = s.recv(1 << 20)
                    if not d:
                        break
                    if first:
                        first = False
                        mark_ready(1)
            except OSError:
                pass
            done.set()

        threading.Thread(target=reader, daemon=True).start()
        try:
            while not done.is_set():
                s.sendall(burst)
        except OSError:
            pass
        done.wait()
        s.close()


def hog_one():
    """Open one connection and make luod hold 16 fds for it."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(a.socket)
    except OSError as e:
        return s, "error " + str(e)
    if a.no_fds:
        return s, None
    null = os.open("/dev/null", os.O_RDONLY)
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [null] * 8).tobytes())]
    try:
        s.sendmsg([b'{"cmd":"STATUS","fds":16,'], anc)
        s.sendmsg([b" "], anc)
    except OSError:
        pass
    os.close(null)
    return s, None


def subscribe_all():
    socks = []
    for i in range(a.conns):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        try:
            s.connect(a.socket)
            try:
                s.sendall(b'{"cmd":"SUBSCRIBE","id":"hostile-%d-%d"}\n' % (os.getuid(), i))
            except OSError:
                pass  # refused at once: what luod said is still to be read
            reply = s.recv(65536).decode(errors="replace").strip() or "closed"
        except OSError as e:
            reply = "error " + str(e)
        socks.append(s)
        if '"ok":true' not in reply:
            return socks, reply
    return socks, "all subscribed"


if a.mode == "subscribe":
    socks, last = subscribe_all()
    print(last)
    sys.stdout.flush()
    if a.ready:
        open(a.ready, "w").close()
    while True:
        time.sleep(3600)
elif a.mode == "flood":
    for _ in range(a.conns):
        threading.Thread(target=flood_one, daemon=True).start()
    while True:
        time.sleep(3600)
else:
    socks = [hog_one() for _ in range(a.conns)]
    out = [e or "" for _, e in socks]
    # What luod answers comes at once; what it holds stays silent.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        time.sleep(0.1)
        for i, (s, e) in enumerate(socks):
            if e or out[i]:
                continue
            try:
                d = s.recv(65536, socket.MSG_DONTWAIT)
                out[i] = d.decode(errors="replace").strip() or "closed"
            except BlockingIOError:
                pass
            except OSError as x:
                out[i] = "error " + str(x)
    for line in out:
        print(line or "held")
    sys.stdout.flush()
    if a.ready:
        open(a.ready, "w").close()
    while True:
        time.sleep(3600)
