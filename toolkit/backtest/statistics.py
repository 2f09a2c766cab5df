"""Performance statistics of a run, computed by pure functions from plain inputs.

`compute_performance` takes an equity curve (`ts_ns` as int nanoseconds UTC and `equity` as Decimal,
one currency), the realized PnL of each closed trade (position) net of commissions, the total
commissions and the starting balance, and returns a frozen `PerformanceSummary`. Money stays exact:
totals, drawdown amounts, largest win/loss are Decimal arithmetic on the inputs; means (average
win/loss, expectancy) are Decimal divisions at the context precision. Ratios are floats. Sharpe and
Sortino ratios are annualised from daily returns: the curve is resampled to its last value per UTC
day, the starting balance stands for the close of the day before the first point, days without a
point are skipped (not filled), the risk-free rate and the Sortino target are 0, and the factor is
`sqrt(252)` (trading days per year). Sharpe uses the sample standard deviation (n - 1); Sortino the
downside deviation `sqrt(sum(min(r, 0)**2) / n)` over all n daily returns. Both are None with fewer
than 2 daily returns or a zero deviation. `format_table` renders `PerformanceSummary.as_rows()` as
an aligned plain-text table for the CLI.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal
from itertools import pairwise
from typing import Any

import msgspec

from toolkit.model.objects import decimals_of

__all__ = [
    "NANOS_PER_DAY",
    "TRADING_DAYS_PER_YEAR",
    "PerformanceSummary",
    "compute_performance",
    "daily_closes",
    "daily_returns",
    "format_table",
    "format_ts_ns",
    "max_drawdown",
    "sharpe_ratio",
    "sortino_ratio",
]

NANOS_PER_DAY = 86_400 * 1_000_000_000
TRADING_DAYS_PER_YEAR = 252

_ZERO = Decimal(0)
_WIDE_CONTEXT = Context(prec=60)  # quantizing for display never fails on large values
_MISSING = "n/a"


class PerformanceSummary(msgspec.Struct, frozen=True, kw_only=True):
    """Summary of a run; money as Decimal in `currency`, ratios as floats, None where undefined."""

    currency: str | None
    start_ts_ns: int | None
    end_ts_ns: int | None
    starting_balance: Decimal
    final_equity: Decimal
    total_pnl: Decimal
    total_return: float | None
    sharpe_ratio: float | None
    sortino_ratio: float | None
    daily_return_count: int
    max_drawdown: float
    max_drawdown_amount: Decimal
    trade_count: int
    win_count: int
    loss_count: int
    win_rate: float | None
    profit_factor: float | None
    average_win: Decimal | None
    average_loss: Decimal | None
    expectancy: Decimal | None
    largest_win: Decimal | None
    largest_loss: Decimal | None
    realized_pnl: Decimal
    commissions: Decimal
    money_precision: int

    def to_dict(self) -> dict[str, Any]:
        """Field name -> value, values kept as Python objects (Decimal, float, int, None)."""
        return {name: getattr(self, name) for name in self.__struct_fields__}

    def as_rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs for a two-column table; money at `money_precision` decimals."""

        def money(value: Decimal | None) -> str:
            if value is None:
                return _MISSING
            text = f"{value.quantize(Decimal(1).scaleb(-self.money_precision), ROUND_HALF_EVEN, _WIDE_CONTEXT):f}"
            return f"{text} {self.currency}" if self.currency else text

        def percent(value: float | None) -> str:
            return _MISSING if value is None else f"{value * 100:.2f}%"

        def ratio(value: float | None) -> str:
            return _MISSING if value is None else f"{value:.4f}"

        def timestamp(value: int | None) -> str:
            return _MISSING if value is None else format_ts_ns(value)

        return [
            ("Start", timestamp(self.start_ts_ns)),
            ("End", timestamp(self.end_ts_ns)),
            ("Starting balance", money(self.starting_balance)),
            ("Final equity", money(self.final_equity)),
            ("Total PnL", money(self.total_pnl)),
            ("Total return", percent(self.total_return)),
            ("Sharpe ratio (252d)", ratio(self.sharpe_ratio)),
            ("Sortino ratio (252d)", ratio(self.sortino_ratio)),
            ("Daily returns", str(self.daily_return_count)),
            ("Max drawdown", percent(self.max_drawdown)),
            ("Max drawdown amount", money(self.max_drawdown_amount)),
            ("Trades", str(self.trade_count)),
            ("Wins", str(self.win_count)),
            ("Losses", str(self.loss_count)),
            ("Win rate", percent(self.win_rate)),
            ("Profit factor", ratio(self.profit_factor)),
            ("Average win", money(self.average_win)),
            ("Average loss", money(self.average_loss)),
            ("Expectancy", money(self.expectancy)),
            ("Largest win", money(self.largest_win)),
            ("Largest loss", money(self.largest_loss)),
            ("Realized PnL (trades)", money(self.realized_pnl)),
            ("Commissions", money(self.commissions)),
        ]


