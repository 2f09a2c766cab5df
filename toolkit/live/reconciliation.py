"""Reconciliation decisions as pure functions: what a venue's reports imply for the cached state.

The live execution engine (`toolkit.live.execution`) only moves messages; every decision it takes while
reconciling is made here, from values and a read-only cache, so it is tested without engines
(`specs/reconciliation.md` §2): the one-unit tolerance (`within`), the price a position-alignment fill must
have to reach the venue's average (`reconciliation_price`), the price of an inferred fill
(`inferred_fill_price`), the legs that align a cached position with the venue (`plan_position_alignment`),
the update and trigger rules of an order report, deterministic ids for synthetic orders and inferred fills
(`synthetic_venue_order_id`, `inferred_trade_id`: our own BLAKE2b hashing, so the same incident gives the
same id across restarts), the clean-up of a mass status before it is applied (`adjust_partial_window`,
`deduplicate_order_reports`) and the ownership of external orders (`external_order_claims`).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from decimal import ROUND_HALF_DOWN, ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

from toolkit.model.enums import LiquiditySide, OrderSide, OrderStatus, OrderType, TimeInForce
from toolkit.model.identifiers import ClientOrderId, InstrumentId, StrategyId, TradeId, VenueOrderId
from toolkit.model.objects import FIXED_SCALE, Money, Price, Quantity
from toolkit.model.reports import ExecutionMassStatus, FillReport, OrderStatusReport

if TYPE_CHECKING:
    from toolkit.core.cache import Cache
    from toolkit.core.log import Logger
    from toolkit.model.instruments import Instrument
    from toolkit.model.orders import Order

AVG_PX_TOLERANCE = Decimal("0.0001")
"""Relative difference of two average prices still treated as the same (§2.3, §2.7)."""
TAG_VENUE = "VENUE"
TAG_RECONCILIATION = "RECONCILIATION"
LEG_CLOSE = "CLOSE"
LEG_OPEN = "OPEN"
CLOSED_REPORT_STATUSES = frozenset(
    {OrderStatus.DENIED, OrderStatus.REJECTED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.FILLED}
)
TRIGGERED_EVENT_TYPES = frozenset({OrderType.STOP_LIMIT, OrderType.TRAILING_STOP_LIMIT, OrderType.LIMIT_IF_TOUCHED})
"""Order types for which a TRIGGERED report produces an OrderTriggered (§2.5 trigger rule)."""
TAKER_TYPES = frozenset({OrderType.MARKET, OrderType.STOP_MARKET, OrderType.TRAILING_STOP_MARKET})
_PRICE_UPDATE_TYPES = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP_LIMIT})
_TRIGGER_UPDATE_TYPES = frozenset(
    {OrderType.STOP_MARKET, OrderType.TRAILING_STOP_MARKET, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP_LIMIT}
)
_ID_KEY = b"toolkit.reconcile"


# ---- numbers ---------------------------------------------------------------------------------------------------------


def to_decimal(value: Any) -> Decimal:
    """Exact Decimal of a Price/Quantity/Money, int, str or Decimal (floats through their repr)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, Price | Quantity | Money):
        return Decimal(value.raw) / FIXED_SCALE
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def quantize(value: Decimal, precision: int, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-precision), rounding=rounding)


def within(a: Any, b: Any, precision: int) -> bool:
    """One-unit tolerance (§2.8): exact equality at precision 0, otherwise |a - b| <= 10^-precision."""
    x, y = to_decimal(a), to_decimal(b)
    if precision == 0:
        return x == y
    return abs(x - y) <= Decimal(1).scaleb(-precision)


def avg_px_matches(avg: Decimal | None, target: Decimal | None) -> bool:
    """The relative test of §2.3: |avg - target| / target <= 0.0001 (never true for a missing or zero target)."""
    if avg is None or target is None or target == 0:
        return False
    return abs(avg - target) / abs(target) <= AVG_PX_TOLERANCE


