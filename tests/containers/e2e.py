"""End-to-end checks of the compose deployment: troupe replicas on shared
PostgreSQL behind the HAProxy gRPC load balancer.

tests/containers/run builds the images, starts the stack and runs this with
/usr/bin/python3; it cleans up afterwards. Environment it sets:
  E2E_COMPOSE   JSON list: the compose command with -p and -f
  E2E_PROJECT   compose project name
  E2E_LB        host:port of the load balancer as published on the host
  E2E_ONLY      optional comma-separated phase names to run (debugging)
Each phase prints what it measured; any failed expectation raises and ends
the run with a non-zero exit.
"""
import collections
import concurrent.futures
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))
import harness  # noqa: E402  (generates the grpcio stubs)
import grpc  # noqa: E402
from stdproto.grpc.health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from stdproto.grpc.reflection.v1alpha import reflection_pb2, reflection_pb2_grpc  # noqa: E402
from troupe.kv.v1 import kv_pb2, kv_pb2_grpc  # noqa: E402

COMPOSE = json.loads(os.environ["E2E_COMPOSE"])
PROJECT = os.environ["E2E_PROJECT"]
LB = os.environ["E2E_LB"]
ONLY = set(filter(None, os.environ.get("E2E_ONLY", "").split(",")))

OK = grpc.StatusCode.OK
CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0)]
# Clients of a replicated service retry UNAVAILABLE: it is what a replica
# that is draining or gone answers (or what the channel sees), and the LB
# sends the retry to a replica that is up.
RETRY_CONFIG = json.dumps({
    "methodConfig": [{
        "name": [{"service": "troupe.kv.v1.KeyValue"}],
        "retryPolicy": {
            "maxAttempts": 5,
            # Backoff is random in [0, b]: spread the retries over a couple
            # of seconds, longer than the LB takes to notice a draining replica.
            "initialBackoff": "0.5s",
            "maxBackoff": "2s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        },
    }]
})
RETRY_OPTIONS = CHANNEL_OPTIONS + [("grpc.enable_retries", 1), ("grpc.service_config", RETRY_CONFIG)]


class Failure(AssertionError):
    pass


def check(cond, fmt, *args):
    if not cond:
        raise Failure(fmt % args)


def say(fmt, *args):
    print(fmt % args if args else fmt, flush=True)


# --- docker and compose -------------------------------------------------------

def run(cmd, timeout=300, env=None, check_rc=True, stderr_too=False):
    full_env = dict(os.environ)
    full_env.update(env or {})
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env)
    if check_rc and p.returncode != 0:
        raise Failure("%s failed (%d):\n%s%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    return p.stdout + p.stderr if stderr_too else p.stdout


def compose(*args, env=None, timeout=300):
    return run(COMPOSE + list(args), env=env, timeout=timeout)


def containers(service, all_states=False):
    """Containers of a compose service: id, hostname (what troupe-replica
    carries), name, ip on the project network, state."""
    cmd = ["docker", "ps", "-q", "--no-trunc",
           "--filter", "label=com.docker.compose.project=" + PROJECT,
           "--filter", "label=com.docker.compose.service=" + service]
    if all_states:
        cmd.insert(2, "-a")
    ids = run(cmd).split()
    out = []
    for cid in ids:
        info = json.loads(run(["docker", "inspect", cid]))[0]
        nets = info["NetworkSettings"]["Networks"] or {}
        ip = next((n["IPAddress"] for n in nets.values() if n.get("IPAddress")), "")
        out.append({
            "id": cid, "hostname": info["Config"]["Hostname"], "name": info["Name"].lstrip("/"),
            "ip": ip, "state": info["State"]["Status"], "exit_code": info["State"]["ExitCode"],
            "health": (info["State"].get("Health") or {}).get("Status", ""),
        })
    return sorted(out, key=lambda c: c["name"])


def lb_ip():
    (lb,) = containers("lb")
    return lb["ip"]


def lb_servers(backend="troupe"):
    """(name, status, address) of the LB's resolved server slots."""
    url = "http://%s:8404/stats;csv" % lb_ip()
    with urllib.request.urlopen(url, timeout=5) as r:
        lines = r.read().decode().splitlines()
    header = lines[0].lstrip("# ").split(",")
    rows = [dict(zip(header, line.split(","))) for line in lines[1:] if line]
    out = []
    for row in rows:
        if row["pxname"] != backend or row["svname"] in ("FRONTEND", "BACKEND"):
            continue
        if row["status"].startswith("MAINT"):
            continue  # an empty slot of server-template
        out.append((row["svname"], row["status"], row.get("addr", "")))
    return out


def wait_lb(ready_ips, timeout=60, backend="troupe"):
    """Until the LB has exactly these replicas UP (and no other)."""
    want = sorted(ready_ips)
    deadline = time.time() + timeout
    seen = None
    while time.time() < deadline:
        try:
            seen = lb_servers(backend)
        except OSError as e:
            seen = str(e)
        else:
            up = sorted(a.split(":")[0] for _, st, a in seen if st == "UP")
            if up == want:
                return
        time.sleep(0.2)
    raise Failure("LB backend %s did not reach UP=%s within %d s; last: %s" % (backend, want, timeout, seen))


def wait_replicas(n, timeout=120):
    """n running, healthy replicas, all UP in the LB; returns them."""
    deadline = time.time() + timeout
    reps = []
    while time.time() < deadline:
        reps = [c for c in containers("troupe") if c["state"] == "running"]
        if len(reps) == n and all(c["health"] == "healthy" for c in reps):
            break
        time.sleep(0.3)
    else:
        raise Failure("wanted %d healthy replicas, have %s" % (n, [(c["name"], c["health"]) for c in reps]))
    wait_lb([c["ip"] for c in reps], timeout=max(5, deadline - time.time()))
    wait_lb([c["ip"] for c in reps], timeout=max(5, deadline - time.time()), backend="fanin")
    return reps


def replica_of(call):
    for k, v in call.trailing_metadata() or ():
        if k == "troupe-replica":
            return v
    return None


# --- load ---------------------------------------------------------------------

class Load:
    """Calls at a fixed rate through one channel; records every outcome."""

    def __init__(self, channel, rate, make_call, deadline_s=10.0):
        self.stub = kv_pb2_grpc.KeyValueStub(channel)
        self.rate = rate
        self.make_call = make_call
        self.deadline_s = deadline_s
        self.results = []  # (start, end, code, replica, details)
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.pending = 0
        self.drained = threading.Condition(self.lock)
        self.thread = None
        self.t0 = None

    def _done(self, start, fut):
        end = time.monotonic()
        try:
            fut.result()
            code, details = OK, ""
        except grpc.RpcError as e:
            code, details = e.code(), "%s [%s]" % (e.details(), e.debug_error_string())
        except grpc.FutureCancelledError:
            code, details = grpc.StatusCode.CANCELLED, "cancelled by the test"
        try:
            rep = replica_of(fut)
        except Exception:
            rep = None
        with self.lock:
            self.results.append((start, end, code, rep, details))
            self.pending -= 1
            self.drained.notify_all()

    def _loop(self):
        interval = 1.0 / self.rate
        n = 0
        while not self.stop_flag.is_set():
            target = self.t0 + n * interval
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            start = time.monotonic()
            with self.lock:
                self.pending += 1
            fut = self.make_call(self.stub, n, self.deadline_s)
            fut.add_done_callback(lambda f, s=start: self._done(s, f))
            n += 1

    def start(self):
        self.t0 = time.monotonic()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def now(self):
        return time.monotonic()

    def stop(self, drain_timeout=60):
        self.stop_flag.set()
        self.thread.join()
        deadline = time.monotonic() + drain_timeout
        with self.lock:
            while self.pending > 0 and time.monotonic() < deadline:
                self.drained.wait(0.5)
            check(self.pending == 0, "%d calls still pending %d s after the load stopped",
                  self.pending, drain_timeout)
        return self.results


def mixed_call(prefix):
    """Half Puts, half Gets over 200 keys."""
    def call(stub, n, deadline_s):
        key = "%s/%d" % (prefix, n % 200)
        if n % 2 == 0:
            return stub.Put.future(kv_pb2.PutRequest(key=key, value=b"v%d" % n), timeout=deadline_s)
        return stub.Get.future(kv_pb2.GetRequest(key=key), timeout=deadline_s)
    return call


def summarize(results, names):
    codes = collections.Counter(r[2].name for r in results)
    by_rep = collections.Counter(names.get(r[3], r[3]) for r in results if r[2] == OK)
    lat = sorted(r[1] - r[0] for r in results)
    p = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: 0)
    return codes, by_rep, "p50 %.0f ms, p99 %.0f ms, max %.0f ms" % (p(0.5), p(0.99), p(1.0))


