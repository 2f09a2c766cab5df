"""The committed sample catalog in data/ is exactly what the seeded generator builds."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import PROJECT_ROOT
from toolkit.backtest.runner import load_instruments_file
from toolkit.catalog.parquet import DataCatalog
from toolkit.catalog.sample import build_sample_catalog


def test_committed_sample_equals_a_fresh_build(tmp_path: Path) -> None:
    instruments_file = PROJECT_ROOT / "data" / "instruments.toml"
    instruments = load_instruments_file(instruments_file, str(instruments_file), "instruments")
    fresh = build_sample_catalog(tmp_path / "catalog", instruments)
    committed = DataCatalog(PROJECT_ROOT / "data" / "catalog")
    fresh_sets = {(d.data_type, d.identifier): d for d in fresh.list_datasets()}
    committed_sets = {(d.data_type, d.identifier): d for d in committed.list_datasets()}
    assert fresh_sets.keys() == committed_sets.keys()
    for data_type, identifier in fresh_sets:
        assert fresh.query(data_type, identifier).equals(committed.query(data_type, identifier)), identifier
    assert [i.to_dict() for i in fresh.instruments()] == [i.to_dict() for i in committed.instruments()]
