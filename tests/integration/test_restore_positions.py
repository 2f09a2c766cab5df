"""Positions rebuilt from restored orders (as after a restart) equal the ones the live fills built."""

from __future__ import annotations

from tests.conftest import PROJECT_ROOT
from toolkit.backtest.runner import BacktestRun
from toolkit.core.cache import Cache
from toolkit.core.clock import TestClock
from toolkit.engine.kernel import Kernel, KernelConfig
from toolkit.model.orders import Order


def test_positions_rebuilt_from_order_events_are_identical() -> None:
    run = BacktestRun.from_file(PROJECT_ROOT / "strategies" / "ema_cross.toml")
    engine = run.build()
    engine.run(end_ns=1_704_240_000_000_000_000)
    original: Cache = engine.cache
    kernel = Kernel(KernelConfig(), TestClock())
    for instrument in original.instruments():
        kernel.cache.add_instrument(instrument)
    orders = []
    for order in original.orders():
        restored = Order(order.init)
        for event in order.events[1:]:
            restored.apply(event)
        restored.position_id = order.position_id  # persisted with the order
        kernel.cache.add_order(restored)
        orders.append(restored)
    replayed = kernel.exec_engine.restore_positions(orders)
    assert replayed > 50

    def summary(cache: Cache) -> list[tuple]:
        cycles = cache.position_snapshots() + cache.positions()
        return sorted(
            (str(p.id), p.ts_opened, p.side.value, p.quantity.raw, p.realized_pnl.raw, str(p.avg_px_open))
            for p in cycles
        )

    assert summary(kernel.cache) == summary(original)
