"""Starts the real troupe binary and builds grpcio stubs for the tests.

Environment (set by ctest): TEST_TROUPE_BINARY, TEST_PROTO_DIRS (colon
separated), TEST_PY_GEN_DIR.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BINARY = os.environ.get("TEST_TROUPE_BINARY", os.path.join(ROOT, "build/host/troupe"))
PROTO_DIRS = os.environ.get(
    "TEST_PROTO_DIRS", os.path.join(ROOT, "proto") + ":" + os.path.join(ROOT, "tests/proto")
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
        full_env = dict(os.environ)
        full_env.update(env or {})
        for k in list(full_env):
            if k.startswith("TROUPE_") and k not in (env or {}):
                del full_env[k]
        self.proc = subprocess.Popen(
            [BINARY, "serve", "--server-listen", "127.0.0.1:0", *args],
            stdout=subprocess.DEVNULL, stderr=self.log_file, env=full_env)
        deadline = time.time() + 30
        while time.time() < deadline:
            m = re.search(r"listening on [0-9.]+:(\d+)", self.log())
            if m:
                self.port = int(m.group(1))
                self.target = "127.0.0.1:%d" % self.port
                return
            if self.proc.poll() is not None:
                raise RuntimeError("troupe exited with %s:\n%s" % (self.proc.returncode, self.log()))
            time.sleep(0.01)
        raise RuntimeError("troupe did not listen within 30 s:\n" + self.log())

    def log(self):
        with open(self.log_file.name) as f:
            return f.read()

    def channel(self, options=()):
        return grpc.insecure_channel(self.target, options=list(options))

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        return self.proc.wait(timeout=timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.unlink(self.log_file.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def main():
    unittest.main(verbosity=2)
