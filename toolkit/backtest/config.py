"""The `[backtest]` table of a run file: venue, models, data, instruments and period.

One TOML file holds a `[strategy]` table (the same one a live node reads) and a `[backtest]` table.
Data come from the catalog (`catalog = "data/catalog"`) or straight from files in a real format
(`[[backtest.data]]` with `file` and `format`); instrument definitions come from `instruments_file`
or the catalog. Every value is checked when the file is loaded, and errors name the file and field.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

import msgspec

from toolkit.core.config import ToolkitConfig
from toolkit.model.data import BarType
from toolkit.model.enums import AccountType, BookType, OmsType
from toolkit.model.identifiers import InstrumentId, TraderId
from toolkit.model.objects import Currency, Money, Quantity


class VenueConfig(ToolkitConfig):
    """A simulated venue. The switches from `bar_execution` on are `MatchingConfig`'s (venue spec §2-§3);
    a test keeps the two in step."""

    name: str = "SIM"
    oms_type: OmsType = OmsType.NETTING
    account_type: AccountType = AccountType.MARGIN
    base_currency: Currency | None = None
    starting_balances: list[Money]
    default_leverage: Decimal = Decimal(1)
    leverages: dict[str, Decimal] = msgspec.field(default_factory=dict)
    book_type: BookType = BookType.L1_MBP
    bar_execution: bool = True
    bar_adaptive_high_low_ordering: bool = False
    trade_execution: bool = True
    reject_stop_orders: bool = True
    support_gtd_orders: bool = True
    use_reduce_only: bool = True
    use_position_ids: bool = True
    use_market_order_acks: bool = False


class FillModelConfig(ToolkitConfig):
    prob_fill_on_limit: float = 1.0
    prob_slippage: float = 0.0
    random_seed: int | None = None


class LatencyModelConfig(ToolkitConfig):
    base_latency_ns: int = 1_000_000
    insert_latency_ns: int = 0
    update_latency_ns: int = 0
    cancel_latency_ns: int = 0


class FeeModelConfig(ToolkitConfig):
    """`maker_taker` (the instrument's fees), `fixed` (commission per order or fill), `per_contract`."""

    kind: Literal["maker_taker", "fixed", "per_contract"] = "maker_taker"
    commission: Money | None = None
    charge_commission_once: bool = True


class DataConfig(ToolkitConfig):
    """One data set: `type` quotes/trades/bars, by `instrument_id` or `bar_type`; from the catalog,
    or from `file` in `format` (`bars_csv`, `truefx_quotes`)."""

    type: Literal["quotes", "trades", "bars"]
    instrument_id: InstrumentId | None = None
    bar_type: BarType | None = None
    file: str | None = None
    format: Literal["bars_csv", "truefx_quotes"] | None = None
    default_volume: Quantity | None = None
    default_size: Quantity | None = None


class BacktestConfig(ToolkitConfig):
    trader_id: TraderId = TraderId("BACKTESTER-001")
    venue: VenueConfig
    catalog: str | None = None
    instruments_file: str | None = None
    data: list[DataConfig] = msgspec.field(default_factory=list)
    start: str | int | None = None
    end: str | int | None = None
    fill_model: FillModelConfig | None = None
    latency_model: LatencyModelConfig | None = None
    fee_model: FeeModelConfig | None = None
    equity_interval_secs: int = 3600
    output_dir: str = "output/backtests"


class RunFile(ToolkitConfig):
    """A whole run file: the strategy, the backtest, and the `live` table read by `toolkit live`."""

    strategy: dict[str, Any]
    backtest: BacktestConfig | None = None
    live: dict[str, Any] | None = None
