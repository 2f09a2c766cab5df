"""Message bus topic and endpoint names, in one place so publishers and subscribers agree."""

from __future__ import annotations

from functools import lru_cache

RISK_ENGINE_EXECUTE = "RiskEngine.execute"
EXEC_ENGINE_EXECUTE = "ExecEngine.execute"
EXEC_ENGINE_PROCESS = "ExecEngine.process"
TRADING_STATE = "events.risk.trading_state"  # the new TradingState, published when it changes


def quotes_topic(instrument_id: str) -> str:
    return f"data.quotes.{instrument_id}"


def trades_topic(instrument_id: str) -> str:
    return f"data.trades.{instrument_id}"


def bars_topic(bar_type: object) -> str:
    return f"data.bars.{bar_type}"


def deltas_topic(instrument_id: str) -> str:
    return f"data.book.deltas.{instrument_id}"


def depth10_topic(instrument_id: str) -> str:
    return f"data.book.depth10.{instrument_id}"


@lru_cache(maxsize=4096)  # every fill publishes to these: format each name once
def order_events_topic(strategy_id: str) -> str:
    return f"events.order.{strategy_id}"


@lru_cache(maxsize=4096)  # every fill publishes to these: format each name once
def position_events_topic(strategy_id: str) -> str:
    return f"events.position.{strategy_id}"


@lru_cache(maxsize=4096)  # every fill publishes to these: format each name once
def account_events_topic(account_id: str) -> str:
    return f"events.account.{account_id}"


def fills_topic(instrument_id: str) -> str:
    return f"events.fills.{instrument_id}"
