"""The request vectors of tests/protocol_vectors/vectors.json sent byte for
byte to a real sidewald: each valid one gets its success reply, each invalid
one the ERROR code the vector names, with the request's id, and the
connection closes only after FRAME_TOO_LARGE. So the daemon, not only the
codecs, is held to the vectors. Vectors whose `context` sets limits other
than the daemon's defaults are left out (the daemon runs with the defaults)."""

from __future__ import annotations

import socket
import unittest

from sidewal import protocol as p

from .daemon import Daemon, daemon_binary
from .test_vectors import DOC, unhex

SUCCESS = {p.HELLO: p.HELLO_OK, p.APPEND: p.ACK, p.TRUNCATE: p.OK, p.STATUS: p.STATUS_OK}


def runs_at_defaults(v: dict) -> bool:
    return all(DOC["defaults"][k] == x for k, x in v.get("context", {}).items())


class Conn:
    def __init__(self, path: str):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(30)
        self.s.connect(path)
        self.reader = p.FrameReader(64 << 20)

    def frame(self):
        """The next frame, or None at EOF."""
        while True:
            f = self.reader.next()
            if f is not None:
                return f
            data = self.s.recv(1 << 16)
            if not data:
                return None
            self.reader.feed(data)

    def close(self) -> None:
        self.s.close()


class DaemonVectorsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        daemon_binary()
        cls.daemon = Daemon()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.daemon.stop()

    def test_every_request_vector(self) -> None:
        sent = 0
        for v in DOC["vectors"]:
            if v["direction"] != "request" or not runs_at_defaults(v):
                continue
            with self.subTest(v["name"]):
                sent += 1
                self.check(v)
        self.assertGreater(sent, 50)

    def check(self, v: dict) -> None:
        c = Conn(self.daemon.socket)
        try:
            wire = unhex(v["hex"])
            h = p.decode_header(wire)
            rid = h.request_id
            c.s.sendall(wire)
            if v["valid"] and h.opcode == p.READ and v["body"]["follow"]:
                c.s.sendall(p.encode_cancel(rid))
            if v["valid"] and h.opcode == p.CANCEL:
                # CANCEL of no READ has no reply: the next frame answers a STATUS.
                c.s.sendall(p.encode_status(rid + 1))
                rh, _ = c.frame()
                self.assertEqual((rh.opcode, rh.request_id), (p.STATUS_OK, rid + 1))
                return
            rh, body = c.frame()
            self.assertEqual(rh.request_id, rid)
            if not v["valid"]:
                self.assertEqual(rh.opcode, p.ERROR, body)
                err = p.decode_error(body)
                self.assertEqual(err.code, v["reject"]["error_code"], err.message)
                if v["reject"]["closes_connection"]:
                    self.assertIsNone(c.frame())
                else:
                    c.s.sendall(p.encode_status(rid + 1))
                    rh, _ = c.frame()
                    self.assertEqual((rh.opcode, rh.request_id), (p.STATUS_OK, rid + 1))
                return
            if h.opcode == p.READ:
                while rh.opcode == p.RECORDS:
                    self.assertEqual(bool(rh.flags & p.RECORDS_HEADER_ONLY), bool(h.flags & p.READ_HEADER_ONLY))
                    p.decode_records(body, bool(rh.flags & p.RECORDS_HEADER_ONLY))
                    rh, body = c.frame()
                    self.assertEqual(rh.request_id, rid)
                self.assertEqual(rh.opcode, p.END, body)
                return
            self.assertEqual(rh.opcode, SUCCESS[h.opcode], body)
            if h.opcode == p.HELLO:
                ok = p.decode_hello_ok(body)
                self.assertEqual(ok.limits is not None, bool(h.flags & p.HELLO_LIMITS))
            if h.opcode == p.APPEND:
                self.assertEqual(p.decode_ack(body).count, len(v["body"]["records"]))
        finally:
            c.close()


if __name__ == "__main__":
    unittest.main()
