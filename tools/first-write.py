#!/usr/bin/env python3
"""Times a promotion the way a client sees it: from the start of the promotion
to the first write accepted, on a connection opened beforehand.

Before the clock starts: a RESP connection to the node being promoted is
opened and answers PING; with --resp, a second connection that will carry the
promotion command is opened too. Then the clock starts, the promotion is
launched, and SET is sent on the first connection in a tight loop (no sleep)
until it answers +OK: a refusal (READONLY, or a standby's "promoted, reconnect"
error) is retried at once, a closed connection is reopened at once (each
reopen is counted). The clock stops at the +OK.

Ways to launch the promotion (exactly one):
  --run CMD...        start the process CMD (e.g. `logship promote ...` or
                      `redis-cli replicaof no one`); the clock includes its
                      start; it must exit 0
  --resp ARGS...      send the command ARGS on the pre-opened second
                      connection (e.g. REPLICAOF NO ONE); its reply must not
                      be an error
  --admin DIR         send logship's {"cmd":"promote"} on DIR's admin socket,
                      connected beforehand; the answer must say promoted

Prints one line: `<ms> <reopens>`; exits 1 with one line on stderr when the
promotion fails or no write is accepted within --timeout seconds.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time


def die(msg):
    print(f"first-write: {msg}", file=sys.stderr)
    sys.exit(1)


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Conn:
    def __init__(self, port, deadline):
        self.port = port
        self.deadline = deadline
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=max(0.1, deadline - time.monotonic()))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def line(self):
        """One reply line (simple string, error or integer); None if closed."""
        while b"\r\n" not in self.buf:
            self.sock.settimeout(max(0.001, self.deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(4096)
            except (ConnectionError, socket.timeout):
                return None
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def call(self, *args):
        try:
            self.sock.sendall(resp(*args))
        except (ConnectionError, OSError):
            return None
        return self.line()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True, help="the RESP port of the node promoted")
    ap.add_argument("--timeout", type=float, default=30.0)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--run", nargs=argparse.REMAINDER)
    g.add_argument("--resp", nargs=argparse.REMAINDER)
    g.add_argument("--admin")
    a = ap.parse_args()
    deadline = time.monotonic() + a.timeout

    try:
        c = Conn(a.port, deadline)
    except OSError as e:
        die(f"cannot connect to 127.0.0.1:{a.port}: {e}")
    if c.call("PING") != b"+PONG":
        die(f"127.0.0.1:{a.port} does not answer PING")
    ctl = None
    if a.resp:
        ctl = Conn(a.port, deadline)
        if ctl.call("PING") != b"+PONG":
            die(f"127.0.0.1:{a.port} does not answer PING on the second connection")
    if a.admin:
        path = os.path.join(a.admin, "logship.sock")
        ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            ctl.connect(path)
        except OSError as e:
            die(f"cannot connect to {path}: {e}")
        req = (json.dumps({"cmd": "promote", "reason": "bench", "wait_ms": 60000}) + "\n").encode()

    t0 = time.perf_counter_ns()
    proc = None
    if a.run:
        proc = subprocess.Popen(a.run, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elif a.resp:
        ctl.sock.sendall(resp(*a.resp))
    else:
        ctl.sendall(req)

    reopens = 0
    while True:
        if time.monotonic() >= deadline:
            die(f"no write accepted on 127.0.0.1:{a.port} within {a.timeout} s")
        r = c.call("SET", "promoted", "yes")
        if r == b"+OK":
            break
        if r is None:
            # The node closed the connection: reopen at once (the listen
            # backlog holds the connect until a server accepts it).
            try:
                c.sock.close()
                c = Conn(a.port, deadline)
                reopens += 1
            except OSError:
                pass
        # Anything else (READONLY, "promoted, reconnect") is retried at once.
    t1 = time.perf_counter_ns()

    if proc is not None:
        try:
            _, err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            die(f"{a.run[0]} did not exit")
        if proc.returncode != 0:
            die(f"{' '.join(a.run)} exited {proc.returncode}: {err.decode(errors='replace').strip()}")
    elif a.resp:
        r = ctl.line()
        if r is None or r.startswith(b"-"):
            die(f"{' '.join(a.resp)} failed: {r}")
    else:
        ans = b""
        ctl.settimeout(max(0.1, deadline - time.monotonic()))
        while not ans.endswith(b"\n"):
            chunk = ctl.recv(65536)
            if not chunk:
                break
            ans += chunk
        try:
            v = json.loads(ans)
        except ValueError:
            die(f"malformed answer from the admin socket: {ans[:200]!r}")
        if not v.get("ok") or not v["result"].get("promoted"):
            die(f"promotion failed: {v.get('error') or v.get('result')}")
    print(f"{(t1 - t0) / 1e6:.3f} {reopens}")


if __name__ == "__main__":
    main()
