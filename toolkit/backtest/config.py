"""The `[backtest]` table of a run file: venue, models, risk settings, data, instruments and period.

One TOML file holds a `[strategy]` table (the same one a live node reads) and a `[backtest]` table
with optional `fill_model`, `latency_model`, `fee_model` and `risk_engine` tables. Data come from
the catalog (`catalog = "data/catalog"`) or straight from files in a real format
(`[[backtest.data]]` with `file` and `format`); instrument definitions come from `instruments_file`
or the catalog. Every value is checked when the file is loaded, and errors name the file and field.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

import msgspec

from toolkit.core.config import ToolkitConfig
from toolkit.engine.risk import RiskEngineConfig
from toolkit.model.data import BarType
from toolkit.model.enums import AccountType, BookType, OmsType, TriggerMode
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
    support_contingent_orders: bool = True
    liquidity_consumption: bool = False
    queue_position: bool = False
    queue_model: Literal["conservative", "power", "log"] = "conservative"
    queue_power: float = 2.0
    price_protection_points: int | None = None
    oto_trigger_mode: TriggerMode = TriggerMode.PARTIAL


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
    """How fills are charged (spec §5.3). `kind`: `maker_taker` (the instrument's maker/taker fee
    rates, the default), `fixed` (`commission` per order, or per fill with `charge_commission_once =
    false`) or `per_contract` (`commission` x quantity x `legs`; `instrument_legs` sets the legs of
    particular instruments, e.g. spreads). Values that do not fit the kind are errors naming the field."""

    kind: Literal["maker_taker", "fixed", "per_contract"] = "maker_taker"
    commission: Money | None = None
    charge_commission_once: bool = True
    legs: int = 1
    instrument_legs: dict[str, int] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        name = type(self).__name__
        if self.kind == "maker_taker":
            if self.commission is not None:
                raise ValueError(
                    f"{name} field `commission`: has no meaning for kind maker_taker (the fee rates "
                    "come from the instrument); use kind fixed or per_contract"
                )
        elif self.commission is None:
            raise ValueError(f'{name} field `commission`: a {self.kind} fee model needs one, e.g. "1.25 USD"')
        elif self.commission.raw < 0:
            raise ValueError(f"{name} field `commission`: must not be negative, got {self.commission}")
        if self.legs < 1:
            raise ValueError(f"{name} field `legs`: must be at least 1, got {self.legs}")
        for instrument_id, legs in self.instrument_legs.items():
            if legs < 1:
                raise ValueError(f"{name} field `instrument_legs`: {instrument_id} = {legs}, must be at least 1")
        if self.kind != "per_contract" and (self.legs != 1 or self.instrument_legs):
            raise ValueError(f"{name} field `legs`: only a per_contract fee model counts legs")


class DataConfig(ToolkitConfig):
    """One data set: `type` quotes/trades/bars/deltas/depth10, by `instrument_id` or `bar_type`; from the catalog,
    or from `file` in `format` (`bars_csv`, `truefx_quotes`)."""

    type: Literal["quotes", "trades", "bars", "deltas", "depth10"]
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
    risk_engine: RiskEngineConfig = msgspec.field(default_factory=RiskEngineConfig)
    equity_interval_secs: int = 3600
    output_dir: str = "output/backtests"


class RunFile(ToolkitConfig):
    """A whole run file: the strategy, the backtest, and the `live` table read by `toolkit live`."""

    strategy: dict[str, Any]
    backtest: BacktestConfig | None = None
    live: dict[str, Any] | None = None
