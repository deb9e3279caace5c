"""troupe.kv.v1.KeyValue on PostgreSQL: the backend-independent suite of
test_kv.py, replicas sharing one database, and a database that is down or
goes away.

Needs TROUPE_TEST_PG_DSN (scripts/test sets it; by hand:
`export TROUPE_TEST_PG_DSN=$(scripts/pg-test-server start DIR)`), except for
the down-at-start test, which needs no database at all.
"""
import contextlib
import subprocess
import time
import unittest

import harness
import grpc
from stdproto.grpc.health.v1 import health_pb2, health_pb2_grpc
from troupe.kv.v1 import kv_pb2, kv_pb2_grpc

import test_kv
from test_kv import LONG, report, rpc_error

UNAVAILABLE = grpc.StatusCode.UNAVAILABLE


def require_pg(test):
    dsn = harness.pg_test_dsn()
    if not dsn:
        test.skipTest("%s is unset (scripts/test sets it; by hand: export %s=$(scripts/pg-test-server "
                      "start DIR))" % (harness.PG_DSN_ENV, harness.PG_DSN_ENV))
    return dsn


def scan_all(kv, request, timeout):
    return list(kv.Scan(request, timeout=timeout))


def postgres_args(dsn, *flags):
    return ("--kv-backend", "postgres", "--kv-dsn", dsn) + flags


