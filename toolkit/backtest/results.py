"""Results of a backtest run: counts and, per account currency, the performance summary.

`build_result(engine)` reads the finished engine (cache, portfolio, equity samples) and computes
the figures with `toolkit.backtest.statistics`: total PnL and return, Sharpe, Sortino, max drawdown,
trade count, win rate, profit factor and commissions. Closed trades are closed position cycles,
with their realized PnL net of commissions, converted to the account currency when needed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec

from toolkit.backtest.statistics import PerformanceSummary, compute_performance, format_table, format_ts_ns
from toolkit.model.accounting import convert
from toolkit.model.events import OrderFilled
from toolkit.model.objects import Currency, Money

if TYPE_CHECKING:
    from toolkit.backtest.engine import BacktestEngine


class AccountResult(msgspec.Struct, frozen=True):
    account_id: str
    currency: str
    starting_balance: Decimal
    final_balance: Decimal
    summary: PerformanceSummary


class BacktestResult(msgspec.Struct, frozen=True):
    trader_id: str
    strategies: list[str]
    instruments: list[str]
    start_ns: int | None
    end_ns: int | None
    events: int
    orders: int
    fills: int
    positions: int
    accounts: list[AccountResult]
    warnings: list[str]

    def render(self) -> str:
        """The summary tables the CLI prints."""
        head = [
            ("Trader", self.trader_id),
            ("Strategies", ", ".join(self.strategies)),
            ("Instruments", ", ".join(self.instruments)),
            ("Period", f"{format_ts_ns(self.start_ns)} -> {format_ts_ns(self.end_ns)}" if self.start_ns else "n/a"),
            ("Data events", f"{self.events:,}"),
            ("Orders", f"{self.orders:,}"),
            ("Fills", f"{self.fills:,}"),
            ("Positions", f"{self.positions:,}"),
        ]
        parts = [format_table(head, "Backtest")]
        for account in self.accounts:
            parts.append(format_table(account.summary.as_rows(), f"Account {account.account_id} ({account.currency})"))
        for warning in self.warnings:
            parts.append(f"warning: {warning}")
        return "\n\n".join(parts)


def build_result(engine: BacktestEngine) -> BacktestResult:
    cache = engine.kernel.cache
    portfolio = engine.kernel.portfolio
    orders = cache.orders()
    fills = [e for o in orders for e in o.events if type(e) is OrderFilled]
    positions = cache.positions() + cache.position_snapshots()
    accounts: list[AccountResult] = []
    for account in cache.accounts():
        venue = account.id.issuer
        for code, start in account.starting_balances().items():
            currency = start.currency
            points = [p for p in engine.equity if p.account_id == str(account.id) and p.currency == code]
            ts = [p.ts for p in points]
            equity = [p.equity.as_decimal() for p in points]
            closed = [p for p in positions if p.is_closed and p.instrument_id.venue == venue]
            pnls = [_in(portfolio, p.realized_pnl, currency) for p in closed]
            commissions = sum(
                (_in(portfolio, f.commission, currency) for f in fills if f.instrument_id.venue == venue),
                Decimal(0),
            )
            summary = compute_performance(
                ts, equity, [p for p in pnls if p is not None], commissions, start.as_decimal(), currency=code
            )
            final = account.balance_total(code)
            accounts.append(
                AccountResult(
                    account_id=str(account.id),
                    currency=code,
                    starting_balance=start.as_decimal(),
                    final_balance=final.as_decimal() if final is not None else Decimal(0),
                    summary=summary,
                )
            )
    warnings: list[str] = []
    zero = latency_warning(engine)
    if zero is not None:
        warnings.append(zero)
    return BacktestResult(
        trader_id=str(engine.kernel.trader_id),
        strategies=[str(s.id) for s in engine.kernel.trader.strategies],
        instruments=_used_instruments(engine),
        start_ns=engine.run_started_ns,
        end_ns=engine.run_finished_ns,
        events=engine.events_processed,
        orders=len(orders),
        fills=len(fills),
        positions=len(positions),
        accounts=accounts,
        warnings=warnings,
    )


ZERO_LATENCY_WARNING = "zero latency is optimistic: orders fill at the price of the tick that triggered them"


def latency_warning(engine: BacktestEngine) -> str | None:
    """One warning naming every venue without latency (no model, or a model of all zeros), else None."""
    venues = [
        str(exchange.venue)
        for exchange in engine.exchanges.values()
        if exchange.latency_model is None or exchange.latency_model.is_zero
    ]
    if not venues:
        return None
    named = f"venue {venues[0]}" if len(venues) == 1 else f"venues {', '.join(venues)}"
    return f"{ZERO_LATENCY_WARNING} ({named}; set [backtest.latency_model] for realism)"


def _in(portfolio, money: Money, currency: Currency) -> Decimal | None:  # type: ignore[no-untyped-def]
    """`money` in `currency` (converted at the latest rate), or None if no rate is known."""
    if money.currency.code == currency.code:
        return money.as_decimal()
    rate = portfolio.rate(money.currency, currency)
    return None if rate is None else convert(money, currency, rate).as_decimal()


def _used_instruments(engine: BacktestEngine) -> list[str]:
    """Instruments the run had data or orders for (not every instrument the venue lists)."""
    traded = {str(o.instrument_id) for o in engine.kernel.cache.orders()}
    with_data = {
        str(instrument_id)
        for exchange in engine.exchanges.values()
        for instrument_id, matching in exchange.engines.items()
        if matching.data_points > 0
    }
    return sorted(traded | with_data)
