"""/metrics of the real binary, after real grpcio calls, counted exactly.

Every family the pipeline keeps is checked against the calls this test made
(statuses, sizes of the serialized messages, shed reasons, `other` for a
method nobody serves), and the whole exposition is validated by Prometheus's
own `promtool check metrics`.
"""
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import harness
import grpc
from troupe.fanin.v1 import fanin_pb2, fanin_pb2_grpc
from troupe.kv.v1 import kv_pb2, kv_pb2_grpc

LONG = 10
GET = "troupe.kv.v1.KeyValue/Get"
PUT = "troupe.kv.v1.KeyValue/Put"
PUBLISH = "troupe.fanin.v1.FanIn/Publish"

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset(labels)): value} and {name: type}."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples, types


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def call_raw(channel, path, body):
    """A unary call with raw bytes as the request; returns the RpcError."""
    fn = channel.unary_unary(path, request_serializer=None, response_deserializer=None)
    try:
        fn(body, timeout=LONG)
    except grpc.RpcError as e:
        return e
    return None


class MetricsTest(unittest.TestCase):
    def scrape_until(self, server, done, timeout=10):
        """A call's end is counted once gRPC reports it done, a moment after
        the client has its answer: scrape until `done(samples)` holds."""
        until = time.time() + timeout
        while True:
            samples, types = parse(server.scrape())
            if done(samples) or time.time() > until:
                return samples, types
            time.sleep(0.05)

    def test_counts_statuses_sizes_and_unknown_methods_exactly(self):
        with harness.Server("--kv-backend", "memory") as server:
            self.assertIsNotNone(server.metrics_port, server.log())
            ch = server.channel()
            kv = kv_pb2_grpc.KeyValueStub(ch)
            puts = [kv_pb2.PutRequest(key="k%d" % i, value=b"v" * (10 * i)) for i in range(3)]
            put_replies = [kv.Put(p, timeout=LONG) for p in puts]
            gets = [kv_pb2.GetRequest(key="k1"), kv_pb2.GetRequest(key="absent")]
            get_replies = [kv.Get(g, timeout=LONG) for g in gets]
            # Not a GetRequest: a length-5 field with 3 bytes.
            bad = call_raw(ch, "/" + GET, b"\x0a\x05abc")
            self.assertEqual(bad.code(), grpc.StatusCode.INVALID_ARGUMENT)
            missing = call_raw(ch, "/troupe.kv.v1.KeyValue/NoSuchMethod", b"")
            self.assertEqual(missing.code(), grpc.StatusCode.UNIMPLEMENTED)
            fanin = fanin_pb2_grpc.FanInStub(ch)
            events = [fanin_pb2.PublishRequest(topic="t", payload=b"x" * n) for n in (1, 200, 3000)]
            accepted = fanin.Publish(iter(events), timeout=LONG)
            self.assertEqual(accepted.accepted, 3)

            s, types = self.scrape_until(server, lambda s: value(
                s, "grpc_server_call_duration_seconds_count", grpc_method=PUBLISH,
                grpc_status="OK") == 1 and value(
                s, "grpc_server_call_duration_seconds_count", grpc_method="other",
                grpc_status="UNIMPLEMENTED") == 1)

            self.assertEqual(types["grpc_server_call_started_total"], "counter")
            self.assertEqual(types["grpc_server_call_duration_seconds"], "histogram")
            self.assertEqual(value(s, "grpc_server_call_started_total", grpc_method=PUT), 3)
            self.assertEqual(value(s, "grpc_server_call_started_total", grpc_method=GET), 3)
            self.assertEqual(value(s, "grpc_server_call_started_total", grpc_method=PUBLISH), 1)
            self.assertEqual(value(s, "grpc_server_call_started_total", grpc_method="other"), 1)
            self.assertEqual(value(s, "grpc_server_call_started_total",
                                   grpc_method="troupe.kv.v1.KeyValue/Delete"), 0)
            dur = "grpc_server_call_duration_seconds_count"
            self.assertEqual(value(s, dur, grpc_method=GET, grpc_status="OK"), 2)
            self.assertEqual(value(s, dur, grpc_method=GET, grpc_status="INVALID_ARGUMENT"), 1)
            self.assertEqual(value(s, dur, grpc_method=PUT, grpc_status="OK"), 3)
            # Only statuses that happened have series.
            self.assertIsNone(value(s, dur, grpc_method=PUT, grpc_status="INTERNAL"))
            # The +Inf bucket is the count; every call took more than 0 s.
            self.assertEqual(value(s, "grpc_server_call_duration_seconds_bucket",
                                   grpc_method=PUT, grpc_status="OK", le="+Inf"), 3)
            self.assertEqual(value(s, "grpc_server_call_duration_seconds_bucket",
                                   grpc_method=PUT, grpc_status="OK", le="0"), 0)
            self.assertGreater(value(s, "grpc_server_call_duration_seconds_sum",
                                     grpc_method=PUT, grpc_status="OK"), 0)

            rcvd = "grpc_server_call_rcvd_total_compressed_message_size_bytes"
            sent = "grpc_server_call_sent_total_compressed_message_size_bytes"
            self.assertEqual(value(s, rcvd + "_sum", grpc_method=PUT, grpc_status="OK"),
                             sum(p.ByteSize() for p in puts))
            self.assertEqual(value(s, sent + "_sum", grpc_method=PUT, grpc_status="OK"),
                             sum(r.ByteSize() for r in put_replies))
            self.assertEqual(value(s, rcvd + "_sum", grpc_method=GET, grpc_status="OK"),
                             sum(g.ByteSize() for g in gets))
            self.assertEqual(value(s, sent + "_sum", grpc_method=GET, grpc_status="OK"),
                             sum(r.ByteSize() for r in get_replies))
            # The bad body was received (5 bytes) and nothing was sent back.
            self.assertEqual(value(s, rcvd + "_sum", grpc_method=GET,
                                   grpc_status="INVALID_ARGUMENT"), 5)
            self.assertEqual(value(s, sent + "_sum", grpc_method=GET,
                                   grpc_status="INVALID_ARGUMENT"), 0)
            # A client stream: every message it sent, summed into one call.
            self.assertEqual(value(s, rcvd + "_sum", grpc_method=PUBLISH, grpc_status="OK"),
                             sum(e.ByteSize() for e in events))
            self.assertEqual(value(s, rcvd + "_count", grpc_method=PUBLISH, grpc_status="OK"), 1)
            # 1 + 200 + 3000 bytes of payload, with topics and tags: 2 to 4 KiB.
            self.assertEqual(value(s, rcvd + "_bucket", grpc_method=PUBLISH, grpc_status="OK",
                                   le="2048"), 0)
            self.assertEqual(value(s, rcvd + "_bucket", grpc_method=PUBLISH, grpc_status="OK",
                                   le="4096"), 1)

            for m in (GET, PUT, PUBLISH, "other"):
                self.assertEqual(value(s, "troupe_server_calls_in_flight", grpc_method=m), 0, m)
            self.assertEqual(value(s, "troupe_build_info", version=server_version(server)), 1)
            self.assertGreater(value(s, "process_cpu_seconds_total"), 0)
            self.assertGreater(value(s, "process_resident_memory_bytes"), 1 << 20)
            self.assertGreaterEqual(value(s, "process_open_fds"), 3)
            self.assertGreaterEqual(value(s, "process_threads"), 2)
            self.assertGreater(value(s, "troupe_blocking_pool_threads"), 0)

    def test_shed_calls_are_counted_by_reason(self):
        # One Get per second per method, burst 1: of three at once, two shed.
        with harness.Server("--kv-backend", "memory", "--limits-method-rps", "1",
                            "--limits-method-burst", "1") as server:
            kv = kv_pb2_grpc.KeyValueStub(server.channel())
            codes = []
            for _ in range(3):
                try:
                    kv.Get(kv_pb2.GetRequest(key="a"), timeout=LONG)
                    codes.append(grpc.StatusCode.OK)
                except grpc.RpcError as e:
                    codes.append(e.code())
            self.assertEqual(codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED), 2, codes)
            s, _ = self.scrape_until(server, lambda s: value(
                s, "grpc_server_call_duration_seconds_count", grpc_method=GET,
                grpc_status="RESOURCE_EXHAUSTED") == 2)
            self.assertEqual(value(s, "troupe_server_calls_shed_total", grpc_method=GET,
                                   reason="rate_limit"), 2)
            self.assertEqual(value(s, "grpc_server_call_duration_seconds_count",
                                   grpc_method=GET, grpc_status="OK"), 1)

    def test_a_service_metric_kv_storage_duration_by_backend_and_op(self):
        # kv registers it through the public rt::metrics API, as a user's
        # service would.
        with tempfile.TemporaryDirectory() as d:
            with harness.Server("--kv-backend", "sqlite", "--kv-path",
                                os.path.join(d, "kv.db")) as server:
                kv = kv_pb2_grpc.KeyValueStub(server.channel())
                for i in range(2):
                    kv.Put(kv_pb2.PutRequest(key="k%d" % i, value=b"v"), timeout=LONG)
                kv.Get(kv_pb2.GetRequest(key="k0"), timeout=LONG)
                name = "troupe_kv_storage_duration_seconds"
                # Timed until the storage call returns, just after it answered.
                s, types = self.scrape_until(server, lambda s: value(
                    s, name + "_count", backend="sqlite", op="get") == 1)
                self.assertEqual(types[name], "histogram")
                self.assertEqual(value(s, name + "_count", backend="sqlite", op="put"), 2)
                self.assertEqual(value(s, name + "_count", backend="sqlite", op="get"), 1)
                self.assertEqual(value(s, name + "_count", backend="sqlite", op="scan"), 0)
                self.assertGreater(value(s, name + "_sum", backend="sqlite", op="put"), 0)

    def test_fanin_counts_per_topic_with_a_bounded_label_set(self):
        with harness.Server("--kv-backend", "memory", "--fanin-retention", "5",
                            "--fanin-metrics-topics", "1") as server:
            stub = fanin_pb2_grpc.FanInStub(server.channel())
            live = stub.Subscribe(fanin_pb2.SubscribeRequest(topics=["a"]), timeout=LONG)
            live.initial_metadata()  # registered with the topic
            stub.Publish(iter([fanin_pb2.PublishRequest(topic="a", payload=b"%d" % i)
                               for i in range(8)]), timeout=LONG)
            self.assertEqual([e.seq for _, e in zip(range(8), live)], list(range(1, 9)))
            live.cancel()
            # Resuming after seq 4: 5..8 come from the ring (it holds the last 5).
            resumed = stub.Subscribe(fanin_pb2.SubscribeRequest(topics=["a"],
                                                                start_after={"a": 4}),
                                     timeout=LONG)
            self.assertEqual([e.seq for _, e in zip(range(4), resumed)], [5, 6, 7, 8])
            resumed.cancel()
            # A second topic is past fanin.metrics_topics: it counts as other.
            stub.Publish(iter([fanin_pb2.PublishRequest(topic="b", payload=b"x")] * 2),
                         timeout=LONG)

            s, types = self.scrape_until(server, lambda s: value(
                s, "troupe_fanin_events_accepted_total", topic="other") == 2)
            self.assertEqual(types["troupe_fanin_events_accepted_total"], "counter")
            self.assertEqual(value(s, "troupe_fanin_events_accepted_total", topic="a"), 8)
            self.assertEqual(value(s, "troupe_fanin_retention_evictions_total", topic="a"), 3)
            self.assertEqual(value(s, "troupe_fanin_events_delivered_total", topic="a"), 12)
            self.assertEqual(value(s, "troupe_fanin_events_replayed_total", topic="a"), 4)
            self.assertIsNone(value(s, "troupe_fanin_events_accepted_total", topic="b"))
            self.assertEqual(value(s, "troupe_fanin_topics"), 2)
            self.assertEqual(value(s, "troupe_fanin_subscriber_cutoffs_total"), 0)
            self.assertEqual(value(s, "troupe_fanin_producers_throttled_total"), 0)

    def test_fanin_counts_a_cut_off_subscriber(self):
        with harness.Server("--kv-backend", "memory", "--fanin-subscriber-buffer", "1") as server:
            # No BDP probing: the client's window stays at 64 KiB, so what a
            # client that reads nothing can take is small.
            sub_channel = server.channel(options=[("grpc.http2.bdp_probe", 0)])
            idle = fanin_pb2_grpc.FanInStub(sub_channel).Subscribe(
                fanin_pb2.SubscribeRequest(topics=["c"]), timeout=LONG * 3)
            idle.initial_metadata()
            stub = fanin_pb2_grpc.FanInStub(server.channel())
            stub.Publish(iter([fanin_pb2.PublishRequest(topic="c", payload=b"p" * 1000)] * 2000),
                         timeout=LONG * 3)
            with self.assertRaises(grpc.RpcError) as e:
                for _ in idle:
                    pass
            self.assertEqual(e.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
            s, _ = self.scrape_until(server, lambda s: value(
                s, "grpc_server_call_duration_seconds_count",
                grpc_method="troupe.fanin.v1.FanIn/Subscribe",
                grpc_status="RESOURCE_EXHAUSTED") == 1)
            self.assertEqual(value(s, "troupe_fanin_subscriber_cutoffs_total"), 1)
            self.assertEqual(value(s, "troupe_fanin_events_accepted_total", topic="c"), 2000)

    def test_fanin_counts_throttled_producers(self):
        # A topic that takes one event per 5 ms through a queue of one.
        with harness.Server("--kv-backend", "memory", "--fanin-topic-queue", "1",
                            "--fanin-topic-delay-ms", "5") as server:
            stub = fanin_pb2_grpc.FanInStub(server.channel())
            stub.Publish(iter([fanin_pb2.PublishRequest(topic="d", payload=b"p")] * 20),
                         timeout=LONG)
            s, _ = parse(server.scrape())
            self.assertGreater(value(s, "troupe_fanin_producers_throttled_total"), 0)

    def test_exposition_passes_promtool(self):
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool (Debian's prometheus package) is not installed")
        with harness.Server("--kv-backend", "memory") as server:
            kv = kv_pb2_grpc.KeyValueStub(server.channel())
            kv.Put(kv_pb2.PutRequest(key="a", value=b"1"), timeout=LONG)
            call_raw(server.channel(), "/nope.Service/Method", b"")
            text = server.scrape()
            r = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                               capture_output=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(r.stdout + r.stderr, "", "promtool has lint findings")

    def test_only_get_and_head_are_served(self):
        with harness.Server("--kv-backend", "memory") as server:
            url = "http://127.0.0.1:%d/metrics" % server.metrics_port
            with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"),
                                        timeout=10) as r:
                self.assertEqual(r.status, 200)
                self.assertTrue(r.headers["Content-Type"].startswith("text/plain; version=0.0.4"))
            with self.assertRaises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(urllib.request.Request(url, data=b"x", method="POST"),
                                       timeout=10)
            self.assertEqual(e.exception.code, 405)

    def test_empty_address_turns_the_endpoint_off(self):
        with harness.Server("--kv-backend", "memory", "--metrics-listen", "") as server:
            self.assertIsNone(server.metrics_port)
            self.assertNotIn("metrics on", server.log())

    def test_an_address_in_use_stops_start_up_naming_the_key(self):
        with harness.Server("--kv-backend", "memory") as first:
            taken = "127.0.0.1:%d" % first.metrics_port
            r = subprocess.run([harness.BINARY, "serve", "--server-listen", "127.0.0.1:0",
                                "--kv-backend", "memory", "--metrics-listen", taken],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("metrics.listen", r.stderr)


def server_version(server):
    m = re.search(r"troupe (\S+) listening on", server.log())
    return m.group(1)


if __name__ == "__main__":
    harness.main()
