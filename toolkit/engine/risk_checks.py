"""Pre-trade checks as pure functions: from an order and the facts the risk engine gathers to a reason.

`check_order` runs the checks of the venue spec §8 in order (reduce-only against an explicit position,
instrument, price, trigger and trailing parameters, quantity, GTD expiry, notional limits with the cash
balance or, on margin accounts, the order's initial margin against the free balance, trading state) and
returns the first denial reason, or None. `reference_price_raw` gives the price the notional and margin
checks use (§8.6), computing a trailing stop's trigger from the market when it has none yet. Nothing
here reads a clock, a cache or an account: `toolkit.engine.risk.RiskEngine` supplies the facts.
"""

from __future__ import annotations

from fractions import Fraction

from toolkit.model.enums import (
    AccountType,
    OrderSide,
    OrderType,
    TimeInForce,
    TradingState,
    TrailingOffsetType,
    TriggerType,
)
from toolkit.model.instruments import Instrument
from toolkit.model.objects import FIXED_SCALE, Money, Price, Quantity, format_raw, round_half_even
from toolkit.model.orders import Order

TRAILING_ORDER_TYPES = (OrderType.TRAILING_STOP_MARKET, OrderType.TRAILING_STOP_LIMIT)
TRAILING_OFFSET_TYPES = (TrailingOffsetType.PRICE, TrailingOffsetType.BASIS_POINTS, TrailingOffsetType.TICKS)


def check_price(label: str, price: Price, instrument: Instrument) -> str | None:
    """Reason a price is invalid for the instrument, or None."""
    if price.precision > instrument.price_precision:
        return f"{label} {price} invalid (precision {price.precision} > {instrument.price_precision})"
    if price.raw <= 0 and not instrument.allow_negative_prices:
        return f"{label} {price} invalid (not positive)"
    if price.raw % instrument.price_increment.raw != 0:
        return f"{label} {price} invalid (not a multiple of price_increment {instrument.price_increment})"
    if instrument.max_price is not None and price.raw > instrument.max_price.raw:
        return f"{label} {price} invalid (> maximum price {instrument.max_price})"
    if instrument.min_price is not None and price.raw < instrument.min_price.raw:
        return f"{label} {price} invalid (< minimum price {instrument.min_price})"
    return None


def check_quantity(quantity: Quantity, instrument: Instrument) -> str | None:
    """Reason a quantity is invalid for the instrument, or None."""
    if quantity.precision > instrument.size_precision:
        return f"quantity {quantity} invalid (precision {quantity.precision} > {instrument.size_precision})"
    if quantity.raw <= 0:
        return f"quantity {quantity} invalid (not positive)"
    if quantity.raw % instrument.size_increment.raw != 0:
        return f"quantity {quantity} invalid (not a multiple of size_increment {instrument.size_increment})"
    if instrument.max_quantity is not None and quantity.raw > instrument.max_quantity.raw:
        return f"quantity {quantity} invalid (> maximum trade size {instrument.max_quantity})"
    if instrument.min_quantity is not None and quantity.raw < instrument.min_quantity.raw:
        return f"quantity {quantity} invalid (< minimum trade size {instrument.min_quantity})"
    return None


def check_trailing(order: Order, instrument: Instrument) -> str | None:
    """Reason a trailing stop's offset or activation price is unusable, or None (spec §3.7)."""
    if order.trailing_offset_type not in TRAILING_OFFSET_TYPES:
        return (
            f"trailing_offset_type {order.trailing_offset_type.value} not supported for "
            f"{order.order_type.value} (use PRICE, BASIS_POINTS or TICKS)"
        )
    if order.trailing_offset is None:
        return f"{order.order_type.value} order has no trailing_offset"
    if not order.trailing_offset.is_finite() or order.trailing_offset <= 0:
        return f"trailing_offset {order.trailing_offset} invalid (not positive)"
    if order.activation_price is not None:
        return check_price("activation price", order.activation_price, instrument)
    return None


