"""troupe.fanin.v1.FanIn through grpcio against the real binary.

Every test starts its own server. Events carry "<producer>:<n>" payloads so
that each subscriber can check, per topic, that seqs run 1, 2, 3, ... with
no gap or duplicate and that every producer's events keep their order.
"""
import collections
import os
import signal
import sys
import threading
import time
import unittest

import harness
import grpc
from troupe.fanin.v1 import fanin_pb2, fanin_pb2_grpc

LONG = 30

# A client that lets its receive window grow with BDP probing swallows
# megabytes without reading; with probing off the window stays ~64 KiB, so
# a client that stops reading really stops the server's writes.
SMALL_WINDOW = [("grpc.http2.bdp_probe", 0)]


def report(fmt, *args):
    print("    " + (fmt % args), file=sys.stderr, flush=True)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def trailers(err):
    return dict(err.trailing_metadata() or ())


def req(topic, payload=b"", producer=""):
    return fanin_pb2.PublishRequest(topic=topic, payload=payload, producer=producer)


class Subscriber(threading.Thread):
    """One Subscribe call read on its own thread. Construction returns once
    the response headers arrived, i.e. once the subscription is registered."""

    def __init__(self, stub, topics, start_after=None, pace=0.0, timeout=LONG * 4,
                 resume=False):
        super().__init__(daemon=True)
        self.stub, self.topics, self.timeout = stub, topics, timeout
        self.call = stub.Subscribe(
            fanin_pb2.SubscribeRequest(topics=topics, start_after=start_after or {}),
            timeout=timeout)
        self.call.initial_metadata()
        self.pace = pace
        # With `resume`, a cut-off is handled as the contract says: subscribe
        # again from the troupe-last-seq trailers (counted in `cutoffs`).
        self.resume = resume
        self.cutoffs = 0
        self.events = []
        self.error = None
        self.finished_ok = False
        self.lock = threading.Lock()
        self.start()

    def run(self):
        while True:
            try:
                for e in self.call:
                    with self.lock:
                        self.events.append(e)
                    if self.pace:
                        time.sleep(self.pace)
                self.finished_ok = True
                return
            except grpc.RpcError as e:
                if not (self.resume and e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED):
                    self.error = e
                    return
                self.cutoffs += 1
                positions = {t: int(trailers(e)["troupe-last-seq-" + t.lower()])
                             for t in self.topics}
                self.call = self.stub.Subscribe(
                    fanin_pb2.SubscribeRequest(topics=self.topics, start_after=positions),
                    timeout=self.timeout)

    def count(self, topic=None):
        with self.lock:
            return sum(1 for e in self.events if topic is None or e.topic == topic)

    def wait_for(self, predicate, timeout=LONG):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate(self) or not self.is_alive():
                return predicate(self)
            time.sleep(0.01)
        return predicate(self)

    def stop(self):
        self.call.cancel()
        self.join(LONG)


def check_topic_sequence(test, events, topic, expected_count, first_seq=1):
    """Seqs of `topic` run first_seq, first_seq + 1, ... exactly, and each
    producer's payload counters only increase."""
    seqs = [e.seq for e in events if e.topic == topic]
    test.assertEqual(seqs, list(range(first_seq, first_seq + expected_count)),
                     "topic %s: gap, duplicate or reordering" % topic)
    last = {}
    for e in events:
        if e.topic != topic:
            continue
        producer, n = e.payload.decode().split(":")[:2]
        n = int(n)
        test.assertGreater(n, last.get(producer, -1),
                           "producer %s out of order on %s" % (producer, topic))
        test.assertEqual(e.producer, producer)
        last[producer] = n


