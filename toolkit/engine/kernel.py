"""The kernel: the one place that builds and wires the shared parts of a node.

`Kernel(config, clock)` creates the message bus, cache, portfolio, data, risk and execution engines
and the trader, and hands each what it needs (no globals, no singletons). A `BacktestEngine` is a
kernel with a `TestClock`, simulated venues and a data stream; a live node is a kernel with a live
clock, network clients and an event loop. Everything else is this same code.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from toolkit.core.cache import Cache
from toolkit.core.clock import Clock
from toolkit.core.config import ToolkitConfig
from toolkit.core.log import Logger
from toolkit.core.msgbus import MessageBus
from toolkit.engine.data import DataEngine
from toolkit.engine.emulator import OrderEmulator
from toolkit.engine.execution import ExecutionEngine
from toolkit.engine.portfolio import Portfolio
from toolkit.engine.risk import RiskEngine, RiskEngineConfig
from toolkit.engine.trader import Trader
from toolkit.model.identifiers import TraderId


class KernelConfig(ToolkitConfig):
    """What every node shares: the trader id, cache history sizes and the risk settings."""

    trader_id: TraderId = TraderId("BACKTESTER-001")
    tick_capacity: int = 10_000
    bar_capacity: int = 10_000
    risk_engine: RiskEngineConfig = msgspec.field(default_factory=RiskEngineConfig)


class Kernel:
    """See the module docstring."""

    def __init__(
        self,
        config: KernelConfig,
        clock: Clock,
        exec_engine_factory: Callable[..., ExecutionEngine] = ExecutionEngine,
    ) -> None:
        self.config = config
        self.trader_id = config.trader_id
        self.clock = clock
        self.log = Logger(f"{self.trader_id}.Kernel", clock)
        self.msgbus = MessageBus(self.trader_id)
        self.cache = Cache(config.tick_capacity, config.bar_capacity)
        self.portfolio = Portfolio(clock, self.msgbus, self.cache, Logger("Portfolio", clock))
        self.data_engine = DataEngine(clock, self.msgbus, self.cache, Logger("DataEngine", clock))
        self.exec_engine = exec_engine_factory(
            clock, self.msgbus, self.cache, self.portfolio, Logger("ExecEngine", clock)
        )
        # Orders with an emulation trigger are held here until triggered, then sent (see engine/emulator.py).
        self.emulator = OrderEmulator(
            clock, self.msgbus, self.cache, self.data_engine, Logger("OrderEmulator", clock), self.exec_engine.process
        )
        self.exec_engine.emulator = self.emulator
        self.risk_engine = RiskEngine(
            clock, self.msgbus, self.cache, self.portfolio, Logger("RiskEngine", clock), config.risk_engine
        )
        self.trader = Trader(
            self.trader_id,
            clock,
            self.msgbus,
            self.cache,
            self.portfolio,
            self.data_engine,
            self.exec_engine,
            Logger("Trader", clock),
        )

    def start(self) -> None:
        self.trader.start()

    def stop(self) -> None:
        self.trader.stop()
        # Emulated orders of strategies with `cancel_orders_on_stop` are canceled with events, never dropped.
        stopping = [s.strategy_id for s in self.trader.strategies if getattr(s.config, "cancel_orders_on_stop", True)]
        self.emulator.cancel_orders(stopping)
        self.data_engine.stop()

    def reset(self) -> None:
        """Forget a run's orders, positions, accounts and data; keep instruments and components."""
        self.trader.reset()
        self.data_engine.reset()
        self.exec_engine.reset()
        self.emulator.reset()
        self.portfolio.reset()
        self.risk_engine.reset()
        self.cache.reset(drop_instruments=False)