def trailing_trigger_raw(order: Order, ref_raw: int, price_increment_raw: int | None) -> int | None:
    """The trigger a trailing stop would get from `ref_raw`: ref - offset (SELL) or ref + offset (BUY).

    The offset is a price (PRICE), basis points of the reference (BASIS_POINTS) or price increments
    (TICKS, needs `price_increment_raw`). None when the offset cannot be computed.
    """
    offset = order.trailing_offset
    if offset is None or not offset.is_finite():
        return None
    exact = Fraction(offset)
    if order.trailing_offset_type is TrailingOffsetType.PRICE:
        offset_raw = exact * FIXED_SCALE
    elif order.trailing_offset_type is TrailingOffsetType.BASIS_POINTS:
        offset_raw = exact * ref_raw / 10_000
    elif order.trailing_offset_type is TrailingOffsetType.TICKS and price_increment_raw is not None:
        offset_raw = exact * price_increment_raw
    else:
        return None
    raw = round_half_even(offset_raw.numerator, offset_raw.denominator)
    return ref_raw - raw if order.side is OrderSide.SELL else ref_raw + raw


def reference_price_raw(
    order: Order,
    bid_raw: int | None,
    ask_raw: int | None,
    last_raw: int | None,
    price_increment_raw: int | None = None,
) -> int | None:
    """The price a notional or margin check uses (spec §8.6), None when nothing gives one.

    Stop-market and MIT: the trigger. Orders with a limit price: the limit. Other triggered orders:
    the trigger. Trailing stops without a trigger yet: the trigger computed from the activation price
    if set, else from the market the trigger type names (BID_ASK/DEFAULT: ask for a BUY, bid for a
    SELL; LAST_PRICE: last; LAST_OR_BID_ASK: last, else bid/ask; MID_POINT: the mid). Market orders:
    the ask (BUY) or bid (SELL), else `last_raw`.
    """
    if order.order_type in (OrderType.STOP_MARKET, OrderType.MARKET_IF_TOUCHED):
        return None if order.trigger_price is None else order.trigger_price.raw
    if order.price is not None:
        return order.price.raw
    if order.trigger_price is not None:
        return order.trigger_price.raw
    market = ask_raw if order.side is OrderSide.BUY else bid_raw
    if order.order_type in TRAILING_ORDER_TYPES:
        if order.activation_price is not None:
            ref: int | None = order.activation_price.raw
        elif order.trigger_type is TriggerType.LAST_PRICE:
            ref = last_raw
        elif order.trigger_type is TriggerType.LAST_OR_BID_ASK:
            ref = last_raw if last_raw is not None else market
        elif order.trigger_type is TriggerType.MID_POINT:
            ref = None if bid_raw is None or ask_raw is None else (bid_raw + ask_raw) // 2
        else:
            ref = market
        return None if ref is None else trailing_trigger_raw(order, ref, price_increment_raw)
    return market if market is not None else last_raw


def _amount(money: Money) -> str:
    """`12,345.67 USD`: the amount with thousands separators at the currency's precision."""
    return f"{money.as_decimal():,} {money.currency.code}"


def adds_to_net(side: OrderSide, net_signed_raw: int) -> bool:
    """A BUY while net long or a SELL while net short: what REDUCING forbids (spec §8.7)."""
    return (net_signed_raw > 0 and side is OrderSide.BUY) or (net_signed_raw < 0 and side is OrderSide.SELL)