class FanInTest(unittest.TestCase):

    def start(self, *flags):
        server = harness.Server("--kv-backend", "memory", *flags)
        self.addCleanup(server.stop)
        return server

    def stub(self, server, options=()):
        ch = server.channel(options)
        self.addCleanup(ch.close)
        grpc.channel_ready_future(ch).result(timeout=LONG)
        return fanin_pb2_grpc.FanInStub(ch)

    def topics(self, stub):
        return {t.name: t for t in stub.ListTopics(fanin_pb2.ListTopicsRequest(), timeout=LONG).topics}

    def publish_error(self, stub, messages):
        try:
            stub.Publish(iter(messages), timeout=LONG)
        except grpc.RpcError as e:
            return e
        self.fail("Publish succeeded")

    def subscribe_error(self, stub, request, options_timeout=LONG):
        call = stub.Subscribe(request, timeout=options_timeout)
        try:
            for _ in call:
                pass
        except grpc.RpcError as e:
            return e
        self.fail("Subscribe ended OK")

    # -- many producers x many subscribers ------------------------------------

    def test_many_producers_many_subscribers_exact_seqs(self):
        server = self.start("--fanin-subscriber-buffer", "100000")
        stub = self.stub(server)
        topics = ["t.0", "t.1", "T-2"]
        subs = [Subscriber(stub, ["t.0"]), Subscriber(stub, ["t.1", "T-2"]),
                Subscriber(stub, topics), Subscriber(stub, ["T-2"])]
        producers, per_producer = 12, 400
        accepted = [0] * producers

        def produce(p):
            msgs = (req(topics[i % 3], ("p%d:%d:" % (p, i)).encode() + b"x" * 50, "p%d" % p)
                    for i in range(per_producer))
            accepted[p] = stub.Publish(msgs, timeout=LONG * 2).accepted

        started = time.time()
        threads = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.time() - started
        self.assertEqual(accepted, [per_producer] * producers)
        info = self.topics(stub)
        per_topic = {t: info[t].last_seq for t in topics}
        self.assertEqual(sum(per_topic.values()), producers * per_producer)
        for k, t in enumerate(topics):
            self.assertEqual(per_topic[t], producers * len(range(k, per_producer, 3)))
        expected = [["t.0"], ["t.1", "T-2"], topics, ["T-2"]]
        for s, wanted in zip(subs, expected):
            total = sum(per_topic[t] for t in wanted)
            self.assertTrue(s.wait_for(lambda x: x.count() >= total), "subscriber got %d of %d" % (s.count(), total))
            for t in wanted:
                check_topic_sequence(self, s.events, t, per_topic[t])
            self.assertIsNone(s.error)
        info = self.topics(stub)
        self.assertEqual([info[t].subscribers for t in topics], [2, 2, 3])
        for s in subs:
            s.stop()
        self.assertTrue(wait_until(lambda: all(t.subscribers == 0 for t in self.topics(stub).values())))
        report("%d producers x %d events in %.2f s through grpcio (%.0f events/s published)",
               producers, per_producer, took, producers * per_producer / took)

    # -- validation ----------------------------------------------------------

    def test_publish_validation_names_the_field_and_keeps_what_was_accepted(self):
        server = self.start("--fanin-max-payload-bytes", "1000")
        stub = self.stub(server)
        good = [req("v", b"%d:" % i, "p") for i in range(3)]
        cases = [
            (req("bad topic", b"x"), "topic"),
            (req("", b"x"), "topic"),
            (req("t" * 129, b"x"), "topic"),
            (req("v", b"x" * 1001), "payload"),
            (req("v", b"x", "p" * 257), "producer"),
        ]
        for i, (bad, field) in enumerate(cases):
            err = self.publish_error(stub, good + [bad, req("v", b"after")])
            self.assertEqual(err.code(), grpc.StatusCode.INVALID_ARGUMENT)
            # The message's index in the stream, then the field.
            self.assertTrue(err.details().startswith("request[3].%s:" % field), err.details())
            self.assertEqual(trailers(err).get("troupe-accepted"), "3")
            self.assertEqual(self.topics(stub)["v"].last_seq, 3 * (i + 1),
                             "events before the bad one stay accepted, none after it")
        # Largest valid names and payloads pass.
        ok = stub.Publish(iter([req("A" * 128, b"x" * 1000), req("a.b_c-D9", b"")]), timeout=LONG)
        self.assertEqual(ok.accepted, 2)

    def test_subscribe_validation_names_the_field(self):
        server = self.start("--fanin-retention", "10")
        stub = self.stub(server)
        cases = [
            (fanin_pb2.SubscribeRequest(), "topics"),
            (fanin_pb2.SubscribeRequest(topics=["ok", "no/slash"]), "topics[1]"),
            (fanin_pb2.SubscribeRequest(topics=["x" * 129]), "topics[0]"),
            (fanin_pb2.SubscribeRequest(topics=["a"], start_after={"b": 1}), "start_after"),
            (fanin_pb2.SubscribeRequest(topics=["Ab", "aB"]), "topics"),
        ]
        for request, field in cases:
            err = self.subscribe_error(stub, request)
            self.assertEqual(err.code(), grpc.StatusCode.INVALID_ARGUMENT, err.details())
            self.assertTrue(err.details().startswith(field + ":"), err.details())
        # Bytes that are no SubscribeRequest at all (a field 1 string cut
        # short) are refused too, with nothing delivered.
        ch = grpc.insecure_channel(server.target)
        raw_subscribe = ch.unary_stream("/troupe.fanin.v1.FanIn/Subscribe")
        call = raw_subscribe(b"\x0a\x05ab", timeout=LONG)
        with self.assertRaises(grpc.RpcError) as caught:
            for _ in call:
                self.fail("an event was delivered on a malformed request")
        self.assertEqual(caught.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertTrue(caught.exception.details().startswith("request:"),
                        caught.exception.details())
        ch.close()

    def test_max_topics(self):
        server = self.start("--fanin-max-topics", "2")
        stub = self.stub(server)
        self.assertEqual(stub.Publish(iter([req("a"), req("b"), req("a")]), timeout=LONG).accepted, 3)
        err = self.publish_error(stub, [req("a"), req("c")])
        self.assertEqual(err.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertIn("fanin.max_topics", err.details())
        self.assertEqual(trailers(err).get("troupe-accepted"), "1")
        err = self.subscribe_error(stub, fanin_pb2.SubscribeRequest(topics=["a", "d"]))
        self.assertEqual(err.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertEqual(sorted(self.topics(stub)), ["a", "b"])

    # -- slow subscribers ------------------------------------------------------

    def test_slow_subscriber_is_cut_off_and_resumes_without_loss(self):
        server = self.start("--fanin-subscriber-buffer", "32")
        stub = self.stub(server)
        slow_stub = self.stub(server, SMALL_WINDOW)
        n = 3000
        # Reads as fast as grpcio can. On a loaded machine even it may fall
        # 32 events behind and be cut off: it then resumes, and must still
        # lose nothing.
        fast = Subscriber(stub, ["slow", "Other"], resume=True)
        # Subscribed (headers received) but not reading yet.
        slow_call = slow_stub.Subscribe(fanin_pb2.SubscribeRequest(topics=["slow", "Other"]), timeout=LONG * 4)
        slow_call.initial_metadata()
        started = time.time()
        accepted = stub.Publish(
            iter([req("Other", b"p:%d:" % i, "p") for i in range(5)]
                 + [req("slow", b"p:%d:" % i + b"x" * 500, "p") for i in range(n)]),
            timeout=LONG).accepted
        took = time.time() - started
        self.assertEqual(accepted, n + 5, "a subscriber that does not read never slows producers")
        self.assertTrue(fast.wait_for(lambda s: s.count() >= n + 5))
        check_topic_sequence(self, fast.events, "slow", n)
        check_topic_sequence(self, fast.events, "Other", 5)
        self.assertIsNone(fast.error, "the other subscriber is not affected")

        got = []
        err = None
        try:
            for e in slow_call:
                got.append(e)
        except grpc.RpcError as e:
            err = e
        self.assertIsNotNone(err, "the slow subscriber was not cut off")
        self.assertEqual(err.code(), grpc.StatusCode.RESOURCE_EXHAUSTED, err.details())
        self.assertIn("fanin.subscriber_buffer", err.details())
        t = trailers(err)
        last_slow = int(t["troupe-last-seq-slow"])
        last_other = int(t["troupe-last-seq-other"])  # header names are lowercase
        self.assertLess(last_slow, n)
        self.assertEqual(last_slow, max(e.seq for e in got if e.topic == "slow"),
                         "the trailer names the last event the client actually got")
        self.assertEqual(last_other, max([e.seq for e in got if e.topic == "Other"] or [0]))
        report("slow subscriber cut off after %d of %d events (publish took %.2f s); "
               "the reading one was cut off and resumed %d times",
               len(got), n + 5, took, fast.cutoffs)

        # Resume: replay from the trailers, then live, with nothing lost.
        resumed = Subscriber(stub, ["slow", "Other"],
                             start_after={"slow": last_slow, "Other": last_other})
        stub.Publish(iter([req("slow", b"p:%d:" % (n + i), "p") for i in range(10)]), timeout=LONG)
        self.assertTrue(resumed.wait_for(lambda s: s.count("slow") >= n + 10 - last_slow))
        all_events = got + resumed.events
        check_topic_sequence(self, all_events, "slow", n + 10)
        check_topic_sequence(self, all_events, "Other", 5)
        resumed.stop()
        fast.stop()

    # -- retention -----------------------------------------------------------

    def test_resume_across_the_retention_seam(self):
        server = self.start("--fanin-retention", "1000", "--fanin-subscriber-buffer", "16")
        stub = self.stub(server)
        stub.Publish(iter([req("seam", b"p:%d:" % i, "p") for i in range(2500)]), timeout=LONG)
        # Retained: 1501..2500.
        err = self.subscribe_error(stub, fanin_pb2.SubscribeRequest(topics=["seam"], start_after={"seam": 1499}))
        self.assertEqual(err.code(), grpc.StatusCode.OUT_OF_RANGE)
        self.assertIn("oldest retained seq is 1501", err.details())
        self.assertTrue(err.details().startswith("start_after[seam]"), err.details())
        err = self.subscribe_error(stub, fanin_pb2.SubscribeRequest(topics=["seam"], start_after={"seam": 0}))
        self.assertEqual(err.code(), grpc.StatusCode.OUT_OF_RANGE)
        err = self.subscribe_error(stub, fanin_pb2.SubscribeRequest(topics=["seam"], start_after={"seam": 2501}))
        self.assertEqual(err.code(), grpc.StatusCode.OUT_OF_RANGE)
        self.assertIn("beyond the last seq 2500", err.details())

        # Exactly at the seam: 1000 retained events replayed through a
        # 16-event buffer (paced, never cut off), then live ones.
        sub = Subscriber(stub, ["seam"], start_after={"seam": 1500})
        self.assertTrue(sub.wait_for(lambda s: s.count() >= 1000))
        stub.Publish(iter([req("seam", b"p:%d:" % (2500 + i), "p") for i in range(20)]), timeout=LONG)
        self.assertTrue(sub.wait_for(lambda s: s.count() >= 1020))
        check_topic_sequence(self, sub.events, "seam", 1020, first_seq=1501)
        self.assertIsNone(sub.error)
        # Caught up: nothing replayed twice, nothing more.
        time.sleep(0.2)
        self.assertEqual(sub.count(), 1020)
        sub.stop()

        # Replay racing live publishing: no gap or duplicate at the seam.
        done = threading.Event()

        def publish_more():
            stub.Publish(iter([req("seam", b"q:%d:" % i, "q") for i in range(3000)]), timeout=LONG)
            done.set()

        t = threading.Thread(target=publish_more)
        t.start()
        time.sleep(0.01)
        last = self.topics(stub)["seam"].last_seq
        sub = Subscriber(stub, ["seam"], start_after={"seam": 2400})
        t.join()
        final = self.topics(stub)["seam"].last_seq
        sub.wait_for(lambda s: s.count() >= final - 2400)
        got = sub.count()
        report("replay from 2400 while publishing (last seq %d at subscribe, %d at end): got %d, %s",
               last, final, got, "cut off" if sub.error else "complete")
        check_topic_sequence(self, sub.events, "seam", got, first_seq=2401)
        if sub.error is not None:
            # A reader slower than the producers falls out of retention
            # while replaying, or overflows its 16-event buffer once live: it
            # is cut off, and the trailer says exactly where it stopped.
            self.assertEqual(sub.error.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
            self.assertEqual(int(trailers(sub.error)["troupe-last-seq-seam"]), 2400 + got)
        else:
            self.assertEqual(got, final - 2400)
        sub.stop()

    # -- flow control ----------------------------------------------------------

    def test_producer_flood_against_a_slow_topic_is_throttled(self):
        # A topic that takes at most 64 events per 20 ms: ~3,200 events/s,
        # far below what the producers offer.
        server = self.start("--fanin-topic-queue", "64", "--fanin-topic-delay-ms", "20",
                            "--fanin-retention", "2000")
        stub = self.stub(server)
        producers, payload = 10, 8192
        stop = threading.Event()
        pulled = [0] * producers
        accepted = [0] * producers

        def produce(p):
            def gen():
                i = 0
                while not stop.is_set():
                    pulled[p] += 1
                    yield req("flood", ("p%d:%d:" % (p, i)).encode() + b"x" * payload, "p%d" % p)
                    i += 1
            accepted[p] = stub.Publish(gen(), timeout=LONG * 3).accepted

        threads = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
        baseline = rss_kib(server.proc.pid)
        started = time.time()
        for t in threads:
            t.start()
        samples = []  # (seconds, written by the clients, numbered by the topic, RSS KiB)
        while time.time() - started < 8:
            time.sleep(0.5)
            samples.append((time.time() - started, sum(pulled), self.topics(stub)["flood"].last_seq,
                            rss_kib(server.proc.pid)))
        stop.set()
        for t in threads:
            t.join(LONG * 3)
        total = sum(accepted)
        # Accepted means queued: the topic numbers the last ones at its pace.
        self.assertTrue(wait_until(lambda: self.topics(stub)["flood"].last_seq >= total))
        self.assertEqual(self.topics(stub)["flood"].last_seq, total, "nothing lost")
        # The tail, replayed: every producer's last accepted event is there,
        # in order.
        tail = Subscriber(stub, ["flood"], start_after={"flood": total - 2000})
        self.assertTrue(tail.wait_for(lambda s: s.count() >= 2000))
        check_topic_sequence(self, tail.events, "flood", 2000, first_seq=total - 1999)
        last = {}
        for e in tail.events:
            last[e.producer] = int(e.payload.split(b":")[1])
        for p, n in last.items():
            self.assertEqual(n, accepted[int(p[1:])] - 1, "producer %s" % p)
        tail.stop()

        mid, end = samples[len(samples) // 2], samples[-1]
        rate = (end[2] - mid[2]) / (end[0] - mid[0])
        written = (end[1] - mid[1]) / (end[0] - mid[0])
        report("flood: %d producers x %d B for 8 s: topic takes %.0f/s, clients write %.0f/s; "
               "written but not yet taken: %d -> %d events; RSS %d before, %d -> %d KiB",
               producers, payload, rate, written, mid[1] - mid[2], end[1] - end[2], baseline,
               mid[3], end[3])
        self.assertLess(rate, 64 / 0.020 * 1.25, "the topic's pace")
        # Throttled: the producers write only as fast as the topic takes in.
        # What they wrote beyond that waits in HTTP/2 flow-control windows
        # (gRPC's, per stream), never in our queues.
        self.assertLess(written, rate * 1.5 + 100)
        # What the clients wrote beyond that stays put instead of growing
        # with time.
        self.assertLess(end[1] - end[2], (mid[1] - mid[2]) * 1.25 + 500)
        # Memory: our queues are bounded, so RSS is bounded by the retained
        # events plus gRPC's own per-stream flow-control windows (which its
        # BDP probing widens to tens of MB per stream on loopback; with
        # probing off on the server they stay ~64 KiB and RSS stays flat).
        retained_kib = 2000 * payload // 1024
        self.assertLess(max(s[3] for s in samples),
                        baseline + retained_kib * 2 + producers * 40 * 1024,
                        "RSS: %s" % samples)

    # -- cancellation ----------------------------------------------------------

    def test_subscribe_cancel_cycles_leave_nothing_behind(self):
        server = self.start()
        stub = self.stub(server)
        stub.Publish(iter([req("cyc", b"p:%d:" % i, "p") for i in range(100)]), timeout=LONG)
        pid = server.proc.pid

        def cycles(n):
            for i in range(n):
                request = fanin_pb2.SubscribeRequest(
                    topics=["cyc", "cyc2"], start_after={"cyc": 50} if i % 2 else {})
                call = stub.Subscribe(request, timeout=LONG)
                if i % 3:
                    call.initial_metadata()
                    if i % 2:
                        next(call)
                call.cancel()

        cycles(200)
        time.sleep(0.3)
        before = rss_kib(pid)
        started = time.time()
        cycles(1000)
        took = time.time() - started
        self.assertTrue(wait_until(lambda: all(t.subscribers == 0 for t in self.topics(stub).values())),
                        "subscriptions left registered: %s" % self.topics(stub))
        time.sleep(0.3)
        after = rss_kib(pid)
        report("1000 subscribe/cancel cycles in %.2f s: RSS %d -> %d KiB", took, before, after)
        self.assertLess(after, before + 2048)

        # Producers cancelled while held back by a full topic free their
        # message and their place in the queue's waiter list.
        slow = self.start("--fanin-topic-queue", "4", "--fanin-topic-delay-ms", "1000")
        sstub = self.stub(slow)
        futures = []
        for p in range(50):
            futures.append(sstub.Publish.future(
                iter([req("held", b"p%d:%d:" % (p, i) + b"x" * 1000, "p%d" % p) for i in range(50)]),
                timeout=LONG))
        time.sleep(0.5)
        for f in futures:
            f.cancel()
        self.assertTrue(wait_until(lambda: self.topics(sstub)["held"].last_seq >= 4))
        # Still serving, and the topic goes on at its own pace.
        ok = sstub.Publish(iter([req("other", b"x")]), timeout=LONG)
        self.assertEqual(ok.accepted, 1)

    # -- shutdown --------------------------------------------------------------

    def test_shutdown_delivers_accepted_events_then_ends_streams_ok(self):
        # A grace period far longer than the test allows: the streams must be
        # ended by the service's drain, not cancelled when the grace runs out.
        server = self.start("--fanin-topic-queue", "4000", "--fanin-topic-delay-ms", "100",
                            "--fanin-subscriber-buffer", "100000", "--server-shutdown-grace-ms", "60000")
        stub = self.stub(server)
        subs = [Subscriber(stub, ["down"]), Subscriber(stub, ["down", "idle"])]
        n = 3000
        # Accepted into the topic's queue at once; the topic hands out 256
        # events per 100 ms, so most are still queued when SIGTERM comes.
        self.assertEqual(stub.Publish(iter([req("down", b"p:%d:" % i, "p") for i in range(n)]),
                                      timeout=LONG).accepted, n)
        release = threading.Event()

        def idle():
            yield req("idle", b"p:0:", "p")
            release.wait(LONG)

        idle_call = stub.Publish.future(idle(), timeout=LONG)
        self.assertTrue(wait_until(lambda: self.topics(stub).get("idle") is not None
                                   and self.topics(stub)["idle"].last_seq == 1))
        queued_at_signal = n - self.topics(stub)["down"].last_seq
        started = time.time()
        server.signal(signal.SIGTERM)
        err = idle_call.exception(timeout=LONG)
        release.set()
        self.assertIsNotNone(err)
        self.assertEqual(err.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(trailers(err).get("troupe-accepted"), "1")
        for s in subs:
            s.join(LONG)
            # OK as the server ends it; UNAVAILABLE if the exiting host closed
            # the connection before the client read the trailers.
            self.assertTrue(s.finished_ok or s.error.code() == grpc.StatusCode.UNAVAILABLE,
                            "stream did not end OK: %s" % s.error)
            check_topic_sequence(self, s.events, "down", n)
        check_topic_sequence(self, subs[1].events, "idle", 1)
        self.assertEqual(server.wait(LONG), 0)
        self.assertLess(time.time() - started, 10)
        report("shutdown: %d events still queued at SIGTERM were delivered; exit after %.2f s",
               queued_at_signal, time.time() - started)
        self.assertGreater(queued_at_signal, 0)

    def test_list_topics(self):
        server = self.start()
        stub = self.stub(server)
        self.assertEqual(list(stub.ListTopics(fanin_pb2.ListTopicsRequest(), timeout=LONG).topics), [])
        stub.Publish(iter([req("b"), req("a"), req("b")]), timeout=LONG)
        s = Subscriber(stub, ["b", "c"])
        got = stub.ListTopics(fanin_pb2.ListTopicsRequest(), timeout=LONG).topics
        self.assertEqual([(t.name, t.last_seq, t.subscribers) for t in got],
                         [("a", 1, 0), ("b", 2, 1), ("c", 0, 1)])
        s.stop()


def wait_until(predicate, timeout=LONG):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


if __name__ == "__main__":
    harness.main()
