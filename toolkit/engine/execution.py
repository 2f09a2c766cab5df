"""The execution engine: routes commands to execution clients and applies their events.

Commands that passed the risk engine go to the client of the order's venue. Events coming back
(from a simulated exchange or a live adapter) are applied to the cached `Order`; fills are turned
into positions by the OMS rules (NETTING: one position per instrument and strategy; HEDGING: the
venue's position id or one virtual id per entry order), flips are split in two, and the account
is updated through the portfolio. The engine then publishes order, position and account events
on the bus for strategies. It moves messages and keeps no decisions of its own beyond the OMS.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from toolkit.engine import topics
from toolkit.model.commands import (
    BatchCancelOrders,
    CancelAllOrders,
    CancelOrder,
    ModifyOrder,
    QueryOrder,
    SubmitOrder,
    TradingCommand,
)
from toolkit.model.enums import OmsType, OrderStatus
from toolkit.model.events import (
    AccountState,
    OrderCancelRejected,
    OrderDenied,
    OrderEvent,
    OrderFilled,
    OrderModifyRejected,
    OrderPendingCancel,
    OrderPendingUpdate,
    PositionChanged,
    PositionClosed,
    PositionOpened,
)
from toolkit.model.identifiers import ClientId, PositionId, StrategyId, Venue
from toolkit.model.objects import Money
from toolkit.model.orders import InvalidStateTransition, Order
from toolkit.model.position import Position, position_event, position_id_for_netting, split_fill_for_flip

if TYPE_CHECKING:
    from toolkit.core.cache import Cache
    from toolkit.core.clock import Clock
    from toolkit.core.log import Logger
    from toolkit.core.msgbus import MessageBus
    from toolkit.engine.emulator import OrderEmulator
    from toolkit.engine.portfolio import Portfolio


class ExecutionClient(ABC):
    """What the execution engine needs from a venue connection (simulated or live)."""

    client_id: ClientId
    venue: Venue
    oms_type: OmsType

    @abstractmethod
    def submit_order(self, command: SubmitOrder) -> None: ...

    @abstractmethod
    def modify_order(self, command: ModifyOrder) -> None: ...

    @abstractmethod
    def cancel_order(self, command: CancelOrder) -> None: ...

    @abstractmethod
    def cancel_all_orders(self, command: CancelAllOrders) -> None: ...

    def batch_cancel_orders(self, command: BatchCancelOrders) -> None:
        for coid in command.client_order_ids:
            self.cancel_order(
                CancelOrder(
                    trader_id=command.trader_id,
                    strategy_id=command.strategy_id,
                    instrument_id=command.instrument_id,
                    client_order_id=coid,
                    ts_init=command.ts_init,
                )
            )


class ExecutionEngine:
    """Command routing, event application and the OMS; see the module docstring."""

    def __init__(self, clock: Clock, msgbus: MessageBus, cache: Cache, portfolio: Portfolio, log: Logger) -> None:
        self.clock = clock
        self.msgbus = msgbus
        self.cache = cache
        self.portfolio = portfolio
        self.log = log
        self._clients: dict[Venue, ExecutionClient] = {}
        self._strategy_oms: dict[StrategyId, OmsType] = {}
        self._hedge_counts: dict[StrategyId, int] = {}
        self.command_count = 0
        self.event_count = 0
        # Set by the kernel: holds orders with an emulation trigger instead of sending them (engine/emulator.py).
        self.emulator: OrderEmulator | None = None
        msgbus.register(topics.EXEC_ENGINE_EXECUTE, self.execute)
        msgbus.register(topics.EXEC_ENGINE_PROCESS, self.process)

    # ---- setup -------------------------------------------------------------------------------
    def register_client(self, client: ExecutionClient) -> None:
        if client.venue in self._clients:
            raise ValueError(f"an execution client for venue {client.venue} is already registered")
        self._clients[client.venue] = client

    def client_for(self, venue: Venue | str) -> ExecutionClient | None:
        return self._clients.get(Venue(str(venue)))

    def register_oms_type(self, strategy_id: StrategyId, oms_type: OmsType | None) -> None:
        """A strategy may run its own OMS (e.g. HEDGING on a NETTING venue); None = the venue's."""
        if oms_type is not None:
            self._strategy_oms[strategy_id] = oms_type

    def reset(self) -> None:
        self._hedge_counts.clear()
        self.command_count = 0
        self.event_count = 0

    # ---- commands ----------------------------------------------------------------------------
    def execute(self, command: TradingCommand) -> None:
        self.command_count += 1
        client = self._clients.get(command.instrument_id.venue)
        if client is None:
            reason = f"no execution client for venue {command.instrument_id.venue}"
            if isinstance(command, SubmitOrder):
                self._deny(command.order, reason)
            else:
                self.log.error("cannot route %s: %s", type(command).__name__, reason)
            return
        if self.emulator is not None:
            # Emulated orders are held, canceled and modified by the emulator; it passes on what is the venue's.
            routed = self.emulator.intercept(command)
            if routed is None:
                return
            command = routed
        if isinstance(command, SubmitOrder):
            client.submit_order(command)
        elif isinstance(command, ModifyOrder):
            client.modify_order(command)
        elif isinstance(command, CancelOrder):
            client.cancel_order(command)
        elif isinstance(command, CancelAllOrders):
            client.cancel_all_orders(command)
        elif isinstance(command, BatchCancelOrders):
            client.batch_cancel_orders(command)
        elif isinstance(command, QueryOrder):
            query = getattr(client, "query_order", None)
            if query is None:
                self.log.warning("client %s cannot query orders: %s ignored", client.client_id, command.client_order_id)
            else:
                query(command)
        else:
            raise TypeError(f"unknown command {type(command).__name__}")

    def _deny(self, order: Order, reason: str) -> None:
        now = self.clock.timestamp_ns()
        self.process(
            OrderDenied(
                trader_id=order.trader_id,
                strategy_id=order.strategy_id,
                instrument_id=order.instrument_id,
                client_order_id=order.client_order_id,
                reason=reason,
                ts_event=now,
                ts_init=now,
            )
        )

    # ---- events ------------------------------------------------------------------------------
    def process(self, event: OrderEvent | AccountState) -> None:
        self.event_count += 1
        if isinstance(event, AccountState):
            self.portfolio.apply_account_state(event)
            return
        order = self.cache.order(event.client_order_id)
        if order is None:
            self.log.error(
                "%s for unknown order %s (external orders are reconciled by the live engine)",
                type(event).__name__,
                event.client_order_id,
            )
            return
        if order.status is OrderStatus.EMULATED and type(event) in (OrderPendingCancel, OrderPendingUpdate):
            return  # the emulator cancels/modifies an emulated order locally: there is no pending state
        try:
            order.apply(event)
        except (InvalidStateTransition, ValueError) as exc:
            if isinstance(event, (OrderCancelRejected, OrderModifyRejected)) and order.is_closed:
                # The venue refused a cancel/modify of an order that has closed meanwhile (it filled
                # first): nothing to change, but the strategy must hear that its request failed.
                self.log.info("%s for closed order %s: %s", type(event).__name__, order.client_order_id, event.reason)
                self.msgbus.publish(topics.order_events_topic(order.strategy_id), event)
            else:
                self.log.warning("%s", exc)
            return
        self.cache.update_order(order)
        if type(event) is OrderFilled:
            # The position is known before anyone hears of the fill, so a persisted order carries it.
            position_id = self._assign_position_id(order, event)  # type: ignore[arg-type]
            self.msgbus.publish(topics.order_events_topic(order.strategy_id), event)
            self._handle_fill(order, event, position_id)  # type: ignore[arg-type]
        else:
            self.msgbus.publish(topics.order_events_topic(order.strategy_id), event)
            self.portfolio.on_order_event(order, event)

    # ---- OMS ---------------------------------------------------------------------------------
    def _oms_type(self, order: Order) -> OmsType:
        oms = self._strategy_oms.get(order.strategy_id)
        if oms is not None:
            return oms
        client = self._clients.get(order.instrument_id.venue)
        return client.oms_type if client is not None else OmsType.NETTING

    def _position_id_for(self, order: Order, fill: OrderFilled) -> PositionId:
        if fill.position_id is not None:
            return fill.position_id
        if order.position_id is not None:
            return order.position_id
        submitted_for = self.cache.position_id_for_order(order.client_order_id)  # submit_order(position_id=...)
        if submitted_for is not None:
            return submitted_for
        if self._oms_type(order) is OmsType.NETTING:
            return position_id_for_netting(order.instrument_id, order.strategy_id)
        # Strategy-level HEDGING on a NETTING venue: one virtual position per entry order.
        count = self._hedge_counts.get(order.strategy_id, 0) + 1
        self._hedge_counts[order.strategy_id] = count
        stamp = self.clock.utc_now().strftime("%Y%m%d-%H%M%S")
        return PositionId(f"P-{stamp}-{order.trader_id.tag}-{order.strategy_id.tag}-{count}")

    def _assign_position_id(self, order: Order, fill: OrderFilled) -> PositionId:
        position_id = self._position_id_for(order, fill)
        if order.position_id is None:
            order.set_position_id(position_id)
            self.cache.update_order(order)
        return position_id

    def _handle_fill(self, order: Order, fill: OrderFilled, position_id: PositionId, live: bool = True) -> None:
        """Apply a fill to its position (OMS, flips split); `live=False` rebuilds state only (no account
        update, no events), as when positions are restored from persisted orders."""
        instrument = self.cache.instrument(order.instrument_id)
        if instrument is None:
            self.log.error("fill %s for unknown instrument %s: no position", fill.trade_id, order.instrument_id)
            return
        position = self.cache.position(position_id)
        if position is None or position.is_closed:
            if position is not None:
                self.cache.snapshot_position(position)
            self._open_position(instrument, fill, position_id, live)
            return
        if position.would_flip(fill):
            closing, opening = split_fill_for_flip(fill, abs(position.signed_qty_raw))
            self._update_position(position, closing, live)
            self.cache.snapshot_position(position)
            self._open_position(instrument, opening, position_id, live)
            return
        self._update_position(position, fill, live)

    def restore_positions(self, orders: list[Order]) -> int:
        """Rebuild every position from the fills of restored orders, in fill time order (exactly what the
        live fills built); accounts and strategies are not touched. Returns the number of fills replayed."""
        fills = [
            (event.ts_event, index, position, order, event)
            for index, order in enumerate(orders)
            for position, event in enumerate(order.events)
            if type(event) is OrderFilled
        ]
        fills.sort(key=lambda item: (item[0], item[1], item[2]))
        for _, _, _, order, fill in fills:
            position_id = order.position_id or self._position_id_for(order, fill)  # type: ignore[arg-type]
            if order.position_id is None:
                order.set_position_id(position_id)
            self._handle_fill(order, fill, position_id, live=False)  # type: ignore[arg-type]
        return len(fills)

    def _open_position(self, instrument, fill: OrderFilled, position_id: PositionId, live: bool = True) -> None:  # type: ignore[no-untyped-def]
        position = Position(instrument, fill, position_id)
        self.cache.add_position(position)
        if live:
            self.portfolio.on_fill(fill, position, Money(0, position.settlement_currency))
            self._publish_position(position, PositionOpened, fill)

    def _update_position(self, position: Position, fill: OrderFilled, live: bool = True) -> None:
        gross = position.apply(fill)
        self.cache.update_position(position)
        if live:
            self.portfolio.on_fill(fill, position, gross)
            self._publish_position(position, PositionClosed if position.is_closed else PositionChanged, fill)

    def _publish_position(self, position: Position, event_type: type, fill: OrderFilled) -> None:
        unrealized = self.portfolio.unrealized_pnl_for(position)
        event = position_event(position, event_type, fill, unrealized, self.clock.timestamp_ns())
        self.msgbus.publish(topics.position_events_topic(position.strategy_id), event)
