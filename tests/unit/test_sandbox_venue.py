"""The sandbox venue's state machine (`SandboxVenue`) without the network: replay, matching, requests,
reports, the user-event log and request validation."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from toolkit.adapters.sandbox.protocol import ModifyOrderRequest, SubmitOrderRequest, encode
from toolkit.adapters.sandbox.venue import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    SandboxVenue,
    VenueRequestError,
)
from toolkit.backtest.engine import BacktestEngine
from toolkit.backtest.models import LatencyModel
from toolkit.backtest.runner import load_instruments_file
from toolkit.core.config import ConfigError
from toolkit.model.data import Bar, QuoteTick
from toolkit.model.enums import (
    AccountType,
    LiquiditySide,
    OmsType,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionSide,
)
from toolkit.model.events import (
    AccountState,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderFilled,
    OrderModifyRejected,
    OrderRejected,
    OrderUpdated,
)
from toolkit.model.identifiers import InstrumentId
from toolkit.model.objects import Currency, Money, Price, Quantity
from toolkit.trading.config import StrategyConfig
from toolkit.trading.strategy import Strategy

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INSTRUMENTS = {i.id: i for i in load_instruments_file(PROJECT_ROOT / "data" / "instruments.toml", "test", "x")}
EURUSD = INSTRUMENTS[InstrumentId("EUR/USD.SIM")]
EURUSD_ID = EURUSD.id
SEC = 1_000_000_000
T0 = 1_704_153_600 * SEC  # 2024-01-02


def quote(second: int, bid: str, ask: str, size: str = "1000000") -> QuoteTick:
    return QuoteTick.of(
        EURUSD_ID,
        Price.from_str(bid),
        Price.from_str(ask),
        Quantity.from_str(size),
        Quantity.from_str(size),
        T0 + second * SEC,
    )


QUOTES = [
    quote(0, "1.10000", "1.10002"),
    quote(1, "1.10001", "1.10003"),
    quote(2, "1.09990", "1.09992"),
    quote(3, "1.09980", "1.09982"),
    quote(4, "1.10010", "1.10012"),
    quote(5, "1.10020", "1.10022"),
]


def make_engine(
    quotes: list[QuoteTick] = QUOTES, oms: OmsType = OmsType.NETTING, latency: LatencyModel | None = None
) -> BacktestEngine:
    engine = BacktestEngine()
    engine.add_venue(
        "SIM",
        oms,
        AccountType.MARGIN,
        [Money.of("1000000", "USD")],
        base_currency=Currency.from_str("USD"),
        default_leverage=Decimal(50),
        latency_model=latency,
    )
    engine.add_instrument(EURUSD)
    engine.add_data(quotes)
    return engine


def make_venue(quotes: list[QuoteTick] = QUOTES, **kwargs) -> SandboxVenue:  # type: ignore[no-untyped-def]
    return SandboxVenue(make_engine(quotes, **kwargs))


def order(
    coid: str, side: str = "BUY", kind: str = "MARKET", qty: str = "100000", **fields: object
) -> SubmitOrderRequest:
    return SubmitOrderRequest(
        client_order_id=coid,
        trader_id="TESTER-001",
        strategy_id="S-001",
        instrument_id=str(fields.pop("instrument_id", EURUSD_ID)),
        order_side=OrderSide(side),
        order_type=OrderType(kind),
        quantity=qty,
        **fields,  # type: ignore[arg-type]
    )


def release(venue: SandboxVenue, count: int) -> None:
    for _ in range(count):
        assert venue.release_next() is not None


# ---- replay ----------------------------------------------------------------------------------------------------
def test_releasing_data_moves_the_clock_and_the_book() -> None:
    venue = make_venue()
    assert venue.time_ns == T0 and venue.next_ts == T0 and not venue.end_of_data
    engine = venue.exchange.engines[EURUSD_ID]
    assert engine.best_bid_price() is None
    data = venue.release_next()
    assert data is QUOTES[0]
    assert (engine.best_bid_price(), engine.best_ask_price()) == (Price.from_str("1.10000"), Price.from_str("1.10002"))
    release(venue, 2)
    assert venue.time_ns == QUOTES[2].ts_init and venue.events_released == 3
    assert engine.best_ask_price() == Price.from_str("1.09992")
    assert venue.cache.quote_tick(EURUSD_ID) is QUOTES[2]  # the venue kernel caches it: marks have prices
    release(venue, 3)
    assert venue.release_next() is None and venue.end_of_data and venue.next_ts is None
    assert venue.time_ns == QUOTES[-1].ts_init
    assert venue.user_seq == 0  # nothing traded: no user events (the initial account state is not one)


def test_from_file_replays_the_sample_catalog_quotes_and_bars(tmp_path: Path) -> None:
    run = tmp_path / "venue.toml"
    run.write_text(
        f"""
