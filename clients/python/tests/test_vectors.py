"""The Python codec against every frame of tests/protocol_vectors/vectors.json
(schema in that folder's README.md). The vectors are the contract: a failure
here is a bug in sidewal/protocol.py, not in the file."""

from __future__ import annotations

import json
import os
import unittest
from pathlib import Path

from sidewal import errors, protocol as p

VECTORS = Path(os.environ.get(
    "SIDEWAL_PROTOCOL_VECTORS",
    Path(__file__).resolve().parents[3] / "tests" / "protocol_vectors" / "vectors.json"))


def load():
    with open(VECTORS, encoding="utf-8") as f:
        return json.load(f)


DOC = load()


def limit(v, key):
    return v.get("context", {}).get(key, DOC["defaults"][key])


def unhex(s):
    return bytes.fromhex(s.replace(" ", ""))


def decode_request(h, body):
    """(decoded fields as the vectors spell them, re-encoded frame)."""
    if h.opcode == p.HELLO:
        m = p.decode_hello(body)
        return {"version": m.version, "name": m.name}, p.encode_hello(h.request_id, m.name, h.flags, m.version)
    if h.opcode == p.APPEND:
        recs = p.decode_append(body)
        lens = [len(r.payload) for r in recs]
        fields = {"records": [{"type": r.type, "flags": r.flags, "tenant_id": r.tenant,
                               "payload_len": len(r.payload), "payload": r.payload.hex()} for r in recs],
                  "encoded_batch_bytes": p.encoded_batch_bytes(lens, 0),
                  "encoded_batch_bytes_extra16": p.encoded_batch_bytes(lens, 16)}
        return fields, p.encode_append(h.request_id, recs)
    if h.opcode == p.READ:
        m = p.decode_read(body)
        return ({"from_lsn": m.from_lsn, "max_records": m.max_records, "max_bytes": m.max_bytes,
                 "follow": m.follow}, p.encode_read(h.request_id, m, h.flags))
    if h.opcode == p.TRUNCATE:
        before = p.decode_truncate(body)
        return {"before_lsn": before}, p.encode_truncate(h.request_id, before)
    if h.opcode in (p.STATUS, p.CANCEL):
        p.decode_empty(body)
        enc = p.encode_status if h.opcode == p.STATUS else p.encode_cancel
        return {}, enc(h.request_id)
    raise AssertionError(f"not a request opcode {h.opcode}")


def decode_reply(h, body):
    if h.opcode == p.HELLO_OK:
        m = p.decode_hello_ok(body)
        lim = None
        if m.limits is not None:
            lim = {"max_frame_body": m.limits.max_frame_body, "max_reply_body": m.limits.max_reply_body,
                   "max_batch_bytes": m.limits.max_batch_bytes,
                   "record_extra_bytes": m.limits.record_extra_bytes}
        return ({"version": m.version, "max_record_bytes": m.max_record_bytes, "first_lsn": m.first_lsn,
                 "durable_lsn": m.durable_lsn, "limits": lim}, p.encode_hello_ok(h.request_id, m))
    if h.opcode == p.ACK:
        m = p.decode_ack(body)
        return {"first_lsn": m.first_lsn, "count": m.count}, p.encode_ack(h.request_id, m)
    if h.opcode == p.RECORDS:
        header_only = bool(h.flags & p.RECORDS_HEADER_ONLY)
        recs = p.decode_records(body, header_only)
        fields = {"header_only": header_only,
                  "records": [{"lsn": r.lsn, "type": r.type, "flags": r.flags, "tenant_id": r.tenant,
                               "payload_len": r.payload_len, "payload": r.payload.hex()} for r in recs]}
        return fields, p.encode_records(h.request_id, recs, header_only)
    if h.opcode == p.END:
        n = p.decode_end(body)
        return {"next_lsn": n}, p.encode_end(h.request_id, n)
    if h.opcode == p.OK:
        n = p.decode_ok(body)
        return {"first_lsn": n}, p.encode_ok(h.request_id, n)
    if h.opcode == p.STATUS_OK:
        m = p.decode_status_ok(body)
        return ({"first_lsn": m.first_lsn, "durable_lsn": m.durable_lsn, "segments": m.segments,
                 "bytes_on_disk": m.bytes_on_disk, "state": m.state}, p.encode_status_ok(h.request_id, m))
    if h.opcode == p.ERROR:
        m = p.decode_error(body)
        return ({"code": m.code, "code_name": m.name, "message": m.message},
                p.encode_error(h.request_id, m.code, m.message))
    raise AssertionError(f"not a reply opcode {h.opcode}")


