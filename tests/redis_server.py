"""A real redis-server on a free loopback port, started and stopped by a test (the tests of
the Redis L2 and of fleet mode). ``stop()`` kills it like a crash; ``start()`` again brings
back an empty one on the same port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

from clawhost.bench.probe import free_port

REDIS = shutil.which("redis-server")


class RedisServer:
    def __init__(self, tmp_path):
        self.port, self.dir, self.proc = free_port(), tmp_path, None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None