def _money(value: object, what: str) -> Decimal:
    """An exact money input: Decimal, int or numeric text; floats are refused."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int) and not isinstance(value, bool):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except ArithmeticError:
            raise ValueError(f"{what}: {value!r} is not a number") from None
    else:
        raise TypeError(f"{what}: expected Decimal (money is exact), got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{what}: {value} is not finite")
    return result


def _check_curve(ts_ns: Sequence[int], equity: Sequence[Decimal]) -> None:
    if len(ts_ns) != len(equity):
        raise ValueError(f"equity curve: {len(ts_ns)} timestamps but {len(equity)} equity values")
    for index in range(1, len(ts_ns)):
        if ts_ns[index] < ts_ns[index - 1]:
            raise ValueError(
                f"equity curve: ts_ns must not decrease, ts_ns[{index}]={ts_ns[index]} < ts_ns[{index - 1}]"
            )


def daily_closes(ts_ns: Sequence[int], equity: Sequence[Decimal]) -> list[tuple[int, Decimal]]:
    """(UTC day number since the epoch, last equity of that day) for each day with a point, in order."""
    _check_curve(ts_ns, equity)
    closes: list[tuple[int, Decimal]] = []
    for ts, value in zip(ts_ns, equity, strict=True):
        day = ts // NANOS_PER_DAY
        if closes and closes[-1][0] == day:
            closes[-1] = (day, value)
        else:
            closes.append((day, value))
    return closes


def daily_returns(
    ts_ns: Sequence[int], equity: Sequence[Decimal], starting_balance: Decimal | None = None
) -> list[float]:
    """Simple returns between consecutive daily closes (see `daily_closes`).

    With `starting_balance`, it is the close of the day before the first point, so the first day's
    return is counted too. A return after a close <= 0 is undefined and skipped.
    """
    closes = [value for _, value in daily_closes(ts_ns, equity)]
    if starting_balance is not None and closes:
        closes.insert(0, starting_balance)
    returns: list[float] = []
    for previous, current in pairwise(closes):
        if previous > 0:
            returns.append(float((current - previous) / previous))
    return returns


def sharpe_ratio(returns: Sequence[float], periods_per_year: int = TRADING_DAYS_PER_YEAR) -> float | None:
    """`mean / sample std * sqrt(periods_per_year)`, risk-free 0; None with < 2 returns or zero std."""
    count = len(returns)
    if count < 2 or max(returns) == min(returns):
        return None
    mean = math.fsum(returns) / count
    variance = math.fsum((r - mean) * (r - mean) for r in returns) / (count - 1)
    if variance <= 0.0:
        return None
    return mean / math.sqrt(variance) * math.sqrt(periods_per_year)


def sortino_ratio(returns: Sequence[float], periods_per_year: int = TRADING_DAYS_PER_YEAR) -> float | None:
    """`mean / downside deviation * sqrt(periods_per_year)`, target 0.

    Downside deviation = `sqrt(sum(min(r, 0)**2) / n)` over all n returns. None with fewer than 2
    returns or no negative return.
    """
    count = len(returns)
    if count < 2:
        return None
    downside_squares = math.fsum(r * r for r in returns if r < 0.0)
    if downside_squares <= 0.0:
        return None
    mean = math.fsum(returns) / count
    return mean / math.sqrt(downside_squares / count) * math.sqrt(periods_per_year)


def max_drawdown(equity: Sequence[Decimal], starting_balance: Decimal | None = None) -> tuple[float, Decimal]:
    """(largest fall from a running peak as a fraction of that peak, largest fall as an amount).

    The running peak starts at `starting_balance` when given. Both are >= 0 and are maximised
    separately (they can come from different falls). Peaks <= 0 have no fractional drawdown.
    """
    peak = starting_balance
    worst_amount = _ZERO
    worst_fraction = _ZERO
    for value in equity:
        if peak is None or value > peak:
            peak = value
            continue
        fall = peak - value
        if fall > worst_amount:
            worst_amount = fall
        if peak > 0:
            fraction = fall / peak
            if fraction > worst_fraction:
                worst_fraction = fraction
    return float(worst_fraction), worst_amount


def compute_performance(
    ts_ns: Sequence[int],
    equity: Sequence[Decimal],
    trade_pnls: Sequence[Decimal],
    commissions: Decimal,
    starting_balance: Decimal,
    *,
    currency: str | None = None,
    periods_per_year: int = TRADING_DAYS_PER_YEAR,
) -> PerformanceSummary:
    """Summarise a run (see the module docstring for the definitions).

    `trade_pnls` are the realized PnLs of closed trades, net of commissions: a trade is a win when
    > 0, a loss when < 0; breakeven trades count in `trade_count` and the win rate's denominator.
    `profit_factor` = gross profit / gross loss (None without losses), `expectancy` = mean PnL per
    trade, `average_loss` and `largest_loss` are negative. `currency` only labels the output.
    """
    start = _money(starting_balance, "starting_balance")
    fees = _money(commissions, "commissions")
    curve = [_money(value, f"equity[{index}]") for index, value in enumerate(equity)]
    pnls = [_money(value, f"trade_pnls[{index}]") for index, value in enumerate(trade_pnls)]
    ts = list(ts_ns)
    _check_curve(ts, curve)
    if periods_per_year < 1:
        raise ValueError(f"periods_per_year must be >= 1, got {periods_per_year}")

    final = curve[-1] if curve else start
    total_pnl = final - start
    returns = daily_returns(ts, curve, start)
    drawdown_fraction, drawdown_amount = max_drawdown(curve, start)

    wins = [pnl for pnl in pnls if pnl > 0]
    losses = [pnl for pnl in pnls if pnl < 0]
    gross_profit = sum(wins, _ZERO)
    gross_loss = -sum(losses, _ZERO)
    realized = sum(pnls, _ZERO)
    trade_count = len(pnls)

    money_precision = max(decimals_of(value) for value in [start, fees, *curve, *pnls])

    return PerformanceSummary(
        currency=currency,
        start_ts_ns=ts[0] if ts else None,
        end_ts_ns=ts[-1] if ts else None,
        starting_balance=start,
        final_equity=final,
        total_pnl=total_pnl,
        total_return=float(total_pnl / start) if start > 0 else None,
        sharpe_ratio=sharpe_ratio(returns, periods_per_year),
        sortino_ratio=sortino_ratio(returns, periods_per_year),
        daily_return_count=len(returns),
        max_drawdown=drawdown_fraction,
        max_drawdown_amount=drawdown_amount,
        trade_count=trade_count,
        win_count=len(wins),
        loss_count=len(losses),
        win_rate=len(wins) / trade_count if trade_count else None,
        profit_factor=float(gross_profit / gross_loss) if gross_loss > 0 else None,
        average_win=gross_profit / len(wins) if wins else None,
        average_loss=-gross_loss / len(losses) if losses else None,
        expectancy=realized / trade_count if trade_count else None,
        largest_win=max(wins) if wins else None,
        largest_loss=min(losses) if losses else None,
        realized_pnl=realized,
        commissions=fees,
        money_precision=money_precision,
    )


def format_ts_ns(ts_ns: int) -> str:
    """ISO 8601 UTC with nanoseconds, e.g. `2024-01-02T03:04:05.000000000Z`."""
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


def format_table(rows: Sequence[tuple[str, str]], title: str) -> str:
    """Plain-text table: the title, a rule, labels left-aligned and values right-aligned, a rule."""
    label_width = max((len(label) for label, _ in rows), default=0)
    value_width = max((len(value) for _, value in rows), default=0)
    width = max(len(title), label_width + 2 + value_width)
    rule = "-" * width
    lines = [title, rule]
    lines.extend(f"{label:<{label_width}}  {value:>{width - label_width - 2}}" for label, value in rows)
    lines.append(rule)
    return "\n".join(lines)
