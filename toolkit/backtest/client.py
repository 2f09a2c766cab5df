"""The execution client of a simulated venue: the backtest's stand-in for a network adapter.

It implements the same `ExecutionClient` interface as live adapters. A submit is acknowledged at
once on the client side (`OrderSubmitted`, as a live client does when the request leaves) and then
queued at the exchange; every event the exchange emits is handed to the execution engine.
"""

from __future__ import annotations

from collections.abc import Callable

from toolkit.backtest.exchange import SimulatedExchange
from toolkit.core.clock import Clock
from toolkit.engine.execution import ExecutionClient
from toolkit.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder
from toolkit.model.events import Event, OrderSubmitted
from toolkit.model.identifiers import ClientId


class BacktestExecutionClient(ExecutionClient):
    """See the module docstring."""

    def __init__(
        self,
        exchange: SimulatedExchange,
        clock: Clock,
        process_event: Callable[[Event], None],
        on_command: Callable[[], None],
    ) -> None:
        self.exchange = exchange
        self.client_id = ClientId(str(exchange.venue))
        self.venue = exchange.venue
        self.oms_type = exchange.oms_type
        self.account_id = exchange.account_id
        self.clock = clock
        self._process_event = process_event
        self._on_command = on_command
        exchange.register_event_handler(process_event)

    def submit_order(self, command: SubmitOrder) -> None:
        order = command.order
        now = self.clock.timestamp_ns()
        self._process_event(
            OrderSubmitted(
                trader_id=order.trader_id,
                strategy_id=order.strategy_id,
                instrument_id=order.instrument_id,
                client_order_id=order.client_order_id,
                account_id=self.account_id,
                ts_event=now,
                ts_init=now,
            )
        )
        self.exchange.send(command)
        self._on_command()

    def modify_order(self, command: ModifyOrder) -> None:
        self.exchange.send(command)
        self._on_command()

    def cancel_order(self, command: CancelOrder) -> None:
        self.exchange.send(command)
        self._on_command()

    def cancel_all_orders(self, command: CancelAllOrders) -> None:
        self.exchange.send(command)
        self._on_command()
