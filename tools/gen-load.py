#!/usr/bin/env python3
"""Writes a data set as RESP commands on stdout, for `redis-cli --pipe`.

Usage: gen-load.py KIND [SCALE]
  hashes   1M hashes of 10 fields (HSET h:N f0 v … f9 v)
  lists    100k lists of 100 elements (RPUSH)
  sets     100k sets of 100 members (SADD)
  zsets    100k sorted sets of 100 members (ZADD)
  bigzset  one sorted set of 10M members (ZADD, 100 per command)
  mixed    2M one-key writes over every type (SET, HSET, LPUSH, SADD, ZADD, INCR)
SCALE (default 1.0) multiplies the number of keys (or members of bigzset).
"""
import sys


def cmd(out, *args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    out.write(b"".join(parts))


def main():
    kind = sys.argv[1]
    scale = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    out = sys.stdout.buffer
    if kind == "hashes":
        for i in range(int(1_000_000 * scale)):
            args = ["HSET", f"h:{i}"]
            for f in range(10):
                args += [f"field{f}", f"value-{i % 9973:06d}-{f}"]
            cmd(out, *args)
    elif kind in ("lists", "sets", "zsets"):
        for i in range(int(100_000 * scale)):
            if kind == "lists":
                cmd(out, "RPUSH", f"l:{i}", *[f"element-{e:04d}" for e in range(100)])
            elif kind == "sets":
                cmd(out, "SADD", f"s:{i}", *[f"member-{e:04d}" for e in range(100)])
            else:
                args = ["ZADD", f"z:{i}"]
                for e in range(100):
                    args += [str(e * 1.5), f"member-{e:04d}"]
                cmd(out, *args)
    elif kind == "bigzset":
        n = int(10_000_000 * scale)
        for start in range(0, n, 100):
            args = ["ZADD", "big"]
            for e in range(start, min(start + 100, n)):
                args += [str((e * 7919) % n), f"member:{e}"]
            cmd(out, *args)
    elif kind == "mixed":
        for i in range(int(2_000_000 * scale)):
            k = i % 6
            j = i % 50_000
            if k == 0:
                cmd(out, "SET", f"str:{j}", f"value-{i}")
            elif k == 1:
                cmd(out, "HSET", f"hash:{j % 5000}", f"f{i % 20}", f"v{i}")
            elif k == 2:
                cmd(out, "LPUSH", f"list:{j % 5000}", f"e{i}")
            elif k == 3:
                cmd(out, "SADD", f"set:{j % 5000}", f"m{i % 300}")
            elif k == 4:
                cmd(out, "ZADD", f"zset:{j % 5000}", str(i % 1000), f"m{i % 300}")
            else:
                cmd(out, "INCR", f"counter:{j % 1000}")
    else:
        sys.exit(f"unknown kind {kind!r}")


if __name__ == "__main__":
    main()
