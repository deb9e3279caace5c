"""Starts the real troupe binary and builds grpcio stubs for the tests.

Environment (set by ctest): TEST_TROUPE_BINARY, TEST_PROTO_DIRS (colon
separated), TEST_PY_GEN_DIR.
"""
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BINARY = os.environ.get("TEST_TROUPE_BINARY", os.path.join(ROOT, "build/host/troupe"))
PROTO_DIRS = os.environ.get(
    "TEST_PROTO_DIRS", os.path.join(ROOT, "proto")
).split(":")
GEN_DIR = os.environ.get("TEST_PY_GEN_DIR", os.path.join(tempfile.gettempdir(), "troupe-pygen"))


def _generate_stubs():
    """Our contracts keep their paths; the standard grpc.* ones are copied
    under `stdproto/` so that their Python package does not shadow grpcio's
    own `grpc` (the wire names, from the proto package, stay the same)."""
    src = os.path.join(GEN_DIR, "src")
    os.makedirs(src, exist_ok=True)
    ours, std = [], []
    for d in PROTO_DIRS:
        for dirpath, _, files in os.walk(d):
            for f in files:
                if not f.endswith(".proto"):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, f), d)
                if rel.startswith("grpc" + os.sep):
                    dest = os.path.join(src, "stdproto", rel)
                    os.makedirs(os.path.dirname(dest), exist_ok=True)
                    shutil.copyfile(os.path.join(dirpath, f), dest)
                    std.append(dest)
                else:
                    ours.append(os.path.join(dirpath, f))
    common = ["--python_out=" + GEN_DIR, "--grpc_out=" + GEN_DIR,
              "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin"]
    subprocess.run(["protoc"] + ["--proto_path=" + d for d in PROTO_DIRS] + common + ours,
                   check=True)
    subprocess.run(["protoc", "--proto_path=" + src] + common + std, check=True)
    for dirpath, dirs, _ in os.walk(GEN_DIR):
        if os.path.relpath(dirpath, GEN_DIR).split(os.sep)[0] == "src":
            continue
        init = os.path.join(dirpath, "__init__.py")
        if dirpath != GEN_DIR and not os.path.exists(init):
            open(init, "w").close()
    sys.path.insert(0, GEN_DIR)


_generate_stubs()

import grpc  # noqa: E402