def failures(results):
    return [r for r in results if r[2] != OK]


def show_failures(results, limit=5):
    bad = failures(results)
    t0 = min(r[0] for r in results)
    return "; ".join("%s %s (started at %.2f s, ended at %.2f s of the load)"
                     % (r[2].name, r[4], r[0] - t0, r[1] - t0) for r in bad[:limit])


# --- phases -------------------------------------------------------------------

def lb_channel(retry=True):
    return grpc.insecure_channel(LB, options=RETRY_OPTIONS if retry else CHANNEL_OPTIONS)


def replica_names(reps):
    return {c["hostname"]: c["name"] for c in reps}


def phase_image():
    info = json.loads(run(["docker", "image", "inspect", "troupe:latest"]))[0]
    cfg = info["Config"]
    size_mb = info["Size"] / 1e6
    say("  troupe:latest %.0f MB, user %s, entrypoint %s, volumes %s, ports %s",
        size_mb, cfg["User"], cfg["Entrypoint"], list(cfg["Volumes"] or {}), list(cfg["ExposedPorts"] or {}))
    check(size_mb <= 150, "runtime image is %.0f MB, more than 150 MB", size_mb)
    check(cfg["User"] not in ("", "root", "0"), "image runs as root")
    check(cfg["Entrypoint"] == ["troupe", "serve"], "entrypoint is %s", cfg["Entrypoint"])
    check("/data" in (cfg["Volumes"] or {}), "no /data volume")
    check("50051/tcp" in (cfg["ExposedPorts"] or {}), "50051 not exposed")
    check("9464/tcp" in (cfg["ExposedPorts"] or {}), "9464 (/metrics) not exposed")
    check(cfg.get("Healthcheck"), "no HEALTHCHECK")
    env = dict(e.split("=", 1) for e in cfg["Env"])
    check(env.get("TROUPE_SERVER_LISTEN") == "0.0.0.0:50051", "TROUPE_SERVER_LISTEN=%s",
          env.get("TROUPE_SERVER_LISTEN"))
    check(env.get("TROUPE_KV_PATH") == "/data/kv.db", "TROUPE_KV_PATH=%s", env.get("TROUPE_KV_PATH"))
    rep = containers("troupe")[0]
    uid = run(["docker", "exec", rep["id"], "id", "-u"]).strip()
    check(uid != "0", "replica process runs as uid 0")
    pid1 = run(["docker", "exec", rep["id"], "cat", "/proc/1/cmdline"]).replace("\0", " ").strip()
    say("  in a replica: uid %s, PID 1 is `%s`", uid, pid1)
    check(pid1.startswith("troupe serve"), "PID 1 is `%s`, not troupe (signals would not reach it)", pid1)


