"""The blocking and the asyncio client against a real sidewald (tests/daemon.py)."""

from __future__ import annotations

import asyncio
import os
import struct
import unittest

import sidewal
from sidewal import Record, errors

from .daemon import Daemon, daemon_binary

MiB = 1 << 20


def tombstone(tenant: int, name: bytes, purge_lsn: int) -> bytes:
    """A 0x8001 collection tombstone payload (docs/control-records.md)."""
    return struct.pack("<IH", tenant, len(name)) + name + struct.pack("<Q", purge_lsn)


class DaemonCase(unittest.TestCase):
    config = ""
    unauthorized = False  # the daemon refuses this process (its readiness probe differs)

    @classmethod
    def setUpClass(cls) -> None:
        daemon_binary()  # skips the class when there is no daemon to run
        cls.daemon = Daemon(cls.config, unauthorized=cls.unauthorized)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.daemon.stop()

    def connect(self, **kw: object) -> sidewal.Client:
        c = sidewal.Client.connect(self.daemon.socket, timeout=30, **kw)  # type: ignore[arg-type]
        self.addCleanup(c.close)
        return c


class BlockingClientTest(DaemonCase):
    def test_connect_discovers_the_daemons_limits(self) -> None:
        c = self.connect(name="limits-test")
        self.assertIsNotNone(c.hello_ok)
        assert c.hello_ok is not None
        self.assertEqual(c.hello_ok.version, 1)
        self.assertIsNotNone(c.hello_ok.limits)
        self.assertEqual(c.limits, sidewal.ServerLimits(4 * MiB, MiB, 4 * MiB, 0))
        plain = self.connect(ask_limits=False)
        assert plain.hello_ok is not None
        self.assertIsNone(plain.hello_ok.limits)
        self.assertEqual(plain.limits.max_batch_bytes, 0)  # unknown: left to the daemon

    def test_append_single_and_batch_then_read_back(self) -> None:
        c = self.connect()
        a = c.append(b"first", type=7, tenant=3)
        ack = c.append_batch([Record(b"x" * 1000, 1, 2), Record(b"", 2, 2), Record(b"z", 0x7FFF, 0xFFFFFFFF)])
        self.assertEqual(ack.first_lsn, a + 1)
        self.assertEqual(ack.count, 3)
        self.assertEqual(ack.last_lsn, a + 3)
        got = c.read(a, max_records=4)
        self.assertEqual([r.lsn for r in got.records], [a, a + 1, a + 2, a + 3])
        self.assertEqual(got.next_lsn, a + 4)
        first = got.records[0]
        self.assertEqual((first.type, first.tenant, first.payload, first.payload_len), (7, 3, b"first", 5))
        self.assertEqual(got.records[1].payload, b"x" * 1000)
        self.assertEqual(got.records[2].payload, b"")
        self.assertEqual((got.records[3].type, got.records[3].tenant), (0x7FFF, 0xFFFFFFFF))
        # The log's own flags pass through: the batch's last record carries BATCH_END.
        self.assertTrue(got.records[3].flags & 0x1)

    def test_header_only_read_has_lengths_and_no_payload(self) -> None:
        c = self.connect()
        ack = c.append_batch([Record(b"a" * 300, 1, 1), Record(b"b" * 5, 1, 1)])
        got = c.read(ack.first_lsn, max_records=2, header_only=True)
        self.assertEqual([(r.payload, r.payload_len) for r in got.records], [(b"", 300), (b"", 5)])
        self.assertEqual(got.next_lsn, ack.first_lsn + 2)

    def test_pipelined_appends_are_acknowledged_in_order(self) -> None:
        c = self.connect()
        with c.pipeline(max_in_flight=16) as pipe:
            for i in range(300):
                pipe.append(b"p%d" % i, type=1, tenant=9)
            acks = pipe.drain()
        self.assertEqual(len(acks), 300)
        lsns = [a.first_lsn for a in acks]
        self.assertEqual(lsns, list(range(lsns[0], lsns[0] + 300)))
        got = c.read(lsns[0], max_records=300)
        self.assertEqual([r.payload for r in got.records], [b"p%d" % i for i in range(300)])
        futures = [c.append_nowait(b"n%d" % i) for i in range(20)]
        results = [f.result() for f in futures]
        self.assertEqual([r.first_lsn for r in results], list(range(results[0].first_lsn, results[0].first_lsn + 20)))

    def test_follow_streams_new_records_until_cancel(self) -> None:
        c = self.connect()
        other = self.connect()
        start = c.status().durable_lsn + 1
        with c.follow(start) as reader:
            lsn = other.append(b"from-other")
            mine = c.append(b"from-self")  # appending on the following connection works too
            seen = []
            while len(seen) < 2:
                batch = reader.next_batch(timeout=30)
                assert batch is not None
                seen += batch
            self.assertEqual({(r.lsn, r.payload) for r in seen}, {(lsn, b"from-other"), (mine, b"from-self")})
            self.assertEqual(reader.cancel(), max(lsn, mine) + 1)
            self.assertTrue(reader.ended)
        self.assertEqual(c.status().state, 1)

    def test_status_and_truncate(self) -> None:
        c = self.connect()
        lsn = c.append(b"s")
        st = c.status()
        self.assertEqual(st.state, 1)
        self.assertGreaterEqual(st.durable_lsn, lsn)
        self.assertGreaterEqual(st.segments, 1)
        first = c.truncate(1)
        self.assertEqual(first, st.first_lsn)

    def test_daemon_errors_carry_the_protocol_code_and_keep_the_connection(self) -> None:
        c = self.connect()
        with self.assertRaises(errors.ReservedRecordType) as cm:
            c.append(b"x", type=0x8000)
        self.assertEqual(cm.exception.code, errors.RESERVED_RECORD_TYPE)
        self.assertFalse(cm.exception.local)
        with self.assertRaises(errors.Malformed) as cm2:
            c.append(tombstone(1, b"users", 0), type=0x8001)  # purge_lsn 0 is invalid
        self.assertEqual(cm2.exception.code, errors.MALFORMED)
        self.assertIn("record 0", cm2.exception.message)
        lsn = c.append(tombstone(1, b"users", 5), type=0x8001)  # a valid control record
        self.assertGreater(lsn, 0)
        with self.assertRaises(errors.RecordTooLarge) as cm3:
            c.append(b"x" * (MiB + 1))
        self.assertTrue(cm3.exception.local)
        self.assertEqual(cm3.exception.code, errors.RECORD_TOO_LARGE)
        c._session.max_record_bytes = 0  # skip the local check: the daemon refuses it too
        with self.assertRaises(errors.RecordTooLarge) as cm4:
            c.append(b"x" * (MiB + 1))
        self.assertFalse(cm4.exception.local)
        self.assertIsInstance(cm4.exception, errors.DaemonError)
        self.assertGreater(c.append(b"still usable"), lsn)

    def test_a_closed_client_raises_connection_closed(self) -> None:
        c = self.connect()
        c.close()
        with self.assertRaises(errors.ConnectionClosed):
            c.append(b"x")
        self.assertIsNone(errors.ConnectionClosed("x").code)