def reconciliation_price(
    current_qty: Any,
    current_avg: Any | None,
    target_qty: Any,
    target_avg: Any | None,
    price_precision: int,
) -> Decimal | None:
    """The price of the fill that takes a position of `current_qty` at `current_avg` to `target_qty` at
    `target_avg` (signed quantities), rounded to `price_precision`, or None when there is none (§2.7).

    Exact decimal arithmetic; a tie in the last digit rounds towards zero (half-down), as the reference does.
    """
    cur_qty, tgt_qty = to_decimal(current_qty), to_decimal(target_qty)
    cur_avg = None if current_avg is None else to_decimal(current_avg)
    tgt_avg = None if target_avg is None else to_decimal(target_avg)
    diff = tgt_qty - cur_qty
    if diff == 0:
        return None
    if tgt_qty == 0:
        return None if cur_avg is None else quantize(cur_avg, price_precision, ROUND_HALF_DOWN)
    if tgt_avg is None or tgt_avg == 0:
        return None
    if cur_qty == 0 or cur_avg is None or (cur_qty > 0) != (tgt_qty > 0):
        return quantize(tgt_avg, price_precision, ROUND_HALF_DOWN)
    price = (tgt_qty * tgt_avg - cur_qty * cur_avg) / diff
    if price <= 0:
        return None
    rounded = quantize(price, price_precision, ROUND_HALF_DOWN)
    return rounded if rounded > 0 else None


def inferred_fill_price(
    order_filled_qty: Any,
    order_avg_px: Any | None,
    report_filled_qty: Any,
    report_avg_px: Any | None,
    report_price: Any | None,
    price_precision: int,
) -> Decimal:
    """The price of the fill inferred for a gap between an order's fills and its report (§2.6.1).

    Without earlier fills: the report's avg_px, else its price, else 0. With fills: the price that makes the
    order's average equal the report's (`(avg_r * filled_r - avg_o * filled_o) / gap`); a report without avg_px
    falls back to its price, then the order's own average. Raises ValueError for no gap or a negative price.
    """
    filled_o, filled_r = to_decimal(order_filled_qty), to_decimal(report_filled_qty)
    gap = filled_r - filled_o
    if gap <= 0:
        raise ValueError(f"no fill to infer: report filled {filled_r} <= order filled {filled_o}")
    r_avg = None if report_avg_px is None else to_decimal(report_avg_px)
    r_px = None if report_price is None else to_decimal(report_price)
    if filled_o == 0 or order_avg_px is None:
        price = r_avg if r_avg is not None else r_px if r_px is not None else Decimal(0)
    elif r_avg is not None:
        price = (r_avg * filled_r - to_decimal(order_avg_px) * filled_o) / gap
    else:
        price = r_px if r_px is not None else to_decimal(order_avg_px)
    price = quantize(price, price_precision)
    if price < 0:
        raise ValueError(f"inferred fill price {price} is negative")
    return price


def inferred_fill_liquidity(order_type: OrderType, post_only: bool) -> LiquiditySide:
    """TAKER for market-style orders, MAKER for post-only ones, otherwise unknown (§2.6.1)."""
    if order_type in TAKER_TYPES:
        return LiquiditySide.TAKER
    if post_only:
        return LiquiditySide.MAKER
    return LiquiditySide.NO_LIQUIDITY_SIDE


# ---- deterministic ids -----------------------------------------------------------------------------------------------


def _canonical(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, Price | Quantity):
        return str(to_decimal(value).normalize())
    if isinstance(value, Decimal):
        return str(value.normalize())
    if isinstance(value, Money):
        return f"{value.as_decimal()} {value.currency.code}"
    return str(value)


def _digest(fields: Iterable[Any], size: int) -> bytes:
    text = "\x1f".join(_canonical(f) for f in fields)
    return hashlib.blake2b(text.encode(), digest_size=size, key=_ID_KEY).digest()


def synthetic_id(ts: int, *fields: Any) -> str:
    """`S-{hex ts}-{8 hex hash of the fields}`: the same fields and ts always give the same id."""
    return f"S-{max(ts, 0):x}-{_digest((ts, *fields), 4).hex()}"


def synthetic_venue_order_id(
    account_id: Any,
    instrument_id: Any,
    order_side: OrderSide,
    order_type: OrderType,
    quantity: Any,
    price: Any | None,
    venue_position_id: Any | None,
    leg: str,
    ts_last: int,
) -> VenueOrderId:
    """The venue order id of a position-alignment order (§2.7): one id per incident (account, instrument, side,
    type, qty, price, venue position, leg tag and the report's ts_last)."""
    return VenueOrderId(
        synthetic_id(
            ts_last, account_id, instrument_id, order_side, order_type, quantity, price, venue_position_id, leg or "-"
        )
    )


