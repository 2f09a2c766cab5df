"""`BacktestEngine`: the kernel driven by a simulated clock through a stream of historical data.

Set up venues (`add_venue`), instruments, data (lists of objects or ts_init-ordered iterators such
as the catalog's stream) and strategies, then `run(start_ns, end_ns)`. Per data point, in order:
fire the timers due strictly before it (each timestamp batch followed by a settle), move the clock,
let the venue update its book and match resting orders, dispatch the data to subscribers, then
settle: apply queued venue commands (and in-flight ones whose latency has elapsed) until quiet.
Timers at exactly the last data timestamp fire after it. After the run, `result()` gives the
summary and `write_snapshot(path)` the snapshot folder the apps read.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any

from toolkit.backtest.client import BacktestExecutionClient
from toolkit.backtest.exchange import SimulatedExchange
from toolkit.backtest.matching import MatchingConfig
from toolkit.backtest.models import FeeModel, FillModel, LatencyModel
from toolkit.core.clock import TestClock
from toolkit.core.log import Logger
from toolkit.engine.kernel import Kernel, KernelConfig
from toolkit.engine.portfolio import AccountOptions, EquityPoint
from toolkit.engine.sampler import PriceSampler
from toolkit.model.data import Bar, BarType, OrderBookDelta, OrderBookDepth10, QuoteTick, TradeTick
from toolkit.model.enums import AccountType, BookAction, BookType, OmsType, PriceType
from toolkit.model.identifiers import InstrumentId, Venue
from toolkit.model.instruments import Instrument
from toolkit.model.objects import Currency, Money
from toolkit.trading.strategy import Actor, Strategy

Data = QuoteTick | TradeTick | Bar | OrderBookDelta | OrderBookDepth10
_NEVER = 2**63 - 1
_ALWAYS = -(2**63)


class BacktestEngineConfig(KernelConfig):
    """Kernel settings plus `equity_interval_ns` (how often equity is sampled, default hourly) and
    `price_interval_ns` (how often instrument prices are sampled for the snapshot, default every minute;
    0 = never)."""

    equity_interval_ns: int = 3_600_000_000_000
    price_interval_ns: int = 60_000_000_000


class StrategyError(RuntimeError):
    """A strategy or actor raised while handling data or events; says which one, where and when."""


def _instrument_of(data: Data) -> InstrumentId:
    return data.bar_type.instrument_id if type(data) is Bar else data.instrument_id  # type: ignore[union-attr]


class BacktestEngine:
    """See the module docstring."""

    def __init__(self, config: BacktestEngineConfig | None = None) -> None:
        self.config = config or BacktestEngineConfig()
        self.clock = TestClock()
        self.kernel = Kernel(self.config, self.clock)
        self.log = Logger("BacktestEngine", self.clock)
        self.exchanges: dict[Venue, SimulatedExchange] = {}
        self._lists: list[list[Data]] = []
        self._streams: list[Callable[[], Iterator[Data]]] = []
        self._bar_types: set[BarType] = set()
        self._next_arrival_ns = _NEVER
        self._settle_at = _NEVER  # settle at a ts >= this: _ALWAYS once a command is queued, else the next arrival
        self._delayed: tuple[SimulatedExchange, ...] = ()  # venues with a latency model
        self.equity: list[EquityPoint] = []
        self.prices: PriceSampler | None = None
        self.events_processed = 0
        self.iterations = 0
        self.run_started_ns: int | None = None
        self.run_finished_ns: int | None = None
        self._has_run = False

    # ---- shortcuts -----------------------------------------------------------------------------
    @property
    def cache(self):  # type: ignore[no-untyped-def]
        return self.kernel.cache

    @property
    def portfolio(self):  # type: ignore[no-untyped-def]
        return self.kernel.portfolio

    @property
    def trader(self):  # type: ignore[no-untyped-def]
        return self.kernel.trader

    # ---- setup ---------------------------------------------------------------------------------
    def add_venue(
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
    ) -> SimulatedExchange:
        exchange = SimulatedExchange(
            venue,
            oms_type,
            account_type,
            starting_balances,
            base_currency,
            default_leverage,
            leverages,
            fill_model,
            fee_model,
            latency_model,
            book_type,
            matching,
        )
        if exchange.venue in self.exchanges:
            raise ValueError(f"venue {exchange.venue} already added")
        self.exchanges[exchange.venue] = exchange
        self._delayed = tuple(ex for ex in self.exchanges.values() if ex.latency_model is not None)
        client = BacktestExecutionClient(exchange, self.clock, self.kernel.exec_engine.process, self._on_command)
        self.kernel.exec_engine.register_client(client)
        self.kernel.portfolio.set_account_options(str(exchange.venue), AccountOptions(default_leverage, leverages))
        return exchange

    def _on_command(self) -> None:
        self._settle_at = _ALWAYS

    def add_instrument(self, instrument: Instrument) -> None:
        exchange = self.exchanges.get(instrument.id.venue)
        if exchange is None:
            known = ", ".join(self.exchanges) or "none"
            raise ValueError(f"instrument {instrument.id}: add venue {instrument.id.venue} first (venues: {known})")
        exchange.add_instrument(instrument)
        self.kernel.cache.add_instrument(instrument)

    def add_data(self, data: Iterable[Data]) -> None:
        """Add historical data objects (any order; they are sorted by ts_init, stably)."""
        items = sorted(data, key=lambda d: d.ts_init)
        for item in items:
            self._check_data(item)
        self._lists.append(items)

    def add_data_stream(self, factory: Callable[[], Iterator[Data]], bar_types: Iterable[BarType] = ()) -> None:
        """Add a ts_init-ordered stream (e.g. `catalog.stream_objects(...)`); `factory` opens it anew per run.
        Declare the bar types it contains so BID and ASK bars of one spec are paired for execution."""
        self._streams.append(factory)
        self._bar_types.update(bar_types)

    def _check_data(self, item: Data) -> None:
        instrument = self.kernel.cache.instrument(_instrument_of(item))
        if instrument is None:
            raise ValueError(f"data for unknown instrument {_instrument_of(item)}: add the instrument first")
        if type(item) is Bar:
            self._bar_types.add(item.bar_type)  # type: ignore[union-attr]
            if item.bar_type.spec.price_type is PriceType.MID:  # type: ignore[union-attr]
                return
        if type(item) is OrderBookDelta and item.action is BookAction.CLEAR:  # type: ignore[union-attr]
            return
        if item.price_precision != instrument.price_precision or item.size_precision != instrument.size_precision:
            raise ValueError(
                f"{type(item).__name__} for {instrument.id} at {item.ts_init} has price/size precision "
                f"{item.price_precision}/{item.size_precision}, the instrument has "
                f"{instrument.price_precision}/{instrument.size_precision}"
            )

    def add_strategy(self, strategy: Strategy) -> None:
        self.kernel.trader.add_strategy(strategy)

    def add_actor(self, actor: Actor) -> None:
        self.kernel.trader.add_actor(actor)

    # ---- running -------------------------------------------------------------------------------
    def _stream(self) -> Iterator[Data]:
        sources: list[Iterator[Data]] = [iter(items) for items in self._lists]
        sources += [factory() for factory in self._streams]
        if not sources:
            return iter(())
        if len(sources) == 1:
            return sources[0]
        return heapq.merge(*sources, key=lambda d: d.ts_init)

    def open_stream(self, start_ns: int | None = None) -> Iterator[Data]:
        """The merged data stream of this engine (BID/ASK bars paired for execution), from `start_ns`."""
        self._pair_quote_bars()
        stream = self._stream()
        if start_ns is not None:
            stream = itertools.dropwhile(lambda d: d.ts_init < start_ns, stream)
        return stream

    def process_data(self, data: Data) -> None:
        """One data point through the venue (book, matching) then the data engine, without timers or settle.
        (The run loop inlines the same steps for speed.)"""
        kind = type(data)
        instrument_id = data.bar_type.instrument_id if kind is Bar else data.instrument_id  # type: ignore[union-attr]
        matching = None
        for exchange in self.exchanges.values():
            matching = exchange.engines.get(instrument_id)
            if matching is not None:
                break
        data_engine = self.kernel.data_engine
        if kind is QuoteTick:
            if matching is not None:
                matching.process_quote_tick(data)
            data_engine.process_quote_tick(data)  # type: ignore[arg-type]
        elif kind is TradeTick:
            if matching is not None:
                matching.process_trade_tick(data)
            data_engine.process_trade_tick(data)  # type: ignore[arg-type]
        elif kind is Bar:
            if matching is not None:
                matching.process_bar(data)
            data_engine.process_bar(data)  # type: ignore[arg-type]
        elif kind is OrderBookDelta:
            if matching is not None:
                matching.process_order_book_delta(data)
            data_engine.process_order_book_delta(data)  # type: ignore[arg-type]
        elif kind is OrderBookDepth10:
            if matching is not None:
                matching.process_order_book_depth10(data)
            data_engine.process_order_book_depth10(data)  # type: ignore[arg-type]
        else:
            raise TypeError(f"cannot replay {kind.__name__} data")

    def settle_if_due(self, ts: int) -> None:
        """Settle when a command is queued or an in-flight command has arrived by `ts`."""
        if ts >= self._settle_at:
            self.settle(ts)

    def _pair_quote_bars(self) -> None:
        specs: dict[InstrumentId, dict[tuple[int, str], set[PriceType]]] = {}
        for bar_type in self._bar_types:
            if bar_type.is_internal:
                continue
            key = (bar_type.spec.step, bar_type.spec.aggregation.value)
            specs.setdefault(bar_type.instrument_id, {}).setdefault(key, set()).add(bar_type.spec.price_type)
        for exchange in self.exchanges.values():
            for instrument_id, engine in exchange.engines.items():
                engine.paired_bar_specs = {
                    key
                    for key, types in specs.get(instrument_id, {}).items()
                    if PriceType.BID in types and PriceType.ASK in types
                }

    def run(
        self,
        start_ns: int | None = None,
        end_ns: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        progress_every: int = 65_536,
    ) -> None:
        """Replay the data between `start_ns` and `end_ns` (inclusive, ns). `progress(events, ts)` is
        called every `progress_every` data points."""
        if self._has_run:
            raise RuntimeError("this engine has already run: call reset() before running again")
        if not self.exchanges:
            raise RuntimeError("add a venue before running")
        if not self.kernel.trader.components():
            self.log.warning("no strategies or actors added: the run only replays data")
        self._has_run = True
        stream = self.open_stream(start_ns)
        first = next(stream, None)
        if first is None:
            raise RuntimeError("no data in the requested period")
        t0 = start_ns if start_ns is not None else first.ts_init
        self.clock.reset(t0)
        self.run_started_ns = t0
        for exchange in self.exchanges.values():
            self.kernel.exec_engine.process(exchange.initial_account_state(t0))
        self._sample_equity(t0)
        if self.config.price_interval_ns > 0:
            self.prices = PriceSampler(self.clock, self.kernel.cache, self.config.price_interval_ns)
            self.prices.start_driven()  # sampled by _fire_timers, like a timer set before the strategies' ones
        self._guard(self.kernel.start, "on_start")
        self.settle(t0)
        last_ts = t0
        try:
            last_ts = self._loop(itertools.chain((first,), stream), end_ns, progress, progress_every)
        except StrategyError:
            raise
        end = last_ts if end_ns is None else max(last_ts, end_ns)  # timers fire up to the end of the period
        self._fire_timers(end, inclusive=True)
        self.clock.set_time(max(end, self.clock.timestamp_ns()))
        if self.prices is not None:
            self.prices.stop()
            self.prices.sample(self.clock.timestamp_ns())
        self._guard(self.kernel.stop, "on_stop")
        self.settle(self.clock.timestamp_ns())
        self.flush_inflight()
        self.run_finished_ns = self.clock.timestamp_ns()
        self._sample_equity(self.run_finished_ns)

    def _loop(
        self,
        stream: Iterator[Data],
        end_ns: int | None,
        progress: Callable[[int, int], None] | None,
        progress_every: int,
    ) -> int:
        clock = self.clock
        data_engine = self.kernel.data_engine
        process_quote = data_engine.process_quote_tick
        process_trade = data_engine.process_trade_tick
        process_bar = data_engine.process_bar
        engines: dict[InstrumentId, Any] = {}
        for exchange in self.exchanges.values():
            engines.update(exchange.engines)
        end = _NEVER if end_ns is None else end_ns
        equity_every = self.config.equity_interval_ns
        next_equity = clock.timestamp_ns() + equity_every
        count = 0
        last_ts = clock.timestamp_ns()
        next_progress = progress_every if progress is not None else _NEVER
        next_sample = self._next_sample_ns()
        # One compare per event stands for the checks whose times only this loop moves (end, price sample,
        # equity sample: `wake` is the earliest of them); the clock's next timer is read per event, since a
        # handler may set a timer at any point.
        wake = min(end, next_sample, next_equity - 1)
        QT, TT = QuoteTick, TradeTick  # noqa: N806 - local aliases for the hot loop
        for data in stream:
            ts = data.ts_init
            if ts > wake or ts > clock.next_event_ns:
                if ts > end:
                    break
                if ts > clock.next_event_ns or ts > next_sample:
                    self._fire_timers(ts, inclusive=False)
                    next_sample = self._next_sample_ns()
                if ts >= next_equity:
                    self._sample_equity(last_ts)
                    next_equity = ts - ts % equity_every + equity_every
                wake = min(end, next_sample, next_equity - 1)
            clock._time_ns = ts
            kind = type(data)
            try:
                if kind is QT:
                    engine = engines.get(data.instrument_id)
                    if engine is not None:
                        engine.process_quote_tick(data)
                    process_quote(data)
                elif kind is TT:
                    engine = engines.get(data.instrument_id)
                    if engine is not None:
                        engine.process_trade_tick(data)
                    process_trade(data)
                elif kind is Bar:
                    engine = engines.get(data.bar_type.instrument_id)
                    if engine is not None:
                        engine.process_bar(data)
                    process_bar(data)
                elif kind is OrderBookDelta:
                    engine = engines.get(data.instrument_id)
                    if engine is not None:
                        engine.process_order_book_delta(data)
                    data_engine.process_order_book_delta(data)
                elif kind is OrderBookDepth10:
                    engine = engines.get(data.instrument_id)
                    if engine is not None:
                        engine.process_order_book_depth10(data)
                    data_engine.process_order_book_depth10(data)
                else:
                    raise TypeError(f"cannot replay {kind.__name__} data")
            except StrategyError:
                raise
            except Exception as exc:
                raise StrategyError(f"error at ts {ts} while processing {data!r}: {exc!r}") from exc
            if ts >= self._settle_at:  # a command was sent, or an in-flight one has arrived
                self.settle(ts)
            last_ts = ts
            count += 1
            if count >= next_progress:
                progress(count, ts)  # type: ignore[misc]
                next_progress += progress_every
        self.events_processed += count
        return last_ts

    def settle(self, ts: int) -> None:
        """Apply pending venue commands, then match every book, until nothing is pending."""
        exchanges = self.exchanges.values()
        for _ in range(100_000):
            busy = False
            for exchange in exchanges:
                if exchange.has_pending(ts):
                    busy = True
                    try:
                        exchange.process_commands(ts)
                    except Exception as exc:
                        raise StrategyError(f"error at ts {ts} while settling venue commands: {exc!r}") from exc
            if not busy:
                if self._delayed:  # only venues with latency have commands in flight
                    arrivals = [a for a in (ex.next_arrival_ns() for ex in self._delayed) if a is not None]
                    self._next_arrival_ns = min(arrivals) if arrivals else _NEVER
                else:
                    self._next_arrival_ns = _NEVER
                self._settle_at = self._next_arrival_ns
                return
            self.iterations += 1
            for exchange in exchanges:
                exchange.iterate(ts)
        raise StrategyError(f"settle at ts {ts} did not become quiet: strategies keep sending commands")

    def _next_sample_ns(self) -> int:
        prices = self.prices
        due = None if prices is None else prices.next_due_ns
        return _NEVER if due is None else due

    def _fire_timers(self, until_ns: int, inclusive: bool) -> None:
        """Fire every timer due before `until_ns` (or at it, if inclusive), one timestamp batch at a time.

        The price sampler's sample times count as timers here: a sample due at a batch's time is taken first
        (as a timer set before every other would fire), and a sample alone still moves the clock and lets
        commands that arrived by then settle, exactly as its timer did.
        """
        clock = self.clock
        while True:
            at = clock.next_event_ns
            sample_at = self._next_sample_ns()
            if sample_at < at:
                at = sample_at
            if not (at < until_ns or (inclusive and at == until_ns)):
                return
            if clock.next_event_ns == at:
                handlers = clock.advance_time(at)
            else:
                handlers = []
                clock.set_time(at)
            if sample_at == at:
                self.prices.sample_due()  # type: ignore[union-attr]
            for handler in handlers:
                try:
                    handler.handle()
                except Exception as exc:
                    raise StrategyError(f"error at ts {at} in timer {handler.event.name!r}: {exc!r}") from exc
            if at >= self._settle_at:  # a handler sent commands, or some arrived
                self.settle(at)

    def flush_inflight(self) -> None:
        """With latency, move the clock to the last in-flight arrival so stop-time commands apply."""
        arrivals = [ex.next_arrival_ns() for ex in self.exchanges.values()]
        pending = [a for a in arrivals if a is not None]
        while pending:
            at = max(max(pending), self.clock.timestamp_ns())
            self.clock.set_time(at)
            self.settle(at)
            pending = [a for a in (ex.next_arrival_ns() for ex in self.exchanges.values()) if a is not None]

    def _guard(self, action: Callable[[], None], where: str) -> None:
        try:
            action()
        except Exception as exc:
            raise StrategyError(f"error in {where} at ts {self.clock.timestamp_ns()}: {exc!r}") from exc

    def _sample_equity(self, ts: int) -> None:
        self.equity.extend(self.kernel.portfolio.equity_points(ts))

    # ---- results -------------------------------------------------------------------------------
    def result(self):  # type: ignore[no-untyped-def]
        """Summary figures of the run (see `toolkit.backtest.results`)."""
        from toolkit.backtest.results import build_result

        return build_result(self)

    def write_snapshot(self, path: Any, run_id: str | None = None) -> Any:
        """Write the snapshot folder (manifest + Parquet tables) and return its path."""
        from toolkit.persistence.snapshot import write_backtest_snapshot

        return write_backtest_snapshot(self, path, run_id=run_id)

    def reset(self) -> None:
        """Forget the run (orders, positions, accounts, equity) but keep venues, instruments, data, strategies."""
        self.kernel.reset()
        for exchange in self.exchanges.values():
            exchange.reset()
        self.clock.reset(0)
        self.equity = []
        self.prices = None
        self.events_processed = 0
        self.iterations = 0
        self._next_arrival_ns = _NEVER
        self._settle_at = _NEVER  # settle at a ts >= this: _ALWAYS once a command is queued, else the next arrival
        self._has_run = False