def local_verdict(v, body):
    """The daemon's checks after the codec that a client can make itself
    (version, from_lsn 0, record types, sizes); control payloads are the
    daemon's alone. Returns an error name or None."""
    if "version" in body and body["version"] != p.VERSION:
        return "UNSUPPORTED_VERSION"
    if "from_lsn" in body and body["from_lsn"] == 0:
        return "MALFORMED"
    recs = body.get("records")
    if recs is None:
        return None
    for r in recs:
        if r["payload_len"] > limit(v, "max_record_bytes"):
            return "RECORD_TOO_LARGE"
        if r["type"] >= p.FIRST_CONTROL_TYPE and r["type"] not in (0x8001, 0x8002, 0x8003):
            return "RESERVED_RECORD_TYPE"
    lens = [r["payload_len"] for r in recs]
    if p.encoded_batch_bytes(lens, limit(v, "record_extra_bytes")) > limit(v, "max_batch_bytes"):
        return "RECORD_TOO_LARGE"
    return None


class VectorsTest(unittest.TestCase):
    def test_file_is_the_expected_format(self):
        self.assertEqual(DOC["format"], "sidewal protocol conformance vectors")
        self.assertEqual(DOC["protocol_version"], p.VERSION)
        self.assertEqual(DOC["defaults"]["max_frame_body"], p.DEFAULT_MAX_FRAME_BODY)
        self.assertEqual(DOC["defaults"]["max_record_bytes"], p.DEFAULT_MAX_RECORD_BYTES)
        self.assertEqual(DOC["defaults"]["max_batch_bytes"], p.DEFAULT_MAX_BATCH_BYTES)
        self.assertEqual(DOC["defaults"]["max_reply_body"], p.max_reply_body(p.DEFAULT_MAX_RECORD_BYTES))
        self.assertGreater(len(DOC["vectors"]), 100)

    def check_header(self, v, wire):
        h = p.decode_header(wire)
        want = v["header"]
        self.assertEqual((h.body_len, h.opcode, h.flags, h.reserved, h.request_id),
                         (want["body_len"], want["opcode"], want["flags"], want["reserved"], want["request_id"]))
        self.assertEqual(p.OPCODE_NAMES.get(h.opcode, "UNKNOWN"), want["opcode_name"])
        return h

    def test_every_request_vector(self):
        for v in DOC["vectors"]:
            if v["direction"] != "request":
                continue
            with self.subTest(v["name"]):
                wire = unhex(v["hex"])
                h = self.check_header(v, wire)
                reject = v["reject"]
                self.assertEqual(v["valid"], reject is None)
                stage = reject["stage"] if reject else None
                error = reject["error_name"] if reject else None
                if reject:
                    self.assertEqual(errors.error_name(reject["error_code"]), error)
                reader = p.FrameReader(limit(v, "max_frame_body"))
                reader.feed(wire)
                if stage == "frame_size":
                    self.assertEqual(error, "FRAME_TOO_LARGE")
                    self.assertTrue(reject["closes_connection"])
                    with self.assertRaises(errors.MalformedFrame):
                        reader.next()
                    continue
                got = reader.next()
                self.assertIsNotNone(got)
                self.assertIsNone(reader.next())
                h, body = got
                self.assertEqual(len(wire), p.HEADER_SIZE + h.body_len)
                if stage == "header":
                    with self.assertRaises(errors.MalformedFrame):
                        p.check_request_header(h)
                    self.assertEqual(error == "UNKNOWN_OPCODE", h.opcode not in p.REQUEST_OPCODES)
                    continue
                p.check_request_header(h)
                if stage == "body":
                    self.assertEqual(error, "MALFORMED")
                    with self.assertRaises(errors.MalformedFrame):
                        decode_request(h, body)
                    continue
                fields, again = decode_request(h, body)
                self.assertEqual(fields, v["body"])
                if v["canonical"]:
                    self.assertEqual(again.hex(), wire.hex())
                verdict = local_verdict(v, fields)
                if verdict is not None or error not in ("MALFORMED",):
                    # MALFORMED control payloads are judged by the daemon only.
                    self.assertEqual(verdict, error)

    def test_every_reply_vector(self):
        for v in DOC["vectors"]:
            if v["direction"] != "reply":
                continue
            with self.subTest(v["name"]):
                wire = unhex(v["hex"])
                self.check_header(v, wire)
                reader = p.FrameReader(p.max_reply_body(p.DEFAULT_MAX_RECORD_BYTES))
                reader.feed(wire)
                h, body = reader.next()
                self.assertEqual(v["valid"], v["reject"] is None)
                if v["reject"] is not None:
                    self.assertIsNone(v["reject"]["error_code"])
                    self.assertIsNone(v["body"])
                if v["reject"] is not None and v["reject"]["stage"] == "header":
                    self.assertNotIn(h.opcode, p.REPLY_OPCODES)
                    continue
                self.assertIn(h.opcode, p.REPLY_OPCODES)
                if not v["valid"]:
                    self.assertEqual(v["reject"]["stage"], "body")
                    with self.assertRaises(errors.MalformedFrame):
                        decode_reply(h, body)
                    continue
                fields, again = decode_reply(h, body)
                self.assertEqual(fields, v["body"])
                if v["canonical"]:
                    self.assertEqual(again.hex(), wire.hex())

    def test_error_vectors_raise_exceptions_carrying_the_code(self):
        for v in DOC["vectors"]:
            if not v["valid"] or v["header"]["opcode"] != p.ERROR:
                continue
            with self.subTest(v["name"]):
                m = p.decode_error(unhex(v["hex"])[p.HEADER_SIZE:])
                exc = errors.daemon_error(m.code, m.message, v["header"]["request_id"])
                self.assertIsInstance(exc, errors.DaemonError)
                self.assertEqual(exc.code, v["body"]["code"])
                self.assertEqual(exc.name, v["body"]["code_name"])
                self.assertEqual(exc.request_id, v["header"]["request_id"])
                if v["body"]["code_name"] is not None:
                    self.assertIsNot(type(exc), errors.DaemonError)

    def test_frames_split_across_feeds(self):
        # Every valid reply, concatenated, fed a byte at a time, comes out whole and in order.
        valid = [v for v in DOC["vectors"] if v["direction"] == "reply" and v["valid"]]
        stream = b"".join(unhex(v["hex"]) for v in valid)
        reader = p.FrameReader(p.max_reply_body(p.DEFAULT_MAX_RECORD_BYTES))
        got = []
        for i in range(len(stream)):
            reader.feed(stream[i:i + 1])
            while (f := reader.next()) is not None:
                got.append(f)
        self.assertEqual(len(got), len(valid))
        for (h, body), v in zip(got, valid):
            self.assertEqual(p.encode_header(h) + body, unhex(v["hex"]))

    def test_exchanges_refer_to_vectors(self):
        names = {v["name"]: v for v in DOC["vectors"]}
        for ex in DOC["exchanges"]:
            with self.subTest(ex["name"]):
                for step in ex["frames"]:
                    v = names[step["vector"]]
                    self.assertEqual(v["direction"], "request" if step["from"] == "client" else "reply")


if __name__ == "__main__":
    unittest.main()