def phase_distribution():
    reps = wait_replicas(3)
    names = replica_names(reps)
    stub = kv_pb2_grpc.KeyValueStub(lb_channel(retry=False))
    total, window = 3000, 64
    sem = threading.Semaphore(window)
    lock = threading.Lock()
    outcomes = []

    def done(fut):
        try:
            fut.result()
            code = OK
        except grpc.RpcError as e:
            code = e.code()
        with lock:
            outcomes.append((code, replica_of(fut)))
        sem.release()

    t0 = time.monotonic()
    for i in range(total):
        sem.acquire()
        key = "e2e/dist/%d" % (i % 300)
        if i % 3 == 0:
            f = stub.Put.future(kv_pb2.PutRequest(key=key, value=b"x%d" % i), timeout=10)
        else:
            f = stub.Get.future(kv_pb2.GetRequest(key=key), timeout=10)
        f.add_done_callback(done)
    for _ in range(window):
        sem.acquire()
    took = time.monotonic() - t0
    codes = collections.Counter(c.name for c, _ in outcomes)
    by_rep = collections.Counter(names.get(r, r) for c, r in outcomes if c == OK)
    say("  %d calls in %.1f s (%.0f/s): %s; per replica %s", total, took, total / took,
        dict(codes), dict(by_rep))
    check(codes == {"OK": total}, "not every call succeeded: %s", dict(codes))
    check(len(by_rep) == 3, "calls reached %d replicas, not 3: %s", len(by_rep), dict(by_rep))
    for name, n in by_rep.items():
        check(n >= 0.2 * total, "replica %s served %d calls, less than 20%%", name, n)
    # Each replica's /metrics counts at least the calls it answered here.
    for rep in reps:
        name = names.get(rep["hostname"], rep["hostname"])
        started = kv_calls_started(rep["ip"])
        say("  %s /metrics: %d kv Get+Put started", name, started)
        check(started >= by_rep.get(name, 0), "replica %s counts %d kv calls in /metrics, "
              "served %d", name, started, by_rep.get(name, 0))