class PostgresKvTest(test_kv.KvBehaviour, unittest.TestCase):
    def backend_args(self):
        self.kv_dsn = harness.pg_fresh_database(require_pg(self))
        return postgres_args(self.kv_dsn)

    @contextlib.contextmanager
    def storage_lock(self):
        # A session that holds the kv table exclusively until it rolls back.
        psql = subprocess.Popen(["psql", "-X", "-q", "-A", "-t", "-d", self.kv_dsn],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            psql.stdin.write("BEGIN;\nLOCK TABLE kv IN ACCESS EXCLUSIVE MODE;\nSELECT 'locked';\n")
            psql.stdin.flush()
            self.assertEqual(psql.stdout.readline().strip(), "locked")
            yield
            psql.stdin.write("ROLLBACK;\n")
        finally:
            psql.stdin.close()
            psql.wait(30)
            psql.stdout.close()

    def replicas(self, count=2):
        dsn = harness.pg_fresh_database(require_pg(self))
        servers = []
        for _ in range(count):
            s = harness.Server(*postgres_args(dsn))
            self.addCleanup(s.stop)
            servers.append(s)
        return servers

    def test_replicas_share_storage(self):
        a, b = [self.stub(s) for s in self.replicas()]
        self.assertEqual(a.Put(kv_pb2.PutRequest(key="k", value=b"\x00from a\xff"),
                               timeout=LONG).version, 1)
        r = b.Get(kv_pb2.GetRequest(key="k"), timeout=LONG)
        self.assertEqual((r.found, r.value, r.version), (True, b"\x00from a\xff", 1))
        self.assertEqual(b.Put(kv_pb2.PutRequest(key="k", value=b"from b"), timeout=LONG).version, 2)
        self.assertStored(a, "k", b"from b", 2)

        keys = ["rep-%d" % i for i in range(30)]
        for i, k in enumerate(keys):
            (a if i % 2 else b).Put(kv_pb2.PutRequest(key=k, value=b"%d" % i), timeout=LONG)
        for kv in (a, b):
            self.assertEqual(test_kv.scan_keys(kv, prefix="rep-"), sorted(keys))
            r = kv.MultiGet(kv_pb2.MultiGetRequest(keys=keys), timeout=LONG)
            self.assertEqual([e.value for e in r.entries], [b"%d" % i for i in range(30)])

        self.assertTrue(b.Delete(kv_pb2.DeleteRequest(key="k"), timeout=LONG).existed)
        self.assertAbsent(a, "k")
        self.assertFalse(a.Delete(kv_pb2.DeleteRequest(key="k"), timeout=LONG).existed)
        e = rpc_error(a.Put, kv_pb2.PutRequest(key="rep-1", value=b"x", if_version=0),
                      timeout=LONG)
        self.assertStatus(e, grpc.StatusCode.ABORTED, "if_version")

    def test_cas_race_across_replicas(self):
        servers = self.replicas()
        channels = [servers[n % 2].channel() for n in range(20)]
        for ch in channels:
            self.addCleanup(ch.close)
        stubs = [kv_pb2_grpc.KeyValueStub(ch) for ch in channels]
        self.run_cas_race(lambda n: stubs[n])

    def test_create_race_across_replicas(self):
        # if_version=0 from many clients on both replicas at once: one creator.
        servers = self.replicas()
        stubs = [self.stub(s) for s in servers]
        for key_no in range(5):
            key = "created-%d" % key_no
            codes = [None] * 20
            pending = list(range(20))
            while pending:
                futures = {n: stubs[n % 2].Put.future(
                    kv_pb2.PutRequest(key=key, value=b"%d" % n, if_version=0), timeout=LONG)
                    for n in pending}
                pending = []
                for n, f in futures.items():
                    codes[n] = f.code()
                    # Refused before it ran (the adaptive concurrency limit):
                    # nothing was applied, the client tries again.
                    if codes[n] == grpc.StatusCode.RESOURCE_EXHAUSTED:
                        pending.append(n)
                if pending:
                    time.sleep(0.05)
            winners = [n for n, c in enumerate(codes) if c == grpc.StatusCode.OK]
            self.assertEqual(len(winners), 1, [c.name for c in codes])
            self.assertEqual(set(codes), {grpc.StatusCode.OK, grpc.StatusCode.ABORTED})
            self.assertStored(stubs[1], key, b"%d" % winners[0], 1)


class PostgresOutageTest(unittest.TestCase):
    def assertUnavailable(self, fn, *args):
        t0 = time.monotonic()
        e = rpc_error(fn, *args, timeout=LONG)
        took = time.monotonic() - t0
        self.assertIsNotNone(e, "the call succeeded without a database")
        self.assertEqual(e.code(), UNAVAILABLE, "details: %r" % e.details())
        self.assertLess(took, 6.0, "UNAVAILABLE should not wait for the call's deadline")
        return took

    def all_calls(self, kv):
        return [
            (kv.Get, kv_pb2.GetRequest(key="k")),
            (kv.Put, kv_pb2.PutRequest(key="k", value=b"v")),
            (kv.Put, kv_pb2.PutRequest(key="k", value=b"v", if_version=0)),
            (kv.Delete, kv_pb2.DeleteRequest(key="k")),
            (kv.MultiGet, kv_pb2.MultiGetRequest(keys=["k", "other"])),
            (scan_all, kv, kv_pb2.ScanRequest()),
        ]

    def test_down_at_start_serves_unavailable(self):
        dsn = "host=127.0.0.1 port=1 dbname=troupe user=postgres connect_timeout=2"
        t0 = time.monotonic()
        server = harness.Server(*postgres_args(dsn))
        self.addCleanup(server.stop)
        started = time.monotonic() - t0
        ch = server.channel()
        self.addCleanup(ch.close)
        health = health_pb2_grpc.HealthStub(ch)
        for name in ("", "troupe.kv.v1.KeyValue"):
            r = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=LONG)
            self.assertEqual(r.status, health_pb2.HealthCheckResponse.SERVING, name)
        kv = kv_pb2_grpc.KeyValueStub(ch)
        took = []
        # Twice: at the first attempt and while the reconnects back off.
        for _ in range(2):
            for fn, *args in self.all_calls(kv):
                took.append(self.assertUnavailable(fn, *args))
            time.sleep(0.3)
        report("started in %.2f s without PostgreSQL; UNAVAILABLE after at most %.0f ms",
               started, max(took) * 1000)
        self.assertIsNone(server.proc.poll(), "the server exited")
        self.assertNotIn("INTERNAL", server.log())

    def test_postgres_comes_and_goes(self):
        dsn = require_pg(self)
        db = harness.pg_fresh_database(dsn)
        link = harness.TcpProxy(harness.dsn_field(db, "host") or "127.0.0.1",
                                harness.dsn_field(db, "port") or 5432)
        self.addCleanup(link.down)
        server = harness.Server(*postgres_args(
            harness.dsn_with(db, host="127.0.0.1", port=str(link.port), connect_timeout="2")))
        self.addCleanup(server.stop)
        ch = server.channel()
        self.addCleanup(ch.close)
        kv = kv_pb2_grpc.KeyValueStub(ch)
        for fn, *args in self.all_calls(kv):
            self.assertUnavailable(fn, *args)

        # The database appears after start: the schema is created then, and
        # calls succeed once the backoff lets the shards reconnect.
        link.up()
        recovered = self.wait_until_ok(kv, 15)
        report("PostgreSQL up after start: calls succeed %.2f s later", recovered)
        self.assertEqual(kv.Put(kv_pb2.PutRequest(key="kept", value=b"1"), timeout=LONG).version, 1)

        # The database goes away under a running server, and comes back.
        link.down()
        for fn, *args in self.all_calls(kv):
            self.assertUnavailable(fn, *args)
        link.up()
        recovered = self.wait_until_ok(kv, 15)
        report("PostgreSQL back after an outage: calls succeed %.2f s later", recovered)
        r = kv.Get(kv_pb2.GetRequest(key="kept"), timeout=LONG)
        self.assertEqual((r.found, r.value, r.version), (True, b"1", 1))
        self.assertEqual(test_kv.scan_keys(kv), ["k", "kept"])
        self.assertNotIn("INTERNAL", server.log())

    def wait_until_ok(self, kv, seconds):
        """Polls Put and Scan (every shard) until both succeed; only
        UNAVAILABLE is acceptable meanwhile. Returns how long it took."""
        t0 = time.monotonic()
        while True:
            e = rpc_error(kv.Put, kv_pb2.PutRequest(key="k", value=b"0"), timeout=LONG)
            if e is None:
                e = rpc_error(test_kv.scan_keys, kv)
            if e is None:
                return time.monotonic() - t0
            self.assertEqual(e.code(), UNAVAILABLE, "details: %r" % e.details())
            self.assertLess(time.monotonic() - t0, seconds, "still UNAVAILABLE: " + e.details())
            time.sleep(0.1)


if __name__ == "__main__":
    harness.main()
