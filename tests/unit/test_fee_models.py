"""Fee models of the simulated venue (venue spec §5.3 and §10 check 54) and their run-file table.

Each model is asked for the commission of one fill, with figures worked out by hand: `Fixed` charges
once per order or on every fill, `PerContract` charges per contract and per leg, `MakerTaker` charges
qty x price x multiplier x rate rounded half-even to the currency (inverse instruments in the base
currency). Then, through a real `BacktestEngine`, an order filled in two parts pays the fixed fee once
(or twice), and `[backtest.fee_model]` selects each model or fails naming the field.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest

from toolkit.backtest.config import FeeModelConfig, RunFile
from toolkit.backtest.engine import BacktestEngine
from toolkit.backtest.models import (
    FeeModel,
    FixedFeeModel,
    MakerTakerFeeModel,
    PerContractFeeModel,
)
from toolkit.backtest.runner import fee_model_from_config
from toolkit.core.config import ConfigError, config_from_dict
from toolkit.model.data import QuoteTick
from toolkit.model.enums import AccountType, LiquiditySide, OmsType, OrderSide, OrderStatus
from toolkit.model.events import OrderFilled
from toolkit.model.identifiers import ClientOrderId, InstrumentId
from toolkit.model.instruments import CryptoPerpetual, CurrencyPair, Equity, Instrument
from toolkit.model.objects import Currency, Money, Price, Quantity
from toolkit.model.orders import Order
from toolkit.trading.config import StrategyConfig
from toolkit.trading.strategy import Strategy

USD = Currency.from_str("USD")
JPY = Currency.from_str("JPY")
BTC = Currency.from_str("BTC")
AUD = Currency.from_str("AUD")
MAKER, TAKER = LiquiditySide.MAKER, LiquiditySide.TAKER
COID = ClientOrderId("O-1")
NOW = 1_704_067_200_000_000_000

SPREAD = Equity(  # stands in for a 3-leg spread: the legs are the fee model's parameter
    id=InstrumentId("ES-SPREAD.XCME"),
    quote_currency=USD,
    settlement_currency=USD,
    price_precision=2,
    size_precision=0,
    price_increment=Price.from_str("0.01"),
    size_increment=Quantity.from_int(1),
    allow_negative_prices=True,
)
FUTURE_LIKE = Equity(
    id=InstrumentId("XYZ.XNAS"),
    quote_currency=USD,
    settlement_currency=USD,
    price_precision=2,
    size_precision=0,
    price_increment=Price.from_str("0.01"),
    size_increment=Quantity.from_int(1),
    multiplier=Quantity.from_int(10),
    maker_fee=Decimal("-0.00025"),
    taker_fee=Decimal("0.0005"),
)
USDJPY = CurrencyPair(
    id=InstrumentId("USD/JPY.SIM"),
    base_currency=USD,
    quote_currency=JPY,
    settlement_currency=JPY,
    price_precision=3,
    size_precision=0,
    price_increment=Price.from_str("0.001"),
    size_increment=Quantity.from_int(1),
    maker_fee=Decimal("0.00002"),
    taker_fee=Decimal("0.00002"),
)
BTCUSD_INVERSE = CryptoPerpetual(
    id=InstrumentId("BTCUSD-PERP.SIM"),
    base_currency=BTC,
    quote_currency=USD,
    settlement_currency=BTC,
    is_inverse=True,
    price_precision=1,
    size_precision=0,
    price_increment=Price.from_str("0.1"),
    size_increment=Quantity.from_int(1),
    taker_fee=Decimal("0.00075"),
)
AUDUSD = CurrencyPair(
    id=InstrumentId("AUD/USD.SIM"),
    base_currency=AUD,
    quote_currency=USD,
    settlement_currency=USD,
    price_precision=5,
    size_precision=0,
    price_increment=Price.from_str("0.00001"),
    size_increment=Quantity.from_int(1),
)


def fee(
    model: FeeModel, instrument: Instrument, qty: str, px: str, side: LiquiditySide = TAKER, first: bool = True
) -> Money:
    return model.commission(
        instrument, COID, Quantity.from_str(qty).raw, Price.from_str(px).raw, side, first_fill=first
    )


# ---- check 54, model by model -------------------------------------------------------------------------------
def test_check_54_fixed_fee_charged_once() -> None:
    model = FixedFeeModel(Money.of(1, USD), charge_commission_once=True)
    assert fee(model, SPREAD, "2", "10.00", first=True) == Money.of(1, USD)
    assert fee(model, SPREAD, "2", "10.00", first=False) == Money.of(0, USD)


def test_check_54_fixed_fee_charged_on_every_fill() -> None:
    model = FixedFeeModel(Money.of(1, USD), charge_commission_once=False)
    assert [fee(model, SPREAD, "2", "10.00", first=first) for first in (True, False)] == [Money.of(1, USD)] * 2


def test_check_54_fixed_fee_is_charged_in_its_own_currency() -> None:
    assert fee(FixedFeeModel(Money.of(1, USD)), USDJPY, "100000", "90.005") == Money.of(1, USD)


def test_check_54_per_contract_fee_for_a_three_leg_spread() -> None:
    """1.25 USD x 2 contracts x 3 legs = 7.50 USD."""
    assert fee(PerContractFeeModel(Money.of("1.25", USD), legs=3), SPREAD, "2", "-1.50") == Money.of("7.50", USD)
    by_instrument = PerContractFeeModel(Money.of("1.25", USD), instrument_legs={"ES-SPREAD.XCME": 3})
    assert fee(by_instrument, SPREAD, "2", "-1.50") == Money.of("7.50", USD)
    assert fee(by_instrument, FUTURE_LIKE, "2", "100.00") == Money.of("2.50", USD)  # 1 leg for the others


def test_check_54_per_contract_fee_ignores_price_and_liquidity_side() -> None:
    model = PerContractFeeModel(Money.of("1.25", USD))
    assert fee(model, FUTURE_LIKE, "3", "1.00", MAKER) == fee(model, FUTURE_LIKE, "3", "999.00", TAKER)
    assert fee(model, FUTURE_LIKE, "3", "1.00") == Money.of("3.75", USD)


@pytest.mark.parametrize("legs", [0, -1, True, 1.5])
def test_per_contract_legs_must_be_a_whole_number_of_at_least_one(legs: Any) -> None:
    with pytest.raises(ValueError, match="legs"):
        PerContractFeeModel(Money.of(1, USD), legs=legs)


def test_check_54_maker_taker_fee_is_qty_times_price_times_multiplier_times_rate() -> None:
    """3 x 1,234.56 x 10 = 37,036.80 USD notional: taker 0.05 % = 18.5184 -> 18.52 USD; the maker
    rate -0.025 % is a rebate of 9.2592 -> -9.26 USD."""
    model = MakerTakerFeeModel()
    assert fee(model, FUTURE_LIKE, "3", "1234.56", TAKER) == Money.of("18.52", USD)
    assert fee(model, FUTURE_LIKE, "3", "1234.56", MAKER) == Money.of("-9.26", USD)


def test_check_54_maker_taker_rounds_half_even_to_the_currency() -> None:
    """25 x 1.00 x 10 = 250.00 notional x 0.01 % (a maker rate of the instrument below) = 0.025 -> 0.02 USD
    (half-even; half-up would give 0.03). 100,000 USD/JPY at 96.711 x 0.002 % = 193.422 -> 193 JPY."""
    rebate_free = msgspec.structs.replace(FUTURE_LIKE, maker_fee=Decimal("0.0001"))
    assert fee(MakerTakerFeeModel(), rebate_free, "25", "1.00", MAKER) == Money.of("0.02", USD)
    assert fee(MakerTakerFeeModel(), USDJPY, "100000", "96.711") == Money.of(193, JPY)


def test_check_54_maker_taker_on_an_inverse_instrument_charges_the_base_currency() -> None:
    """10,000 contracts x 1 USD / 40,000.0 = 0.25 BTC notional x 0.075 % = 0.0001875 BTC."""
    assert fee(MakerTakerFeeModel(), BTCUSD_INVERSE, "10000", "40000.0") == Money.of("0.0001875", BTC)


# ---- through the venue: a two-part fill pays the fixed fee once or twice ------------------------------------
class BuyOnce(Strategy):
    """BUY LIMIT 200,000 at the ask on the first quote: 100,000 fills at once (taker), the rest on the next quote."""

    def __init__(self) -> None:
        super().__init__(StrategyConfig(strategy_id="FEES-001"))
        self.orders: list[Order] = []

    def on_start(self) -> None:
        self.subscribe_quote_ticks(AUDUSD.id)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        if not self.orders:
            order = self.order_factory.limit(AUDUSD.id, OrderSide.BUY, Quantity.from_int(200_000), tick.ask_price)
            self.orders.append(order)
            self.submit_order(order)


def run_two_part_fill(model: FeeModel) -> tuple[list[OrderFilled], Money]:
    engine = BacktestEngine()
    engine.add_venue(
        "SIM", OmsType.NETTING, AccountType.MARGIN, [Money.of(1_000_000, USD)], base_currency=USD, fee_model=model
    )
    engine.add_instrument(AUDUSD)
    size = Quantity.from_int(100_000)
    bid, ask = Price.from_str("1.00000"), Price.from_str("1.00002")
    engine.add_data([QuoteTick.of(AUDUSD.id, bid, ask, size, size, NOW + i * 1_000_000_000) for i in range(2)])
    strategy = BuyOnce()
    engine.add_strategy(strategy)
    engine.run()
    order = strategy.orders[0]
    assert order.status is OrderStatus.FILLED
    fills = [e for e in order.events if isinstance(e, OrderFilled)]
    account = engine.portfolio.account("SIM")
    assert account is not None
    return fills, account.balance_total()


def test_check_54_fixed_fee_once_through_the_venue() -> None:
    fills, balance = run_two_part_fill(FixedFeeModel(Money.of(1, USD), charge_commission_once=True))
    assert [f.commission for f in fills] == [Money.of(1, USD), Money.of(0, USD)]
    assert balance == Money.of("999999.00", USD)  # margin account, no PnL yet: only the 1.00 commission


def test_check_54_fixed_fee_every_fill_through_the_venue() -> None:
    fills, balance = run_two_part_fill(FixedFeeModel(Money.of(1, USD), charge_commission_once=False))
    assert [f.commission for f in fills] == [Money.of(1, USD), Money.of(1, USD)]
    assert balance == Money.of("999998.00", USD)


# ---- [backtest.fee_model] -----------------------------------------------------------------------------------
def load(table: dict[str, Any]) -> FeeModelConfig:
    data = {"strategy": {}, "backtest": {"venue": {"starting_balances": ["1 USD"]}, "fee_model": table}}
    run = config_from_dict(data, RunFile, source="run.toml")
    assert run.backtest is not None and run.backtest.fee_model is not None
    return run.backtest.fee_model


def test_fee_model_table_selects_each_model() -> None:
    assert isinstance(fee_model_from_config(None, "run.toml"), MakerTakerFeeModel)
    assert isinstance(fee_model_from_config(load({}), "run.toml"), MakerTakerFeeModel)
    fixed = fee_model_from_config(load({"kind": "fixed", "commission": "1 USD"}), "run.toml")
    assert isinstance(fixed, FixedFeeModel) and fixed.charge_commission_once and fixed.amount == Money.of(1, USD)
    every = fee_model_from_config(
        load({"kind": "fixed", "commission": "1 USD", "charge_commission_once": False}), "run.toml"
    )
    assert isinstance(every, FixedFeeModel) and not every.charge_commission_once
    per = fee_model_from_config(load({"kind": "per_contract", "commission": "1.25 USD", "legs": 3}), "run.toml")
    assert isinstance(per, PerContractFeeModel)
    assert fee(per, SPREAD, "2", "1.00") == Money.of("7.50", USD)


@pytest.mark.parametrize(
    ("table", "field", "reason"),
    [
        ({"kind": "flat"}, "kind", "expected one of: fixed, maker_taker, per_contract"),
        ({"kind": "fixed"}, "commission", "a fixed fee model needs one"),
        ({"kind": "per_contract"}, "commission", "a per_contract fee model needs one"),
        ({"commission": "1 USD"}, "commission", "has no meaning for kind maker_taker"),
        ({"kind": "fixed", "commission": "-1 USD"}, "commission", "must not be negative"),
        ({"kind": "fixed", "commission": "1 USD", "legs": 3}, "legs", "only a per_contract fee model counts legs"),
        ({"kind": "per_contract", "commission": "1 USD", "legs": 0}, "legs", "must be at least 1"),
    ],
    ids=[
        "unknown-kind",
        "fixed-without-commission",
        "per-contract-without",
        "maker-taker-with",
        "negative",
        "legs",
        "0",
    ],
)
def test_fee_model_table_errors_name_the_field(table: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(table)
    assert info.value.field == f"backtest.fee_model.{field}"
    assert reason in info.value.reason


def test_an_unknown_kind_built_in_python_is_refused_by_the_runner() -> None:
    config = FeeModelConfig(kind="flat", commission=Money.of(1, USD))  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as info:
        fee_model_from_config(config, "run.toml")
    assert info.value.field == "backtest.fee_model.kind" and "maker_taker, fixed, per_contract" in info.value.reason
