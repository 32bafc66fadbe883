"""Starts a real sidewald for a test: a temporary data directory and socket,
an admin port the kernel picks, ready when the socket answers STATUS with
state 1 (polled, no fixed sleeps), stopped with SIGTERM.

The daemon binary comes from $SIDEWAL_DAEMON (ctest passes build/bin/sidewald),
else ../../build/bin/sidewald from this folder.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
from pathlib import Path
from typing import Optional

from sidewal import protocol as p

REPO = Path(__file__).resolve().parents[3]


def daemon_binary() -> str:
    """The sidewald to test; skips the test when there is none to run."""
    path = os.environ.get("SIDEWAL_DAEMON")
    if path:
        if not os.access(path, os.X_OK):
            raise AssertionError(f"SIDEWAL_DAEMON={path} is not an executable")
        return path
    default = REPO / "build" / "bin" / "sidewald"
    if not os.access(default, os.X_OK):
        raise unittest.SkipTest(f"no daemon: set SIDEWAL_DAEMON or build {default}")
    return str(default)


class Daemon:
    def __init__(self, config: str = "", ready_timeout: float = 60.0, unauthorized: bool = False):
        # unauthorized: the config's allow-list excludes this process, so
        # STATUS cannot answer; ready once a connection gets that first frame.
        self.unauthorized = unauthorized
        self.dir = tempfile.mkdtemp(prefix="sidewal-py-")
        self.socket = os.path.join(self.dir, "s.sock")
        self.data_dir = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "sidewald.log")
        args = [daemon_binary(), "--data-dir", self.data_dir, "--socket", self.socket,
                "--admin", "127.0.0.1:0"]
        if config:
            cfg = os.path.join(self.dir, "sidewal.yaml")
            with open(cfg, "w") as f:
                f.write(config)
            args += ["--config", cfg]
        self._log = open(self.log_path, "wb")
        self.proc: Optional[subprocess.Popen] = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                                                 cwd=self.dir)
        self._wait_ready(ready_timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"sidewald exited with {self.proc.returncode}:\n{self.log()}")
            if (self._unauthorized_sent() if self.unauthorized else self._status_state() == 1):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"sidewald not ready after {timeout}s:\n{self.log()}")
            time.sleep(0.02)

    def _status_state(self) -> Optional[int]:
        """STATUS's state over a raw socket (STATUS answers during recovery), or None."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(5)
                s.connect(self.socket)
                s.sendall(p.encode_status(1))
                data = b""
                while len(data) < p.HEADER_SIZE + 40:
                    chunk = s.recv(4096)
                    if not chunk:
                        return None
                    data += chunk
                h = p.decode_header(data)
                if h.opcode != p.STATUS_OK:
                    return None
                return p.decode_status_ok(data[p.HEADER_SIZE:p.HEADER_SIZE + h.body_len]).state
        except OSError:
            return None

    def _unauthorized_sent(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(5)
                s.connect(self.socket)
                head = s.recv(p.HEADER_SIZE, socket.MSG_WAITALL)
                return len(head) == p.HEADER_SIZE and p.decode_header(head).opcode == p.ERROR
        except OSError:
            return False

    def log(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"sidewald did not stop on SIGTERM:\n{self.log()}")
            self.proc = None
            self._log.close()
            if rc != 0:
                raise AssertionError(f"sidewald exited with {rc} on SIGTERM:\n{self.log()}")
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "Daemon":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