def inferred_trade_id(
    account_id: Any,
    instrument_id: Any,
    client_order_id: Any,
    venue_order_id: Any,
    order_side: OrderSide,
    order_type: OrderType,
    report_filled_qty: Any,
    last_qty: Any,
    last_px: Any,
    position_id: Any | None,
    ts_last: int,
) -> TradeId:
    """The UUID-shaped trade id of an inferred fill (§2.6.1); the same inputs always give the same id."""
    fields = (
        account_id,
        instrument_id,
        client_order_id,
        venue_order_id,
        order_side,
        order_type,
        report_filled_qty,
        last_qty,
        last_px,
        position_id,
        ts_last,
    )
    return TradeId(str(uuid.UUID(bytes=_digest(fields, 16))))


# ---- order report rules ----------------------------------------------------------------------------------------------


def order_update_due(order: Order, report: OrderStatusReport) -> bool:
    """§2.5 update rule: a quantity change the fills allow, or a price/trigger change for the order's type."""
    # Raw comparisons: `!=` on Price/Quantity is not the negation of their `==`.
    if report.quantity.raw != order.quantity.raw and report.quantity.raw >= order.filled_qty.raw:
        return True
    kind = order.order_type
    price_changed = report.price is not None and (order.price is None or report.price.raw != order.price.raw)
    trigger_changed = report.trigger_price is not None and (
        order.trigger_price is None or report.trigger_price.raw != order.trigger_price.raw
    )
    if kind in _PRICE_UPDATE_TYPES and price_changed:
        return True
    return kind in _TRIGGER_UPDATE_TYPES and trigger_changed


def emits_triggered(order_type: OrderType) -> bool:
    """§2.5 trigger rule: only limit-style conditional orders get an OrderTriggered from a report."""
    return order_type in TRIGGERED_EVENT_TYPES


def is_exact_match(order: Order, report: OrderStatusReport) -> bool:
    """§2.4: the report says nothing new: same status, filled qty, instrument and side, and (stricter than the
    reference, so a venue-side modification made while the node was down is still applied) no change the
    update rule would apply."""
    return (
        order.status is report.order_status
        and order.filled_qty.raw == report.filled_qty.raw
        and order.instrument_id == report.instrument_id
        and order.side is report.order_side
        and (order.is_closed or not order_update_due(order, report))
    )


def is_reconciliation_order(order: Order) -> bool:
    return TAG_RECONCILIATION in (order.tags or ())


# ---- positions -------------------------------------------------------------------------------------------------------


class AlignmentLeg(NamedTuple):
    """One synthetic FILLED order aligning a position: LIMIT GTC at `price`, or MARKET IOC when it is None."""

    side: OrderSide
    quantity: Decimal
    price: Decimal | None
    leg: str = ""

    @property
    def order_type(self) -> OrderType:
        return OrderType.MARKET if self.price is None else OrderType.LIMIT

    @property
    def time_in_force(self) -> TimeInForce:
        return TimeInForce.IOC if self.price is None else TimeInForce.GTC


class AlignmentPlan(NamedTuple):
    """What aligns a cached position with the venue: `legs` to apply, `complete` False when a leg had no price."""

    legs: list[AlignmentLeg]
    complete: bool = True