class Server:
    """`troupe serve` on a free loopback port."""

    def __init__(self, *args, env=None):
        self.log_file = tempfile.NamedTemporaryFile(prefix="troupe-py-", suffix=".log", delete=False)
        self.out_file = tempfile.NamedTemporaryFile(prefix="troupe-py-", suffix=".out", delete=False)
        full_env = dict(os.environ)
        full_env.update(env or {})
        for k in list(full_env):
            if k.startswith("TROUPE_") and k not in (env or {}):
                del full_env[k]
        if "--metrics-listen" not in args:
            # Servers started side by side must not fight over 9464.
            args = (*args, "--metrics-listen", "127.0.0.1:0")
        self.metrics_port = None
        self.proc = subprocess.Popen(
            [BINARY, "serve", "--server-listen", "127.0.0.1:0", *args],
            stdout=self.out_file, stderr=self.log_file, env=full_env)
        deadline = time.time() + 30
        while time.time() < deadline:
            m = re.search(r"listening on [0-9.]+:(\d+)", self.log())
            if m:
                self.port = int(m.group(1))
                self.target = "127.0.0.1:%d" % self.port
                mm = re.search(r"metrics on http://[0-9.]+:(\d+)/metrics", self.log())
                if mm:
                    self.metrics_port = int(mm.group(1))
                return
            if self.proc.poll() is not None:
                raise RuntimeError("troupe exited with %s:\n%s" % (self.proc.returncode, self.log()))
            time.sleep(0.01)
        raise RuntimeError("troupe did not listen within 30 s:\n" + self.log())

    def log(self):
        """What it wrote to stderr so far."""
        with open(self.log_file.name) as f:
            return f.read()

    def stdout(self):
        """What it wrote to stdout so far (log.access lines)."""
        with open(self.out_file.name) as f:
            return f.read()

    def scrape(self):
        """The body of GET /metrics."""
        import urllib.request
        url = "http://127.0.0.1:%d/metrics" % self.metrics_port
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.read().decode()

    def channel(self, options=()):
        return grpc.insecure_channel(self.target, options=list(options))

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        return self.proc.wait(timeout=timeout)

    def stop(self):
        """Kills the server if it still runs; safe to call again."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.log_file, self.out_file):
            if os.path.exists(f.name):
                os.unlink(f.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def main():
    unittest.main(verbosity=2)


# --- PostgreSQL (kv.backend=postgres) ---------------------------------------

PG_DSN_ENV = "TROUPE_TEST_PG_DSN"


def pg_test_dsn():
    """The throwaway PostgreSQL that ctest starts (scripts/pg-test-server), or None."""
    return os.environ.get(PG_DSN_ENV) or None


def psql(dsn, sql):
    """Runs `sql` through psql and returns its unaligned, tuples-only output."""
    out = subprocess.run(
        ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c", sql],
        check=True, capture_output=True, text=True, timeout=60)
    return out.stdout


def dsn_with_dbname(dsn, dbname):
    """`dsn` pointing at another database of the same server."""
    if dsn.startswith(("postgres://", "postgresql://")):
        import urllib.parse
        u = urllib.parse.urlsplit(dsn)
        return urllib.parse.urlunsplit(u._replace(path="/" + dbname))
    parts = [p for p in dsn.split() if not p.startswith("dbname=")]
    return " ".join(parts + ["dbname=" + dbname])


_fresh_databases = itertools.count()


def pg_fresh_database(dsn):
    """A new, empty database on the server behind `dsn`, so that every test
    starts without rows (and the server creates its schema, as in production).
    The server is throwaway, so the databases are not dropped: DROP DATABASE
    costs a checkpoint (~1 s) each."""
    name = "troupe_py_%d_%d_%d" % (os.getpid(), int(time.time()), next(_fresh_databases))
    psql(dsn, "CREATE DATABASE " + name)
    return dsn_with_dbname(dsn, name)


# --- A client that enforces no deadline -------------------------------------

NGHTTP = shutil.which("nghttp")


def nghttp_unary(target, path, request, headers=(), timeout=30):
    """One gRPC unary call through nghttp, which sends `grpc-timeout` without
    enforcing it itself: the answer's timing is the server's own. `request` is
    the serialized message. Returns (grpc-status as int or None, seconds from
    the request's last byte to the trailers by nghttp's clock, response
    headers and trailers as a dict)."""
    body = tempfile.NamedTemporaryFile(prefix="troupe-h2-", delete=False)
    try:
        body.write(b"\0" + len(request).to_bytes(4, "big") + request)
        body.close()
        cmd = [NGHTTP, "-v", "-n", "-H", ":method: POST", "-H", "content-type: application/grpc",
               "-H", "te: trailers"]
        for name, value in headers:
            cmd += ["-H", "%s: %s" % (name, value)]
        cmd += ["-d", body.name, "http://%s%s" % (target, path)]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout).stdout
    finally:
        os.unlink(body.name)
    sent = None
    fields = {}
    answered = None
    for line in out.splitlines():
        m = re.match(r"\[\s*([0-9.]+)\] (send|recv) (.*)$", line)
        if not m:
            continue
        at, direction, rest = float(m.group(1)), m.group(2), m.group(3)
        if direction == "send" and rest.startswith("DATA frame"):
            sent = at
        h = re.match(r"\(stream_id=\d+\) (:?[^:]+): (.*)$", rest)
        if direction == "recv" and h:
            fields[h.group(1)] = h.group(2)
            if h.group(1) == "grpc-status":
                answered = at
    status = int(fields["grpc-status"]) if "grpc-status" in fields else None
    elapsed = answered - sent if answered is not None and sent is not None else None
    return status, elapsed, fields


# --- A TCP link that can be cut -----------------------------------------------

class TcpProxy:
    """Forwards 127.0.0.1:port to target_host:target_port while up. down()
    closes the listener and every connection at once, as a crashed or
    unreachable database looks to its clients."""

    def __init__(self, target_host, target_port):
        self.target = (target_host, int(target_port))
        # A port that was free a moment ago: the link starts down, so
        # clients can be pointed at it before anything listens there.
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listener = None
        self._conns = []
        self._lock = threading.Lock()

    def up(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        with self._lock:
            self._listener = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def down(self):
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        for s in ([listener] if listener else []) + conns:
            _close(s)

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    _close(client)
                    _close(upstream)
                    return
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _close(s):
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()


def dsn_field(dsn, name):
    """The value of `name` in a key=value DSN, or None."""
    for part in dsn.split():
        if part.startswith(name + "="):
            return part[len(name) + 1:]
    return None


def dsn_with(dsn, **fields):
    """`dsn` (key=value form) with some fields replaced."""
    parts = [p for p in dsn.split() if p.split("=", 1)[0] not in fields]
    return " ".join(parts + ["%s=%s" % kv for kv in fields.items()])
