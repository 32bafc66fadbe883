#!/usr/bin/env python3
"""Writes the seed corpus (tests/fuzz/corpus/<target>/): small valid inputs
that get each fuzzer past the first checks. Run from anywhere; rerun after
a format change (docs/format.md, docs/protocol.md)."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def record(segment_id, lsn, payload, flags, rtype=1, tenant=7):
    head = struct.pack("<QHHII", lsn, rtype, flags, tenant, len(payload))
    crc = crc32c(struct.pack("<Q", segment_id) + head + payload)
    rec = head + struct.pack("<I", crc) + payload
    return rec + b"\0" * ((-len(rec)) % 8)


def preamble(segment_id):
    return struct.pack("<IBBHQ", 0x4C415753, 1, 0, 0, segment_id)


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def frame(opcode, rid, body):
    return struct.pack("<IBBHQ", len(body), opcode, 0, 0, rid) + body


# frame: APPEND (two records), READ, HELLO, TRUNCATE, STATUS
append_body = (struct.pack("<HHII", 1, 0, 2, 2) + b"hi" + struct.pack("<HHII", 3, 0, 4, 3) + b"abc")
put("frame", "append", frame(0x02, 7, append_body))
put("frame", "read", frame(0x03, 8, struct.pack("<QIIB7x", 1, 0, 0, 1)))
put("frame", "hello", frame(0x01, 9, struct.pack("<HHI", 1, 0, 4) + b"test"))
put("frame", "truncate", frame(0x04, 10, struct.pack("<Q", 5)))
put("frame", "status", frame(0x05, 11, b""))

# record: 8-byte segment id, expected-LSN byte, then the record bytes
r = record(1, 1, b"payload", 0x3)
put("record", "valid", struct.pack("<Q", 1) + b"\0" + r)
put("record", "valid-lsn5", struct.pack("<Q", 3) + b"\5" + record(3, 5, b"x" * 40, 0x1))

# recovery: mode byte (bit0 split, bit1 add preamble, bit2 spare, bit3
# salvage), split u16, then segment bytes. Mode 0: bytes include a preamble.
seg = preamble(1)
seg += record(1, 1, b"a" * 10, 0x3) + record(1, 2, b"b" * 20, 0x0) + record(1, 3, b"c" * 5, 0x1)
seg += record(1, 4, b"d" * 30, 0x3)
put("recovery", "one-segment", b"\0" + struct.pack("<H", 0) + seg)
put("recovery", "records-only", b"\2" + struct.pack("<H", 0) + seg[16:])
put("recovery", "split", b"\3" + struct.pack("<H", 40 | (2 << 8)) + seg[16:])

# config: the documented example
with open(os.path.join(HERE, "..", "..", "config", "sidewal.yaml"), "rb") as f:
    put("config", "sidewal.yaml", f.read())
put("config", "small", b"wal:\n  segment_bytes: 1MiB\n  max_record_bytes: 64KiB\nlimits:\n  max_inflight_bytes_total: 1GiB\n")