def kv_calls_started(ip):
    """grpc_server_call_started_total for kv Get and Put on a replica."""
    with urllib.request.urlopen("http://%s:9464/metrics" % ip, timeout=5) as r:
        text = r.read().decode()
    total = 0
    for line in text.splitlines():
        for m in ("troupe.kv.v1.KeyValue/Get", "troupe.kv.v1.KeyValue/Put"):
            if line.startswith('grpc_server_call_started_total{grpc_method="%s"}' % m):
                total += int(float(line.split()[-1]))
    return total


def phase_shared_storage():
    reps = wait_replicas(3)
    stubs = []
    for c in reps:
        ch = grpc.insecure_channel("%s:50051" % c["ip"], options=CHANNEL_OPTIONS)
        stubs.append((c, kv_pb2_grpc.KeyValueStub(ch)))
    key = "e2e/shared/%d" % random.randrange(1 << 30)
    value = b"written through %s" % reps[0]["hostname"].encode()
    put, call = stubs[0][1].Put.with_call(kv_pb2.PutRequest(key=key, value=value), timeout=10)
    check(replica_of(call) == reps[0]["hostname"], "direct call answered by %s", replica_of(call))
    for c, stub in stubs[1:]:
        got, call = stub.Get.with_call(kv_pb2.GetRequest(key=key), timeout=10)
        check(replica_of(call) == c["hostname"], "direct call answered by %s", replica_of(call))
        check(got.found and got.value == value and got.version == put.version,
              "%s read %s (version %d), want %r (version %d)", c["name"], got.value, got.version,
              value, put.version)
    # A conditional write through another replica sees the same version.
    put2 = stubs[1][1].Put(kv_pb2.PutRequest(key=key, value=b"second", if_version=put.version),
                           timeout=10)
    got = stubs[2][1].Get(kv_pb2.GetRequest(key=key), timeout=10)
    check(got.value == b"second" and got.version == put2.version == put.version + 1,
          "CAS through replica 2 not seen by replica 3: %s", got)
    say("  Put via %s (version %d) read back via %s; CAS via %s seen via %s",
        reps[0]["name"], put.version, ", ".join(c["name"] for c, _ in stubs[1:]),
        reps[1]["name"], reps[2]["name"])


def phase_kill():
    reps = wait_replicas(3)
    names = replica_names(reps)
    victim = reps[1]
    rate, duration, kill_at = 100, 20.0, 6.0
    load = Load(lb_channel(), rate, mixed_call("e2e/kill"), deadline_s=10).start()
    time.sleep(kill_at)
    t_kill = load.now()
    run(["docker", "kill", victim["id"]])
    killed_after = load.now() - t_kill
    time.sleep(duration - kill_at)
    results = load.stop()
    codes, by_rep, lat = summarize(results, names)
    after = collections.Counter(names.get(r[3], r[3]) for r in results if r[0] > t_kill + 1 and r[2] == OK)
    say("  %d calls at %d/s for %.0f s, `docker kill %s` at %.0f s (took %.2f s): %s",
        len(results), rate, duration, victim["name"], kill_at, killed_after, dict(codes))
    say("  per replica %s; after the kill %s; %s", dict(by_rep), dict(after), lat)
    check(not failures(results), "%d calls failed: %s", len(failures(results)), show_failures(results))
    check(len(results) >= rate * duration * 0.95, "only %d calls were made", len(results))
    check(victim["name"] not in after, "the killed replica answered after it was killed")
    # Back to three replicas for the next phases.
    compose("up", "-d", "--no-recreate", "--scale", "troupe=3")
    wait_replicas(3)


def recreate_with_latency(latency_ms):
    env = {"TROUPE_KV_LATENCY_MS": str(latency_ms)}
    compose("up", "-d", "--scale", "troupe=3", env=env, timeout=300)
    os.environ.update(env)  # later compose calls must not recreate them again
    return wait_replicas(3)


