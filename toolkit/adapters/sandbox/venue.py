"""The sandbox venue's state: the backtest's simulated exchange, driven one data point at a time.

`SandboxVenue` is what the `toolkit venue` server serves (see docs/sandbox.md). It is a backtest
engine without strategies: a kernel on a `TestClock`, one `SimulatedExchange` built from a run file's
`[backtest]` table (venue settings, models, switches), the instruments and the data stream. Instead
of running the whole stream, the server calls `release_next()` to replay one data point (the clock
moves to its `ts_init`, the exchange updates its book and matches, the data engine caches it) and
submits requests from clients with `submit`, `modify`, `cancel` and `cancel_all`: each builds the
command, hands it to the exchange and settles at the current venue time, as `BacktestEngine.settle`
does, and returns the events it caused, in order.

The venue's own kernel applies every event the exchange emits (orders, OMS positions, account
balances), so the reports (`order_status_report(s)`, `fill_reports`, `position_reports`,
`account_state`) come from the venue's own state. Every order event, and the account state after each
fill, is appended to the user-event log with `user_seq` 1, 2, ... Nothing here reads the wall clock:
the same data and the same requests in the same order give the same events.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar, NamedTuple

import msgspec

from toolkit.adapters.sandbox.protocol import ModifyOrderRequest, SubmitOrderRequest
from toolkit.backtest.config import BacktestConfig
from toolkit.backtest.engine import BacktestEngine, Data
from toolkit.backtest.exchange import SimulatedExchange
from toolkit.backtest.runner import BacktestRun
from toolkit.core.config import ConfigError, config_from_dict, load_json, load_toml
from toolkit.model.commands import CancelOrder, ModifyOrder, SubmitOrder
from toolkit.model.enums import (
    ContingencyType,
    OmsType,
    OrderSide,
    OrderType,
    PositionSide,
    TimeInForce,
    TrailingOffsetType,
    TriggerType,
)
from toolkit.model.events import (
    AccountState,
    OrderAccepted,
    OrderEvent,
    OrderFilled,
    OrderInitialized,
    OrderTriggered,
)
from toolkit.model.identifiers import (
    AccountId,
    ClientOrderId,
    InstrumentId,
    OrderListId,
    PositionId,
    StrategyId,
    TraderId,
    Venue,
    VenueOrderId,
)
from toolkit.model.instruments import Instrument
from toolkit.model.objects import FIXED_PRECISION, Price, Quantity
from toolkit.model.orders import Order
from toolkit.model.position import Position, split_fill_for_flip
from toolkit.model.reports import FillReport, OrderStatusReport, PositionStatusReport

VenueEventType = OrderEvent | AccountState
_TRAILING_TYPES = (OrderType.TRAILING_STOP_MARKET, OrderType.TRAILING_STOP_LIMIT)
# Submit: which types need a price / a trigger price, and which may carry one (trailing stops: set as they trail).
_PRICE_REQUIRED = (OrderType.LIMIT, OrderType.STOP_LIMIT, OrderType.LIMIT_IF_TOUCHED)
_PRICE_OPTIONAL = (OrderType.TRAILING_STOP_LIMIT,)
_TRIGGER_REQUIRED = (
    OrderType.STOP_MARKET,
    OrderType.STOP_LIMIT,
    OrderType.MARKET_IF_TOUCHED,
    OrderType.LIMIT_IF_TOUCHED,
)
_TRIGGER_OPTIONAL = _TRAILING_TYPES
# Modify: the types whose price / trigger price a client may change (a MARKET_TO_LIMIT rests as a limit).
_PRICED_TYPES = (*_PRICE_REQUIRED, *_PRICE_OPTIONAL, OrderType.MARKET_TO_LIMIT)
_TRIGGERED_TYPES = (*_TRIGGER_REQUIRED, *_TRIGGER_OPTIONAL)
_OFFSET_TYPES = (TrailingOffsetType.PRICE, TrailingOffsetType.BASIS_POINTS, TrailingOffsetType.TICKS)


# ---- errors the server maps to HTTP statuses ---------------------------------------------------------------------
class VenueRequestError(Exception):
    """A request the venue refuses without changing anything; `status`/`code` as docs/sandbox.md lists them."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BadRequestError(VenueRequestError):
    """400: wrong value, wrong precision, non-positive quantity, missing or contradictory fields."""


