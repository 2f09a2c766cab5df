"""Execution reports: what a venue says about orders, fills and positions, for reconciliation.

Execution clients produce these from venue queries: `OrderStatusReport` (one order's state),
`FillReport` (one execution), `PositionStatusReport` (one position) and `ExecutionMassStatus`
(all three for one client, built from concurrent queries). The live execution engine compares
them with its cache at start and continuously (see `specs/reconciliation.md`). Reports are frozen
msgspec structs that encode to JSON/msgpack; quantities and prices are exact.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from toolkit.model.enums import (
    ContingencyType,
    LiquiditySide,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionSide,
    TimeInForce,
    TrailingOffsetType,
    TriggerType,
)
from toolkit.model.identifiers import (
    AccountId,
    ClientId,
    ClientOrderId,
    InstrumentId,
    OrderListId,
    PositionId,
    TradeId,
    Venue,
    VenueOrderId,
)
from toolkit.model.objects import FIXED_SCALE, Money, Price, Quantity

OPEN_REPORT_STATUSES = frozenset(
    {
        OrderStatus.ACCEPTED,
        OrderStatus.TRIGGERED,
        OrderStatus.PENDING_CANCEL,
        OrderStatus.PENDING_UPDATE,
        OrderStatus.PARTIALLY_FILLED,
    }
)


class OrderStatusReport(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """The venue's view of one order."""

    account_id: AccountId
    instrument_id: InstrumentId
    venue_order_id: VenueOrderId
    order_side: OrderSide
    order_type: OrderType
    time_in_force: TimeInForce
    order_status: OrderStatus
    quantity: Quantity
    filled_qty: Quantity
    ts_accepted: int
    ts_last: int
    ts_init: int
    report_id: str = ""
    client_order_id: ClientOrderId | None = None
    order_list_id: OrderListId | None = None
    venue_position_id: PositionId | None = None
    linked_order_ids: tuple[ClientOrderId, ...] = ()
    parent_order_id: ClientOrderId | None = None
    contingency_type: ContingencyType = ContingencyType.NO_CONTINGENCY
    expire_time_ns: int = 0
    price: Price | None = None
    trigger_price: Price | None = None
    trigger_type: TriggerType = TriggerType.DEFAULT
    avg_px: Decimal | None = None
    post_only: bool = False
    reduce_only: bool = False
    cancel_reason: str | None = None
    ts_triggered: int = 0
    # Optional order parameters a venue may report (None: not reported or not used by the order type).
    display_qty: Quantity | None = None
    limit_offset: Decimal | None = None
    trailing_offset: Decimal | None = None
    trailing_offset_type: TrailingOffsetType | None = None
    activation_price: Price | None = None

    def __post_init__(self) -> None:
        if self.quantity.raw <= 0:
            raise ValueError(f"order report {self.venue_order_id}: quantity must be positive, got {self.quantity}")
        if self.filled_qty.raw < 0:
            raise ValueError(f"order report {self.venue_order_id}: filled_qty must not be negative")

    @property
    def leaves_qty(self) -> Quantity:
        return Quantity(max(self.quantity.raw - self.filled_qty.raw, 0), self.quantity.precision)

    @property
    def is_open(self) -> bool:
        return self.order_status in OPEN_REPORT_STATUSES


class FillReport(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """One execution as the venue reports it."""

    account_id: AccountId
    instrument_id: InstrumentId
    venue_order_id: VenueOrderId
    trade_id: TradeId
    order_side: OrderSide
    last_qty: Quantity
    last_px: Price
    commission: Money
    liquidity_side: LiquiditySide
    ts_event: int
    ts_init: int
    report_id: str = ""
    client_order_id: ClientOrderId | None = None
    venue_position_id: PositionId | None = None

    def __post_init__(self) -> None:
        if self.last_qty.raw <= 0:
            raise ValueError(f"fill report {self.trade_id}: last_qty must be positive, got {self.last_qty}")


class PositionStatusReport(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """The venue's view of one position (net per instrument, or one ticket when venue_position_id is set)."""

    account_id: AccountId
    instrument_id: InstrumentId
    position_side: PositionSide
    quantity: Quantity
    ts_last: int
    ts_init: int
    report_id: str = ""
    venue_position_id: PositionId | None = None
    avg_px_open: Decimal | None = None

    @property
    def signed_decimal_qty(self) -> Decimal:
        qty = Decimal(self.quantity.raw) / FIXED_SCALE
        return -qty if self.position_side is PositionSide.SHORT else qty

    @classmethod
    def create_flat(
        cls, account_id: AccountId, instrument_id: InstrumentId, size_precision: int, ts: int
    ) -> PositionStatusReport:
        return cls(
            account_id=account_id,
            instrument_id=instrument_id,
            position_side=PositionSide.FLAT,
            quantity=Quantity(0, size_precision),
            ts_last=ts,
            ts_init=ts,
        )


class ExecutionMassStatus(msgspec.Struct, kw_only=True):
    """Everything one execution client reports at once: orders by venue id (a later report with the same
    id replaces the earlier), fills by venue order id (in order), positions by instrument."""

    client_id: ClientId
    account_id: AccountId
    venue: Venue | None
    ts_init: int
    report_id: str = ""
    order_reports: dict[VenueOrderId, OrderStatusReport] = msgspec.field(default_factory=dict)
    fill_reports: dict[VenueOrderId, list[FillReport]] = msgspec.field(default_factory=dict)
    position_reports: dict[InstrumentId, list[PositionStatusReport]] = msgspec.field(default_factory=dict)

    def add_order_reports(self, reports: list[OrderStatusReport]) -> None:
        for report in reports:
            self.order_reports[report.venue_order_id] = report

    def add_fill_reports(self, reports: list[FillReport]) -> None:
        for report in reports:
            self.fill_reports.setdefault(report.venue_order_id, []).append(report)

    def add_position_reports(self, reports: list[PositionStatusReport]) -> None:
        for report in reports:
            self.position_reports.setdefault(report.instrument_id, []).append(report)
