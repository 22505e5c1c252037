"""A private `redis-server` on a free port, for tests and benchmarks that stop and restart
their broker. The shared Redis on 6379 serves other runs at the same time: it is never
restarted or flushed."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from distillery.cli.stack import free_port
from tests.support.waiting import wait_until


class RedisServer:
    """An in-memory server (nothing saved): a restart loses every key, as a Redis without
    persistence, or a failed-over one, does."""

    def __init__(self, port: int, log: Path) -> None:
        self.port, self.log = port, log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                ["redis-server", *args, "--daemonize", "no"], stdout=out, stderr=subprocess.STDOUT
            )
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        wait_until(lambda: self._answers(client), timeout_s=30, what=f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        self.proc.wait(15)

    def _answers(self, client: redis.Redis) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with code {self.proc.returncode}; see {self.log}")
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False


@contextmanager
def redis_server(log: Path) -> Iterator[RedisServer]:
    log.parent.mkdir(parents=True, exist_ok=True)
    server = RedisServer(free_port(), log)
    server.start()
    try:
        yield server
    finally:
        server.stop()
