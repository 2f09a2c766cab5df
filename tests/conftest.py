"""Shared test fixtures: paths to the project and to the real market data samples."""

from __future__ import annotations

from pathlib import Path

import pytest

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
