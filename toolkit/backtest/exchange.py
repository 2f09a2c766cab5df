"""The simulated exchange: one venue of a backtest (and of the sandbox venue server).

It owns the venue settings (OMS, account type, starting balances, models), one `MatchingEngine`
per instrument, and the command queue: without latency, commands wait in a FIFO for the next
settle at the same timestamp; with a `LatencyModel` they wait in an in-flight heap until
`ts_init + delay`. Market data go to the instrument's matching engine. Every event the matching
engines emit goes to the registered execution client, which hands it to the kernel.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from decimal import Decimal

from toolkit.backtest.matching import MatchingConfig, MatchingEngine
from toolkit.backtest.models import FeeModel, FillModel, LatencyModel, MakerTakerFeeModel
from toolkit.model.commands import (
    BatchCancelOrders,
    CancelAllOrders,
    CancelOrder,
    Command,
    ModifyOrder,
    SubmitOrder,
)
from toolkit.model.data import Bar, QuoteTick, TradeTick
from toolkit.model.enums import AccountType, BookType, OmsType
from toolkit.model.events import AccountBalance, AccountState, Event
from toolkit.model.identifiers import AccountId, InstrumentId, Venue
from toolkit.model.instruments import CryptoPerpetual, Instrument
from toolkit.model.objects import Currency, Money


class SimulatedExchange:
    """A venue with its matching engines, account settings and command queue."""

    def __init__(
        self,
        venue: Venue | str,
        oms_type: OmsType,
        account_type: AccountType,
        starting_balances: list[Money],
        base_currency: Currency | None = None,
        default_leverage: Decimal = Decimal(1),
        leverages: dict[InstrumentId, Decimal] | None = None,
        fill_model: FillModel | None = None,
        fee_model: FeeModel | None = None,
        latency_model: LatencyModel | None = None,
        book_type: BookType = BookType.L1_MBP,
        matching: MatchingConfig | None = None,
        frozen_account: bool = False,
    ) -> None:
        self.venue = Venue(str(venue))
        if not starting_balances:
            raise ValueError(f"venue {venue}: starting_balances must list at least one balance")
        codes = [m.currency.code for m in starting_balances]
        if len(set(codes)) != len(codes):
            raise ValueError(f"venue {venue}: starting_balances lists a currency twice: {codes}")
        if base_currency is not None and codes != [base_currency.code]:
            raise ValueError(
                f"venue {venue}: a single-currency account in {base_currency.code} needs exactly one starting "
                f"balance in {base_currency.code}, got {codes}"
            )
        if default_leverage <= 0:
            raise ValueError(f"venue {venue}: default_leverage must be positive, got {default_leverage}")
        self.oms_type = oms_type
        self.account_type = account_type
        self.starting_balances = list(starting_balances)
        self.base_currency = base_currency
        self.default_leverage = default_leverage
        self.leverages = dict(leverages or {})
        self.fill_model = fill_model or FillModel()
        self.fee_model = fee_model or MakerTakerFeeModel()
        self.latency_model = latency_model
        self.book_type = book_type
        self.matching = matching or MatchingConfig()
        self.frozen_account = frozen_account
        self.account_id = AccountId(f"{self.venue}-001")
        self.engines: dict[InstrumentId, MatchingEngine] = {}
        self._emit: Callable[[Event], None] | None = None
        self._queue: list[Command] = []
        self._inflight: list[tuple[int, int, Command]] = []
        self._seq = 0

    # ---- setup -------------------------------------------------------------------------------
    def add_instrument(self, instrument: Instrument) -> MatchingEngine:
        if instrument.id.venue != self.venue:
            raise ValueError(f"instrument {instrument.id} does not belong to venue {self.venue}")
        if instrument.id in self.engines:
            raise ValueError(f"instrument {instrument.id} already added to venue {self.venue}")
        if self.account_type is AccountType.CASH and isinstance(instrument, CryptoPerpetual):
            raise ValueError(f"instrument {instrument.id}: a perpetual cannot be traded on a CASH account")
        engine = MatchingEngine(
            instrument,
            len(self.engines) + 1,
            self.account_id,
            self.account_type,
            self.oms_type,
            self.fill_model,
            self.fee_model,
            self._on_event,
            self.matching,
            self.book_type,
        )
        self.engines[instrument.id] = engine
        return engine

    def register_event_handler(self, handler: Callable[[Event], None]) -> None:
        """Where the venue's events go (the execution client)."""
        self._emit = handler

    def _on_event(self, event: Event) -> None:
        if self._emit is None:
            raise RuntimeError(f"venue {self.venue} has no execution client registered")
        self._emit(event)

    def initial_account_state(self, ts: int) -> AccountState:
        balances = tuple(AccountBalance(m, Money(0, m.currency), m) for m in self.starting_balances)
        return AccountState(
            account_id=self.account_id,
            account_type=self.account_type,
            base_currency=self.base_currency,
            balances=balances,
            reported=True,
            ts_event=ts,
            ts_init=ts,
        )

    def leverage(self, instrument_id: InstrumentId) -> Decimal:
        return self.leverages.get(instrument_id, self.default_leverage)

    def reset(self) -> None:
        self._queue.clear()
        self._inflight.clear()
        self._seq = 0
        self.fill_model.reset()
        for engine in self.engines.values():
            engine.reset()

    # ---- commands ----------------------------------------------------------------------------
    def send(self, command: Command) -> None:
        """Queue a command; it is applied at the next settle (after its latency, if any)."""
        latency = self.latency_model
        if latency is None:
            self._queue.append(command)
            return
        if isinstance(command, SubmitOrder):
            delay = latency.submit_ns
        elif isinstance(command, ModifyOrder):
            delay = latency.modify_ns
        else:
            delay = latency.cancel_ns
        self._seq += 1
        heapq.heappush(self._inflight, (command.ts_init + delay, self._seq, command))

    def has_pending(self, ts: int) -> bool:
        return bool(self._queue) or (bool(self._inflight) and self._inflight[0][0] <= ts)

    def next_arrival_ns(self) -> int | None:
        return self._inflight[0][0] if self._inflight else None

    def process_commands(self, ts: int) -> None:
        """Apply every queued command in FIFO order, then every in-flight command due by `ts`."""
        while self._queue:
            self._apply(self._queue.pop(0), ts)
        while self._inflight and self._inflight[0][0] <= ts:
            _, _, command = heapq.heappop(self._inflight)
            self._apply(command, ts)

    def _engine(self, instrument_id: InstrumentId) -> MatchingEngine:
        engine = self.engines.get(instrument_id)
        if engine is None:
            raise KeyError(f"instrument {instrument_id} is not traded on venue {self.venue}")
        return engine

    def _apply(self, command: Command, ts: int) -> None:
        engine = self._engine(command.instrument_id)
        if isinstance(command, SubmitOrder):
            engine.process_order(command.order, ts, command.position_id, command.venue_links)
        elif isinstance(command, ModifyOrder):
            engine.process_modify(command, ts)
        elif isinstance(command, CancelOrder):
            engine.process_cancel(command, ts)
        elif isinstance(command, CancelAllOrders):
            engine.process_cancel_all(command, ts)
        elif isinstance(command, BatchCancelOrders):
            for coid in command.client_order_ids:
                engine.process_cancel(
                    CancelOrder(
                        trader_id=command.trader_id,
                        strategy_id=command.strategy_id,
                        instrument_id=command.instrument_id,
                        client_order_id=coid,
                        ts_init=command.ts_init,
                    ),
                    ts,
                )
        else:
            raise TypeError(f"venue {self.venue}: unknown command {type(command).__name__}")

    def iterate(self, ts: int) -> None:
        for engine in self.engines.values():
            if engine.has_orders:
                engine.iterate(ts)

    # ---- market data -------------------------------------------------------------------------
    def process_quote_tick(self, tick: QuoteTick) -> None:
        self._engine(tick.instrument_id).process_quote_tick(tick)

    def process_trade_tick(self, tick: TradeTick) -> None:
        self._engine(tick.instrument_id).process_trade_tick(tick)

    def process_bar(self, bar: Bar) -> None:
        self._engine(bar.bar_type.instrument_id).process_bar(bar)