def check_order(
    order: Order,
    instrument: Instrument | None,
    *,
    now_ns: int,
    position_signed_raw: int | None,
    net_signed_raw: int,
    reference_raw: int | None,
    account_type: AccountType | None,
    free_balance: Money | None,
    max_notional: Money | None,
    trading_state: TradingState,
    order_margin: Money | None = None,
) -> str | None:
    """The reason to deny `order`, or None if it may go to the venue (spec §8, in that order).

    `position_signed_raw` is the signed size of the position named by the order's position id
    (None when the order names none); `net_signed_raw` is the net position of the instrument.
    `free_balance` is the account's free balance in the currency the balance checks use: the quote
    currency (cash) or the currency of `order_margin` (margin), which is the order's initial margin
    already converted to the account's currency. A margin account denies an order whose margin is
    more than the free balance, unless the order reduces the net position.
    """
    if order.reduce_only and position_signed_raw is not None:
        qty = order.quantity.raw
        wrong_side = (
            position_signed_raw == 0
            or (position_signed_raw > 0 and order.side is OrderSide.BUY)
            or (position_signed_raw < 0 and order.side is OrderSide.SELL)
        )
        if wrong_side or qty > abs(position_signed_raw):
            return f"Reduce only order would increase position (position {format_raw(position_signed_raw, 9)})"
    if instrument is None:
        return f"instrument {order.instrument_id} not found"
    if order.price is not None:
        reason = check_price("price", order.price, instrument)
        if reason:
            return reason
    elif order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        return f"{order.order_type.value} order has no price"
    if order.trigger_price is not None:
        reason = check_price("trigger price", order.trigger_price, instrument)
        if reason:
            return reason
    elif order.order_type in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT):
        return f"{order.order_type.value} order has no trigger price"
    if order.order_type in TRAILING_ORDER_TYPES:
        reason = check_trailing(order, instrument)
        if reason:
            return reason
    reason = check_quantity(order.quantity, instrument)
    if reason:
        return reason
    if order.time_in_force is TimeInForce.GTD and order.expire_time_ns <= now_ns:
        return f"GTD expire time {order.expire_time_ns} already passed (now {now_ns})"
    if reference_raw is not None:
        notional = Money.from_raw_ratio(
            order.quantity.raw * reference_raw * instrument.multiplier.raw,
            FIXED_SCALE * FIXED_SCALE,
            instrument.quote_currency,
        )
        if max_notional is not None and notional.raw > max_notional.raw:
            return f"NOTIONAL_EXCEEDS_MAX_PER_ORDER: notional {notional} > max {max_notional}"
        if instrument.min_notional is not None and notional.raw < instrument.min_notional.raw:
            return f"NOTIONAL_LESS_THAN_MIN_FOR_INSTRUMENT: notional {notional} < min {instrument.min_notional}"
        if instrument.max_notional is not None and notional.raw > instrument.max_notional.raw:
            return f"NOTIONAL_GREATER_THAN_MAX_FOR_INSTRUMENT: notional {notional} > max {instrument.max_notional}"
        qty = order.quantity.raw
        reducing_sell = order.side is OrderSide.SELL and net_signed_raw >= qty
        reducing = order.reduce_only or reducing_sell
        if (
            account_type is AccountType.CASH
            and free_balance is not None
            and order.side is OrderSide.BUY
            and not reducing
            and free_balance.currency.code == notional.currency.code
            and notional.raw > free_balance.raw
        ):
            return f"NOTIONAL_EXCEEDS_FREE_BALANCE: notional {notional} > free balance {free_balance}"
        reducing = reducing or (order.side is OrderSide.BUY and -net_signed_raw >= qty)
        if (
            account_type is AccountType.MARGIN
            and order_margin is not None
            and free_balance is not None
            and not reducing
            and free_balance.currency.code == order_margin.currency.code
            and order_margin.raw > free_balance.raw
        ):
            return f"MARGIN_EXCEEDS_FREE_BALANCE: order margin {_amount(order_margin)} > free {_amount(free_balance)}"
    if trading_state is TradingState.HALTED:
        return "TradingState.HALTED: no new orders"
    if trading_state is TradingState.REDUCING and adds_to_net(order.side, net_signed_raw):
        position = "long" if net_signed_raw > 0 else "short"
        return f"TradingState.REDUCING: {order.side.value} order while net {position} would increase exposure"
    return None
