"""The trader: owns the node's actors and strategies and runs their lifecycle together.

Adding a strategy registers it with the kernel's clock, bus, cache, portfolio and data engine, and
its OMS preference with the execution engine; ids must be unique. `start`, `stop` and `reset` act on
every component in the order they were added.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit.model.identifiers import TraderId
from toolkit.trading.strategy import Actor, Strategy

if TYPE_CHECKING:
    from toolkit.core.cache import Cache
    from toolkit.core.clock import Clock
    from toolkit.core.log import Logger
    from toolkit.core.msgbus import MessageBus
    from toolkit.engine.data import DataEngine
    from toolkit.engine.execution import ExecutionEngine
    from toolkit.engine.portfolio import Portfolio


class Trader:
    """See the module docstring."""

    def __init__(
        self,
        trader_id: TraderId,
        clock: Clock,
        msgbus: MessageBus,
        cache: Cache,
        portfolio: Portfolio,
        data_engine: DataEngine,
        exec_engine: ExecutionEngine,
        log: Logger,
    ) -> None:
        self.trader_id = trader_id
        self.clock = clock
        self.msgbus = msgbus
        self.cache = cache
        self.portfolio = portfolio
        self.data_engine = data_engine
        self.exec_engine = exec_engine
        self.log = log
        self.actors: list[Actor] = []
        self.strategies: list[Strategy] = []

    def _ids(self) -> set[str]:
        return {str(c.id) for c in [*self.actors, *self.strategies]}

    def add_actor(self, actor: Actor) -> None:
        if str(actor.id) in self._ids():
            raise ValueError(f"a component with id {actor.id} is already added to trader {self.trader_id}")
        actor.register_base(self.trader_id, self.clock, self.msgbus, self.cache, self.portfolio, self.data_engine)
        self.actors.append(actor)

    def add_strategy(self, strategy: Strategy) -> None:
        if not isinstance(strategy, Strategy):
            raise TypeError(f"{type(strategy).__name__} is not a Strategy")
        if str(strategy.id) in self._ids():
            raise ValueError(
                f"strategy id {strategy.id} is already used: give each strategy a unique order_id_tag or strategy_id"
            )
        strategy.register_base(self.trader_id, self.clock, self.msgbus, self.cache, self.portfolio, self.data_engine)
        self.exec_engine.register_oms_type(strategy.strategy_id, strategy.oms_type)
        self.strategies.append(strategy)

    def components(self) -> list[Actor]:
        return [*self.actors, *self.strategies]

    def start(self) -> None:
        for component in self.components():
            if not component.is_running:
                component.start()

    def stop(self) -> None:
        for component in self.components():
            if component.is_running:
                component.stop()

    def save(self) -> None:
        for component in self.components():
            component.save()

    def reset(self) -> None:
        for component in self.components():
            if component.is_running:
                component.stop()
            component.reset()