class NotFoundError(VenueRequestError):
    """404: unknown order or instrument."""

    status = 404
    code = "not_found"


class ConflictError(VenueRequestError):
    """409: the client order id was already used in this session."""

    status = 409
    code = "conflict"


class UserEvent(NamedTuple):
    user_seq: int
    event: VenueEventType


# ---- loading a run file ------------------------------------------------------------------------------------------
def load_venue_run(path: str | Path) -> BacktestRun:
    """The checked `[backtest]` table of a run file. The `[strategy]` table is only read (and its strategy
    imported) when `[[backtest.data]]` lists nothing, because the default data come from the strategy config."""
    path = Path(path)
    source = str(path)
    data = load_json(path) if path.suffix.lower() == ".json" else load_toml(path)
    table = data.get("backtest")
    if not isinstance(table, dict):
        raise ConfigError(source, "backtest", "the file has no [backtest] table")
    backtest = config_from_dict(table, BacktestConfig, source=source, path_prefix="backtest")
    if not backtest.data and isinstance(data.get("strategy"), dict):
        return BacktestRun.from_file(path)
    stub = SimpleNamespace(config=None, id="venue")  # only `.config` is read, and nothing is referenced
    return BacktestRun(source, path.resolve().parent, stub, backtest)  # type: ignore[arg-type]


def build_engine(run: BacktestRun) -> BacktestEngine:
    """A backtest engine with the run's venue, instruments and data, and no strategy."""
    return run.build_engine(with_strategy=False)


# ---- parsing request values --------------------------------------------------------------------------------------
def _identifier(cls: Any, value: str, field: str) -> Any:
    try:
        return cls(value)
    except (ValueError, TypeError) as exc:
        raise BadRequestError(str(exc), field) from None