[backtest]
catalog = "{PROJECT_ROOT / "data" / "catalog"}"
start = "2024-01-02T00:00:00Z"
end = "2024-01-02T00:02:00Z"

[[backtest.data]]
type = "quotes"
instrument_id = "EUR/USD.SIM"

[[backtest.data]]
type = "bars"
bar_type = "EUR/USD.SIM-1-MINUTE-BID-EXTERNAL"

[backtest.venue]
name = "SIM"
starting_balances = ["1000000 USD"]
base_currency = "USD"
""",
        encoding="utf-8",
    )
    venue = SandboxVenue.from_file(run)
    kinds = []
    last = 0
    while (data := venue.release_next()) is not None:
        assert data.ts_init >= last
        last = data.ts_init
        kinds.append(type(data))
    assert kinds.count(Bar) == 2 and kinds.count(QuoteTick) == 1201
    assert venue.events_released == len(kinds) and venue.time_ns == last


def test_run_file_errors_name_the_file_and_the_field(tmp_path: Path) -> None:
    run = tmp_path / "bad.toml"
    run.write_text(
        f"""
[backtest]
catalog = "{PROJECT_ROOT / "data" / "catalog"}"

[[backtest.data]]
type = "quotes"
instrument_id = "NOPE/USD.SIM"