def slow_get(stub, n, deadline_s):
    return stub.Get.future(kv_pb2.GetRequest(key="e2e/slow/%d" % (n % 50)), timeout=deadline_s)


LATENCY_MS = 2000


def phase_graceful_stop():
    t = time.monotonic()
    reps = recreate_with_latency(LATENCY_MS)
    say("  replicas recreated with kv.latency_ms=%d in %.1f s", LATENCY_MS, time.monotonic() - t)
    names = replica_names(reps)
    victim = reps[0]
    rate, stop_at, duration = 30, 4.0, 14.0
    load = Load(lb_channel(), rate, slow_get, deadline_s=15).start()
    time.sleep(stop_at)
    t_term = load.now()
    # What `docker-compose stop` does to each container of the service.
    stopper = threading.Thread(target=run, args=(["docker", "stop", "-t", "30", victim["id"]],))
    stopper.start()
    time.sleep(3)
    # Calls that start now must not be sent to the replica that is draining:
    # these have no retry policy, so one routed there would fail.
    probe_stub = kv_pb2_grpc.KeyValueStub(lb_channel(retry=False))
    probes = [probe_stub.Get.future(kv_pb2.GetRequest(key="e2e/probe/%d" % i), timeout=15)
              for i in range(30)]
    stopper.join()
    stopped_in = load.now() - t_term
    time.sleep(max(0, duration - (load.now() - load.t0)))
    results = load.stop()
    probe_codes = collections.Counter()
    probe_reps = collections.Counter()
    for p in probes:
        try:
            p.result()
            probe_codes["OK"] += 1
        except grpc.RpcError as e:
            probe_codes[e.code().name] += 1
        probe_reps[names.get(replica_of(p), replica_of(p))] += 1
    in_flight = [r for r in results if r[0] < t_term < r[1] and r[3] == victim["hostname"]]
    codes, by_rep, lat = summarize(results, names)
    info = [c for c in containers("troupe", all_states=True) if c["id"] == victim["id"]][0]
    logs = run(["docker", "logs", victim["id"]], stderr_too=True)
    say("  %d slow calls (%d ms) at %d/s; `docker stop %s` at %.0f s returned after %.1f s, exit code %d",
        len(results), LATENCY_MS, rate, victim["name"], stop_at, stopped_in, info["exit_code"])
    say("  %d calls were in flight on it when SIGTERM arrived: %s; all calls %s, per replica %s; %s",
        len(in_flight), dict(collections.Counter(r[2].name for r in in_flight)), dict(codes),
        dict(by_rep), lat)
    say("  30 calls without retries started 3 s after SIGTERM: %s, served by %s",
        dict(probe_codes), dict(probe_reps))
    check(not failures(results), "%d calls failed: %s", len(failures(results)), show_failures(results))
    check(len(in_flight) >= 5, "only %d calls were in flight on the stopped replica", len(in_flight))
    check(probe_codes == {"OK": 30}, "calls after SIGTERM failed without retries: %s", dict(probe_codes))
    check(victim["name"] not in probe_reps, "the LB still sent new calls to the draining replica")
    check(info["exit_code"] == 0, "the stopped replica exited with %d", info["exit_code"])
    check(stopped_in < 25, "stop took %.1f s: the drain did not end on its own", stopped_in)
    check("draining" in logs or "SIGTERM" in logs, "no drain in the replica's log:\n%s", logs[-2000:])
    compose("up", "-d", "--no-recreate", "--scale", "troupe=3")
    wait_replicas(3)