def plan_position_alignment(
    cached_qty: Decimal,
    cached_avg: Decimal | None,
    venue_qty: Decimal,
    venue_avg: Decimal | None,
    size_precision: int,
    price_precision: int,
    bid: Decimal | None = None,
    ask: Decimal | None = None,
    close_price_fallback: bool = False,
    split_crossing: bool = True,
) -> AlignmentPlan:
    """The orders that take a signed `cached_qty` to `venue_qty` (§2.7).

    No legs when the difference rounds to zero at `size_precision`. A crossing of zero (with `split_crossing`)
    is a CLOSE leg of |cached| at the cached average (else the quote) and an OPEN leg of |venue| at the venue
    average (else the quote, else the close price when `close_price_fallback`, i.e. for a currency pair); a leg
    without a price is left out and the plan is incomplete. Otherwise one leg of the difference priced by
    `reconciliation_price`, else the quote (ask to buy, bid to sell), else the cached average, else none
    (MARKET IOC).
    """
    diff = quantize(abs(cached_qty - venue_qty), size_precision)
    if diff == 0:
        return AlignmentPlan([])

    def quote_for(side: OrderSide) -> Decimal | None:
        px = ask if side is OrderSide.BUY else bid
        return None if px is None else quantize(px, price_precision)

    avg = None if cached_avg is None else quantize(cached_avg, price_precision)
    if split_crossing and cached_qty != 0 and venue_qty != 0 and (cached_qty > 0) != (venue_qty > 0):
        close_side = OrderSide.SELL if cached_qty > 0 else OrderSide.BUY
        open_side = OrderSide.BUY if venue_qty > 0 else OrderSide.SELL
        close_px = avg if avg is not None else quote_for(close_side)
        open_px = quantize(venue_avg, price_precision) if venue_avg else None
        if open_px is None:
            open_px = quote_for(open_side)
        if open_px is None and close_price_fallback:
            open_px = close_px
        legs = []
        if close_px is not None:
            legs.append(AlignmentLeg(close_side, quantize(abs(cached_qty), size_precision), close_px, LEG_CLOSE))
        if open_px is not None:
            legs.append(AlignmentLeg(open_side, quantize(abs(venue_qty), size_precision), open_px, LEG_OPEN))
        return AlignmentPlan(legs, complete=len(legs) == 2)
    side = OrderSide.BUY if venue_qty > cached_qty else OrderSide.SELL
    price = reconciliation_price(cached_qty, cached_avg, venue_qty, venue_avg, price_precision)
    if price is None:
        price = quote_for(side)
    if price is None:
        price = avg
    return AlignmentPlan([AlignmentLeg(side, diff, price)])


# ---- mass status clean-up --------------------------------------------------------------------------------------------


class _Fill(NamedTuple):
    report: FillReport
    side: OrderSide
    qty: Decimal
    px: Decimal


class NettingSimulation(NamedTuple):
    qty: Decimal
    avg: Decimal
    crossings: list[int]
    """Indexes of the fills after which the running qty landed on zero or changed sign."""
    zero_landings: list[int]


def simulate_netting(fills: Iterable[tuple[OrderSide, Decimal, Decimal]]) -> NettingSimulation:
    """Run fills (side, qty, px) through one netting position: the final signed qty, its average and the
    zero-crossings (§2.3)."""
    qty = Decimal(0)
    value = Decimal(0)
    crossings: list[int] = []
    landings: list[int] = []
    for index, (side, size, px) in enumerate(fills):
        signed = size if side is OrderSide.BUY else -size
        new = qty + signed
        if qty == 0 or (qty > 0) == (signed > 0):
            value += size * px
        elif new == 0 or (new > 0) == (qty > 0):
            value = value * abs(new) / abs(qty)
        else:
            value = abs(new) * px
        if qty != 0 and (new == 0 or (new > 0) != (qty > 0)):
            crossings.append(index)
            if new == 0:
                landings.append(index)
        qty = new
    avg = value / abs(qty) if qty != 0 else Decimal(0)
    return NettingSimulation(qty, avg, crossings, landings)


def _matches(sim: NettingSimulation, venue_qty: Decimal, venue_avg: Decimal) -> bool:
    return sim.qty == venue_qty and avg_px_matches(sim.avg, venue_avg)


def _synthetic_pair(
    instrument: Instrument,
    mass: ExecutionMassStatus,
    side: OrderSide,
    qty: Decimal,
    px: Decimal,
    ts: int,
    venue_order_id: VenueOrderId | None,
) -> tuple[OrderStatusReport, FillReport]:
    """A synthetic FILLED MARKET order report and its one fill (§2.3)."""
    price_dec = quantize(px, instrument.price_precision)
    if instrument.max_price is not None and price_dec > to_decimal(instrument.max_price):
        price_dec = to_decimal(instrument.max_price)
    price = Price.of(quantize(price_dec, instrument.price_precision), instrument.price_precision)
    quantity = Quantity.of(quantize(qty, instrument.size_precision), instrument.size_precision)
    ts = max(ts, 0)
    fields = (mass.account_id, instrument.id, side, quantity, price)
    vid = venue_order_id or VenueOrderId(synthetic_id(ts, "ORDER", *fields))
    trade_id = TradeId(synthetic_id(ts, "FILL", vid, *fields))
    order_report = OrderStatusReport(
        account_id=mass.account_id,
        instrument_id=instrument.id,
        venue_order_id=vid,
        order_side=side,
        order_type=OrderType.MARKET,
        time_in_force=TimeInForce.GTC,
        order_status=OrderStatus.FILLED,
        quantity=quantity,
        filled_qty=quantity,
        avg_px=to_decimal(price),
        ts_accepted=ts,
        ts_last=ts,
        ts_init=mass.ts_init,
        report_id=str(uuid.uuid4()),
    )
    fill = FillReport(
        account_id=mass.account_id,
        instrument_id=instrument.id,
        venue_order_id=vid,
        trade_id=trade_id,
        order_side=side,
        last_qty=quantity,
        last_px=price,
        commission=Money(0, instrument.quote_currency),
        liquidity_side=LiquiditySide.NO_LIQUIDITY_SIDE,
        ts_event=ts,
        ts_init=mass.ts_init,
        report_id=str(uuid.uuid4()),
    )
    return order_report, fill


