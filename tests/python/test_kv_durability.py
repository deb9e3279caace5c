"""kill -9 during a stream of acknowledged writes, restart on the same
storage: every acknowledged write is there (SQLite and PostgreSQL).

Each writer owns its keys and has at most one call in flight, so after the
restart a key holds exactly its last acknowledged state, or the state its
writer's single unacknowledged call would have produced.
"""
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import unittest

import harness
import grpc
from troupe.kv.v1 import kv_pb2, kv_pb2_grpc

WRITERS = 6
ROUNDS = 3
KEYS_PER_WRITER = 25


def report(fmt, *args):
    print("    " + (fmt % args), file=sys.stderr, flush=True)


def after(state, op, value):
    """The state of a key after `op` on `state` ((version, value), or None
    when absent)."""
    if op[0] == "delete":
        return None
    return ((state[0] if state else 0) + 1, value)


class Writer(threading.Thread):
    """Sequential Puts (unconditional and CAS) and Deletes on keys of its
    own, recording what the server acknowledged."""

    def __init__(self, server, round_no, n, killing):
        super().__init__()
        self.server, self.round_no, self.n, self.killing = server, round_no, n, killing
        self.acked = {}  # key -> (version, value), or None once deleted
        self.inflight = None  # (key, op, value) sent and not yet acknowledged
        self.count = 0
        self.error = None

    def run(self):
        with self.server.channel() as ch:
            kv = kv_pb2_grpc.KeyValueStub(ch)
            i = 0
            while True:
                key = "r%d-w%d-%02d" % (self.round_no, self.n, i % KEYS_PER_WRITER)
                cur = self.acked.get(key)
                if cur is not None and i % 7 == 6:
                    op = ("delete",)
                elif i % 2:
                    op = ("put", None)
                else:
                    op = ("put", cur[0] if cur else 0)
                value = b"r%d w%d i%d:" % (self.round_no, self.n, i) + bytes([i % 256]) * (i % 50)
                self.inflight = (key, op, value)
                try:
                    if op[0] == "delete":
                        existed = kv.Delete(kv_pb2.DeleteRequest(key=key), timeout=10).existed
                        if not existed:
                            self.error = "Delete of %r acknowledged existed=false" % key
                            return
                    else:
                        req = kv_pb2.PutRequest(key=key, value=value)
                        if op[1] is not None:
                            req.if_version = op[1]
                        version = kv.Put(req, timeout=10).version
                        if version != (cur[0] if cur else 0) + 1:
                            self.error = "Put of %r acknowledged version %d after %r" % (
                                key, version, cur)
                            return
                except grpc.RpcError as e:
                    if not self.killing.is_set():
                        self.error = "%s on %r before the kill: %s" % (e.code(), key, e.details())
                    return  # the server is gone: this is the end of the stream
                self.acked[key] = after(cur, op, value)
                self.inflight = None
                self.count += 1
                i += 1


class KillNineTest(unittest.TestCase):
    def run_kill9(self, storage_args):
        rng = random.Random()
        server = harness.Server(*storage_args)
        self.addCleanup(lambda: current[0].stop())
        current = [server]
        for round_no in range(ROUNDS):
            killing = threading.Event()
            writers = [Writer(server, round_no, n, killing) for n in range(WRITERS)]
            for w in writers:
                w.start()
            delay = rng.uniform(0.3, 1.0)
            time.sleep(delay)
            killing.set()
            server.proc.kill()  # SIGKILL
            server.proc.wait()
            for w in writers:
                w.join(30)
                self.assertFalse(w.is_alive(), "a writer did not notice the kill")
            self.assertEqual([w.error for w in writers if w.error], [])
            acked = sum(w.count for w in writers)
            report("round %d: SIGKILL after %.0f ms, %d writes acknowledged, %d in flight",
                   round_no, delay * 1000, acked, sum(1 for w in writers if w.inflight))
            self.assertGreaterEqual(acked, 20, "too few writes before the kill to prove anything")

            server.stop()
            server = harness.Server(*storage_args)
            current[0] = server
            with server.channel() as ch:
                kv = kv_pb2_grpc.KeyValueStub(ch)
                for w in writers:
                    keys = sorted(w.acked)
                    entries = kv.MultiGet(kv_pb2.MultiGetRequest(keys=keys), timeout=30).entries
                    for key, e in zip(keys, entries):
                        stored = (e.version, e.value) if e.found else None
                        allowed = [w.acked[key]]
                        if w.inflight and w.inflight[0] == key:
                            allowed.append(after(w.acked[key], w.inflight[1], w.inflight[2]))
                        self.assertIn(stored, allowed, "key %r after restart" % key)

    def test_sqlite(self):
        d = tempfile.mkdtemp(prefix="troupe-kv-durability-")
        self.addCleanup(shutil.rmtree, d, True)
        self.run_kill9(("--kv-backend", "sqlite", "--kv-path", os.path.join(d, "kv.db")))

    def test_postgres(self):
        dsn = harness.pg_test_dsn()
        if not dsn:
            self.skipTest("%s is unset (scripts/test sets it; by hand: export %s=$(scripts/pg-test-server "
                          "start DIR))" % (harness.PG_DSN_ENV, harness.PG_DSN_ENV))
        self.run_kill9(("--kv-backend", "postgres", "--kv-dsn", harness.pg_fresh_database(dsn)))


if __name__ == "__main__":
    harness.main()