def phase_compose_stop():
    """`docker-compose stop troupe` with slow calls in flight on every replica."""
    reps = wait_replicas(3)
    names = replica_names(reps)
    stub = kv_pb2_grpc.KeyValueStub(lb_channel())
    futs = [stub.Get.future(kv_pb2.GetRequest(key="e2e/stop/%d" % i), timeout=20) for i in range(60)]
    time.sleep(0.5)
    t = time.monotonic()
    compose("stop", "troupe")
    took = time.monotonic() - t
    codes = collections.Counter()
    by_rep = collections.Counter()
    for f in futs:
        try:
            f.result()
            codes["OK"] += 1
        except grpc.RpcError as e:
            codes[e.code().name] += 1
        by_rep[names.get(replica_of(f), replica_of(f))] += 1
    exits = {c["name"]: c["exit_code"] for c in containers("troupe", all_states=True)}
    say("  60 slow calls in flight, `docker-compose stop troupe` took %.1f s: %s, per replica %s, "
        "exit codes %s", took, dict(codes), dict(by_rep), exits)
    check(codes == {"OK": 60}, "calls in flight failed: %s", dict(codes))
    check(len(by_rep) == 3, "calls were not spread over the 3 replicas: %s", dict(by_rep))
    check(set(exits.values()) == {0}, "replicas did not exit 0: %s", exits)
    t = time.monotonic()
    compose("start", "troupe")
    wait_replicas(3)
    say("  `docker-compose start troupe`: 3 replicas UP in the LB after %.1f s", time.monotonic() - t)


def phase_scale():
    reps = wait_replicas(3)
    rate = 30
    load = Load(lb_channel(), rate, slow_get, deadline_s=20).start()
    time.sleep(3)
    marks = {}
    t = time.monotonic()
    compose("up", "-d", "--no-recreate", "--scale", "troupe=1")
    one = wait_replicas(1)
    marks["down"] = (t, time.monotonic() - t)
    time.sleep(4)
    t = time.monotonic()
    compose("up", "-d", "--no-recreate", "--scale", "troupe=3")
    three = wait_replicas(3)
    marks["up"] = (t, time.monotonic() - t)
    time.sleep(6)
    results = load.stop()
    names = replica_names(reps + three)
    codes, by_rep, lat = summarize(results, names)
    new = [c for c in three if c["id"] not in {r["id"] for r in reps}]
    after_up = collections.Counter(names.get(r[3], r[3]) for r in results
                                   if r[0] > marks["up"][0] + marks["up"][1] and r[2] == OK)
    say("  %d slow calls at %d/s: 3 -> 1 in %.1f s, 1 -> 3 in %.1f s (until UP in the LB): %s",
        len(results), rate, marks["down"][1], marks["up"][1], dict(codes))
    say("  per replica %s; after scaling up %s; %s", dict(by_rep), dict(after_up), lat)
    check(not failures(results), "%d calls failed: %s (scaling down began at %.1f s, up at %.1f s)",
          len(failures(results)), show_failures(results), marks["down"][0] - load.t0,
          marks["up"][0] - load.t0)
    check(len(one) == 1 and len(new) == 2, "scaling did not replace 2 replicas")
    for c in new:
        check(after_up.get(c["name"], 0) > 0, "new replica %s got no calls", c["name"])


def fanin_available():
    ch = lb_channel(retry=False)
    stub = reflection_pb2_grpc.ServerReflectionStub(ch)
    req = reflection_pb2.ServerReflectionRequest(list_services="")
    for resp in stub.ServerReflectionInfo(iter([req]), timeout=10):
        names = [s.name for s in resp.list_services_response.service]
        return "troupe.fanin.v1.FanIn" in names, names
    return False, []


def phase_fanin():
    available, services = fanin_available()
    if not available:
        say("  SKIPPED: the host does not serve troupe.fanin.v1.FanIn (reflection lists %s)", services)
        return
    from troupe.fanin.v1 import fanin_pb2, fanin_pb2_grpc
    reps = wait_replicas(3)
    names = replica_names(reps)
    ch = lb_channel(retry=False)
    stub = fanin_pb2_grpc.FanInStub(ch)
    run_id = random.randrange(1 << 30)
    topics = ["e2e-%d-%d" % (run_id, i) for i in range(6)]
    producers, per_producer = 3, 200
    mapping = {}
    for topic in topics:
        md = (("troupe-topic", topic),)
        sub = stub.Subscribe(fanin_pb2.SubscribeRequest(topics=[topic]), metadata=md, timeout=60)
        sub.initial_metadata()  # the subscription is registered from here on
        got = []
        reader = threading.Thread(target=_read_events, args=(sub, producers * per_producer, got))
        reader.start()
        pub_reps = []

        def publish(p):
            msgs = (fanin_pb2.PublishRequest(topic=topic, payload=b"%d" % i, producer="p%d" % p)
                    for i in range(per_producer))
            resp, call = stub.Publish.with_call(msgs, metadata=md, timeout=60)
            check(resp.accepted == per_producer, "Publish accepted %d of %d", resp.accepted, per_producer)
            pub_reps.append(replica_of(call))

        with concurrent.futures.ThreadPoolExecutor(producers) as pool:
            list(pool.map(publish, range(producers)))
        reader.join(60)
        sub.cancel()
        check(len(got) == producers * per_producer, "topic %s: subscriber got %d of %d events",
              topic, len(got), producers * per_producer)
        seqs = [e.seq for e in got]
        check(seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "topic %s: seq out of order", topic)
        for p in range(producers):
            payloads = [int(e.payload) for e in got if e.producer == "p%d" % p]
            check(payloads == list(range(per_producer)), "topic %s: producer p%d's events "
                  "missing or reordered", topic, p)
        check(len(set(pub_reps)) == 1, "topic %s: producers reached different replicas %s",
              topic, pub_reps)
        mapping[topic] = names.get(pub_reps[0], pub_reps[0])
    say("  %d topics x %d producers x %d events, every event delivered in order; topic -> replica %s",
        len(topics), producers, per_producer, mapping)


