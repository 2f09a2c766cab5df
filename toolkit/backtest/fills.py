"""Pure fill decisions of the matching engine, on raw fixed-point integers.

No state and no events here: whether an order is marketable or triggered against a bid/ask, how a
bar's volume splits across its four replay points and in which order those points come, the fill
tuples a taker order gets from an L1 book, where a trailing stop trails to, and how a queue model
splits a level's size decrease. The matching engine calls these and turns the
answers into events; tests check them directly against the venue spec.
"""

from __future__ import annotations

import math

from toolkit.model.objects import FIXED_SCALE

# Bar replay points: (price_raw, size_raw, point) with point one of these names.
OPEN, HIGH, LOW, CLOSE = "O", "H", "L", "C"


def limit_matched(is_buy: bool, price: int, bid: int | None, ask: int | None) -> bool:
    """A BUY limit matches when ask <= price; a SELL limit when bid >= price (unset side: no)."""
    if is_buy:
        return ask is not None and ask <= price
    return bid is not None and bid >= price


def stop_triggered(is_buy: bool, trigger: int, bid: int | None, ask: int | None) -> bool:
    """STOP_* trigger: BUY when ask >= trigger, SELL when bid <= trigger."""
    if is_buy:
        return ask is not None and ask >= trigger
    return bid is not None and bid <= trigger


def touch_triggered(is_buy: bool, trigger: int, bid: int | None, ask: int | None) -> bool:
    """MIT/LIT trigger: BUY when ask <= trigger, SELL when bid >= trigger."""
    if is_buy:
        return ask is not None and ask <= trigger
    return bid is not None and bid >= trigger


def split_bar_volume(volume: int, increment: int) -> tuple[int, int]:
    """Sizes (per O/H/L point, close point) of a bar's volume, each on the size grid, >= one increment."""
    quarter = (volume // 4) // increment * increment
    quarter = max(quarter, increment)
    if 3 * quarter >= volume:
        return quarter, increment
    close = (volume - 3 * quarter) // increment * increment
    return quarter, max(close, increment)


def bar_point_order(open_: int, high: int, low: int, adaptive: bool) -> tuple[str, str, str, str]:
    """Fixed order O,H,L,C; adaptive: the extreme nearer the open first (a tie goes low first)."""
    if adaptive and not abs(high - open_) < abs(low - open_):
        return OPEN, LOW, HIGH, CLOSE
    return OPEN, HIGH, LOW, CLOSE


def trade_bar_points(
    open_: int, high: int, low: int, close: int, volume: int, increment: int, last: int | None, adaptive: bool
) -> list[tuple[int, int, str]]:
    """Replay points of a LAST/MID (or one-sided) bar, skipping those that would not move the price: O only
    on a gap from `last` (or without one), H only above, L only below, C only if it differs (spec §2.4)."""
    quarter, close_size = split_bar_volume(volume, increment)
    points: list[tuple[int, int, str]] = []
    if last is None or open_ != last:
        points.append((open_, quarter, OPEN))
        last = open_
    if adaptive and not abs(high - open_) < abs(low - open_):
        if low < last:
            points.append((low, quarter, LOW))
            last = low
        if high > last:
            points.append((high, quarter, HIGH))
            last = high
    else:
        if high > last:
            points.append((high, quarter, HIGH))
            last = high
        if low < last:
            points.append((low, quarter, LOW))
            last = low
    if close != last:
        points.append((close, close_size, CLOSE))
    return points


def taker_fills(
    is_buy: bool, leaves: int, top_px: int, top_size: int, tick: int, extend: bool
) -> list[tuple[int, int]]:
    """L1 fills of a taker: the top level up to its size, then (if `extend`) the rest one tick worse."""
    fills: list[tuple[int, int]] = []
    first = min(top_size, leaves)
    if first > 0:
        fills.append((top_px, first))
    rest = leaves - first
    if rest > 0 and extend:
        fills.append((top_px + tick if is_buy else top_px - tick, rest))
    return fills


def trailing_reference(
    is_buy: bool, trigger_type: str, bid: int | None, ask: int | None, last: int | None
) -> int | None:
    """The price a trailing stop trails (spec §3.3): ask (BUY) / bid (SELL) for DEFAULT and BID_ASK,
    the last trade for LAST_PRICE, last else bid/ask for LAST_OR_BID_ASK, the exact mid (rounded toward
    the order's side of the book) for MID_POINT."""
    if trigger_type == "LAST_PRICE":
        return last
    quote = ask if is_buy else bid
    if trigger_type == "LAST_OR_BID_ASK":
        return last if last is not None else quote
    if trigger_type == "MID_POINT":
        if bid is None or ask is None:
            return None
        total = bid + ask
        return -((-total) // 2) if is_buy else total // 2
    return quote


def trailing_offset_raw(offset_raw: int, offset_type: str, reference: int, tick: int) -> int:
    """An offset as a raw price distance on the tick grid. `offset_raw` is the offset at the fixed-point
    scale (PRICE: a price distance; BASIS_POINTS: basis points; TICKS: a tick count), so 25 bp is
    25 * scale. Basis points round up to a whole tick, keeping the stop at least that far away."""
    if offset_type == "PRICE":
        return offset_raw
    if offset_type == "TICKS":
        return offset_raw * tick // FIXED_SCALE
    if offset_type == "BASIS_POINTS":
        distance = -((-reference * offset_raw) // (10_000 * FIXED_SCALE))
        return -((-distance) // tick) * tick
    raise ValueError(f"trailing offset type {offset_type} is not supported (PRICE, BASIS_POINTS, TICKS)")


def trail(is_buy: bool, reference: int, distance: int, tick: int) -> int:
    """A trailing trigger (or limit) at `distance` from the reference: above it for a BUY, below for a SELL,
    on the tick grid, rounded away from the market (a mid reference or an off-grid offset never gives a
    price the venue could not quote)."""
    if is_buy:
        return -((-(reference + distance)) // tick) * tick
    return (reference - distance) // tick * tick


def queue_front_probability(ahead: int, behind: int, model: str, power: float) -> float:
    """Probability that a size decrease at a level came from the orders ahead of ours.

    power: ahead^n / (ahead^n + behind^n); log: ln(1+ahead) / (ln(1+ahead) + ln(1+behind)).
    Both are 1 when nothing is behind and 0 when nothing is ahead."""
    if ahead <= 0:
        return 0.0
    if behind <= 0:
        return 1.0
    if model == "log":
        front, back = math.log1p(ahead), math.log1p(behind)
    else:
        front, back = float(ahead) ** power, float(behind) ** power
    return front / (front + back)
