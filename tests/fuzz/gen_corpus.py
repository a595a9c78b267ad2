#!/usr/bin/env python3
# Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
#
# gen_corpus.py [DIR]: write the seed corpus for fuzz_ops (default:
# corpus/ beside this script).  Each seed is a short program in the
# harness's byte encoding (see fuzz_ops.c) that reaches one area of the
# library: the magazine paths, the hard limit, failures of the allocator
# and the constructor, the water marks, and configurations the contract
# rejects.  Rerun it whenever the encoding changes.
import os
import sys

OPS = ['create', 'get', 'put', 'get_bulk', 'put_bulk', 'invalidate',
       'invalidate_local', 'reclaim', 'lowat', 'hiwat', 'hardlimit', 'prime',
       'stats', 'destroy', 'fail', 'get2', 'put2']
NOPS = len(OPS)
SIZES = [1, 3, 8, 15, 16, 24, 40, 64, 100, 128, 200, 256, 257, 500, 512,
         1000, 1024, 1500, 2048, 3000, 4096, 4097, 6000, 8192, 12000, 40000]
PAGES = [0, 4096, 8192, 16384, 65536, 2048, 12288]


def op(name, cache, *operands):
    """One operation byte for `cache`, then its operand bytes."""
    return bytes([OPS.index(name) + NOPS * cache, *operands])


def cfg(size, ctor='both', nocpu=False, page=None, align=0, debug=False,
        bad=None):
    """The four bytes that op_create() decodes."""
    b0 = SIZES.index(size)
    b1 = 0
    b2 = 0
    b3 = {'none': 0, 'both': 1, 'ctor': 2, 'dtor': 3}[ctor]
    if align:
        if align >= 32:
            b2 = (align.bit_length() - 1) + 3
        else:
            b1 |= 0x8
            b2 = 3 | ((align.bit_length() - 1) << 5)
    if bad == 'align':
        b1 |= 0x10
        b2 = 2
    if page is not None:
        b1 |= PAGES.index(page) << 5
        b3 |= 0x10
    if nocpu:
        b3 |= 0x4
    if debug:
        b3 |= 0x8
    if bad == 'flags':
        b3 |= 0xf0
    return bytes([b0, b1, b2, b3])


def gets(n):
    """Operand of get/put: 1 + 4 * (b >> 4) calls."""
    return ((n - 1) // 4) << 4


SEEDS = {
    # Magazines filled and drained, bulk calls, invalidation, destroy
    # refused while objects are out and accepted once they are back.
    'seed-basic': (
        op('create', 0, *cfg(64, page=4096)) +
        op('get', 0, gets(61)) + op('put', 0, gets(29) | 3) +
        op('get_bulk', 0, 40) + op('put_bulk', 0, 90) +
        op('get2', 0, gets(61)) + op('put2', 0, gets(61)) +
        op('invalidate', 0) + op('get', 0, gets(9)) +
        op('invalidate_local', 0) + op('reclaim', 0) + op('reclaim', 0) +
        op('destroy', 0) + op('put', 0, gets(13)) + op('destroy', 0)),
    # At the hard limit: gets refused, a bulk larger than the limit, puts
    # that make room, a limit lowered below what is out.
    'seed-hardlimit': (
        op('create', 1, *cfg(128)) + op('hardlimit', 1, 10) +
        op('get', 1, gets(13)) + op('get_bulk', 1, 12) +
        op('put', 1, gets(5)) + op('get_bulk', 1, 4) +
        op('hardlimit', 1, 3) + op('get', 1, 0) + op('put', 1, gets(9)) +
        op('invalidate', 1) + op('get', 1, gets(5)) + op('hardlimit', 1, 0) +
        op('get_bulk', 1, 80)),
    # A cache without CPU layer, a failing allocator and constructor.
    'seed-failures': (
        op('create', 2, *cfg(256, nocpu=True, page=8192)) +
        op('get', 2, gets(9)) + op('fail', 2, 3) + op('get', 2, gets(45)) +
        op('get_bulk', 2, 30) + op('prime', 2, 100) + op('fail', 2, 1) +
        op('fail', 2, 4) + op('get', 2, gets(45)) + op('fail', 2, 8) +
        op('get', 2, 0) + op('fail', 2, 0) + op('get_bulk', 2, 60) +
        op('put_bulk', 2, 0x80 | 70)),
    # Three caches at once: tiny, aligned, large; foreign objects never
    # overlap.
    'seed-three': (
        op('create', 0, *cfg(1, ctor='none')) +
        op('create', 1, *cfg(500, align=4096, page=65536)) +
        op('create', 2, *cfg(40000, ctor='dtor')) +
        op('get', 0, gets(61)) + op('get', 1, gets(21)) + op('get', 2, gets(17)) +
        op('put', 1, gets(9)) + op('invalidate', 2) + op('put2', 2, gets(17)) +
        op('invalidate_local', 1) + op('reclaim', 2) + op('get_bulk', 0, 96) +
        op('put_bulk', 0, 96) + op('destroy', 2) + op('stats', 0)),
    # Water marks: prime, lowat keeps slabs, hiwat gives them back early.
    'seed-watermarks': (
        op('create', 0, *cfg(1024, ctor='ctor', page=16384)) +
        op('prime', 0, 200) + op('lowat', 0, 40) + op('reclaim', 0) +
        op('get_bulk', 0, 90) + op('hiwat', 0, 5) + op('put_bulk', 0, 90) +
        op('invalidate', 0) + op('reclaim', 0) + op('lowat', 0, 0) +
        op('reclaim', 0) + op('hiwat', 0, 250) + op('prime', 0, 3)),
    # Configurations the contract rejects, then a valid one.
    'seed-badconfig': (
        op('create', 0, *cfg(64, bad='align')) +
        op('create', 0, *cfg(64, bad='flags')) +
        op('create', 0, *cfg(64, page=2048)) +
        op('create', 0, *cfg(6000, page=4096)) +
        op('create', 0, *cfg(24, align=8, debug=True)) + op('get', 0, 0)),
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, 'corpus')
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
