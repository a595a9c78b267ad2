"""workload.py SCALE -- allocate heavily and print what was computed.

The malloc tests run this with and without libpcache-malloc preloaded and
compare the output: dicts, lists, strings, bytes grown in place, JSON,
regular expressions (extension modules loaded with dlopen), and threads
that allocate and hand objects to each other.  SCALE (default 1) sizes
the work.

Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
"""
import hashlib
import json
import queue
import re
import sys
import threading


def digest(obj):
    return hashlib.sha256(repr(obj).encode()).hexdigest()[:16]


def dicts_and_strings(n):
    d = {}
    for i in range(n):
        d["key%d" % i] = [i, str(i) * (i % 7), {"sq": i * i}]
    for i in range(0, n, 3):
        del d["key%d" % i]
    words = sorted(k[::-1] for k in d)
    return len(d), digest(words[:50]), sum(len(v[1]) for v in d.values())


def grow_bytes(n):
    b = bytearray()
    for i in range(n):
        b += bytes([i % 251]) * (i % 13)
    s = ""
    for i in range(n // 10):
        s += chr(65 + i % 26)
    return len(b), hashlib.sha256(b).hexdigest()[:16], len(s)


def json_and_re(n):
    data = [{"id": i, "tags": ["t%d" % (i % 17)] * (i % 5), "v": i / 7}
            for i in range(n)]
    text = json.dumps(data, sort_keys=True)
    back = json.loads(text)
    hits = len(re.findall(r'"t1[0-6]"', text))
    return len(text), len(back), hits


def worker(k, n, out):
    mine = []
    for i in range(n):
        mine.append(("w%d" % k, i, str(i * k) * 3))
        if i % 50 == 49:
            out.put(mine)
            mine = []
    out.put(mine)


def threads(n, nthreads=4):
    q = queue.Queue()
    ts = [threading.Thread(target=worker, args=(k, n, q)) for k in range(nthreads)]
    for t in ts:
        t.start()
    total = 0
    chars = 0
    for t in ts:
        t.join()
    while not q.empty():
        batch = q.get()
        total += len(batch)
        chars += sum(len(x[2]) for x in batch)
    return total, chars


def main():
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    n = max(1000, int(100000 * scale))
    print("dicts", *dicts_and_strings(n))
    print("bytes", *grow_bytes(n))
    print("json", *json_and_re(n // 4))
    print("threads", *threads(n // 2))


if __name__ == "__main__":
    main()
