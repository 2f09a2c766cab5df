"""A backtest is deterministic: a reset engine re-runs to the same fills and balance."""

from __future__ import annotations

from tests.conftest import PROJECT_ROOT
from toolkit.backtest.runner import BacktestRun
from toolkit.model.events import OrderFilled


def _fills(engine) -> list[tuple]:  # type: ignore[no-untyped-def]
    return [
        (f.ts_event, str(f.client_order_id), f.last_px.raw, f.last_qty.raw, f.commission.raw)
        for o in engine.cache.orders()
        for f in o.events
        if type(f) is OrderFilled
    ]


def test_reset_and_rerun_gives_identical_results() -> None:
    engine = BacktestRun.from_file(PROJECT_ROOT / "strategies" / "ema_cross.toml").build()
    engine.run(end_ns=1_704_326_400_000_000_000)  # first two days of the sample
    first = _fills(engine)
    balance = engine.cache.accounts()[0].balance_total()
    assert len(first) > 10
    engine.reset()
    engine.run(end_ns=1_704_326_400_000_000_000)
    assert _fills(engine) == first
    assert engine.cache.accounts()[0].balance_total() == balance
