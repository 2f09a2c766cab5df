"""The cache: the kernel's single in-memory store of trading state and recent market data.

It holds instruments, accounts, orders (indexed by strategy, instrument, venue and status),
positions (open/closed, by strategy and instrument, plus snapshots of closed NETTING cycles), the
latest quotes, trades and bars with a bounded history per instrument or bar type, the order books the
data engine maintains for book subscribers (`order_book(instrument_id)`), and opaque strategy state for
`on_save`/`on_load`. Engines write it; strategies read it via `self.cache`.
Persistence to a database is a later layer that mirrors these writes.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import TYPE_CHECKING, Any

from toolkit.model.enums import OrderSide, OrderStatus, PositionSide
from toolkit.model.orders import CLOSED_STATUSES, INFLIGHT_STATUSES, OPEN_STATUSES

if TYPE_CHECKING:
    from toolkit.model.accounts import Account
    from toolkit.model.book import OrderBook
    from toolkit.model.data import Bar, BarType, OrderBookDepth10, QuoteTick, TradeTick
    from toolkit.model.identifiers import (
        AccountId,
        ClientOrderId,
        InstrumentId,
        PositionId,
        StrategyId,
        Venue,
        VenueOrderId,
    )
    from toolkit.model.instruments import Instrument
    from toolkit.model.orders import Order
    from toolkit.model.position import Position


_GENERATIONS = itertools.count(1)
_EMPTY: frozenset[Any] = frozenset()


class Cache:
    """In-memory trading state with indexes; `tick_capacity`/`bar_capacity` bound the history."""

    def __init__(self, tick_capacity: int = 10_000, bar_capacity: int = 10_000) -> None:
        if tick_capacity < 1 or bar_capacity < 1:
            raise ValueError("cache tick_capacity and bar_capacity must be at least 1")
        self.tick_capacity = tick_capacity
        self.bar_capacity = bar_capacity
        self._instruments: dict[InstrumentId, Instrument] = {}
        self._accounts: dict[AccountId, Account] = {}
        self._venue_account: dict[str, AccountId] = {}
        self._orders: dict[ClientOrderId, Order] = {}
        self._orders_by_strategy: dict[StrategyId, set[ClientOrderId]] = {}
        self._orders_by_instrument: dict[InstrumentId, set[ClientOrderId]] = {}
        self._orders_by_venue: dict[str, set[ClientOrderId]] = {}
        self._orders_open: set[ClientOrderId] = set()
        self._orders_closed: set[ClientOrderId] = set()
        self._orders_inflight: set[ClientOrderId] = set()
        self._order_position: dict[ClientOrderId, PositionId] = {}
        self._venue_order_index: dict[VenueOrderId, ClientOrderId] = {}
        self._positions: dict[PositionId, Position] = {}
        self._positions_open: set[PositionId] = set()
        self._positions_closed: set[PositionId] = set()
        self._positions_by_strategy: dict[StrategyId, set[PositionId]] = {}
        self._positions_by_instrument: dict[InstrumentId, set[PositionId]] = {}
        self._position_snapshots: dict[PositionId, list[Position]] = {}
        self.generation = next(_GENERATIONS)  # a new one after every reset: histories handed out are stale
        self.instruments_version = 0  # counts add_instrument calls: readers that keep a list know when to refresh
        self._quotes: dict[InstrumentId, deque[QuoteTick]] = {}
        self._trades: dict[InstrumentId, deque[TradeTick]] = {}
        self._bars: dict[BarType, deque[Bar]] = {}
        self._last_bar: dict[InstrumentId, Bar] = {}
        self._depth10: dict[InstrumentId, OrderBookDepth10] = {}
        self._books: dict[InstrumentId, OrderBook] = {}
        self._strategy_state: dict[StrategyId, dict[str, bytes]] = {}
        self._general: dict[str, bytes] = {}

    # ---- instruments -------------------------------------------------------------------------
    def add_instrument(self, instrument: Instrument) -> None:
        self._instruments[instrument.id] = instrument
        self.instruments_version += 1

    def instrument(self, instrument_id: InstrumentId) -> Instrument | None:
        return self._instruments.get(instrument_id)

    def instruments(self, venue: Venue | str | None = None) -> list[Instrument]:
        items = self._instruments.values()
        return [i for i in items if venue is None or i.id.venue == venue]

    # ---- market data -------------------------------------------------------------------------
    def quote_history(self, instrument_id: InstrumentId) -> deque[QuoteTick]:
        """The instrument's quote history (created empty if new), for writers that append themselves; valid
        while `generation` is unchanged."""
        history = self._quotes.get(instrument_id)
        if history is None:
            history = self._quotes[instrument_id] = deque(maxlen=self.tick_capacity)
        return history

    def add_quote_tick(self, tick: QuoteTick) -> None:
        history = self._quotes.get(tick.instrument_id)
        if history is None:
            history = self._quotes[tick.instrument_id] = deque(maxlen=self.tick_capacity)
        history.append(tick)

    def add_trade_tick(self, tick: TradeTick) -> None:
        history = self._trades.get(tick.instrument_id)
        if history is None:
            history = self._trades[tick.instrument_id] = deque(maxlen=self.tick_capacity)
        history.append(tick)

    def add_bar(self, bar: Bar) -> None:
        history = self._bars.get(bar.bar_type)
        if history is None:
            history = self._bars[bar.bar_type] = deque(maxlen=self.bar_capacity)
        history.append(bar)
        self._last_bar[bar.bar_type.instrument_id] = bar

    def add_depth10(self, depth: OrderBookDepth10) -> None:
        self._depth10[depth.instrument_id] = depth

    def depth10(self, instrument_id: InstrumentId) -> OrderBookDepth10 | None:
        """The latest depth-10 snapshot of the instrument."""
        return self._depth10.get(instrument_id)

    def add_order_book(self, book: OrderBook) -> None:
        """Keep `book` as the instrument's book: the data engine applies that instrument's deltas and depth
        snapshots to it. A strategy that wants an L3 book adds `OrderBook(id, BookType.L3_MBO)` before it
        subscribes; a book that already exists is replaced."""
        self._books[book.instrument_id] = book  # type: ignore[index]

    def order_book(self, instrument_id: InstrumentId) -> OrderBook | None:
        """The instrument's order book, kept current by the data engine once someone subscribed to its
        deltas or depth snapshots; None when nobody did. Read it, never change it."""
        return self._books.get(instrument_id)

    def order_books(self) -> list[OrderBook]:
        return list(self._books.values())

    def quote_tick(self, instrument_id: InstrumentId, index: int = 0) -> QuoteTick | None:
        """The latest quote (index 0) or an older one (1 = the one before...)."""
        history = self._quotes.get(instrument_id)
        if not history or index >= len(history):
            return None
        return history[-1 - index]

    def trade_tick(self, instrument_id: InstrumentId, index: int = 0) -> TradeTick | None:
        history = self._trades.get(instrument_id)
        if not history or index >= len(history):
            return None
        return history[-1 - index]

    def bar(self, bar_type: BarType, index: int = 0) -> Bar | None:
        history = self._bars.get(bar_type)
        if not history or index >= len(history):
            return None
        return history[-1 - index]

    def quote_ticks(self, instrument_id: InstrumentId) -> list[QuoteTick]:
        """History, newest first."""
        return list(reversed(self._quotes.get(instrument_id, ())))

    def trade_ticks(self, instrument_id: InstrumentId) -> list[TradeTick]:
        return list(reversed(self._trades.get(instrument_id, ())))

    def bars(self, bar_type: BarType) -> list[Bar]:
        return list(reversed(self._bars.get(bar_type, ())))

    def quote_tick_count(self, instrument_id: InstrumentId) -> int:
        return len(self._quotes.get(instrument_id, ()))

    def bar_count(self, bar_type: BarType) -> int:
        return len(self._bars.get(bar_type, ()))

    def bar_types(self, instrument_id: InstrumentId | None = None) -> list[BarType]:
        return [bt for bt in self._bars if instrument_id is None or bt.instrument_id == instrument_id]

    def last_price_raw(self, instrument_id: InstrumentId, side: PositionSide | None = None) -> int | None:
        """A raw mark price: exit side of the quote (bid for longs, ask for shorts, else mid),
        else the last trade, else the close of the latest bar of the instrument."""
        history = self._quotes.get(instrument_id)
        if history:
            q = history[-1]
            if side is PositionSide.LONG:
                return q.bid_raw
            if side is PositionSide.SHORT:
                return q.ask_raw
            return (q.bid_raw + q.ask_raw) // 2
        trades = self._trades.get(instrument_id)
        if trades:
            return trades[-1].price_raw
        bar = self._last_bar.get(instrument_id)
        return None if bar is None else bar.close_raw

    # ---- accounts ----------------------------------------------------------------------------
    def add_account(self, account: Account) -> None:
        self._accounts[account.id] = account
        self._venue_account[account.id.issuer] = account.id

    def account(self, account_id: AccountId) -> Account | None:
        return self._accounts.get(account_id)

    def account_for_venue(self, venue: Venue | str) -> Account | None:
        account_id = self._venue_account.get(str(venue))
        return None if account_id is None else self._accounts.get(account_id)

    def accounts(self) -> list[Account]:
        return list(self._accounts.values())

    # ---- orders ------------------------------------------------------------------------------
    def add_order(self, order: Order, position_id: PositionId | None = None) -> None:
        """Index a new order; adding the same client order id twice is an error."""
        coid = order.client_order_id
        if coid in self._orders:
            raise ValueError(f"order {coid} is already in the cache (client order ids must be unique)")
        self._orders[coid] = order
        self._orders_by_strategy.setdefault(order.strategy_id, set()).add(coid)
        self._orders_by_instrument.setdefault(order.instrument_id, set()).add(coid)
        self._orders_by_venue.setdefault(order.instrument_id.venue, set()).add(coid)
        if position_id is not None:
            self._order_position[coid] = position_id
        self._index_status(order)

    def update_order(self, order: Order) -> None:
        """Re-index an order after an event changed its status."""
        self._index_status(order)
        if order.position_id is not None:
            self._order_position[order.client_order_id] = order.position_id

    def _index_status(self, order: Order) -> None:
        coid = order.client_order_id
        status = order.status
        if status in OPEN_STATUSES:
            self._orders_open.add(coid)
        else:
            self._orders_open.discard(coid)
        if status in CLOSED_STATUSES:
            self._orders_closed.add(coid)
        else:
            self._orders_closed.discard(coid)
        if status in INFLIGHT_STATUSES:
            self._orders_inflight.add(coid)
        else:
            self._orders_inflight.discard(coid)

    def order(self, client_order_id: ClientOrderId) -> Order | None:
        return self._orders.get(client_order_id)

    def order_exists(self, client_order_id: ClientOrderId) -> bool:
        return client_order_id in self._orders

    def _select(
        self,
        ids: set[ClientOrderId] | None,
        venue: Venue | str | None,
        instrument_id: InstrumentId | None,
        strategy_id: StrategyId | None,
        side: OrderSide | None,
    ) -> list[Order]:
        if instrument_id is not None:  # one set operation instead of a copy and an intersection
            by_instrument = self._orders_by_instrument.get(instrument_id, _EMPTY)
            candidates = set(by_instrument) if ids is None else ids & by_instrument
        else:
            candidates = set(self._orders) if ids is None else set(ids)
        if venue is not None:
            candidates &= self._orders_by_venue.get(str(venue), _EMPTY)
        if strategy_id is not None:
            candidates &= self._orders_by_strategy.get(strategy_id, _EMPTY)
        orders = [self._orders[c] for c in candidates]
        if side is not None and side is not OrderSide.NO_ORDER_SIDE:
            orders = [o for o in orders if o.side is side]
        if len(orders) > 1:
            orders.sort(key=lambda o: (o.ts_init, o.client_order_id))
        return orders

    def orders(
        self,
        venue: Venue | str | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
        side: OrderSide | None = None,
    ) -> list[Order]:
        return self._select(None, venue, instrument_id, strategy_id, side)

    def orders_open(
        self,
        venue: Venue | str | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
        side: OrderSide | None = None,
    ) -> list[Order]:
        return self._select(self._orders_open, venue, instrument_id, strategy_id, side)

    def orders_closed(
        self,
        venue: Venue | str | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
        side: OrderSide | None = None,
    ) -> list[Order]:
        return self._select(self._orders_closed, venue, instrument_id, strategy_id, side)

    def orders_inflight(
        self,
        venue: Venue | str | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
        side: OrderSide | None = None,
    ) -> list[Order]:
        return self._select(self._orders_inflight, venue, instrument_id, strategy_id, side)

    def orders_with_status(self, status: OrderStatus) -> list[Order]:
        return [o for o in self._orders.values() if o.status is status]

    def orders_open_count(
        self, instrument_id: InstrumentId | None = None, strategy_id: StrategyId | None = None
    ) -> int:
        if instrument_id is None and strategy_id is None:
            return len(self._orders_open)
        return len(self.orders_open(instrument_id=instrument_id, strategy_id=strategy_id))

    def orders_total_count(self) -> int:
        return len(self._orders)

    def position_id_for_order(self, client_order_id: ClientOrderId) -> PositionId | None:
        return self._order_position.get(client_order_id)

    def index_venue_order_id(
        self, venue_order_id: VenueOrderId, client_order_id: ClientOrderId, overwrite: bool = True
    ) -> None:
        """Remember which order a venue order id belongs to (`overwrite=False` keeps an existing entry)."""
        if overwrite or venue_order_id not in self._venue_order_index:
            self._venue_order_index[venue_order_id] = client_order_id

    def client_order_id_for(self, venue_order_id: VenueOrderId) -> ClientOrderId | None:
        """The client order id indexed for a venue order id, or None."""
        return self._venue_order_index.get(venue_order_id)

    def purge_order(self, client_order_id: ClientOrderId) -> Order | None:
        """Forget an order and every index entry of it (the live engine's purge of closed orders)."""
        order = self._orders.pop(client_order_id, None)
        if order is None:
            return None
        for index in (self._orders_by_strategy, self._orders_by_instrument, self._orders_by_venue):
            for ids in index.values():
                ids.discard(client_order_id)
        self._orders_open.discard(client_order_id)
        self._orders_closed.discard(client_order_id)
        self._orders_inflight.discard(client_order_id)
        self._order_position.pop(client_order_id, None)
        for venue_order_id in [v for v, c in self._venue_order_index.items() if c == client_order_id]:
            del self._venue_order_index[venue_order_id]
        return order

    # ---- positions ---------------------------------------------------------------------------
    def add_position(self, position: Position) -> None:
        pid = position.id
        self._positions[pid] = position
        self._positions_by_strategy.setdefault(position.strategy_id, set()).add(pid)
        self._positions_by_instrument.setdefault(position.instrument_id, set()).add(pid)
        self.update_position(position)

    def update_position(self, position: Position) -> None:
        pid = position.id
        if position.is_open:
            self._positions_open.add(pid)
            self._positions_closed.discard(pid)
        else:
            self._positions_open.discard(pid)
            self._positions_closed.add(pid)

    def snapshot_position(self, position: Position) -> None:
        """Keep a closed NETTING cycle before its id is reused by the next position."""
        self._position_snapshots.setdefault(position.id, []).append(position)

    def position_snapshots(self, position_id: PositionId | None = None) -> list[Position]:
        if position_id is not None:
            return list(self._position_snapshots.get(position_id, []))
        return [p for snaps in self._position_snapshots.values() for p in snaps]

    def position(self, position_id: PositionId) -> Position | None:
        return self._positions.get(position_id)

    def purge_position(self, position_id: PositionId) -> Position | None:
        """Forget a position, its snapshots and its index entries (the live engine's purge of closed positions)."""
        position = self._positions.pop(position_id, None)
        if position is None:
            return None
        for index in (self._positions_by_strategy, self._positions_by_instrument):
            for ids in index.values():
                ids.discard(position_id)
        self._positions_open.discard(position_id)
        self._positions_closed.discard(position_id)
        self._position_snapshots.pop(position_id, None)
        return position

    def position_for_order(self, client_order_id: ClientOrderId) -> Position | None:
        pid = self._order_position.get(client_order_id)
        return None if pid is None else self._positions.get(pid)

    def _positions_select(
        self,
        ids: set[PositionId] | None,
        venue: Venue | str | None,
        instrument_id: InstrumentId | None,
        strategy_id: StrategyId | None,
        side: PositionSide | None,
    ) -> list[Position]:
        if instrument_id is not None:
            by_instrument = self._positions_by_instrument.get(instrument_id, _EMPTY)
            candidates = set(by_instrument) if ids is None else ids & by_instrument
        else:
            candidates = set(self._positions) if ids is None else set(ids)
        if strategy_id is not None:
            candidates &= self._positions_by_strategy.get(strategy_id, _EMPTY)
        positions = [self._positions[p] for p in candidates]
        if venue is not None:
            positions = [p for p in positions if p.instrument_id.venue == str(venue)]
        if side is not None:
            positions = [p for p in positions if p.side is side]
        if len(positions) > 1:
            positions.sort(key=lambda p: (p.ts_opened, p.id))
        return positions

    def positions(
        self,
        venue: Venue | str | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
        side: PositionSide | None = None,
    ) -> list[Position]:
        return self._positions_select(None, venue, instrument_id, strategy_id, side)

    def positions_open(
        self,
        venue: Venue | str | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
        side: PositionSide | None = None,
    ) -> list[Position]:
        return self._positions_select(self._positions_open, venue, instrument_id, strategy_id, side)

    def positions_closed(
        self,
        venue: Venue | str | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
    ) -> list[Position]:
        return self._positions_select(self._positions_closed, venue, instrument_id, strategy_id, None)

    def positions_open_count(self, instrument_id: InstrumentId | None = None) -> int:
        if instrument_id is None:
            return len(self._positions_open)
        return len(self.positions_open(instrument_id=instrument_id))

    def is_flat(self, instrument_id: InstrumentId | None = None, strategy_id: StrategyId | None = None) -> bool:
        return not self.positions_open(instrument_id=instrument_id, strategy_id=strategy_id)

    # ---- strategy state and general storage ---------------------------------------------------
    def save_strategy_state(self, strategy_id: StrategyId, state: dict[str, bytes]) -> None:
        self._strategy_state[strategy_id] = dict(state)

    def load_strategy_state(self, strategy_id: StrategyId) -> dict[str, bytes]:
        return dict(self._strategy_state.get(strategy_id, {}))

    def add(self, key: str, value: bytes) -> None:
        self._general[key] = value

    def get(self, key: str) -> bytes | None:
        return self._general.get(key)

    # ---- lifecycle ---------------------------------------------------------------------------
    def reset(self, drop_instruments: bool = True) -> None:
        """Forget everything a run produced (a fresh backtest run starts from here)."""
        instruments = self._instruments
        self.__init__(self.tick_capacity, self.bar_capacity)  # type: ignore[misc]
        if not drop_instruments:
            self._instruments = instruments

    def stats(self) -> dict[str, Any]:
        return {
            "instruments": len(self._instruments),
            "orders": len(self._orders),
            "orders_open": len(self._orders_open),
            "positions": len(self._positions),
            "positions_open": len(self._positions_open),
        }
