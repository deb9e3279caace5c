"""The host's logs as a log shipper reads them: log.access lines with the
fields of each call, and with log.format=json every line on stdout and stderr
one JSON object, protobuf's and gRPC's own lines included."""
import json
import time
import unittest

import harness
import grpc
from troupe.kv.v1 import kv_pb2, kv_pb2_grpc

LONG = 10
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = "00-%s-00f067aa0ba902b7-01" % TRACE_ID


def raw_call(channel, path, body, metadata=()):
    fn = channel.unary_unary(path, request_serializer=None, response_deserializer=None)
    try:
        fn(body, timeout=LONG, metadata=metadata)
    except grpc.RpcError as e:
        return e
    return None


def lines_until(read, count, timeout=LONG):
    """The non-empty lines of read() once there are `count` of them."""
    until = time.time() + timeout
    while True:
        lines = [l for l in read().splitlines() if l.strip()]
        if len(lines) >= count or time.time() > until:
            return lines
        time.sleep(0.02)


class AccessLogTest(unittest.TestCase):
    def test_all_logs_every_call_with_its_fields_as_json(self):
        with harness.Server("--kv-backend", "memory", "--log-access", "all",
                            "--log-format", "json") as server:
            ch = server.channel()
            kv = kv_pb2_grpc.KeyValueStub(ch)
            put = kv_pb2.PutRequest(key="a", value=b"12345")
            reply = kv.Put(put, timeout=LONG, metadata=[("traceparent", TRACEPARENT)])
            bad = raw_call(ch, "/troupe.kv.v1.KeyValue/Get", b"\x0a\x05abc")
            self.assertEqual(bad.code(), grpc.StatusCode.INVALID_ARGUMENT)
            raw_call(ch, "/no.Such/Method", b"")
            lines = lines_until(server.stdout, 3)
            records = [json.loads(l) for l in lines]
            self.assertEqual(len(records), 3, lines)
            by_method = {r["grpc_method"]: r for r in records}
            p = by_method["troupe.kv.v1.KeyValue/Put"]
            self.assertEqual(p["log"], "access")
            self.assertEqual(p["grpc_status"], "OK")
            self.assertEqual(p["request_bytes"], put.ByteSize())
            self.assertEqual(p["response_bytes"], reply.ByteSize())
            self.assertEqual(p["trace_id"], TRACE_ID)
            self.assertTrue(p["peer"].startswith("ipv4:127.0.0.1:"), p["peer"])
            self.assertGreater(p["duration_ms"], 0)
            self.assertNotIn("message", p)
            g = by_method["troupe.kv.v1.KeyValue/Get"]
            self.assertEqual(g["grpc_status"], "INVALID_ARGUMENT")
            self.assertEqual(g["request_bytes"], 5)
            self.assertEqual(g["response_bytes"], 0)
            self.assertTrue(g["message"].startswith("request: "), g["message"])
            self.assertNotIn("trace_id", g)
            self.assertEqual(by_method["/no.Such/Method"]["grpc_status"], "UNIMPLEMENTED")

    def test_errors_logs_only_calls_that_did_not_end_ok_in_text(self):
        with harness.Server("--kv-backend", "memory", "--log-access", "errors") as server:
            kv = kv_pb2_grpc.KeyValueStub(server.channel())
            for i in range(5):
                kv.Put(kv_pb2.PutRequest(key="k%d" % i, value=b"v"), timeout=LONG)
            with self.assertRaises(grpc.RpcError):
                kv.Put(kv_pb2.PutRequest(key="", value=b"v"), timeout=LONG)
            # An invalid traceparent is not a trace id.
            with self.assertRaises(grpc.RpcError):
                kv.Get(kv_pb2.GetRequest(key=""), timeout=LONG,
                       metadata=[("traceparent", "00-zz-00f067aa0ba902b7-01")])
            lines = lines_until(server.stdout, 2)
            time.sleep(0.2)  # nothing more comes
            lines = [l for l in server.stdout().splitlines() if l.strip()]
            self.assertEqual(len(lines), 2, lines)
            self.assertIn(" access troupe.kv.v1.KeyValue/Put peer=ipv4:127.0.0.1:", lines[0])
            self.assertIn(" status=INVALID_ARGUMENT ", lines[0])
            self.assertIn('message="key: ', lines[0])
            self.assertIn(" access troupe.kv.v1.KeyValue/Get ", lines[1])
            self.assertNotIn("trace_id=", lines[1])

    def test_off_by_default(self):
        with harness.Server("--kv-backend", "memory") as server:
            kv = kv_pb2_grpc.KeyValueStub(server.channel())
            with self.assertRaises(grpc.RpcError):
                kv.Get(kv_pb2.GetRequest(key=""), timeout=LONG)
            time.sleep(0.2)
            self.assertEqual(server.stdout(), "")


class JsonLogTest(unittest.TestCase):
    def test_every_stderr_line_is_json_including_protobuf_and_grpc(self):
        # GRPC_VERBOSITY=debug makes gRPC's core log its own lines at start.
        with harness.Server("--kv-backend", "memory", "--log-format", "json",
                            "--log-level", "debug", env={"GRPC_VERBOSITY": "debug"}) as server:
            ch = server.channel()
            # A string field (key) with invalid UTF-8: protobuf logs an error
            # for each such request.
            for _ in range(50):
                e = raw_call(ch, "/troupe.kv.v1.KeyValue/Get", b"\x0a\x02\xff\xfe")
                self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)
            # The next line allowed says how many were suppressed.
            time.sleep(1.1)
            raw_call(ch, "/troupe.kv.v1.KeyValue/Get", b"\x0a\x02\xff\xfe")
            server.signal()
            server.wait(30)
            lines = [l for l in server.log().splitlines() if l.strip()]
            records = []
            for l in lines:
                try:
                    records.append(json.loads(l))
                except ValueError:
                    self.fail("not a JSON object: %r" % l)
            msgs = [r["msg"] for r in records]
            self.assertTrue(any(m.startswith("grpc ") for m in msgs), msgs[:20])
            protobuf = [m for m in msgs if m.startswith("protobuf ")]
            self.assertTrue(protobuf, msgs[-20:])
            # 50 requests, at most 10 lines a second (plus a burst of 10).
            self.assertLess(len(protobuf), 50, protobuf)
            self.assertTrue(any(m.startswith("protobuf: ") and "log lines suppressed" in m
                                for m in msgs), msgs[-20:])


if __name__ == "__main__":
    harness.main()