class TruncatedReadTest(DaemonCase):
    config = "wal:\n  segment_bytes: 1MiB\n  max_record_bytes: 64KiB\n"

    def test_read_below_the_first_lsn_raises_lsn_truncated(self) -> None:
        c = self.connect()
        with c.pipeline(8) as pipe:
            for _ in range(64):
                pipe.append(b"t" * 60000)
            acks = pipe.drain()
        first = c.truncate(acks[-1].first_lsn)
        self.assertGreater(first, 1)
        with self.assertRaises(errors.LsnTruncated) as cm:
            c.read(1)
        self.assertEqual(cm.exception.code, errors.LSN_TRUNCATED)
        got = c.read(first, max_records=1)
        self.assertEqual(got.records[0].lsn, first)


class UnauthorizedTest(DaemonCase):
    config = f"socket:\n  allowed_uids: [{os.getuid() + 4242}]\n"

    unauthorized = True

    def test_unprompted_unauthorized_with_request_id_0(self) -> None:
        with self.assertRaises(errors.Unauthorized) as cm:
            sidewal.Client.connect(self.daemon.socket, timeout=30)
        self.assertEqual(cm.exception.code, errors.UNAUTHORIZED)
        self.assertEqual(cm.exception.request_id, 0)

    def test_async_client_too(self) -> None:
        async def go() -> None:
            with self.assertRaises(errors.Unauthorized) as cm:
                await sidewal.AsyncClient.connect(self.daemon.socket, timeout=30)
            self.assertEqual(cm.exception.request_id, 0)
        asyncio.run(go())


class AsyncClientTest(DaemonCase):
    def test_the_same_operations_awaitable(self) -> None:
        asyncio.run(self._operations())

    async def _operations(self) -> None:
        async with await sidewal.AsyncClient.connect(self.daemon.socket, name="aio", timeout=30) as c:
            self.assertEqual(c.limits.max_frame_body, 4 * MiB)
            a = await c.append(b"one", type=1, tenant=2)
            ack = await c.append_batch([Record(b"two", 1, 2), Record(b"three", 1, 2)])
            self.assertEqual((ack.first_lsn, ack.count), (a + 1, 2))
            # Concurrent awaits are pipelined on the one connection; ACKs in request order.
            lsns = await asyncio.gather(*(c.append(b"g%d" % i) for i in range(100)))
            self.assertEqual(list(lsns), list(range(lsns[0], lsns[0] + 100)))
            futs = [c.append_nowait(b"w%d" % i) for i in range(50)]
            await c.drain()
            acks = await asyncio.gather(*futs)
            self.assertEqual([x.first_lsn for x in acks], list(range(acks[0].first_lsn, acks[0].first_lsn + 50)))
            got = await c.read(a, max_records=3)
            self.assertEqual([r.payload for r in got.records], [b"one", b"two", b"three"])
            self.assertEqual(got.next_lsn, a + 3)
            ho = await c.read(a, max_records=1, header_only=True)
            self.assertEqual((ho.records[0].payload, ho.records[0].payload_len), (b"", 3))
            st = await c.status()
            self.assertEqual(st.state, 1)
            self.assertEqual(await c.truncate(1), st.first_lsn)
            # Follow while appending on the same connection, then CANCEL.
            async with c.follow(st.durable_lsn + 1) as reader:
                new = await c.append(b"followed")
                rec = await asyncio.wait_for(reader.__anext__(), 30)
                self.assertEqual((rec.lsn, rec.payload), (new, b"followed"))
                self.assertEqual(await asyncio.wait_for(reader.cancel(), 30), new + 1)
            with self.assertRaises(errors.ReservedRecordType) as cm:
                await c.append(b"x", type=0xFFFF)
            self.assertEqual(cm.exception.code, 11)
            with self.assertRaises(errors.RecordTooLarge) as cm2:
                await c.append(b"x" * (MiB + 1))
            self.assertTrue(cm2.exception.local)
            self.assertGreater(await c.append(b"usable"), new)
        with self.assertRaises(errors.ConnectionClosed):
            await c.append(b"after close")


if __name__ == "__main__":
    unittest.main()
