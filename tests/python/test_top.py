"""`troupe top` as a person sees it: run in a real terminal (tmux) against
real hosts under load, its screen read back with capture-pane."""
import re
import shutil
import subprocess
import threading
import time
import unittest

import harness
import grpc
from troupe.kv.v1 import kv_pb2, kv_pb2_grpc

LONG = 10
GET_ROW = re.compile(r"troupe\.kv\.v1\.KeyValue/Get\s+([0-9.]+)\s+([0-9.]+)\s+(\S+)\s+(\S+)")


class Load(threading.Thread):
    """Gets, one after another, until stopped; some for an empty key (errors)."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.stub = kv_pb2_grpc.KeyValueStub(server.channel())
        self.done = threading.Event()
        self.calls = 0

    def run(self):
        while not self.done.is_set():
            key = "" if self.calls % 10 == 0 else "k"
            try:
                self.stub.Get(kv_pb2.GetRequest(key=key), timeout=LONG)
            except grpc.RpcError:
                pass
            self.calls += 1

    def stop(self):
        self.done.set()
        self.join(LONG)


class Tmux:
    def __init__(self, command):
        self.name = "troupe-top-test-%d" % id(self)
        # Its own server socket: works inside another tmux and leaves the
        # user's sessions alone.
        self.socket = ["-L", self.name]
        subprocess.run(["tmux", *self.socket, "new-session", "-d", "-s", self.name, "-x", "150",
                        "-y", "40", command], check=True)

    def screen(self):
        return subprocess.run(["tmux", *self.socket, "capture-pane", "-p", "-t", self.name],
                              check=True,
                              capture_output=True, text=True).stdout

    def close(self):
        subprocess.run(["tmux", *self.socket, "kill-server"], capture_output=True)


class TopTest(unittest.TestCase):
    def setUp(self):
        self.assertIsNotNone(shutil.which("tmux"), "tmux is not installed")

    def screen_until(self, tmux, predicate, timeout=LONG):
        until = time.time() + timeout
        while True:
            text = tmux.screen()
            if predicate(text) or time.time() > until:
                return text
            time.sleep(0.2)

    def test_shows_rates_errors_and_latency_per_method_of_several_hosts(self):
        with harness.Server("--kv-backend", "memory") as a, \
                harness.Server("--kv-backend", "memory") as b:
            load = Load(a)
            load.start()
            targets = " ".join("--target 127.0.0.1:%d" % s.metrics_port for s in (a, b))
            tmux = Tmux("%s top %s --interval-ms 500" % (harness.BINARY, targets))
            try:
                def busy(text):
                    m = GET_ROW.search(text)
                    return m is not None and float(m.group(1)) > 0 and float(m.group(2)) > 0
                text = self.screen_until(tmux, busy)
                self.assertTrue(busy(text), text)
                m = GET_ROW.search(text)
                calls, errors = float(m.group(1)), float(m.group(2))
                # One Get in ten is for an empty key: INVALID_ARGUMENT.
                self.assertLess(errors, calls / 4, text)
                self.assertNotEqual(m.group(4), "-", "no p99 shown:\n" + text)
                self.assertIn("127.0.0.1:%d  cpu " % a.metrics_port, text)
                # The idle host is there too, with nothing to show.
                self.assertIn("127.0.0.1:%d  cpu " % b.metrics_port, text)
                self.assertIn("(no calls)", text)
                self.assertEqual(text.count("troupe.kv.v1.KeyValue/Get"), 1, text)
                # It refreshes: the rate row keeps being redrawn while load runs.
                first = tmux.screen()
                time.sleep(1.2)
                self.assertNotEqual(tmux.screen(), first)
            finally:
                tmux.close()
                load.stop()

    def test_a_host_that_cannot_be_read_is_shown_as_unreachable(self):
        with harness.Server("--kv-backend", "memory") as a:
            tmux = Tmux("%s top --target 127.0.0.1:%d --target 127.0.0.1:1 --interval-ms 300"
                        % (harness.BINARY, a.metrics_port))
            try:
                text = self.screen_until(tmux, lambda t: "unreachable" in t)
                self.assertIn("127.0.0.1:1  unreachable:", text)
                self.assertIn("127.0.0.1:%d  cpu " % a.metrics_port, text)
            finally:
                tmux.close()


if __name__ == "__main__":
    harness.main()
