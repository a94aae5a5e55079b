#!/usr/bin/env python3
"""Loads sorted sets into a Redis-protocol server (logship or redis-server)
with pipelining, then prints the growth of the server's RSS.

Usage: tools/zset-memory.py PORT SERVER_PID small|big|bigasc

  small   100,000 sorted sets of 100 members (m:0…m:99, whole scores < 1000)
  big     one sorted set of 10,000,000 members with random float scores
  bigasc  the same, scores ascending with the member number

Start each server fresh on a loopback port (redis-server with `--save ""
--appendonly no`; logship with `--fsync no` and checkpoints out of the way:
`--checkpoint-wal-bytes 64GiB --checkpoint-interval 24h`) and run one
workload per server process. See docs/benchmarks.md (Sorted-set memory).
"""
import random, socket, sys, time

port, pid, what = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

def cmd(*args):
    out = [b'*%d\r\n' % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b'$%d\r\n%s\r\n' % (len(a), a))
    return b''.join(out)

s = socket.create_connection(('127.0.0.1', port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

def send_batch(cmds):
    s.sendall(b''.join(cmds))
    need, got = len(cmds), 0
    buf = b''
    while got < need:
        chunk = s.recv(1 << 20)
        if not chunk:
            raise SystemExit('connection closed')
        if b'-' in chunk[:1] or b'\r\n-' in chunk:
            raise SystemExit('error reply: %r' % chunk[:200])
        got += chunk.count(b'\r\n')

def rss_kib():
    for line in open('/proc/%d/status' % pid):
        if line.startswith('VmRSS:'):
            return int(line.split()[1])

rng = random.Random(42)
before = rss_kib()
t0 = time.time()
if what == 'small':
    # 100k sorted sets of 100 members: members m:0..m:99, integer scores.
    members = [b'm:%d' % j for j in range(100)]
    batch = []
    for i in range(100_000):
        args = [b'ZADD', b'zs:%d' % i]
        for j, m in enumerate(members):
            args += [b'%d' % rng.randrange(1000), m]
        batch.append(cmd(*args))
        if len(batch) == 200:
            send_batch(batch); batch = []
    if batch: send_batch(batch)
elif what == "big":
    # One sorted set of 10M members member:N with random float scores.
    batch, n, per = [], 10_000_000, 1000
    for c in range(n // per):
        args = [b'ZADD', b'big']
        for j in range(c * per, (c + 1) * per):
            args += [repr(rng.random() * 1e6).encode(), b'member:%d' % j]
        batch.append(cmd(*args))
        if len(batch) == 10:
            send_batch(batch); batch = []
    if batch: send_batch(batch)
else:
    # One sorted set of 10M members member:N, scores ascending with N.
    batch, n, per = [], 10_000_000, 1000
    for c in range(n // per):
        args = [b'ZADD', b'big']
        for j in range(c * per, (c + 1) * per):
            args += [b'%d.5' % j, b'member:%d' % j]
        batch.append(cmd(*args))
        if len(batch) == 10:
            send_batch(batch); batch = []
    if batch: send_batch(batch)
load_s = time.time() - t0
s.sendall(cmd('ZCARD', 'zs:99999' if what == 'small' else 'big'))
time.sleep(0.5)
print('reply', s.recv(100))
time.sleep(2)
after = rss_kib()
print('%s: load %.1fs, RSS before %.1f MiB, after %.1f MiB, delta %.1f MiB' % (what, load_s, before/1024, after/1024, (after-before)/1024))
