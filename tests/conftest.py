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
