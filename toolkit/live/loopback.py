"""Loopback clients: an in-process venue stand-in for testing and measuring the node itself.

`LoopbackDataClient` feeds a given list of market data objects into the node, one at a time, each
after the node is idle (like a lockstep venue), and records when each was handed over.
`LoopbackExecutionClient` answers every submit at once with `OrderAccepted` (and a fill at the order's
price for limit orders, at the last quote for market orders) and records when each request was
"sent" (the moment a network client would write it). The node's internal latency, market data in to
order request out, is the difference (`toolkit bench --workload live-latency`). Not for trading.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

from toolkit.live.clients import ClientFactory, LiveClientConfig, LiveDataClient, LiveExecutionClient
from toolkit.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder
from toolkit.model.data import BarType, QuoteTick
from toolkit.model.enums import AccountType, LiquiditySide, OmsType
from toolkit.model.events import AccountBalance, AccountState, OrderAccepted, OrderCanceled, OrderFilled
from toolkit.model.identifiers import AccountId, ClientId, InstrumentId, TradeId, Venue, VenueOrderId
from toolkit.model.objects import Money, Price


class LoopbackConfig(LiveClientConfig):
    venue: str = "SIM"
    starting_balance: str = "1000000 USD"


class LoopbackDataClient(LiveDataClient):
    """Hands `self.feed` to the node one object at a time once subscribed; `received_ns[i]` = hand-over time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.feed: list[Any] = []
        self.received_ns: list[int] = []
        self.done = asyncio.Event()
        self._started = False

    async def connect(self) -> None:
        self.is_connected = True

    async def disconnect(self) -> None:
        self.is_connected = False

    async def subscribe_quote_ticks(self, instrument_id: InstrumentId) -> None:
        if not self._started:
            self._started = True
            self.spawn(self._replay(), name="loopback-replay")

    async def subscribe_trade_ticks(self, instrument_id: InstrumentId) -> None:
        await self.subscribe_quote_ticks(instrument_id)

    async def subscribe_bars(self, bar_type: BarType) -> None:
        await self.subscribe_quote_ticks(bar_type.instrument_id)

    async def _replay(self) -> None:
        for item in self.feed:
            if self.wait_until_idle is not None:
                await self.wait_until_idle()
            self.received_ns.append(time.perf_counter_ns())
            await self._handle_data(item)
        if self.wait_until_idle is not None:
            await self.wait_until_idle()
        self.done.set()


class LoopbackExecutionClient(LiveExecutionClient):
    """Accepts (and fills) every order at once; `sent_ns` maps client order id -> request time."""

    def __init__(self, *args: Any, starting_balance: Money, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.starting_balance = starting_balance
        self.sent_ns: dict[str, int] = {}
        self._count = 0

    async def connect(self) -> None:
        now = self.clock.timestamp_ns()
        m = self.starting_balance
        self._send_event(
            AccountState(
                account_id=self.account_id,
                account_type=AccountType.MARGIN,
                base_currency=m.currency,
                balances=(AccountBalance(m, Money(0, m.currency), m),),
                reported=True,
                ts_event=now,
                ts_init=now,
            )
        )
        self.is_connected = True

    async def disconnect(self) -> None:
        self.is_connected = False

    def submit_order(self, command: SubmitOrder) -> None:
        order = command.order
        self.sent_ns[str(order.client_order_id)] = time.perf_counter_ns()
        now = self.clock.timestamp_ns()
        self._count += 1
        ident = {
            "trader_id": order.trader_id,
            "strategy_id": order.strategy_id,
            "instrument_id": order.instrument_id,
            "client_order_id": order.client_order_id,
        }
        venue_order_id = VenueOrderId(f"LOOP-{self._count}")
        self._send_event(
            OrderAccepted(**ident, venue_order_id=venue_order_id, account_id=self.account_id, ts_event=now, ts_init=now)
        )
        price = order.price
        if price is None:
            quote = self.cache.quote_tick(order.instrument_id)
            if quote is None:
                return
            price = quote.ask_price if order.is_buy else quote.bid_price
        instrument = self.cache.instrument(order.instrument_id)
        self._send_event(
            OrderFilled(
                **ident,
                venue_order_id=venue_order_id,
                account_id=self.account_id,
                trade_id=TradeId(f"LOOP-T-{self._count}"),
                order_side=order.side,
                order_type=order.order_type,
                last_qty=order.quantity,
                last_px=Price(price.raw, price.precision),
                currency=instrument.quote_currency if instrument else self.starting_balance.currency,
                commission=Money(0, instrument.quote_currency if instrument else self.starting_balance.currency),
                liquidity_side=LiquiditySide.TAKER,
                ts_event=now,
                ts_init=now,
            )
        )

    def modify_order(self, command: ModifyOrder) -> None:
        self.log.warning("loopback venue ignores modify of %s", command.client_order_id)

    def cancel_order(self, command: CancelOrder) -> None:
        order = self.cache.order(command.client_order_id)
        if order is None or not order.is_open:
            return
        now = self.clock.timestamp_ns()
        self._send_event(
            OrderCanceled(
                trader_id=command.trader_id,
                strategy_id=command.strategy_id,
                instrument_id=command.instrument_id,
                client_order_id=command.client_order_id,
                venue_order_id=order.venue_order_id,
                account_id=self.account_id,
                ts_event=now,
                ts_init=now,
            )
        )

    def cancel_all_orders(self, command: CancelAllOrders) -> None:
        for order in self.cache.orders_open(instrument_id=command.instrument_id, strategy_id=command.strategy_id):
            self.cancel_order(
                CancelOrder(
                    trader_id=command.trader_id,
                    strategy_id=command.strategy_id,
                    instrument_id=command.instrument_id,
                    client_order_id=order.client_order_id,
                    ts_init=command.ts_init,
                )
            )

    async def generate_order_status_report(self, instrument_id, client_order_id=None, venue_order_id=None):  # type: ignore[no-untyped-def]
        return None

    async def generate_order_status_reports(self, instrument_id=None, start_ns=None, end_ns=None, open_only=False):  # type: ignore[no-untyped-def]
        return []

    async def generate_fill_reports(self, instrument_id=None, venue_order_id=None, start_ns=None, end_ns=None):  # type: ignore[no-untyped-def]
        return []

    async def generate_position_status_reports(self, instrument_id=None, start_ns=None, end_ns=None):  # type: ignore[no-untyped-def]
        return []


class LoopbackClientFactory(ClientFactory):
    """`factory = "toolkit.live.loopback:LoopbackClientFactory"` in a client table."""

    config_type: ClassVar[type[LiveClientConfig]] = LoopbackConfig

    @classmethod
    def create_data_client(cls, name: str, config: Any, **deps: Any) -> LiveDataClient:
        return LoopbackDataClient(
            ClientId(name), Venue(config.venue), config, deps["clock"], deps["cache"], deps["log"], deps["handle_data"]
        )

    @classmethod
    def create_exec_client(cls, name: str, config: Any, **deps: Any) -> LiveExecutionClient:
        return LoopbackExecutionClient(
            ClientId(name),
            Venue(config.venue),
            OmsType.NETTING,
            AccountId(f"{config.venue}-001"),
            config,
            deps["clock"],
            deps["cache"],
            deps["log"],
            deps["send_event"],
            starting_balance=Money.from_str(config.starting_balance),
        )


__all__ = ["LoopbackClientFactory", "LoopbackDataClient", "LoopbackExecutionClient", "QuoteTick"]