[backtest.venue]
starting_balances = ["1000000 USD"]
""",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        SandboxVenue.from_file(run)
    assert info.value.field == "backtest.data[0].instrument_id" and str(run) in str(info.value)
    run.write_text("[strategy]\npath = 'x.py:X'\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        SandboxVenue.from_file(run)
    assert info.value.field == "backtest"


def test_no_data_in_the_period_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no data"):
        SandboxVenue(make_engine(quotes=[]))


# ---- orders --------------------------------------------------------------------------------------------------
class MarketShooter(Strategy):
    """Sends a market order on the n-th quote it sees (1-based) for each entry of `plan`."""

    def __init__(self, plan: dict[int, tuple[OrderSide, str]]) -> None:
        super().__init__(StrategyConfig(order_id_tag="001"))
        self.plan = plan
        self.seen = 0

    def on_start(self) -> None:
        self.subscribe_quote_ticks(EURUSD_ID)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        self.seen += 1
        if self.seen in self.plan:
            side, qty = self.plan[self.seen]
            self.submit_order(self.order_factory.market(EURUSD_ID, side, Quantity.from_str(qty)))


def fill_tuple(fill: OrderFilled) -> tuple[object, ...]:
    return (fill.ts_event, fill.order_side, fill.last_px, fill.last_qty, fill.commission, fill.liquidity_side)


def test_market_orders_fill_at_the_book_exactly_like_the_backtest() -> None:
    plan = {1: (OrderSide.BUY, "100000"), 3: (OrderSide.SELL, "250000"), 5: (OrderSide.BUY, "2000000")}
    backtest = make_engine()
    backtest.add_strategy(MarketShooter(plan))
    backtest.run()
    expected = [fill_tuple(e) for o in backtest.cache.orders() for e in o.events if isinstance(e, OrderFilled)]
    expected.sort(key=lambda f: f[0])  # type: ignore[arg-type, return-value]
    assert len(expected) == 4  # the last order walks one tick past the displayed size (two fills)

    venue = make_venue()
    fills = []
    for n in range(1, len(QUOTES) + 1):
        venue.release_next()
        if n in plan:
            side, qty = plan[n]
            events = venue.submit(order(f"O-{n}", side.value, qty=qty))
            fills += [fill_tuple(e) for e in events if isinstance(e, OrderFilled)]
    assert fills == expected
    assert fills[0][2] == Price.from_str("1.10002")  # the ask of the first quote
    assert all(f[5] is LiquiditySide.TAKER for f in fills)
    # The venue's account agrees with the backtest's.
    backtest_account = backtest.cache.accounts()[0].balances_total()
    assert venue.cache.account(venue.account_id).balances_total() == backtest_account  # type: ignore[union-attr]


def test_market_order_without_a_book_is_rejected() -> None:
    venue = make_venue()
    events = venue.submit(order("O-1"))
    assert [type(e) for e in events] == [OrderRejected]
    assert venue.order_status_report("O-1").order_status is OrderStatus.REJECTED


def test_limit_order_rests_and_fills_when_the_data_crosses() -> None:
    venue = make_venue()
    release(venue, 1)
    events = venue.submit(order("L-1", kind="LIMIT", price="1.09995"))
    assert [type(e) for e in events] == [OrderAccepted]
    assert venue.order_status_reports(open_only=True)[0].client_order_id == "L-1"
    release(venue, 1)  # ask 1.10003: no fill
    assert venue.user_seq == 1
    release(venue, 1)  # ask 1.09992 <= 1.09995: filled at the limit price as a maker
    new = [e.event for e in venue.events_after(1)]
    assert [type(e) for e in new] == [OrderFilled, AccountState]
    fill = new[0]
    assert fill.last_px == Price.from_str("1.09995") and fill.liquidity_side is LiquiditySide.MAKER
    assert fill.ts_event == QUOTES[2].ts_init
    assert venue.order_status_reports(open_only=True) == []
    assert venue.order_status_report("L-1").order_status is OrderStatus.FILLED


def test_cancel_and_cancel_of_a_closed_order() -> None:
    venue = make_venue()
    release(venue, 1)
    venue.submit(order("L-1", kind="LIMIT", price="1.09000"))
    events = venue.cancel("L-1")
    assert [type(e) for e in events] == [OrderCanceled]
    assert venue.order_status_report("L-1").order_status is OrderStatus.CANCELED
    again = venue.cancel("L-1")
    assert [type(e) for e in again] == [OrderCancelRejected]


def test_cancel_all_by_side() -> None:
    venue = make_venue()
    release(venue, 1)
    venue.submit(order("B-1", kind="LIMIT", price="1.09000"))
    venue.submit(order("B-2", kind="LIMIT", price="1.09100"))
    venue.submit(order("S-1", side="SELL", kind="LIMIT", price="1.11000"))
    events = venue.cancel_all(str(EURUSD_ID), OrderSide.BUY)
    assert [(type(e), e.client_order_id) for e in events] == [(OrderCanceled, "B-2"), (OrderCanceled, "B-1")]
    assert [r.client_order_id for r in venue.order_status_reports(open_only=True)] == ["S-1"]
    assert [type(e) for e in venue.cancel_all(str(EURUSD_ID))] == [OrderCanceled]
    assert venue.cancel_all(str(EURUSD_ID)) == []


def test_modify_price_and_quantity_then_cross() -> None:
    venue = make_venue()
    release(venue, 1)
    venue.submit(order("L-1", kind="LIMIT", price="1.09000"))
    events = venue.modify("L-1", ModifyOrderRequest(price="1.09500", quantity="200000"))
    assert [type(e) for e in events] == [OrderUpdated]
    report = venue.order_status_report("L-1")
    assert report.price == Price.from_str("1.09500") and report.quantity == Quantity.from_str("200000")
    events = venue.modify("L-1", ModifyOrderRequest(price="1.10010"))  # now marketable: fills at once
    assert [type(e) for e in events] == [OrderUpdated, OrderFilled, AccountState]
    assert events[1].last_px == Price.from_str("1.10002")
    rejected = venue.modify("L-1", ModifyOrderRequest(price="1.10000"))
    assert [type(e) for e in rejected] == [OrderModifyRejected]


def test_reports_agree_with_the_events() -> None:
    venue = make_venue()
    release(venue, 1)
    venue.submit(order("O-1", qty="300000"))
    release(venue, 1)
    venue.submit(order("O-2", side="SELL", qty="100000"))
    release(venue, 2)
    venue.submit(order("O-3", side="SELL", qty="500000"))  # flips short 300000
    log = [e.event for e in venue.user_events]
    fills = [e for e in log if isinstance(e, OrderFilled)]
    reports = venue.fill_reports()
    assert [(r.trade_id, r.client_order_id, r.last_px, r.last_qty, r.commission) for r in reports] == [
        (f.trade_id, f.client_order_id, f.last_px, f.last_qty, f.commission) for f in fills
    ]
    assert [r.trade_id for r in venue.fill_reports(venue_order_id=str(fills[1].venue_order_id))] == [fills[1].trade_id]
    assert venue.fill_reports(start_ns=QUOTES[2].ts_init) == reports[2:]
    net = sum(f.last_qty.raw * (1 if f.order_side is OrderSide.BUY else -1) for f in fills)
    (position,) = venue.position_reports()
    assert position.position_side is PositionSide.SHORT and -position.quantity.raw == net
    assert position.avg_px_open == fills[-1].last_px.as_decimal()  # the flip opened at the last fill's price
    assert venue.position_reports(str(EURUSD_ID)) == [position]
    orders = venue.order_status_reports()
    assert [r.client_order_id for r in orders] == ["O-1", "O-2", "O-3"]
    assert all(r.order_status is OrderStatus.FILLED for r in orders)
    assert [r.avg_px for r in orders] == [f.last_px.as_decimal() for f in fills]
    assert venue.order_status_reports(start_ns=QUOTES[3].ts_init)[0].client_order_id == "O-3"
    # The account state after the last fill is the venue's account now.
    last_state = [e for e in log if isinstance(e, AccountState)][-1]
    assert venue.account_state().balances == last_state.balances
    assert venue.account_state().balances[0].total != Money.of("1000000", "USD")


def test_position_reports_flat_and_hedging() -> None:
    venue = make_venue()
    assert venue.position_reports() == []
    (flat,) = venue.position_reports(str(EURUSD_ID))
    assert flat.position_side is PositionSide.FLAT and flat.quantity.raw == 0
    release(venue, 1)
    venue.submit(order("O-1"))
    venue.submit(order("O-2", side="SELL"))
    (closed,) = venue.position_reports()
    assert closed.position_side is PositionSide.FLAT and closed.avg_px_open is None

    hedging = make_venue(oms=OmsType.HEDGING)
    release(hedging, 1)
    hedging.submit(order("H-1"))
    hedging.submit(order("H-2", qty="200000"))
    tickets = hedging.position_reports()
    assert [r.quantity for r in tickets] == [Quantity.from_str("100000"), Quantity.from_str("200000")]
    assert len({r.venue_position_id for r in tickets}) == 2 and all(r.venue_position_id for r in tickets)
    first = tickets[0].venue_position_id
    hedging.submit(order("H-3", side="SELL", position_id=str(first)))  # closes the first ticket only
    assert [r.venue_position_id for r in hedging.position_reports()] == [tickets[1].venue_position_id]


def test_user_events_are_numbered_in_order_with_an_account_state_after_each_fill() -> None:
    venue = make_venue()
    release(venue, 1)
    venue.submit(order("L-1", kind="LIMIT", price="1.09995"))
    venue.submit(order("O-1"))
    release(venue, 2)
    venue.cancel("L-1")  # already filled: a rejection is an event too
    seqs = [e.user_seq for e in venue.user_events]
    assert seqs == list(range(1, len(seqs) + 1)) and venue.user_seq == len(seqs)
    kinds = [type(e.event) for e in venue.user_events]
    assert kinds == [OrderAccepted, OrderFilled, AccountState, OrderFilled, AccountState, OrderCancelRejected]
    assert all(e.event.reported for e in venue.user_events if isinstance(e.event, AccountState))
    assert [e.user_seq for e in venue.events_after(4)] == [5, 6]


def script(venue: SandboxVenue) -> list[bytes]:
    release(venue, 1)
    venue.submit(order("A", kind="LIMIT", price="1.09985"))
    venue.submit(order("B", side="SELL", qty="150000"))
    release(venue, 2)
    venue.modify("A", ModifyOrderRequest(quantity="50000"))
    release(venue, 1)
    venue.submit(order("C", side="SELL", kind="STOP_MARKET", trigger_price="1.09970"))
    while venue.release_next() is not None:
        pass
    return [encode(e) for e in venue.user_events]


def test_same_data_and_requests_give_the_same_events() -> None:
    first, second = script(make_venue()), script(make_venue())
    assert first == second and len(first) > 5


def test_latency_delays_commands_to_a_later_data_point() -> None:
    venue = make_venue(latency=LatencyModel(base_latency_ns=500_000_000))
    release(venue, 1)
    assert venue.submit(order("O-1")) == []  # in flight for 0.5 s of venue time
    assert venue.order_status_report("O-1").order_status is OrderStatus.SUBMITTED
    release(venue, 1)
    fill = next(e.event for e in venue.user_events if isinstance(e.event, OrderFilled))
    assert fill.ts_event == QUOTES[1].ts_init and fill.last_px == Price.from_str("1.10003")


# ---- validation -------------------------------------------------------------------------------------------------
BAD_SUBMITS = [
    ("unknown instrument", {"instrument_id": "NOPE/USD.SIM"}, NotFoundError, "instrument_id"),
    ("malformed instrument", {"instrument_id": "NOVENUE"}, BadRequestError, "instrument_id"),
    ("price precision", {"kind": "LIMIT", "price": "1.100001"}, BadRequestError, "price"),
    ("trigger precision", {"kind": "STOP_MARKET", "trigger_price": "1.1000001"}, BadRequestError, "trigger_price"),
    ("quantity precision", {"qty": "1000.5"}, BadRequestError, "quantity"),
    ("zero quantity", {"qty": "0"}, BadRequestError, "quantity"),
    ("negative quantity", {"qty": "-100"}, BadRequestError, "quantity"),
    ("not a number", {"qty": "lots"}, BadRequestError, "quantity"),
    ("limit without price", {"kind": "LIMIT"}, BadRequestError, "price"),
    ("market with price", {"price": "1.1"}, BadRequestError, "price"),
    ("stop without trigger", {"kind": "STOP_LIMIT", "price": "1.1"}, BadRequestError, "trigger_price"),
    ("if-touched without trigger", {"kind": "MARKET_IF_TOUCHED"}, BadRequestError, "trigger_price"),
    ("bad trader id", {"trader_id": "NODASH"}, BadRequestError, "trader_id"),
    (
        "GTD without expiry",
        {"time_in_force": "GTD", "kind": "LIMIT", "price": "1.09"},
        BadRequestError,
        "expire_time_ns",
    ),
]


@pytest.mark.parametrize(("case", "fields", "error", "field"), BAD_SUBMITS, ids=[c[0] for c in BAD_SUBMITS])
def test_invalid_submit_is_refused_with_the_field_and_changes_nothing(
    case: str, fields: dict[str, str], error: type[VenueRequestError], field: str
) -> None:
    venue = make_venue()
    release(venue, 1)
    venue.submit(order("KEEP", kind="LIMIT", price="1.09"))
    before = (venue.user_seq, venue.cache.orders_total_count(), venue.time_ns)
    args = dict(fields)
    kind = args.pop("kind", "MARKET")
    qty = args.pop("qty", "100000")
    request = order("NEW", kind=kind, qty=qty)
    if args:
        request = msgspec.structs.replace(request, **args)
    with pytest.raises(error) as info:
        venue.submit(request)
    assert info.value.field == field, info.value.message
    assert (venue.user_seq, venue.cache.orders_total_count(), venue.time_ns) == before
    assert venue.submit(order("NEW"))  # the id was not used up by the refused request


def test_duplicate_client_order_id_is_a_conflict() -> None:
    venue = make_venue()
    venue.submit(order("O-1"))  # rejected (no market) but the id is taken
    with pytest.raises(ConflictError) as info:
        venue.submit(order("O-1"))
    assert info.value.status == 409 and info.value.field == "client_order_id"
    assert venue.user_seq == 1


def test_unknown_order_is_not_found() -> None:
    venue = make_venue()
    for call in (
        lambda: venue.cancel("NOPE"),
        lambda: venue.modify("NOPE", ModifyOrderRequest(price="1.1")),
        lambda: venue.order_status_report("NOPE"),
    ):
        with pytest.raises(NotFoundError) as info:
            call()
        assert info.value.status == 404 and info.value.field == "client_order_id"
    with pytest.raises(NotFoundError):
        venue.cancel_all("GBP/USD.XXX")
    assert venue.user_seq == 0


def test_invalid_modify_is_refused() -> None:
    venue = make_venue()
    release(venue, 1)
    venue.submit(order("L-1", kind="LIMIT", price="1.09"))
    seq = venue.user_seq
    for request, field in (
        (ModifyOrderRequest(), None),
        (ModifyOrderRequest(price="1.090001"), "price"),
        (ModifyOrderRequest(quantity="0"), "quantity"),
        (ModifyOrderRequest(trigger_price="1.1"), "trigger_price"),
    ):
        with pytest.raises(BadRequestError) as info:
            venue.modify("L-1", request)
        assert info.value.field == field
    assert venue.user_seq == seq
    assert venue.order_status_report("L-1").price == Price.from_str("1.09")
