"""troupe.kv.v1.KeyValue through grpcio against the real binary.

KvBehaviour is the backend-independent suite; it runs here on the memory and
SQLite backends and in test_kv_postgres.py on PostgreSQL. Every test starts
its own server on empty storage.
"""
import collections
import contextlib
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import unittest

import harness
import grpc
from troupe.kv.v1 import kv_pb2, kv_pb2_grpc

# Timeout of calls that are expected to succeed: generous, so that a slow
# machine shows up as a slow test rather than as a wrong status.
LONG = 10

OK = grpc.StatusCode.OK


def report(fmt, *args):
    """Measured figures go to stderr so ctest's log keeps them."""
    print("    " + (fmt % args), file=sys.stderr, flush=True)


def rpc_error(fn, *args, **kwargs):
    """The RpcError that fn raised, or None if it succeeded."""
    try:
        fn(*args, **kwargs)
    except grpc.RpcError as e:
        return e
    return None


def scan_keys(kv, **request):
    return [e.key for e in kv.Scan(kv_pb2.ScanRequest(**request), timeout=LONG)]


def utf8_sorted(keys):
    """Scan promises ascending byte order of the keys' UTF-8 encoding."""
    return sorted(keys, key=lambda k: k.encode("utf-8"))


def thread_count(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return -1


class KvBehaviour:
    """Mixed into a unittest.TestCase whose backend_args() name the storage;
    it may take extra server flags with start()."""

    def backend_args(self):
        raise NotImplementedError

    def storage_lock(self):
        """A context manager holding, from outside the server, a lock that
        makes the server's next write wait; None when the backend has none."""
        return None

    # Whether a restarted server finds what the last one stored.
    persistent = True

    def start(self, *flags, same_storage=False):
        """A server on fresh storage, or with same_storage on the storage of
        the last one started."""
        if not same_storage:
            self._backend = self.backend_args()
        server = harness.Server(*self._backend, *flags)
        self.addCleanup(server.stop)
        return server

    def stub(self, server, options=()):
        ch = server.channel(options)
        self.addCleanup(ch.close)
        grpc.channel_ready_future(ch).result(timeout=LONG)
        return kv_pb2_grpc.KeyValueStub(ch)

    def put_all(self, kv, pairs, timeout=30):
        """Puts every (key, value), as many at once as the host admits: a call
        it refuses RESOURCE_EXHAUSTED (its adaptive concurrency limit, or
        kv.max_pending) is retried after its grpc-retry-pushback-ms, as a
        client should. Nothing refused was applied."""
        pending = list(pairs)
        while pending:
            futures = [(k, v, kv.Put.future(kv_pb2.PutRequest(key=k, value=v), timeout=timeout))
                       for k, v in pending]
            pending, wait_ms = [], 0
            for k, v, f in futures:
                e = f.exception()
                if e is None:
                    continue
                if e.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                    raise e
                pending.append((k, v))
                wait_ms = max(wait_ms, int(dict(e.trailing_metadata())["grpc-retry-pushback-ms"]))
            time.sleep(wait_ms / 1000)

    def assertStatus(self, err, code, field=None):
        self.assertIsNotNone(err, "the call succeeded; expected %s" % code.name)
        self.assertEqual(err.code(), code, "details: %r" % err.details())
        if field is not None:
            self.assertIn(field, err.details() or "", "the message should name the field")

    def assertAbsent(self, kv, key):
        r = kv.Get(kv_pb2.GetRequest(key=key), timeout=LONG)
        self.assertFalse(r.found, "%r should be absent, has version %d" % (key, r.version))

    def assertStored(self, kv, key, value, version):
        r = kv.Get(kv_pb2.GetRequest(key=key), timeout=LONG)
        self.assertTrue(r.found, "%r should be present" % key)
        self.assertEqual((r.value, r.version), (value, version), key)

    # --- Get / Put / Delete ---------------------------------------------

    def test_get_put_delete_versions(self):
        kv = self.stub(self.start())
        r = kv.Get(kv_pb2.GetRequest(key="k"), timeout=LONG)
        self.assertEqual((r.found, r.value, r.version), (False, b"", 0))

        binary = bytes(range(256)) + b"\x00\xff\x00tail\xff"  # every byte value, NUL and 0xff
        values = [b"first", b"\x00", binary]
        for expected, value in enumerate(values, start=1):
            r = kv.Put(kv_pb2.PutRequest(key="k", value=value), timeout=LONG)
            self.assertEqual(r.version, expected)
        self.assertStored(kv, "k", binary, 3)

        # An empty value is a value: found, not absent.
        self.assertEqual(kv.Put(kv_pb2.PutRequest(key="empty", value=b""), timeout=LONG).version, 1)
        self.assertStored(kv, "empty", b"", 1)

        self.assertTrue(kv.Delete(kv_pb2.DeleteRequest(key="k"), timeout=LONG).existed)
        self.assertAbsent(kv, "k")
        self.assertFalse(kv.Delete(kv_pb2.DeleteRequest(key="k"), timeout=LONG).existed)
        self.assertFalse(kv.Delete(kv_pb2.DeleteRequest(key="never"), timeout=LONG).existed)

        # A deleted key starts over.
        self.assertEqual(kv.Put(kv_pb2.PutRequest(key="k", value=b"again"), timeout=LONG).version, 1)
        self.assertStored(kv, "k", b"again", 1)
        self.assertStored(kv, "empty", b"", 1)

    def test_compare_and_set(self):
        kv = self.stub(self.start())
        put = lambda value, v, key="cas": kv.Put(  # noqa: E731
            kv_pb2.PutRequest(key=key, value=value, if_version=v), timeout=LONG)

        self.assertEqual(put(b"one", 0).version, 1)  # 0 on absent: creates
        e = rpc_error(put, b"two", 0)  # 0 on present: refused
        self.assertStatus(e, grpc.StatusCode.ABORTED, "if_version")
        self.assertStored(kv, "cas", b"one", 1)

        self.assertEqual(put(b"two", 1).version, 2)
        for stale in (1, 3, 7):
            e = rpc_error(put, b"stale-%d" % stale, stale)
            self.assertStatus(e, grpc.StatusCode.ABORTED, "if_version")
        self.assertStored(kv, "cas", b"two", 2)

        # if_version=n on an absent key does not create it.
        e = rpc_error(put, b"x", 1, key="absent")
        self.assertStatus(e, grpc.StatusCode.ABORTED, "if_version")
        self.assertAbsent(kv, "absent")

        # An unconditional Put between CAS writers still counts as a version.
        self.assertEqual(kv.Put(kv_pb2.PutRequest(key="cas", value=b"three"), timeout=LONG).version, 3)
        self.assertStatus(rpc_error(put, b"late", 2), grpc.StatusCode.ABORTED, "if_version")
        self.assertEqual(put(b"four", 3).version, 4)
        self.assertStored(kv, "cas", b"four", 4)

        # After a Delete the key is absent again for if_version=0.
        self.assertTrue(kv.Delete(kv_pb2.DeleteRequest(key="cas"), timeout=LONG).existed)
        self.assertStatus(rpc_error(put, b"x", 4), grpc.StatusCode.ABORTED, "if_version")
        self.assertEqual(put(b"reborn", 0).version, 1)
        self.assertStored(kv, "cas", b"reborn", 1)

    def run_cas_race(self, stubs_for_client, clients=20, seconds=1.0, key="counter"):
        """`clients` threads loop read-modify-write with if_version on one
        key; client i uses the stub stubs_for_client(i). Returns the
        (version, value) of every successful Put after checking them."""
        stop_at = time.monotonic() + seconds
        lock = threading.Lock()
        granted, errors = [], []
        aborted = [0]

        def client(n):
            kv = stubs_for_client(n)
            try:
                while time.monotonic() < stop_at:
                    try:
                        cur = kv.Get(kv_pb2.GetRequest(key=key), timeout=LONG)
                    except grpc.RpcError as e:
                        if e.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                            raise
                        continue  # refused before it ran: try again
                    seen = cur.version if cur.found else 0
                    value = b"%d:%d" % (n, seen + 1)
                    try:
                        r = kv.Put(kv_pb2.PutRequest(key=key, value=value, if_version=seen),
                                   timeout=LONG)
                    except grpc.RpcError as e:
                        if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                            continue  # refused before it ran: nothing was applied
                        if e.code() != grpc.StatusCode.ABORTED:
                            raise
                        with lock:
                            aborted[0] += 1
                        continue
                    with lock:
                        granted.append((r.version, value))
            except Exception as e:  # reported by the main thread
                with lock:
                    errors.append("client %d: %r" % (n, e))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 30)
        self.assertEqual(errors, [])

        versions = sorted(v for v, _ in granted)
        report("CAS race: %d clients, %d versions granted, %d ABORTED",
               clients, len(versions), aborted[0])
        twice = [v for v, n in collections.Counter(versions).items() if n > 1]
        self.assertEqual(twice, [], "versions granted to more than one writer")
        self.assertEqual(versions, list(range(1, len(versions) + 1)))
        for version, value in granted:
            # The writer asked for exactly the version it was granted.
            self.assertEqual(int(value.split(b":")[1]), version, value)
        self.assertGreater(aborted[0], 0, "no contention: the race proved nothing")

        final = stubs_for_client(0).Get(kv_pb2.GetRequest(key=key), timeout=LONG)
        self.assertEqual(final.version, len(granted))
        self.assertEqual(final.value, dict(granted)[final.version])
        return granted

    def test_cas_race_one_winner_per_version(self):
        server = self.start()
        channels = [server.channel() for _ in range(20)]
        for ch in channels:
            self.addCleanup(ch.close)
        stubs = [kv_pb2_grpc.KeyValueStub(ch) for ch in channels]
        self.run_cas_race(lambda n: stubs[n])

    # --- MultiGet ---------------------------------------------------------

    def test_multi_get_request_order(self):
        kv = self.stub(self.start())
        keys = ["mg-%d" % i for i in range(40)]  # 40 keys land on every one of 8 shards
        self.put_all(kv, [(k, b"v%d" % i) for i, k in enumerate(keys)], timeout=LONG)
        kv.Put(kv_pb2.PutRequest(key="mg-3", value=b"v3b"), timeout=LONG)

        asked = ["mg-5", "nope-1", "mg-0", "mg-5", "mg-39", "nope-2", "mg-17", "mg-3", "nope-1",
                 "mg-0"]
        r = kv.MultiGet(kv_pb2.MultiGetRequest(keys=asked), timeout=LONG)
        self.assertEqual([e.key for e in r.entries], asked)
        got = [(e.found, e.value, e.version) for e in r.entries]
        expected = []
        for k in asked:
            if k.startswith("nope"):
                expected.append((False, b"", 0))
            elif k == "mg-3":
                expected.append((True, b"v3b", 2))
            else:
                expected.append((True, b"v" + k[3:].encode(), 1))
        self.assertEqual(got, expected)

        many = ["mg-%d" % (i % 45) for i in range(500)]  # every key, repeated, some missing
        r = kv.MultiGet(kv_pb2.MultiGetRequest(keys=many), timeout=LONG)
        self.assertEqual([e.key for e in r.entries], many)
        self.assertEqual([e.found for e in r.entries], [int(k[3:]) < 40 for k in many])

        self.assertEqual(len(kv.MultiGet(kv_pb2.MultiGetRequest(), timeout=LONG).entries), 0)

    # --- Scan -------------------------------------------------------------

    SCAN_KEYS = [
        "a", "a/1", "a/2", "a/10", "a/\u00e9", "ab", "a\x00b", "a\x01", "B", "b", "b/x", "z",
        "0", "~", "\x7f", "\u00e9", "\u00e9a", "\u00ff", "\u0100", "\u4e2d\u6587", "\U0001F600",
    ]

    def test_scan_order_prefix_start_after(self):
        kv = self.stub(self.start())
        for k in self.SCAN_KEYS:
            kv.Put(kv_pb2.PutRequest(key=k, value=k.encode() + b"\xff"), timeout=LONG)
        kv.Put(kv_pb2.PutRequest(key="b", value=b"b2"), timeout=LONG)
        ordered = utf8_sorted(self.SCAN_KEYS)

        entries = list(kv.Scan(kv_pb2.ScanRequest(), timeout=LONG))
        self.assertEqual([e.key for e in entries], ordered)
        for e in entries:
            self.assertTrue(e.found, e.key)
            if e.key == "b":
                self.assertEqual((e.value, e.version), (b"b2", 2))
            else:
                self.assertEqual((e.value, e.version), (e.key.encode() + b"\xff", 1), e.key)

        def expect(prefix="", start_after="", limit=None):
            want = [k for k in ordered
                    if k.encode().startswith(prefix.encode()) and k.encode() > start_after.encode()]
            return want[:limit] if limit else want

        cases = [
            dict(prefix="a/"),
            dict(prefix="a"),
            dict(prefix="\u00e9"),  # bytes c3 a9: the range's end must not spill into c3 aa..
            dict(prefix="\u00ff"),
            dict(prefix="nothing"),
            dict(start_after="b"),
            dict(start_after="a/15"),  # not itself a key
            dict(start_after="\u00e9"),
            dict(start_after="\U0001F600"),  # after the largest key
            dict(prefix="a/", start_after="a/2"),
            dict(prefix="b", start_after="0"),  # start_after before the prefix range
            dict(prefix="a/", start_after="b"),  # start_after past the prefix range
            dict(limit=3),
            dict(prefix="a", limit=2),
            dict(start_after="a/2", limit=4),
        ]
        for c in cases:
            self.assertEqual(scan_keys(kv, **c), expect(**c), c)

        # Paging with start_after = last key seen reads everything once.
        paged, after = [], ""
        while True:
            page = scan_keys(kv, start_after=after, limit=4)
            paged += page
            if len(page) < 4:
                break
            after = page[-1]
        self.assertEqual(paged, ordered)

    def test_scan_limits(self):
        # Three shards hold 400 keys each: more than one batch per shard, so
        # the merge joins several batches of several shards.
        kv = self.stub(self.start("--kv-shards", "3"))
        keys = ["L%04d" % i for i in range(1200)]
        self.put_all(kv, [(k, b"x") for k in keys])
        self.assertEqual(scan_keys(kv), keys[:1000], "limit 0 means 1000")
        self.assertEqual(scan_keys(kv, limit=0, prefix="L1"), keys[1000:])
        self.assertEqual(scan_keys(kv, limit=1), keys[:1])
        self.assertEqual(scan_keys(kv, limit=1100), keys[:1100])
        self.assertEqual(scan_keys(kv, limit=10000), keys)

        for limit in (10001, 2 ** 32 - 1):
            e = rpc_error(scan_keys, kv, limit=limit)
            self.assertStatus(e, grpc.StatusCode.INVALID_ARGUMENT, "limit")

    def test_scan_cancelled_by_client_ends_promptly(self):
        # One shard, so the merge waits for its batches one after another:
        # the whole scan takes several latencies, far longer than the checks.
        kv = self.stub(self.start("--kv-shards", "1", "--kv-latency-ms", "300"))
        keys = ["S%05d" % i for i in range(2000)]
        self.put_all(kv, [(k, b"v" * 100) for k in keys])

        stream = kv.Scan(kv_pb2.ScanRequest(limit=10000), timeout=30)
        self.assertEqual(next(stream).key, keys[0])
        t0 = time.monotonic()
        stream.cancel()
        with self.assertRaises(grpc.RpcError) as e:
            for _ in stream:
                pass
        ended = time.monotonic() - t0
        self.assertEqual(e.exception.code(), grpc.StatusCode.CANCELLED)
        self.assertLess(ended, 0.2)

        # The server carries on normally: a Get costs one latency, and a new
        # Scan of everything is complete and in order.
        t0 = time.monotonic()
        self.assertTrue(kv.Get(kv_pb2.GetRequest(key=keys[7]), timeout=LONG).found)
        get_after = time.monotonic() - t0
        t0 = time.monotonic()
        self.assertEqual(scan_keys(kv, limit=10000), keys)
        full_scan = time.monotonic() - t0
        report("scan cancel: client saw CANCELLED after %.1f ms; then a Get took %.0f ms, "
               "a full scan %.0f ms", ended * 1000, get_after * 1000, full_scan * 1000)
        self.assertLess(get_after, 0.3 + 0.2)

    def test_scan_cancelled_while_streaming_many_times(self):
        # Cancels land while the server is still writing entries: the stream
        # must end cleanly every time, whatever it was doing.
        server = self.start("--kv-shards", "1")
        kv = self.stub(server)
        self.put_all(kv, [("C%05d" % i, b"v" * 100) for i in range(2000)])
        rng = random.Random(4)
        for n in range(300):
            stream = kv.Scan(kv_pb2.ScanRequest(limit=10000), timeout=LONG)
            stop_after = rng.randint(0, 300)
            failed = None
            try:
                for i, _ in enumerate(stream):
                    if i >= stop_after:
                        break
            except grpc.RpcError as e:
                failed = e
            stream.cancel()
            if failed is not None:
                time.sleep(0.2)
            rc = server.proc.poll()
            self.assertIsNone(rc, "the server died (exit %s) after %d cancelled scans:\n%s"
                              % (rc, n, server.log()[-2000:]))
            self.assertIsNone(failed, "scan %d failed: %s" % (n, failed and failed.details()))
        self.assertEqual(len(scan_keys(kv, limit=10000)), 2000)
        self.assertIsNone(server.proc.poll())

    def test_scan_slow_reader(self):
        # Without BDP probing the client's window stays ~64 KiB, so the server
        # has to pause the merge and resume it when the client reads again.
        kv = self.stub(self.start(), options=[("grpc.http2.bdp_probe", 0)])
        keys = ["R%04d" % i for i in range(600)]
        value = lambda k: k.encode() * 500  # noqa: E731  (2.5 KB)
        self.put_all(kv, [(k, value(k)) for k in keys])
        stream = kv.Scan(kv_pb2.ScanRequest(limit=10000), timeout=30)
        first = next(stream)
        time.sleep(0.5)
        rest = list(stream)
        self.assertEqual([first.key] + [e.key for e in rest], keys)
        self.assertEqual([e.value for e in rest], [value(k) for k in keys[1:]])

    def test_restart_with_another_shard_count(self):
        # A key's shard comes from its stored hash, so the data outlives a
        # change of kv.shards: every key is found by Get and by Scan.
        if not self.persistent:
            self.skipTest("memory storage does not outlive the server")
        first = self.start("--kv-shards", "8")
        kv = self.stub(first)
        keys = ["H%03d-\u00e9" % i for i in range(300)]
        self.put_all(kv, [(k, k.encode()) for k in keys], timeout=LONG)
        kv.Put(kv_pb2.PutRequest(key=keys[0], value=b"again"), timeout=LONG)
        first.stop()
        for shards in ("3", "1", "16"):
            server = self.start("--kv-shards", shards, same_storage=True)
            kv = self.stub(server)
            self.assertEqual(scan_keys(kv, limit=10000), utf8_sorted(keys), "kv.shards=" + shards)
            r = kv.MultiGet(kv_pb2.MultiGetRequest(keys=keys), timeout=LONG)
            self.assertEqual([(e.found, e.version) for e in r.entries],
                             [(True, 2)] + [(True, 1)] * (len(keys) - 1), "kv.shards=" + shards)
            server.stop()

    # --- Validation ---------------------------------------------------------

    def test_validation_names_the_field(self):
        kv = self.stub(self.start("--kv-max-value-bytes", "100"))
        invalid = grpc.StatusCode.INVALID_ARGUMENT
        long_key = "x" * 1025
        long_utf8 = "\u00e9" * 512 + "a"  # 513 characters, 1025 bytes
        for key in ("", long_key, long_utf8):
            for call in (lambda k: kv.Get(kv_pb2.GetRequest(key=k), timeout=LONG),
                         lambda k: kv.Put(kv_pb2.PutRequest(key=k, value=b"v"), timeout=LONG),
                         lambda k: kv.Delete(kv_pb2.DeleteRequest(key=k), timeout=LONG)):
                self.assertStatus(rpc_error(call, key), invalid, "key")
        self.assertEqual(scan_keys(kv), [], "a rejected Put stored something")

        for key in ("x" * 1024, "\u00e9" * 512):  # exactly 1024 bytes
            self.assertEqual(kv.Put(kv_pb2.PutRequest(key=key, value=b"v"), timeout=LONG).version, 1)
            self.assertStored(kv, key, b"v", 1)

        e = rpc_error(kv.Put, kv_pb2.PutRequest(key="big", value=b"v" * 101), timeout=LONG)
        self.assertStatus(e, invalid, "value")
        self.assertAbsent(kv, "big")
        e = rpc_error(kv.Put, kv_pb2.PutRequest(key="big", value=b"v" * 101, if_version=0),
                      timeout=LONG)
        self.assertStatus(e, invalid, "value")
        self.assertEqual(kv.Put(kv_pb2.PutRequest(key="big", value=b"v" * 100), timeout=LONG).version, 1)

        e = rpc_error(kv.MultiGet, kv_pb2.MultiGetRequest(keys=["ok", ""]), timeout=LONG)
        self.assertStatus(e, invalid, "keys[1]")
        e = rpc_error(kv.MultiGet, kv_pb2.MultiGetRequest(keys=["a", "b", long_key]), timeout=LONG)
        self.assertStatus(e, invalid, "keys[2]")

        self.assertStatus(rpc_error(scan_keys, kv, limit=10001), invalid, "limit")

    def test_default_max_value_is_one_mebibyte(self):
        kv = self.stub(self.start())
        big = bytes(range(256)) * 4096  # 1 MiB
        self.assertEqual(kv.Put(kv_pb2.PutRequest(key="big", value=big), timeout=LONG).version, 1)
        self.assertStored(kv, "big", big, 1)
        e = rpc_error(kv.Put, kv_pb2.PutRequest(key="big", value=big + b"!"), timeout=LONG)
        self.assertStatus(e, grpc.StatusCode.INVALID_ARGUMENT, "value")
        self.assertStored(kv, "big", big, 1)

    # --- Deadlines and cancellation -------------------------------------------

    def test_deadline_exceeded_on_time(self):
        kv = self.stub(self.start("--kv-latency-ms", "300"))
        elapsed = []
        for _ in range(3):
            t0 = time.monotonic()
            e = rpc_error(kv.Get, kv_pb2.GetRequest(key="k"), timeout=0.1)
            elapsed.append(time.monotonic() - t0)
            self.assertStatus(e, grpc.StatusCode.DEADLINE_EXCEEDED)
        report("DEADLINE_EXCEEDED seen after %s ms (deadline 100 ms)",
               ", ".join("%.1f" % (x * 1000) for x in elapsed))
        # 20 ms is the requirement; this machine is shared and noisy.
        self.assertLess(max(elapsed), 0.100 + 0.040)
        self.assertGreaterEqual(min(elapsed), 0.095)
        # A deadline longer than the storage call is not cut short.
        self.assertFalse(kv.Get(kv_pb2.GetRequest(key="k"), timeout=1.0).found)

    @unittest.skipUnless(harness.NGHTTP, "nghttp (Debian nghttp2-client) is not installed")
    def test_server_answers_deadline_on_time(self):
        # grpcio ends a call at its deadline by itself, so the test above
        # cannot tell whether the server honoured it; nghttp only sends
        # grpc-timeout, and the server's answer is all it sees.
        server = self.start("--kv-latency-ms", "300")
        kv = self.stub(server)
        kv.Put(kv_pb2.PutRequest(key="present", value=b"old"), timeout=LONG)
        calls = [
            ("Get", kv_pb2.GetRequest(key="present")),
            ("Put", kv_pb2.PutRequest(key="present", value=b"new")),
            ("Put", kv_pb2.PutRequest(key="absent", value=b"new")),
            ("MultiGet", kv_pb2.MultiGetRequest(keys=["present", "absent", "other"])),
            ("Scan", kv_pb2.ScanRequest()),
        ]
        measured = []
        for method, req in calls:
            status, elapsed, fields = harness.nghttp_unary(
                server.target, "/troupe.kv.v1.KeyValue/" + method, req.SerializeToString(),
                headers=[("grpc-timeout", "100m")])
            self.assertEqual(status, grpc.StatusCode.DEADLINE_EXCEEDED.value[0],
                             "%s answered %r" % (method, fields))
            measured.append(elapsed)
        report("server answered DEADLINE_EXCEEDED after %s ms (grpc-timeout 100 ms, via nghttp)",
               ", ".join("%.0f" % (x * 1000) for x in measured))
        for elapsed in measured:
            self.assertGreaterEqual(elapsed, 0.095)
            # Well before the 300 ms the storage takes, with room for a
            # machine busy with other work.
            self.assertLess(elapsed, 0.25)
        time.sleep(0.35)
        self.assertStored(kv, "present", b"old", 1)
        self.assertAbsent(kv, "absent")

    def test_calls_queued_behind_a_stuck_storage_call(self):
        # One shard, whose storage call waits for a lock held from outside:
        # the calls behind it wait in the shard's queue, on a quiet machine.
        # There they must still see their deadline on time, and calls that
        # expired or were cancelled must not be applied once the shard moves on.
        server = self.start("--kv-shards", "1")
        kv = self.stub(server)
        kv.Put(kv_pb2.PutRequest(key="stuck", value=b"1"), timeout=LONG)
        lock = self.storage_lock()
        if lock is None:
            self.skipTest("memory storage never waits: nothing queues in a shard")
        with lock:
            stuck = kv.Put.future(kv_pb2.PutRequest(key="stuck", value=b"2"), timeout=LONG)
            time.sleep(0.1)  # the shard is inside that Put now
            expiring = [kv.Put.future(kv_pb2.PutRequest(key="late", value=b"x"), timeout=0.1),
                        kv.Get.future(kv_pb2.GetRequest(key="stuck"), timeout=0.1),
                        kv.Delete.future(kv_pb2.DeleteRequest(key="stuck"), timeout=0.1)]
            cancelled = kv.Put.future(kv_pb2.PutRequest(key="cancelled", value=b"x"), timeout=LONG)
            answer = harness.nghttp_unary(
                server.target, "/troupe.kv.v1.KeyValue/Put",
                kv_pb2.PutRequest(key="late-h2", value=b"x").SerializeToString(),
                headers=[("grpc-timeout", "100m")]) if harness.NGHTTP else None
            self.assertTrue(cancelled.cancel())
            for f in expiring:
                self.assertStatus(f.exception(), grpc.StatusCode.DEADLINE_EXCEEDED)
            self.assertFalse(stuck.done(), "the lock did not hold the storage call")
            if answer:
                status, elapsed, fields = answer
                report("queued behind a stuck storage call: DEADLINE_EXCEEDED from the server "
                       "after %.0f ms (grpc-timeout 100 ms, via nghttp)", elapsed * 1000)
                self.assertEqual(status, grpc.StatusCode.DEADLINE_EXCEEDED.value[0], fields)
                self.assertLess(elapsed, 0.100 + 0.040)
        self.assertEqual(stuck.result().version, 2)
        self.assertStored(kv, "stuck", b"2", 2)
        self.assertAbsent(kv, "late")
        self.assertAbsent(kv, "late-h2")
        self.assertAbsent(kv, "cancelled")

    def test_expired_calls_do_not_touch_storage(self):
        kv = self.stub(self.start("--kv-latency-ms", "300"))
        kv.Put(kv_pb2.PutRequest(key="present", value=b"old"), timeout=LONG)
        t0 = time.monotonic()
        calls = [
            (kv.Put, kv_pb2.PutRequest(key="absent", value=b"new")),
            (kv.Put, kv_pb2.PutRequest(key="present", value=b"new")),
            (kv.Put, kv_pb2.PutRequest(key="created", value=b"new", if_version=0)),
            (kv.Delete, kv_pb2.DeleteRequest(key="present")),
        ]
        futures = [fn.future(req, timeout=0.1) for fn, req in calls]
        for f in futures:
            self.assertStatus(f.exception(), grpc.StatusCode.DEADLINE_EXCEEDED)
        # Well past the latency, the shards have dealt with the expired calls.
        time.sleep(max(0.0, 0.6 - (time.monotonic() - t0)))
        self.assertAbsent(kv, "absent")
        self.assertAbsent(kv, "created")
        self.assertStored(kv, "present", b"old", 1)

    def test_cancel(self):
        kv = self.stub(self.start("--kv-latency-ms", "500"))
        kv.Put(kv_pb2.PutRequest(key="kept", value=b"old"), timeout=LONG)

        get = kv.Get.future(kv_pb2.GetRequest(key="kept"), timeout=LONG)
        puts = [kv.Put.future(kv_pb2.PutRequest(key="kept", value=b"new"), timeout=LONG),
                kv.Put.future(kv_pb2.PutRequest(key="fresh", value=b"new"), timeout=LONG)]
        time.sleep(0.05)
        t0 = time.monotonic()
        for f in [get] + puts:
            self.assertTrue(f.cancel(), "the call finished before it was cancelled")
        for f in [get] + puts:
            self.assertTrue(f.done())
            self.assertTrue(f.cancelled())
            self.assertEqual(f.code(), grpc.StatusCode.CANCELLED)
        self.assertLess(time.monotonic() - t0, 0.1)

        time.sleep(0.6)  # past the latency: a Put that was still wanted would be applied
        self.assertStored(kv, "kept", b"old", 1)
        self.assertAbsent(kv, "fresh")

    def test_storage_concurrency_serves_calls_in_turns(self):
        # One "connection": calls are served one after another, in order,
        # and a call cancelled while it waits never takes the connection.
        kv = self.stub(self.start("--kv-shards", "1", "--kv-latency-ms", "400",
                                  "--kv-storage-concurrency", "1"))
        t0 = time.monotonic()
        first = kv.Get.future(kv_pb2.GetRequest(key="a"), timeout=LONG)
        dropped = kv.Get.future(kv_pb2.GetRequest(key="b"), timeout=LONG)
        last = kv.Get.future(kv_pb2.GetRequest(key="c"), timeout=LONG)
        time.sleep(0.1)
        self.assertTrue(dropped.cancel())
        self.assertFalse(first.result().found)
        first_done = time.monotonic() - t0
        self.assertFalse(last.result().found)
        last_done = time.monotonic() - t0
        report("storage concurrency 1, latency 400 ms: first call %.0f ms, the call "
               "behind a cancelled one %.0f ms", first_done * 1000, last_done * 1000)
        self.assertGreaterEqual(first_done, 0.4)
        self.assertGreaterEqual(last_done, 0.8)   # waited for the first
        self.assertLess(last_done, 1.1)           # not for the cancelled one too

    def test_without_storage_concurrency_latency_is_a_pure_delay(self):
        kv = self.stub(self.start("--kv-shards", "1", "--kv-latency-ms", "400"))
        t0 = time.monotonic()
        calls = [kv.Get.future(kv_pb2.GetRequest(key="k%d" % i), timeout=LONG)
                 for i in range(20)]
        for f in calls:
            self.assertFalse(f.result().found)
        self.assertLess(time.monotonic() - t0, 0.8)

    # --- Load ---------------------------------------------------------------

    def test_load_shedding(self):
        kv = self.stub(self.start("--kv-shards", "1", "--kv-max-pending", "10",
                                  "--kv-latency-ms", "500"))
        done_at = {}
        t0 = time.monotonic()
        futures = [kv.Get.future(kv_pb2.GetRequest(key="shed-%d" % i), timeout=5)
                   for i in range(50)]
        for i, f in enumerate(futures):
            f.add_done_callback(lambda _, i=i: done_at.setdefault(i, time.monotonic()))
        fired = time.monotonic() - t0
        codes = [f.code() for f in futures]  # waits for each
        ok = [i for i, c in enumerate(codes) if c == OK]
        shed = [i for i, c in enumerate(codes) if c == grpc.StatusCode.RESOURCE_EXHAUSTED]
        report("load shedding: fired 50 in %.0f ms: %d OK, %d RESOURCE_EXHAUSTED; "
               "slowest shed answer %.0f ms", fired * 1000, len(ok), len(shed),
               max((done_at[i] - t0 for i in shed), default=0) * 1000)
        self.assertEqual(len(ok) + len(shed), 50, collections.Counter(c.name for c in codes))
        self.assertEqual(len(ok), 10, "kv.max_pending=10 on one shard")
        for i in shed:
            md = dict(futures[i].trailing_metadata() or ())
            self.assertIn("grpc-retry-pushback-ms", md)
            self.assertGreater(int(md["grpc-retry-pushback-ms"]), 0)
            self.assertIn("max_pending", futures[i].details())
            self.assertLess(done_at[i] - t0, 0.25, "shedding must not wait for the latency")
        for i in ok:
            self.assertGreaterEqual(done_at[i] - t0, 0.45)
        # The slots come back once the admitted calls are answered.
        self.assertFalse(kv.Get(kv_pb2.GetRequest(key="after"), timeout=5).found)

    def test_scan_is_shed_like_every_other_call(self):
        # A Scan asks every shard for batches: those asks take kv.max_pending
        # slots like any call, or a flood of Scans would pile up unbounded
        # behind a busy shard.
        kv = self.stub(self.start("--kv-shards", "1", "--kv-max-pending", "5",
                                  "--kv-latency-ms", "500"))
        busy = [kv.Get.future(kv_pb2.GetRequest(key="busy-%d" % i), timeout=LONG)
                for i in range(5)]
        time.sleep(0.1)  # the five Gets hold every slot of the one shard
        t0 = time.monotonic()
        e = rpc_error(lambda: list(kv.Scan(kv_pb2.ScanRequest(prefix="busy-"), timeout=LONG)))
        took = time.monotonic() - t0
        self.assertStatus(e, grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertIn("max_pending", e.details())
        md = dict(e.trailing_metadata() or ())
        self.assertGreater(int(md.get("grpc-retry-pushback-ms", "0")), 0)
        self.assertLess(took, 0.3, "shed at once, not after the latency")
        self.assertEqual([f.code() for f in busy], [OK] * 5)
        # With the slots back, the same Scan runs.
        self.assertEqual(list(kv.Scan(kv_pb2.ScanRequest(prefix="busy-"), timeout=LONG)), [])

    def test_shutdown_while_scans_ask_shards_for_batches(self):
        # The Scan merges keep asking the shards for batches until the last
        # moment of shutdown; they hold the shard handles of their own, so
        # the service tearing its shards down cannot pull them away.
        for round_ in range(3):
            server = self.start("--kv-shards", "4", "--server-shutdown-grace-ms", "0")
            kv = self.stub(server)
            self.put_all(kv, [("s%04d" % i, b"v" * 64) for i in range(2000)])
            scans = [kv.Scan(kv_pb2.ScanRequest(limit=2000), timeout=LONG) for _ in range(20)]
            readers = [threading.Thread(target=lambda s=s: rpc_error(lambda: list(s)))
                       for s in scans]
            for r in readers:
                r.start()
            time.sleep(0.05)
            server.signal()
            self.assertEqual(server.wait(timeout=15), 0,
                             "round %d: exit after SIGTERM during Scans:\n%s"
                             % (round_, server.log()))
            for r in readers:
                r.join(timeout=LONG)

    def test_pending_slots_come_back(self):
        # Calls that end early (deadline, cancel, shed) must give their
        # kv.max_pending slot back, or the shard ends up shedding everything.
        kv = self.stub(self.start("--kv-shards", "1", "--kv-max-pending", "10",
                                  "--kv-latency-ms", "200"))
        for _ in range(2):
            # 15 calls for 10 slots: which 5 are shed depends on arrival order.
            expiring = [kv.Get.future(kv_pb2.GetRequest(key="e%d" % i), timeout=0.05)
                        for i in range(5)]
            cancelled = [kv.Put.future(kv_pb2.PutRequest(key="c%d" % i, value=b"v"), timeout=LONG)
                         for i in range(5)]
            multi = [kv.MultiGet.future(kv_pb2.MultiGetRequest(keys=["m1", "m2"]), timeout=LONG)
                     for _ in range(5)]
            time.sleep(0.02)
            for f in cancelled:
                f.cancel()
            codes = collections.Counter(f.code().name for f in expiring + cancelled + multi)
            shed = codes["RESOURCE_EXHAUSTED"]
            self.assertEqual(shed, 5, codes)
            self.assertEqual(codes["DEADLINE_EXCEEDED"] + codes["CANCELLED"] + codes["OK"], 10,
                             codes)
            time.sleep(0.4)  # past the latency: every slot should be free again
        futures = [kv.Get.future(kv_pb2.GetRequest(key="g%d" % i), timeout=LONG)
                   for i in range(10)]
        codes = [f.code().name for f in futures]
        self.assertEqual(codes, ["OK"] * 10, "slots leaked")

    def test_many_slow_calls_in_flight(self):
        server = self.start("--kv-latency-ms", "200")
        kv = self.stub(server)
        t0 = time.monotonic()
        futures = [kv.Get.future(kv_pb2.GetRequest(key="slow-%d" % (i % 100)), timeout=30)
                   for i in range(2000)]
        fired = time.monotonic() - t0
        threads = thread_count(server.proc.pid)
        codes = collections.Counter(f.code() for f in futures)
        elapsed = time.monotonic() - t0
        report("2000 Gets at 200 ms latency: fired in %.2f s, all answered after %.2f s; "
               "server threads while in flight: %d", fired, elapsed, threads)
        self.assertEqual(codes, collections.Counter({OK: 2000}))
        self.assertLess(elapsed, 5.0)
        self.assertLess(threads, 100, "a thread per call?")

    def test_replica_trailing_metadata(self):
        kv = self.stub(self.start())

        def replica(md):
            md = dict(md or ())
            self.assertIn("troupe-replica", md)
            self.assertTrue(md["troupe-replica"])
            return md["troupe-replica"]

        _, call = kv.Put.with_call(kv_pb2.PutRequest(key="k", value=b"v"), timeout=LONG)
        name = replica(call.trailing_metadata())
        _, call = kv.Get.with_call(kv_pb2.GetRequest(key="k"), timeout=LONG)
        self.assertEqual(replica(call.trailing_metadata()), name)
        _, call = kv.MultiGet.with_call(kv_pb2.MultiGetRequest(keys=["k"]), timeout=LONG)
        replica(call.trailing_metadata())
        stream = kv.Scan(kv_pb2.ScanRequest(), timeout=LONG)
        self.assertEqual([e.key for e in stream], ["k"])
        replica(stream.trailing_metadata())
        # Errors too.
        e = rpc_error(kv.Put, kv_pb2.PutRequest(key="k", value=b"v", if_version=0), timeout=LONG)
        self.assertStatus(e, grpc.StatusCode.ABORTED)
        replica(e.trailing_metadata())
        e = rpc_error(kv.Get, kv_pb2.GetRequest(key=""), timeout=LONG)
        self.assertStatus(e, grpc.StatusCode.INVALID_ARGUMENT)
        replica(e.trailing_metadata())


class MemoryKvTest(KvBehaviour, unittest.TestCase):
    persistent = False

    def backend_args(self):
        return ("--kv-backend", "memory")


class SqliteKvTest(KvBehaviour, unittest.TestCase):
    def backend_args(self):
        d = tempfile.mkdtemp(prefix="troupe-kv-")
        self.addCleanup(shutil.rmtree, d, True)
        self.kv_path = os.path.join(d, "kv.db")
        return ("--kv-backend", "sqlite", "--kv-path", self.kv_path)

    @contextlib.contextmanager
    def storage_lock(self):
        # The write lock of the database file; the server's busy handler
        # waits for it (up to 10 s) inside its storage call.
        con = sqlite3.connect(self.kv_path, isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            yield
            con.execute("ROLLBACK")
        finally:
            con.close()


if __name__ == "__main__":
    harness.main()