def _enum(cls: Any, value: Any, field: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        names = ", ".join(m.value for m in cls)
        raise BadRequestError(f"{field} {value!r} is not one of {names}", field) from None


def _decimal(value: str, field: str) -> Decimal:
    try:
        number = Decimal(value.strip())
    except (InvalidOperation, AttributeError):
        raise BadRequestError(f"{field} {value!r} is not a decimal number", field) from None
    if not number.is_finite():
        raise BadRequestError(f"{field} {value!r} is not a finite number", field)
    return number


def _quantity(value: str, instrument: Instrument, field: str = "quantity") -> Quantity:
    number = _decimal(value, field)
    if number <= 0:
        raise BadRequestError(f"{field} must be positive, got {value}", field)
    try:
        return Quantity.of(number, instrument.size_precision)
    except ValueError:
        raise BadRequestError(
            f"{field} {value} has more decimals than {instrument.id} allows (size_precision "
            f"{instrument.size_precision})",
            field,
        ) from None


def _price(value: str, instrument: Instrument, field: str) -> Price:
    number = _decimal(value, field)
    try:
        return Price.of(number, instrument.price_precision)
    except ValueError:
        raise BadRequestError(
            f"{field} {value} has more decimals than {instrument.id} allows (price_precision "
            f"{instrument.price_precision})",
            field,
        ) from None


def _decimals(number: Decimal) -> int:
    """Digits after the decimal point of a finite Decimal as written ("0.00020" has 5, "1E+2" has 0)."""
    exponent = number.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _offset(value: str, field: str, offset_type: TrailingOffsetType, instrument: Instrument, zero_ok: bool) -> Decimal:
    """A trailing or limit offset: a price distance (PRICE, at most the instrument's price decimals), basis
    points (at most 9 decimals, the engine's fixed-point scale) or a whole number of ticks (TICKS)."""
    number = _decimal(value, field)
    if number < 0 or (number == 0 and not zero_ok):
        raise BadRequestError(f"{field} must be {'non-negative' if zero_ok else 'positive'}, got {value}", field)
    decimals = _decimals(number.normalize())
    if offset_type is TrailingOffsetType.PRICE and decimals > instrument.price_precision:
        raise BadRequestError(
            f"{field} {value} has more decimals than {instrument.id} allows (price_precision "
            f"{instrument.price_precision})",
            field,
        )
    if offset_type is TrailingOffsetType.TICKS and decimals > 0:
        raise BadRequestError(f"{field} {value} must be a whole number of ticks (trailing_offset_type TICKS)", field)
    if decimals > FIXED_PRECISION:
        raise BadRequestError(f"{field} {value} has more than {FIXED_PRECISION} decimals", field)
    return number


def _display_qty(value: str, instrument: Instrument, quantity: Quantity) -> Quantity:
    number = _decimal(value, "display_qty")
    if number < 0:
        raise BadRequestError(f"display_qty must not be negative, got {value}", "display_qty")
    try:
        display = Quantity.of(number, instrument.size_precision)
    except ValueError:
        raise BadRequestError(
            f"display_qty {value} has more decimals than {instrument.id} allows (size_precision "
            f"{instrument.size_precision})",
            "display_qty",
        ) from None
    if display.raw > quantity.raw:
        raise BadRequestError(f"display_qty {value} is above the order quantity {quantity}", "display_qty")
    return display


class _Trailing(NamedTuple):
    trailing_offset: Decimal | None
    limit_offset: Decimal | None
    trailing_offset_type: TrailingOffsetType
    activation_price: Price | None


class _Contingency(NamedTuple):
    contingency_type: ContingencyType
    order_list_id: OrderListId | None
    linked_order_ids: tuple[ClientOrderId, ...]
    parent_order_id: ClientOrderId | None


def _contingency(request: SubmitOrderRequest, coid: ClientOrderId) -> _Contingency:
    """The checked contingency fields: ids well formed, no link to the order itself, OCO/OUO with linked orders."""
    kind = _enum(ContingencyType, request.contingency_type, "contingency_type")
    list_id = None
    if request.order_list_id is not None:
        list_id = _identifier(OrderListId, request.order_list_id, "order_list_id")
    parent = None
    if request.parent_order_id is not None:
        parent = _identifier(ClientOrderId, request.parent_order_id, "parent_order_id")
        if parent == coid:
            raise BadRequestError(f"order {coid} cannot be its own parent", "parent_order_id")
    linked = tuple(_identifier(ClientOrderId, cid, "linked_order_ids") for cid in request.linked_order_ids)
    if coid in linked:
        raise BadRequestError(f"order {coid} cannot be linked to itself", "linked_order_ids")
    if len(set(linked)) != len(linked):
        raise BadRequestError("linked_order_ids lists an order twice", "linked_order_ids")
    if kind in (ContingencyType.OCO, ContingencyType.OUO) and not linked:
        raise BadRequestError(f"a {kind.value} order needs linked_order_ids", "linked_order_ids")
    return _Contingency(kind, list_id, linked, parent)


class SandboxVenue:
    """The state machine of the sandbox venue; see the module docstring.

    `engine` is a `BacktestEngine` with exactly one venue, its instruments and data, and no strategies
    (`SandboxVenue.from_file(path)` builds one from a run file). `start_ns`/`end_ns` bound the replay.
    """

    def __init__(self, engine: BacktestEngine, start_ns: int | None = None, end_ns: int | None = None) -> None:
        if len(engine.exchanges) != 1:
            raise ValueError(f"a sandbox venue serves exactly one venue, the engine has {len(engine.exchanges)}")
        if engine.trader.components():
            raise ValueError("a sandbox venue runs no strategies or actors: its orders come from clients")
        self.engine = engine
        self.kernel = engine.kernel
        self.clock = engine.clock
        self.cache = engine.kernel.cache
        self.exchange: SimulatedExchange = next(iter(engine.exchanges.values()))
        self.venue: Venue = self.exchange.venue
        self.account_id: AccountId = self.exchange.account_id
        self.start_ns = start_ns
        self.end_ns = end_ns
        self._hedging = self.exchange.oms_type is OmsType.HEDGING
        self._log: list[UserEvent] = []
        self._fills: list[OrderFilled] = []
        self._order_ids: list[ClientOrderId] = []  # in the order they were submitted
        self._positions: dict[tuple[InstrumentId, PositionId | None], Position] = {}
        self.events_released = 0
        stream: Iterator[Data] = engine.open_stream(start_ns)
        self._stream = stream
        self._next: Data | None = next(stream, None)
        if self._next is None or (end_ns is not None and self._next.ts_init > end_ns):
            raise ValueError("no data in the requested period")
        t0 = start_ns if start_ns is not None else self._next.ts_init
        self.clock.reset(t0)
        engine.run_started_ns = t0
        self.exchange.register_event_handler(self._on_venue_event)
        self.kernel.exec_engine.process(self.exchange.initial_account_state(t0))
        self._engines = self.exchange.engines

    @classmethod
    def from_run(cls, run: BacktestRun) -> SandboxVenue:
        engine = build_engine(run)
        try:
            return cls(engine, run.start_ns, run.end_ns)
        except ValueError as exc:
            field = "backtest.start" if run.start_ns is not None or run.end_ns is not None else "backtest.data"
            raise ConfigError(run.source, field, str(exc)) from None

    @classmethod
    def from_file(cls, path: str | Path) -> SandboxVenue:
        """Build the venue from a run file's `[backtest]` table; errors are `ConfigError`s naming file and field."""
        return cls.from_run(load_venue_run(path))

    # ---- state -------------------------------------------------------------------------------
    @property
    def time_ns(self) -> int:
        """Venue time: the ts_init of the last released data point (the start before the first)."""
        return self.clock.timestamp_ns()

    @property
    def end_of_data(self) -> bool:
        return self._next is None

    @property
    def next_ts(self) -> int | None:
        """ts_init of the next data point to release, or None at the end of the data."""
        return None if self._next is None else self._next.ts_init

    @property
    def user_seq(self) -> int:
        """Sequence number of the last user event (0 before the first)."""
        return len(self._log)

    @property
    def user_events(self) -> list[UserEvent]:
        return self._log

    def events_after(self, user_seq: int) -> list[UserEvent]:
        return self._log[max(user_seq, 0) :]

    def instruments(self) -> list[Instrument]:
        return [self.cache.instrument(iid) for iid in self._engines]  # type: ignore[misc]

    def instrument(self, instrument_id: str | InstrumentId, field: str = "instrument_id") -> Instrument:
        iid = _identifier(InstrumentId, str(instrument_id), field)
        instrument = self.cache.instrument(iid) if iid in self._engines else None
        if instrument is None:
            known = ", ".join(str(i) for i in self._engines)
            raise NotFoundError(f"unknown instrument {iid} (venue {self.venue} trades: {known})", field)
        return instrument

    def order(self, client_order_id: str | ClientOrderId) -> Order:
        """The venue's record of an order it received; `NotFoundError` if it never did."""
        order = self.cache.order(_identifier(ClientOrderId, str(client_order_id), "client_order_id"))
        if order is None:
            raise NotFoundError(f"unknown order {client_order_id}", "client_order_id")
        return order

    # ---- market data -------------------------------------------------------------------------
    def release_next(self) -> Data | None:
        """Replay the next data point (book, matching, cache) and return it; None at the end of the data."""
        data = self._next
        if data is None:
            return None
        ts = data.ts_init
        if self.end_ns is not None and ts > self.end_ns:
            self._finish()
            return None
        if ts > self.clock.timestamp_ns():
            self.clock.set_time(ts)
        now = self.clock.timestamp_ns()
        self.engine.process_data(data)
        self.engine.settle_if_due(now)
        self.events_released += 1
        self._next = next(self._stream, None)
        if self._next is None:
            self._finish()
        return data

    def _finish(self) -> None:
        self._next = None
        self.engine.run_finished_ns = self.clock.timestamp_ns()
        self.engine.flush_inflight()

    # ---- events ------------------------------------------------------------------------------
    def _append(self, event: VenueEventType) -> None:
        self._log.append(UserEvent(len(self._log) + 1, event))

    def _on_venue_event(self, event: Any) -> None:
        """Every event the exchange emits: logged, then applied by the venue's own kernel."""
        self._append(event)
        states = self.kernel.portfolio.account_states
        before = len(states)
        self.kernel.exec_engine.process(event)
        if type(event) is OrderFilled:
            self._fills.append(event)
            self._track_position(event)
            if len(states) > before:
                self._append(msgspec.structs.replace(states[-1], reported=True))

    def _track_position(self, fill: OrderFilled) -> None:
        """The venue's own positions: net per instrument (NETTING) or per venue position id (HEDGING)."""
        key = (fill.instrument_id, fill.position_id if self._hedging else None)
        position = self._positions.get(key)
        if position is None:
            instrument = self.cache.instrument(fill.instrument_id)
            pid = fill.position_id if self._hedging and fill.position_id is not None else None
            self._positions[key] = Position(instrument, fill, pid or PositionId(f"{fill.instrument_id}-NET"))  # type: ignore[arg-type]
        elif position.would_flip(fill):
            closing, opening = split_fill_for_flip(fill, abs(position.signed_qty_raw))
            position.apply(closing)
            position.apply(opening)
        else:
            position.apply(fill)

    def _run(self, command: Any) -> list[VenueEventType]:
        """Send a command (or several) to the exchange, settle at venue time, return the events caused."""
        mark = len(self._log)
        commands = command if isinstance(command, list) else [command]
        for cmd in commands:
            self.kernel.exec_engine.execute(cmd)
        self.engine.settle(self.clock.timestamp_ns())
        if self._next is None and self.exchange.next_arrival_ns() is not None:
            self.engine.flush_inflight()  # after the data, commands delayed by latency arrive at once
        return [e.event for e in self._log[mark:]]

    # ---- requests ----------------------------------------------------------------------------
    def submit(self, request: SubmitOrderRequest) -> list[VenueEventType]:
        """Validate and place an order; return the events it caused (the venue emits no OrderSubmitted)."""
        instrument = self.instrument(request.instrument_id)
        coid = _identifier(ClientOrderId, request.client_order_id, "client_order_id")
        if self.cache.order_exists(coid):
            raise ConflictError(f"client_order_id {coid} was already used", "client_order_id")
        trader_id = _identifier(TraderId, request.trader_id, "trader_id")
        strategy_id = _identifier(StrategyId, request.strategy_id, "strategy_id")
        kind = _enum(OrderType, request.order_type, "order_type")
        side = _enum(OrderSide, request.order_side, "order_side")
        tif = _enum(TimeInForce, request.time_in_force, "time_in_force")
        if side not in (OrderSide.BUY, OrderSide.SELL):
            raise BadRequestError(f"order_side must be BUY or SELL, got {side.value}", "order_side")
        quantity = _quantity(request.quantity, instrument)
        price = trigger = None
        if kind in _PRICE_REQUIRED and request.price is None:
            raise BadRequestError(f"a {kind.value} order needs a price", "price")
        if request.price is not None:
            if kind not in _PRICE_REQUIRED and kind not in _PRICE_OPTIONAL:
                raise BadRequestError(f"a {kind.value} order takes no price", "price")
            price = _price(request.price, instrument, "price")
        if kind in _TRIGGER_REQUIRED and request.trigger_price is None:
            raise BadRequestError(f"a {kind.value} order needs a trigger_price", "trigger_price")
        if request.trigger_price is not None:
            if kind not in _TRIGGER_REQUIRED and kind not in _TRIGGER_OPTIONAL:
                raise BadRequestError(f"a {kind.value} order takes no trigger_price", "trigger_price")
            trigger = _price(request.trigger_price, instrument, "trigger_price")
        trigger_type = _enum(TriggerType, request.trigger_type, "trigger_type")
        if trigger_type is TriggerType.NO_TRIGGER and kind in _TRIGGERED_TYPES:
            raise BadRequestError(f"a {kind.value} order needs a trigger_type other than NO_TRIGGER", "trigger_type")
        trailing = self._trailing_fields(request, kind, instrument, price)
        display_qty = None
        if request.display_qty is not None:
            display_qty = _display_qty(request.display_qty, instrument, quantity)
        links = _contingency(request, coid)
        if request.expire_time_ns < 0:
            raise BadRequestError("expire_time_ns must not be negative", "expire_time_ns")
        if tif is TimeInForce.GTD and request.expire_time_ns == 0:
            raise BadRequestError("a GTD order needs expire_time_ns", "expire_time_ns")
        position_id = None
        if request.position_id is not None:
            position_id = _identifier(PositionId, request.position_id, "position_id")
        now = self.clock.timestamp_ns()
        order = Order(
            OrderInitialized(
                trader_id=trader_id,
                strategy_id=strategy_id,
                instrument_id=instrument.id,
                client_order_id=coid,
                order_side=side,
                order_type=kind,
                quantity=quantity,
                time_in_force=tif,
                price=price,
                trigger_price=trigger,
                trigger_type=trigger_type,
                expire_time_ns=request.expire_time_ns,
                post_only=request.post_only,
                reduce_only=request.reduce_only,
                display_qty=display_qty,
                limit_offset=trailing.limit_offset,
                trailing_offset=trailing.trailing_offset,
                trailing_offset_type=trailing.trailing_offset_type,
                activation_price=trailing.activation_price,
                contingency_type=links.contingency_type,
                order_list_id=links.order_list_id,
                linked_order_ids=links.linked_order_ids,
                parent_order_id=links.parent_order_id,
                tags=request.tags,
                ts_event=now,
                ts_init=now,
            )
        )
        self.cache.add_order(order, position_id)
        self._order_ids.append(coid)
        command = SubmitOrder(
            trader_id=trader_id,
            strategy_id=strategy_id,
            instrument_id=instrument.id,
            order=order,
            position_id=position_id,
            ts_init=now,
        )
        return self._run(command)

    @staticmethod
    def _trailing_fields(
        request: SubmitOrderRequest, kind: OrderType, instrument: Instrument, price: Price | None
    ) -> _Trailing:
        """Offsets, offset type and activation price of a trailing stop; other types may carry none of them."""
        if kind not in _TRAILING_TYPES:
            for name in ("trailing_offset", "limit_offset", "activation_price"):
                if getattr(request, name) is not None:
                    raise BadRequestError(f"a {kind.value} order takes no {name}", name)
            return _Trailing(None, None, TrailingOffsetType.PRICE, None)
        offset_type = _enum(TrailingOffsetType, request.trailing_offset_type, "trailing_offset_type")
        if offset_type not in _OFFSET_TYPES:
            names = ", ".join(t.value for t in _OFFSET_TYPES)
            raise BadRequestError(
                f"trailing_offset_type {offset_type.value} is not supported (use {names})", "trailing_offset_type"
            )
        if request.trailing_offset is None:
            raise BadRequestError(f"a {kind.value} order needs a trailing_offset", "trailing_offset")
        offset = _offset(request.trailing_offset, "trailing_offset", offset_type, instrument, zero_ok=False)
        limit_offset = None
        if request.limit_offset is not None:
            if kind is not OrderType.TRAILING_STOP_LIMIT:
                raise BadRequestError(f"a {kind.value} order takes no limit_offset", "limit_offset")
            limit_offset = _offset(request.limit_offset, "limit_offset", offset_type, instrument, zero_ok=True)
        elif kind is OrderType.TRAILING_STOP_LIMIT and price is None:
            raise BadRequestError(f"a {kind.value} order needs a limit_offset or a price", "limit_offset")
        activation = None
        if request.activation_price is not None:
            activation = _price(request.activation_price, instrument, "activation_price")
        return _Trailing(offset, limit_offset, offset_type, activation)

    def modify(self, client_order_id: str, request: ModifyOrderRequest) -> list[VenueEventType]:
        """Change quantity, price or trigger price of an order; the venue answers OrderUpdated or
        OrderModifyRejected (e.g. the order has closed meanwhile)."""
        order = self.order(client_order_id)
        instrument = self.instrument(order.instrument_id)
        if request.quantity is None and request.price is None and request.trigger_price is None:
            raise BadRequestError("give at least one of quantity, price, trigger_price")
        quantity = None if request.quantity is None else _quantity(request.quantity, instrument)
        price = trigger = None
        if request.price is not None:
            if order.order_type not in _PRICED_TYPES:
                raise BadRequestError(f"a {order.order_type.value} order has no price", "price")
            price = _price(request.price, instrument, "price")
        if request.trigger_price is not None:
            if order.order_type not in _TRIGGERED_TYPES:
                raise BadRequestError(f"a {order.order_type.value} order has no trigger_price", "trigger_price")
            trigger = _price(request.trigger_price, instrument, "trigger_price")
        command = ModifyOrder(
            trader_id=order.trader_id,
            strategy_id=order.strategy_id,
            instrument_id=order.instrument_id,
            client_order_id=order.client_order_id,
            quantity=quantity,
            price=price,
            trigger_price=trigger,
            ts_init=self.clock.timestamp_ns(),
        )
        return self._run(command)

    def cancel(self, client_order_id: str) -> list[VenueEventType]:
        """Cancel an order; the venue answers OrderCanceled or OrderCancelRejected (already closed)."""
        order = self.order(client_order_id)
        command = CancelOrder(
            trader_id=order.trader_id,
            strategy_id=order.strategy_id,
            instrument_id=order.instrument_id,
            client_order_id=order.client_order_id,
            ts_init=self.clock.timestamp_ns(),
        )
        return self._run(command)

    def cancel_all(
        self, instrument_id: str, side: OrderSide | None = None, strategy_id: str | None = None
    ) -> list[VenueEventType]:
        """Cancel every working order on the instrument (optionally one side, one strategy), best price first,
        then the OTO children the venue holds. An order whose cancel an earlier one's causes (a held child of a
        canceled parent, an OCO/OUO sibling) gets no cancel of its own: each order is canceled once."""
        instrument = self.instrument(instrument_id)
        wanted = None if strategy_id is None else _identifier(StrategyId, strategy_id, "strategy_id")
        side = None if side is None else _enum(OrderSide, side, "side")
        if side is OrderSide.NO_ORDER_SIDE:
            side = None
        now = self.clock.timestamp_ns()
        engine = self._engines[instrument.id]
        held = [record for record in engine.contingencies.held_orders() if not record.closed]
        working = {record.client_order_id: record for record in engine.open_orders() + held}
        covered: set[ClientOrderId] = set()
        commands = []
        for record in working.values():
            if record.client_order_id in covered:
                continue
            if (side is not None and record.side is not side) or (
                wanted is not None and record.ident["strategy_id"] != wanted
            ):
                continue
            commands.append(CancelOrder(**record.ident, ts_init=now))
            stack = [record]
            while stack:  # what this cancel takes with it at the venue
                current = stack.pop()
                if current.client_order_id in covered:
                    continue
                covered.add(current.client_order_id)
                stack.extend(child for child in held if child.parent == current.client_order_id)
                if current.contingency in (ContingencyType.OCO.value, ContingencyType.OUO.value):
                    stack.extend(working[cid] for cid in current.linked if cid in working)
        return self._run(commands)

    # ---- reports -----------------------------------------------------------------------------
    def _order_report(self, order: Order) -> OrderStatusReport:
        ts_accepted = ts_triggered = 0
        for event in order.events:
            kind = type(event)
            if kind is OrderAccepted or (kind is OrderFilled and ts_accepted == 0):
                ts_accepted = ts_accepted or event.ts_event
            elif kind is OrderTriggered and ts_triggered == 0:
                ts_triggered = event.ts_event
        venue_order_id = order.venue_order_id or VenueOrderId(f"NONE-{order.client_order_id}")
        return OrderStatusReport(
            account_id=order.account_id or self.account_id,
            instrument_id=order.instrument_id,
            venue_order_id=venue_order_id,
            client_order_id=order.client_order_id,
            order_side=order.side,
            order_type=order.order_type,
            time_in_force=order.time_in_force,
            order_status=order.status,
            quantity=order.quantity,
            filled_qty=order.filled_qty,
            price=order.price,
            trigger_price=order.trigger_price,
            trigger_type=order.trigger_type,
            avg_px=order.avg_px,
            expire_time_ns=order.expire_time_ns,
            post_only=order.post_only,
            reduce_only=order.reduce_only,
            display_qty=order.display_qty,
            limit_offset=order.limit_offset,
            trailing_offset=order.trailing_offset,
            trailing_offset_type=order.trailing_offset_type if order.trailing_offset is not None else None,
            activation_price=order.activation_price,
            contingency_type=order.contingency_type,
            order_list_id=order.order_list_id,
            linked_order_ids=order.linked_order_ids,
            parent_order_id=order.parent_order_id,
            venue_position_id=order.position_id if self._hedging else None,
            ts_accepted=ts_accepted,
            ts_triggered=ts_triggered,
            ts_last=order.ts_last,
            ts_init=self.clock.timestamp_ns(),
        )

    def order_status_report(self, client_order_id: str) -> OrderStatusReport:
        return self._order_report(self.order(client_order_id))

    def order_status_reports(
        self,
        instrument_id: str | None = None,
        open_only: bool = False,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> list[OrderStatusReport]:
        """Orders in submission order; `start_ns`/`end_ns` keep those alive in that period (last event at or
        after the start, created at or before the end)."""
        iid = None if instrument_id is None else self.instrument(instrument_id).id
        reports = []
        for coid in self._order_ids:
            order = self.cache.order(coid)
            if order is None or (iid is not None and order.instrument_id != iid):
                continue
            if open_only and not order.is_open:
                continue
            if (start_ns is not None and order.ts_last < start_ns) or (end_ns is not None and order.ts_init > end_ns):
                continue
            reports.append(self._order_report(order))
        return reports

    def fill_reports(
        self,
        instrument_id: str | None = None,
        venue_order_id: str | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> list[FillReport]:
        """The venue's fills in the order they happened (ts_event within `start_ns`..`end_ns`)."""
        iid = None if instrument_id is None else self.instrument(instrument_id).id
        reports = []
        for fill in self._fills:
            if iid is not None and fill.instrument_id != iid:
                continue
            if venue_order_id is not None and fill.venue_order_id != venue_order_id:
                continue
            if (start_ns is not None and fill.ts_event < start_ns) or (end_ns is not None and fill.ts_event > end_ns):
                continue
            reports.append(
                FillReport(
                    account_id=fill.account_id,
                    instrument_id=fill.instrument_id,
                    venue_order_id=fill.venue_order_id,
                    trade_id=fill.trade_id,
                    client_order_id=fill.client_order_id,
                    order_side=fill.order_side,
                    last_qty=fill.last_qty,
                    last_px=fill.last_px,
                    commission=fill.commission,
                    liquidity_side=fill.liquidity_side,
                    venue_position_id=fill.position_id,
                    ts_event=fill.ts_event,
                    ts_init=fill.ts_init,
                )
            )
        return reports

    def position_reports(self, instrument_id: str | None = None) -> list[PositionStatusReport]:
        """NETTING: one net report per instrument traded (FLAT once closed); HEDGING: one per open venue
        position id. An instrument asked for by id with no position gets a FLAT report."""
        iid = None if instrument_id is None else self.instrument(instrument_id).id
        now = self.clock.timestamp_ns()
        reports = []
        for (pos_iid, _), position in self._positions.items():
            if iid is not None and pos_iid != iid:
                continue
            if self._hedging and position.is_closed:
                continue
            reports.append(
                PositionStatusReport(
                    account_id=self.account_id,
                    instrument_id=pos_iid,
                    position_side=position.side if position.is_open else PositionSide.FLAT,
                    quantity=position.quantity,
                    avg_px_open=position.avg_px_open if position.is_open else None,
                    venue_position_id=position.id if self._hedging else None,
                    ts_last=position.ts_last,
                    ts_init=now,
                )
            )
        if iid is not None and not reports:
            precision = self.cache.instrument(iid).size_precision  # type: ignore[union-attr]
            reports.append(PositionStatusReport.create_flat(self.account_id, iid, precision, now))
        return reports

    def account_state(self) -> AccountState:
        """The venue's account now: balances and margins, stamped with venue time."""
        account = self.cache.account(self.account_id)
        assert account is not None
        return account.to_state(self.clock.timestamp_ns(), reported=True)
