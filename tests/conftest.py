"""Shared test fixtures: paths to the project and to the real market data samples."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data" / "market"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of the real market data samples (`../shared/data/market`)."""
    if not SHARED_DATA.is_dir():
        raise RuntimeError(f"real market data samples not found at {SHARED_DATA}: clone ../shared beside the project")
    return SHARED_DATA


def require_program(name: str, debian_package: str) -> str:
    """Path of a system program a test needs; skip naming the Debian package when absent, fail under CI=true."""
    import os
    import shutil

    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian package: {debian_package}; .ci/run installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def redis_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A real redis-server on 127.0.0.1 and a free port, in a temp dir; yields (host, port); killed after."""
    import socket
    import subprocess
    import time

    binary = require_program("redis-server", "redis-server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(tmp_path),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError(f"redis-server did not start on port {port}") from None
            time.sleep(0.05)
    try:
        yield "127.0.0.1", port
    finally:
        proc.kill()
        proc.wait(timeout=10)


class RedisProcess:
    """A redis-server we stop and restart on the same port; AOF on so a restart keeps the data."""

    def __init__(self, folder: Path, port: int) -> None:
        self.binary = require_program("redis-server", "redis-server")
        self.folder = folder
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis.Redis(port=self.port, socket_timeout=1).ping():
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # graceful: the AOF is complete
            self.proc.wait(timeout=10)
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