def _cache_holds_instrument(cache: Cache, instrument_id: InstrumentId, mass: ExecutionMassStatus) -> bool:
    """The cache already has this instrument's state (an open position on the account, or one of the window's
    trades): the window is not the only history, and §2.7 aligns any difference with one order instead."""
    if any(p.account_id == mass.account_id for p in cache.positions_open(instrument_id=instrument_id)):
        return True
    known = {trade_id for order in cache.orders(instrument_id=instrument_id) for trade_id in order.trade_ids}
    if not known:
        return False
    return any(f.trade_id in known for items in mass.fill_reports.values() for f in items)


def adjust_partial_window(
    mass: ExecutionMassStatus,
    cache: Cache,
    instrument_ids: Iterable[InstrumentId] | None = None,
    log: Logger | None = None,
) -> ExecutionMassStatus:
    """A mass status whose fills explain the venue's positions even when the lookback window cut history (§2.3).

    Per netting instrument (cached, included, with a position report and no venue position ids, and whose state
    the cache does not already hold: no open position on the account, none of the window's trades): when the fills
    after the last return to flat explain the venue position, the older fills (and the closed orders left
    without fills) are dropped; when they do not, the instrument's reports are replaced by one synthetic order
    of the venue position. Without a return to flat and without a match, one synthetic opening fill priced by
    `reconciliation_price` is added before the first fill. The input is not changed.
    """
    include = set(instrument_ids or ())
    orders = dict(mass.order_reports)
    fills = {vid: list(items) for vid, items in mass.fill_reports.items()}
    changed = False
    for instrument_id, positions in mass.position_reports.items():
        if not positions or any(p.venue_position_id is not None for p in positions):
            continue
        if include and instrument_id not in include:
            continue
        instrument = cache.instrument(instrument_id)
        if instrument is None or _cache_holds_instrument(cache, instrument_id, mass):
            continue
        position = positions[0]
        venue_qty = position.signed_decimal_qty
        venue_avg = position.avg_px_open if position.avg_px_open is not None else Decimal(0)
        history = [
            _Fill(
                f,
                orders[f.venue_order_id].order_side if f.venue_order_id in orders else f.order_side,
                to_decimal(f.last_qty),
                to_decimal(f.last_px),
            )
            for items in fills.values()
            for f in items
            if f.instrument_id == instrument_id
        ]
        history.sort(key=lambda item: item.report.ts_event)
        if not history or venue_qty == 0:
            continue
        full = simulate_netting((f.side, f.qty, f.px) for f in history)
        venue_side = OrderSide.BUY if venue_qty > 0 else OrderSide.SELL
        if full.crossings:
            boundary = full.zero_landings[-1] if full.zero_landings else full.crossings[-1]
            current = history[boundary + 1 :]
            sim = simulate_netting((f.side, f.qty, f.px) for f in current)
            if _matches(sim, venue_qty, venue_avg):
                dropped = {id(f.report) for f in history[: boundary + 1]}
                for vid in list(fills):
                    fills[vid] = [f for f in fills[vid] if id(f) not in dropped]
                    if not fills[vid]:
                        del fills[vid]
                for vid, report in list(orders.items()):
                    if (
                        report.instrument_id == instrument_id
                        and report.order_status in CLOSED_REPORT_STATUSES
                        and not fills.get(vid)
                    ):
                        del orders[vid]
                if log is not None:
                    log.info(
                        "%s: %d fill(s) before the last flat dropped (partial window)", instrument_id, boundary + 1
                    )
            else:
                if current:
                    vid, ts = current[0].report.venue_order_id, current[0].report.ts_event - 1
                else:
                    vid, ts = None, history[-1].report.ts_event + 1
                for key, report in list(orders.items()):
                    if report.instrument_id == instrument_id:
                        del orders[key]
                for key in list(fills):
                    fills[key] = [f for f in fills[key] if f.instrument_id != instrument_id]
                    if not fills[key]:
                        del fills[key]
                order, fill = _synthetic_pair(instrument, mass, venue_side, abs(venue_qty), venue_avg, ts, vid)
                orders[order.venue_order_id] = order
                fills.setdefault(order.venue_order_id, []).append(fill)
                if log is not None:
                    log.warning(
                        "%s: fills of the window do not explain the venue position %s @ %s: replaced by one "
                        "synthetic fill",
                        instrument_id,
                        venue_qty,
                        venue_avg,
                    )
            changed = True
            continue
        if _matches(full, venue_qty, venue_avg):
            continue
        px = reconciliation_price(full.qty, full.avg, venue_qty, venue_avg, instrument.price_precision)
        if px is None:
            continue
        delta = venue_qty - full.qty if full.qty != 0 else venue_qty
        side = OrderSide.BUY if delta > 0 else OrderSide.SELL
        order, fill = _synthetic_pair(instrument, mass, side, abs(delta), px, history[0].report.ts_event - 1, None)
        orders[order.venue_order_id] = order
        fills.setdefault(order.venue_order_id, []).insert(0, fill)
        changed = True
        if log is not None:
            log.warning(
                "%s: synthetic opening fill %s %s @ %s added (partial window)", instrument_id, side, abs(delta), px
            )
    if not changed:
        return mass
    return msgspec.structs.replace(mass, order_reports=orders, fill_reports=fills)