def _read_events(stream, n, into):
    try:
        for e in stream:
            into.append(e)
            if len(into) == n:
                return
    except grpc.RpcError:
        pass  # cancelled by the test after a timeout: the count tells


def prometheus_query(ip, query):
    url = "http://%s:9090/api/v1/query?query=%s" % (ip, urllib.parse.quote(query))
    with urllib.request.urlopen(url, timeout=5) as r:
        body = json.loads(r.read().decode())
    check(body["status"] == "success", "query %s: %s", query, body)
    return body["data"]["result"]


def phase_prometheus():
    """The compose stack's Prometheus finds every replica through DNS, scrapes
    the calls the distribution phase made, and has troupe's rules loaded."""
    reps = wait_replicas(3)
    (prom,) = containers("prometheus")
    want = sorted(r["ip"] + ":9464" for r in reps)
    query = ('sum by (instance) (grpc_server_call_started_total'
             '{job="troupe",grpc_method=~"troupe.kv.v1.KeyValue/(Get|Put)"})')
    deadline = time.monotonic() + 60
    while True:
        try:
            result = prometheus_query(prom["ip"], query)
        except (OSError, ValueError):
            result = []
        got = {s["metric"]["instance"]: float(s["value"][1]) for s in result}
        if sorted(got) == want and all(v > 0 for v in got.values()):
            break
        check(time.monotonic() < deadline, "Prometheus sees %s, want kv calls from %s", got, want)
        time.sleep(1)
    say("  Prometheus: kv calls started per replica %s", {k: int(v) for k, v in got.items()})
    up = prometheus_query(prom["ip"], 'up{job="troupe"}')
    check(sorted(s["metric"]["instance"] for s in up) == want and
          all(s["value"][1] == "1" for s in up), "up{job=troupe} is %s", up)
    with urllib.request.urlopen("http://%s:9090/api/v1/rules" % prom["ip"], timeout=5) as r:
        groups = {g["name"]: [x["name"] for x in g["rules"]]
                  for g in json.loads(r.read().decode())["data"]["groups"]}
    say("  rules loaded: %s", groups)
    check("TroupeReplicaDown" in groups.get("troupe.alerts", []), "alerts not loaded: %s", groups)
    check("grpc_method:grpc_server_calls:rate1m" in groups.get("troupe.recording", []),
          "recording rules not loaded: %s", groups)


PHASES = [
    ("image", phase_image),
    ("distribution", phase_distribution),
    ("prometheus", phase_prometheus),
    ("shared-storage", phase_shared_storage),
    ("kill", phase_kill),
    ("fanin", phase_fanin),
    ("graceful-stop", phase_graceful_stop),
    ("compose-stop", phase_compose_stop),
    ("scale", phase_scale),
]


def main():
    timings = []
    failed = None
    for name, fn in PHASES:
        if ONLY and name not in ONLY:
            continue
        say("[%s]", name)
        t = time.monotonic()
        try:
            fn()
        except Exception as e:  # report which phase, then stop: later ones build on it
            failed = (name, e)
            timings.append((name, time.monotonic() - t, "FAILED"))
            break
        timings.append((name, time.monotonic() - t, "ok"))
    say("phase timings:")
    for name, secs, status in timings:
        say("  %-15s %6.1f s  %s", name, secs, status)
    if failed:
        say("FAILED in %s: %s", failed[0], failed[1])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
