"""The host through grpcio, a client no one on this project wrote."""
import signal
import threading
import time
import unittest

import harness
import grpc
from stdproto.grpc.health.v1 import health_pb2, health_pb2_grpc
from stdproto.grpc.reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from troupe.kv.v1 import kv_pb2, kv_pb2_grpc


class HostTest(unittest.TestCase):
    def test_health_serving(self):
        with harness.Server("--kv-backend", "memory") as s, s.channel() as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            for name in ("", "troupe.kv.v1.KeyValue"):
                r = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
                self.assertEqual(r.status, health_pb2.HealthCheckResponse.SERVING, name)
            with self.assertRaises(grpc.RpcError) as e:
                stub.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=5)
            self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_reflection_lists_services(self):
        with harness.Server("--kv-backend", "memory") as s, s.channel() as ch:
            stub = reflection_pb2_grpc.ServerReflectionStub(ch)
            reqs = iter([reflection_pb2.ServerReflectionRequest(list_services="*")])
            names = set()
            for resp in stub.ServerReflectionInfo(reqs, timeout=5):
                names |= {x.name for x in resp.list_services_response.service}
            self.assertIn("troupe.kv.v1.KeyValue", names)
            self.assertIn("grpc.health.v1.Health", names)
            # The descriptor is served too, so tools can build requests.
            reqs = iter([reflection_pb2.ServerReflectionRequest(
                file_containing_symbol="troupe.kv.v1.KeyValue")])
            files = [r.file_descriptor_response for r in stub.ServerReflectionInfo(reqs, timeout=5)]
            self.assertTrue(files and files[0].file_descriptor_proto)

    def test_sigterm_drains_calls_in_flight(self):
        with harness.Server("--kv-backend", "memory", "--kv-latency-ms", "1000") as s, \
                s.channel() as ch:
            stub = kv_pb2_grpc.KeyValueStub(ch)
            futures = [stub.Get.future(kv_pb2.GetRequest(key="k%d" % i), timeout=30)
                       for i in range(100)]
            time.sleep(0.4)
            s.signal(signal.SIGTERM)
            results = []
            for f in futures:
                try:
                    f.result()
                    results.append("OK")
                except grpc.RpcError as e:
                    results.append(e.code().name)
            self.assertEqual(results, ["OK"] * 100)
            self.assertEqual(s.wait(10), 0)


if __name__ == "__main__":
    harness.main()