def deduplicate_order_reports(
    mass: ExecutionMassStatus, cache: Cache, log: Logger | None = None
) -> ExecutionMassStatus:
    """The mass status without duplicate or already-applied order reports (§2.4); the input is not changed.

    Keeps the first report of each client order id; drops reports of closed RECONCILIATION orders (no fills
    re-inferred on restart) and reports that match their cached order exactly; fills in the client order id of
    reports the cache knows by venue order id. A dropped report's fills go with it.
    """
    seen: set[ClientOrderId] = set()
    dropped: set[VenueOrderId] = set()
    orders: dict[VenueOrderId, OrderStatusReport] = {}
    for vid, report in mass.order_reports.items():
        coid = report.client_order_id
        if coid is None:
            known = cache.client_order_id_for(vid)
            if known is not None and cache.order(known) is not None:
                report = msgspec.structs.replace(report, client_order_id=known)
            orders[vid] = report
            continue
        if coid in seen:
            if log is not None:
                log.warning("duplicate order report for %s (venue order id %s) ignored", coid, vid)
            dropped.add(vid)
            continue
        seen.add(coid)
        order = cache.order(coid)
        if order is not None:
            if order.is_closed and is_reconciliation_order(order):
                if log is not None:
                    log.info("report for closed reconciliation order %s skipped", coid)
                dropped.add(vid)
                continue
            if is_exact_match(order, report):
                dropped.add(vid)
                continue
        orders[vid] = report
    if not dropped and orders == mass.order_reports:
        return mass
    fills = {vid: list(items) for vid, items in mass.fill_reports.items() if vid not in dropped}
    return msgspec.structs.replace(mass, order_reports=orders, fill_reports=fills)


# ---- ownership -------------------------------------------------------------------------------------------------------


def external_order_claims(
    claims: Iterable[tuple[StrategyId, Iterable[InstrumentId]]],
) -> dict[InstrumentId, StrategyId]:
    """Instrument -> the strategy that takes over its external orders; a second claim raises ValueError."""
    owners: dict[InstrumentId, StrategyId] = {}
    for strategy_id, instrument_ids in claims:
        for instrument_id in instrument_ids:
            key = InstrumentId(instrument_id)
            owner = owners.get(key)
            if owner is not None and owner != strategy_id:
                raise ValueError(
                    f"external order claim for {key} by {strategy_id}: already claimed by {owner} "
                    "(an instrument can be claimed by one strategy only)"
                )
            owners[key] = StrategyId(strategy_id)
    return owners
