"""The live execution engine: the kernel's execution engine plus reconciliation with the venue.

`LiveExecutionEngine` is the `ExecutionEngine` of a live node. At start, `reconcile_execution_state` asks every
execution client for its mass status and applies it (`specs/reconciliation.md` §2); at runtime
`reconcile_execution_report` applies single reports (answers to order queries, the continuous checks of
`toolkit.live.checks`). The decisions are the pure functions of `toolkit.live.reconciliation`; this class turns
them into order events and sends every one through `process()`, so orders, positions, accounts and strategies
see reconciled state exactly as they see live events (generated `OrderInitialized`/`OrderFilled` carry
`reconciliation=True`; a strategy hears only the events of its own orders, external ones belong to `EXTERNAL`).
It also keeps the activity tracking the continuous checks read (§3.0): local activity per order, recent fills,
position activity, retry and query counters, first inferred-fill times, and the venue order id index.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

import msgspec

from toolkit.engine import topics
from toolkit.engine.execution import ExecutionEngine
from toolkit.live.config import LiveExecEngineConfig
from toolkit.live.reconciliation import (
    TAG_RECONCILIATION,
    TAG_VENUE,
    AlignmentLeg,
    adjust_partial_window,
    avg_px_matches,
    deduplicate_order_reports,
    emits_triggered,
    external_order_claims,
    inferred_fill_liquidity,
    inferred_fill_price,
    inferred_trade_id,
    is_reconciliation_order,
    order_update_due,
    plan_position_alignment,
    quantize,
    synthetic_venue_order_id,
    to_decimal,
)
from toolkit.model.enums import OmsType, OrderStatus
from toolkit.model.events import (
    AccountState,
    OrderAccepted,
    OrderCanceled,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderInitialized,
    OrderRejected,
    OrderTriggered,
    OrderUpdated,
)
from toolkit.model.identifiers import (
    EXTERNAL_STRATEGY_ID,
    AccountId,
    ClientOrderId,
    InstrumentId,
    PositionId,
    StrategyId,
    TradeId,
    Venue,
)
from toolkit.model.instruments import CurrencyPair, Instrument
from toolkit.model.objects import FIXED_SCALE, Money, Price, Quantity
from toolkit.model.orders import LEGAL_TRANSITIONS, InvalidStateTransition, Order
from toolkit.model.position import position_id_for_netting
from toolkit.model.reports import ExecutionMassStatus, FillReport, OrderStatusReport, PositionStatusReport

if TYPE_CHECKING:
    from toolkit.core.cache import Cache
    from toolkit.core.clock import Clock
    from toolkit.core.log import Logger
    from toolkit.core.msgbus import MessageBus
    from toolkit.engine.portfolio import Portfolio
    from toolkit.live.clients import LiveExecutionClient
    from toolkit.model.position import Position

NANOS_PER_MIN = 60_000_000_000
RECENT_FILLS_TTL_NS = 60_000_000_000
"""How long a handled trade id stays in `recent_fills` (§3.0)."""
INFLIGHT_TIMEOUT_REASON = "UNKNOWN"

ExecutionReport = OrderStatusReport | FillReport | PositionStatusReport


def _exact(qty_raw: int) -> Decimal:
    return Decimal(qty_raw) / FIXED_SCALE


class LiveExecutionEngine(ExecutionEngine):
    """The execution engine of a live node, with reconciliation; see the module docstring.

    `config` holds the reconciliation options (defaults when None). `strategy_claims` maps an instrument to the
    strategy that takes over its external orders (built from the strategies' `external_order_claims` with
    `external_order_claims(...)`, or added one strategy at a time with `register_external_order_claims`, which
    raises ValueError naming both strategies on a second claim).
    """

    def __init__(
        self,
        clock: Clock,
        msgbus: MessageBus,
        cache: Cache,
        portfolio: Portfolio,
        log: Logger,
        config: LiveExecEngineConfig | None = None,
        strategy_claims: dict[InstrumentId, StrategyId] | None = None,
    ) -> None:
        super().__init__(clock, msgbus, cache, portfolio, log)
        self.config = config if config is not None else LiveExecEngineConfig()
        self.strategy_claims: dict[InstrumentId, StrategyId] = {}
        for instrument_id, strategy_id in (strategy_claims or {}).items():
            self.register_external_order_claims(strategy_id, [instrument_id])
        # Tracking read by the continuous checks (§3.0).
        self.order_local_activity: dict[ClientOrderId, int] = {}
        self.recent_fills: dict[TradeId, int] = {}
        self.position_activity: dict[tuple[InstrumentId, AccountId], int] = {}
        self.order_retries: dict[ClientOrderId, int] = {}
        self.order_last_query: dict[ClientOrderId, int] = {}
        self.inferred_fill_ts: dict[ClientOrderId, int] = {}
        self.is_shutting_down = False
        self.report_count = 0
        self._startup_done: asyncio.Event | None = None
        self._report_clients: dict[Venue, LiveExecutionClient] = {}
        self._included = frozenset(self.config.reconciliation_instrument_ids or ())
        self._filtered_ids = frozenset(self.config.filtered_client_order_ids or ())

    # ---- setup -------------------------------------------------------------------------------
    def register_external_order_claims(self, strategy_id: StrategyId, instrument_ids: Iterable[InstrumentId]) -> None:
        """Let `strategy_id` own the external orders of `instrument_ids`; a claim by another strategy is an error."""
        pairs = [(s, [i]) for i, s in self.strategy_claims.items()]
        self.strategy_claims = external_order_claims([*pairs, (StrategyId(strategy_id), list(instrument_ids))])

    @property
    def startup_done(self) -> asyncio.Event:
        """Set when startup reconciliation has finished (successfully or not); the continuous checks wait on it."""
        if self._startup_done is None:
            self._startup_done = asyncio.Event()
        return self._startup_done

    def on_start(self) -> None:
        """Engine start: clear the startup signal (the next `reconcile_execution_state` sets it again)."""
        self.startup_done.clear()

    def reset(self) -> None:
        super().reset()
        for table in (
            self.order_local_activity,
            self.recent_fills,
            self.position_activity,
            self.order_retries,
            self.order_last_query,
            self.inferred_fill_ts,
        ):
            table.clear()
        self.report_count = 0

    def instrument_included(self, instrument_id: InstrumentId) -> bool:
        """The include filter `reconciliation_instrument_ids` (empty or None = every instrument)."""
        return not self._included or instrument_id in self._included

    def execution_clients(self) -> list[LiveExecutionClient]:
        """The live execution clients known to the engine (registered, or passed to startup reconciliation)."""
        found = {client.venue: client for client in self._clients.values() if hasattr(client, "generate_mass_status")}
        return list({**self._report_clients, **found}.values())  # type: ignore[arg-type]

    # ---- tracking ----------------------------------------------------------------------------
    def clear_order_tracking(self, client_order_id: ClientOrderId) -> None:
        """Forget the retry, query, activity and inferred-fill tracking of an order (it closed or was resolved)."""
        self.order_retries.pop(client_order_id, None)
        self.order_last_query.pop(client_order_id, None)
        self.order_local_activity.pop(client_order_id, None)
        self.inferred_fill_ts.pop(client_order_id, None)

    def prune_recent_fills(self, now: int, ttl_ns: int = RECENT_FILLS_TTL_NS) -> int:
        """Drop trade ids handled more than `ttl_ns` before `now`; returns how many were dropped."""
        stale = [trade_id for trade_id, ts in self.recent_fills.items() if now - ts > ttl_ns]
        for trade_id in stale:
            del self.recent_fills[trade_id]
        return len(stale)

    # ---- events ------------------------------------------------------------------------------
    def process(self, event: OrderEvent | AccountState) -> None:
        """Apply an event as the base engine does, and keep the tracking and the venue order id index current.

        An `OrderInitialized` adds its order to the cache (orders found by reconciliation). An event for an
        unknown client order id is logged; a fill among them goes through `reconcile_execution_report`.
        """
        if not isinstance(event, OrderEvent):
            super().process(event)
            return
        coid = event.client_order_id
        if type(event) is OrderInitialized:
            self._initialize_order(event)
            return
        order = self.cache.order(coid)
        if order is None:
            self.event_count += 1
            self._handle_unknown_order_event(event)
            return
        now = self.clock.timestamp_ns()
        self.order_local_activity[coid] = now
        super().process(event)
        if order.last_event is not event:
            return  # refused by the order's state machine (logged by the base engine)
        kind = type(event)
        if kind is OrderFilled:
            self.recent_fills[event.trade_id] = now  # type: ignore[attr-defined]
            self.position_activity[(event.instrument_id, event.account_id)] = event.ts_event  # type: ignore[attr-defined]
            self.cache.index_venue_order_id(event.venue_order_id, coid)  # type: ignore[attr-defined]
        elif kind is OrderAccepted:
            self.cache.index_venue_order_id(event.venue_order_id, coid)  # type: ignore[attr-defined]
        if order.is_closed:
            self.clear_order_tracking(coid)

    def _initialize_order(self, init: OrderInitialized) -> None:
        self.event_count += 1
        if self.cache.order_exists(init.client_order_id):
            self.log.warning("OrderInitialized for %s ignored: the order is already cached", init.client_order_id)
            return
        order = Order(init)
        self.cache.add_order(order, init.position_id)
        self.order_local_activity[init.client_order_id] = self.clock.timestamp_ns()
        self.msgbus.publish(topics.order_events_topic(init.strategy_id), init)

    def _handle_unknown_order_event(self, event: OrderEvent) -> None:
        if type(event) is OrderFilled:
            fill: OrderFilled = event  # type: ignore[assignment]
            self.log.warning(
                "fill %s for unknown order %s (venue order %s): reconciling it as a fill report",
                fill.trade_id,
                fill.client_order_id,
                fill.venue_order_id,
            )
            report = FillReport(
                account_id=fill.account_id,
                instrument_id=fill.instrument_id,
                venue_order_id=fill.venue_order_id,
                trade_id=fill.trade_id,
                order_side=fill.order_side,
                last_qty=fill.last_qty,
                last_px=fill.last_px,
                commission=fill.commission,
                liquidity_side=fill.liquidity_side,
                ts_event=fill.ts_event,
                ts_init=fill.ts_init,
                report_id=str(uuid.uuid4()),
                client_order_id=fill.client_order_id,
                venue_position_id=fill.position_id,
            )
            if not self.reconcile_execution_report(report):
                self.log.error("fill %s for unknown order %s could not be applied", fill.trade_id, fill.client_order_id)
            return
        self.log.error(
            "%s for unknown order %s ignored (the venue state is reconciled by the checks)",
            type(event).__name__,
            event.client_order_id,
        )

    def _apply(self, order: Order, event: OrderEvent) -> None:
        """Send a generated event through `process()`; raise when the order refused it.

        A generated event (other than an update) naming a venue order id different from the order's is refused
        (ValueError): a report about another venue order must not change this one.
        """
        vid = getattr(event, "venue_order_id", None)
        conflicting = vid is not None and order.venue_order_id is not None and vid != order.venue_order_id
        if conflicting and type(event) is not OrderUpdated:
            raise ValueError(
                f"order {order.client_order_id}: {type(event).__name__} for venue order id {vid}, "
                f"the order's is {order.venue_order_id}"
            )
        self.process(event)
        if order.last_event is not event:
            raise InvalidStateTransition(order.client_order_id, order.status, None, event)

    # ---- helpers for the continuous checks -----------------------------------------------------
    def generate_order_rejected(self, order: Order, reason: str, ts: int) -> None:
        self.process(
            OrderRejected(
                trader_id=order.trader_id,
                strategy_id=order.strategy_id,
                instrument_id=order.instrument_id,
                client_order_id=order.client_order_id,
                account_id=self._account_id_for(order),
                reason=reason,
                ts_event=ts,
                ts_init=self.clock.timestamp_ns(),
            )
        )

    def generate_order_canceled(self, order: Order, ts: int) -> None:
        self.process(
            OrderCanceled(
                trader_id=order.trader_id,
                strategy_id=order.strategy_id,
                instrument_id=order.instrument_id,
                client_order_id=order.client_order_id,
                venue_order_id=order.venue_order_id,
                account_id=order.account_id,
                ts_event=ts,
                ts_init=self.clock.timestamp_ns(),
            )
        )

    def resolve_inflight_order(self, order: Order) -> None:
        """In-flight retries spent (§3.1): SUBMITTED -> REJECTED ("UNKNOWN"), PENDING_* -> CANCELED; clear tracking."""
        now = self.clock.timestamp_ns()
        status = order.status
        if status is OrderStatus.SUBMITTED:
            self.generate_order_rejected(order, INFLIGHT_TIMEOUT_REASON, now)
        elif status in (OrderStatus.PENDING_UPDATE, OrderStatus.PENDING_CANCEL):
            self.generate_order_canceled(order, now)
        else:
            self.log.info("in-flight order %s is now %s: nothing to resolve", order.client_order_id, status.value)
        self.clear_order_tracking(order.client_order_id)

    def _account_id_for(self, order: Order) -> AccountId:
        if order.account_id is not None:
            return order.account_id
        account = self.cache.account_for_venue(order.instrument_id.venue)
        return account.id if account is not None else AccountId(f"{order.instrument_id.venue}-UNKNOWN")

    # ---- startup -----------------------------------------------------------------------------
    async def reconcile_execution_state(self, clients: list[LiveExecutionClient], timeout_secs: float = 10.0) -> bool:
        """Startup reconciliation (§2.1): every client's mass status applied; True when all succeeded.

        The startup signal (`startup_done`) is set in every case. `timeout_secs` is only checked to be positive
        (the caller bounds the whole call); whether to reconcile at all is the caller's decision.
        """
        if timeout_secs <= 0:
            raise ValueError(f"timeout_secs must be positive, got {timeout_secs}")
        try:
            if not clients:
                return True
            for client in clients:
                self._report_clients[client.venue] = client
            self._index_cached_venue_order_ids()
            lookback = self.config.reconciliation_lookback_mins
            lookback = lookback if lookback and lookback > 0 else None
            answers = await asyncio.gather(
                *(client.generate_mass_status(lookback) for client in clients), return_exceptions=True
            )
            results: list[bool] = []
            for client, mass in zip(clients, answers, strict=True):
                if isinstance(mass, BaseException) or mass is None:
                    reason = repr(mass) if isinstance(mass, BaseException) else "no mass status"
                    self.log.error("reconciliation of %s failed: %s", client.client_id, reason)
                    results.append(False)
                    continue
                result = self.reconcile_execution_mass_status(mass)
                if not result and self.config.filter_position_reports:
                    results.append(False)
                    continue
                result = await self._reconcile_unreported_positions(client, mass) and result
                results.append(result)
                self._publish_mass_status(mass)
                await self._resync_account(client)
            return all(results)
        finally:
            self.startup_done.set()

    def _index_cached_venue_order_ids(self) -> None:
        for order in self.cache.orders():
            if order.venue_order_id is not None:
                self.cache.index_venue_order_id(order.venue_order_id, order.client_order_id, overwrite=False)

    async def _reconcile_unreported_positions(self, client: LiveExecutionClient, mass: ExecutionMassStatus) -> bool:
        """The extra pass of §2.1: cached open positions of the account the mass status said nothing about."""
        reported = set(mass.position_reports)
        instrument_ids = sorted(
            {
                p.instrument_id
                for p in self.cache.positions_open()
                if p.account_id == client.account_id and p.instrument_id not in reported
            }
        )
        result = True
        for instrument_id in instrument_ids:
            if not self.instrument_included(instrument_id):
                continue
            try:
                reports = await client.generate_position_status_reports(instrument_id=instrument_id)
            except Exception as exc:
                self.log.error("position query for %s at %s failed: %r", instrument_id, client.client_id, exc)
                result = False
                continue
            for report in reports or ():
                result = self.reconcile_position_report(report) and result
        return result

    async def _resync_account(self, client: LiveExecutionClient) -> None:
        try:
            state = await client.request_account_state()
        except Exception as exc:
            self.log.warning("account state of %s not refreshed after reconciliation: %r", client.client_id, exc)
            return
        if state is not None:
            self.process(state)

    def _publish_mass_status(self, mass: ExecutionMassStatus) -> None:
        self.msgbus.publish(f"reports.execution.{mass.venue or mass.client_id}", mass)

    def reconcile_execution_mass_status(self, mass: ExecutionMassStatus) -> bool:
        """Apply one client's mass status (§2.2): order reports with their fills, then positions."""
        config = self.config
        mass = adjust_partial_window(mass, self.cache, self._included, self.log)
        mass = deduplicate_order_reports(mass, self.cache, self.log)
        results: list[bool] = []
        seen_trades: set[TradeId] = set()
        reconciled: list[OrderStatusReport] = []
        for venue_order_id, report in mass.order_reports.items():
            if not self.instrument_included(report.instrument_id):
                continue
            if report.client_order_id is not None and report.client_order_id in self._filtered_ids:
                continue
            fills = mass.fill_reports.get(venue_order_id, [])
            for fill in fills:
                if fill.trade_id in seen_trades:
                    self.log.warning("trade %s reported for more than one order (%s)", fill.trade_id, venue_order_id)
            seen_trades.update(fill.trade_id for fill in fills)
            try:
                ok, resolved = self._reconcile_order_report(report, fills, True)
            except (InvalidStateTransition, ValueError) as exc:
                self.log.error("order report %s could not be applied: %s", venue_order_id, exc)
                ok, resolved = False, report
            results.append(ok)
            coid = resolved.client_order_id
            loaded = coid is not None and self.cache.instrument(resolved.instrument_id) is not None
            if loaded and self.cache.order(coid) is not None:  # type: ignore[arg-type]
                reconciled.append(resolved)
                if ok:
                    self.cache.index_venue_order_id(venue_order_id, coid, overwrite=False)  # type: ignore[arg-type]
        if not config.filter_position_reports:
            for instrument_id, reports in mass.position_reports.items():
                if not self.instrument_included(instrument_id):
                    continue
                for position_report in reports:
                    results.append(self.reconcile_position_report(position_report))
        self._publish_mass_status(mass)
        self._validate_reconciled(reconciled)
        return all(results)

    def _validate_reconciled(self, reports: list[OrderStatusReport]) -> None:
        """§2.9: warn about a venue order id reported twice or not indexed to its order (logging only)."""
        counts = Counter(r.venue_order_id for r in reports)
        for report in reports:
            vid = report.venue_order_id
            if counts[vid] > 1:
                self.log.warning("venue order id %s reported for more than one order", vid)
            indexed = self.cache.client_order_id_for(vid)
            if indexed is None:
                self.log.warning("venue order id %s of %s is not indexed", vid, report.client_order_id)
            elif indexed != report.client_order_id:
                self.log.warning(
                    "venue order id %s is indexed to %s, reported for %s", vid, indexed, report.client_order_id
                )

    # ---- runtime -----------------------------------------------------------------------------
    def reconcile_execution_report(self, report: ExecutionReport) -> bool:
        """A single runtime report (§2.10): an order status, a fill or a position; True when it was applied."""
        self.report_count += 1
        instrument_id = report.instrument_id
        if not self.instrument_included(instrument_id):
            return True
        if isinstance(report, OrderStatusReport):
            result = self.reconcile_order_report(report, [])
        elif isinstance(report, FillReport):
            result = self.reconcile_fill_report_single(report)
        elif isinstance(report, PositionStatusReport):
            result = self.reconcile_position_report(report)
        else:
            self.log.error("unknown execution report %s", type(report).__name__)
            return False
        self.msgbus.publish(f"reports.execution.{instrument_id.venue}.{instrument_id.symbol}", report)
        return result

    # ---- order reports -----------------------------------------------------------------------
    def reconcile_order_report(
        self, report: OrderStatusReport, fills: list[FillReport] | None = None, is_external: bool = True
    ) -> bool:
        """Apply one order status report with its fills (§2.5); False when it cannot be applied."""
        try:
            return self._reconcile_order_report(report, list(fills or ()), is_external)[0]
        except (InvalidStateTransition, ValueError) as exc:
            self.log.error("order report %s could not be applied: %s", report.venue_order_id, exc)
            return False

    def _resolve_client_order_id(self, report: OrderStatusReport) -> ClientOrderId:
        if report.client_order_id is not None:
            return report.client_order_id
        vid = report.venue_order_id
        indexed = self.cache.client_order_id_for(vid)
        if indexed is not None:
            return indexed
        for order in self.cache.orders(
            venue=report.instrument_id.venue, instrument_id=report.instrument_id, side=report.order_side
        ):
            if order.venue_order_id == vid:
                self.cache.index_venue_order_id(vid, order.client_order_id)
                return order.client_order_id
        return ClientOrderId(str(uuid.uuid4()))

    def _reconcile_order_report(
        self, report: OrderStatusReport, fills: list[FillReport], is_external: bool
    ) -> tuple[bool, OrderStatusReport]:
        if self.is_shutting_down:
            return True, report
        coid = self._resolve_client_order_id(report)
        if report.client_order_id != coid:
            report = msgspec.structs.replace(report, client_order_id=coid)
        self.order_retries.pop(coid, None)
        self.order_last_query.pop(coid, None)
        order = self.cache.order(coid)
        if order is None:
            if self.cache.instrument(report.instrument_id) is None:
                self.log.info("report for %s deferred: instrument %s not loaded", coid, report.instrument_id)
                return True, report
            order = self._create_order(report, is_external)
            if order is None:
                return True, report
        instrument = self.cache.instrument(order.instrument_id)
        if instrument is None:
            self.log.info("report for %s deferred: instrument %s not loaded", coid, order.instrument_id)
            return True, report
        return self._apply_order_report(order, report, fills, instrument), report

    def _create_order(self, report: OrderStatusReport, is_external: bool) -> Order | None:
        owner = self.strategy_claims.get(report.instrument_id)
        if owner is not None:
            strategy_id, tags = owner, ()
        elif is_external and self.config.filter_unclaimed_external_orders:
            self.log.info("unclaimed external order %s filtered", report.venue_order_id)
            return None
        else:
            strategy_id = EXTERNAL_STRATEGY_ID
            tags = (TAG_VENUE,) if is_external else (TAG_RECONCILIATION,)
        coid = report.client_order_id
        assert coid is not None
        init = OrderInitialized(
            trader_id=self.msgbus.trader_id,
            strategy_id=strategy_id,
            instrument_id=report.instrument_id,
            client_order_id=coid,
            order_side=report.order_side,
            order_type=report.order_type,
            quantity=report.quantity,
            time_in_force=report.time_in_force,
            price=report.price,
            trigger_price=report.trigger_price,
            trigger_type=report.trigger_type,
            expire_time_ns=report.expire_time_ns,
            post_only=report.post_only,
            reduce_only=report.reduce_only,
            contingency_type=report.contingency_type,
            order_list_id=report.order_list_id,
            linked_order_ids=report.linked_order_ids,
            parent_order_id=report.parent_order_id,
            position_id=report.venue_position_id,
            tags=tags,
            reconciliation=True,
            ts_event=report.ts_accepted,
            ts_init=self.clock.timestamp_ns(),
        )
        self.process(init)
        order = self.cache.order(coid)
        if order is not None:
            self.cache.index_venue_order_id(report.venue_order_id, coid)
            self.log.info(
                "order %s (%s) created from the venue's report for %s", coid, strategy_id, report.venue_order_id
            )
        return order

    def _apply_order_report(
        self, order: Order, report: OrderStatusReport, fills: list[FillReport], instrument: Instrument
    ) -> bool:
        status = report.order_status
        S = OrderStatus  # noqa: N806
        if status is S.SUBMITTED:
            # The venue holds the order without working it (a bracket exit waiting for its entry to fill):
            # it is known there and still in flight; its acceptance comes as an event when it is released.
            return True
        if status is S.REJECTED:
            if order.status is not S.REJECTED:
                self._apply(order, self._rejected(order, report))
            return True
        if status is S.ACCEPTED:
            if order.status is not S.ACCEPTED:
                self._apply(order, self._accepted(order, report))
            self._update_if_due(order, report)
            return True
        if order.status in (S.INITIALIZED, S.SUBMITTED):
            self._apply(order, self._accepted(order, report))
        self._update_if_due(order, report)
        if status is S.TRIGGERED:
            if order.status is not S.TRIGGERED and emits_triggered(order.order_type):
                self._apply(order, self._triggered(order, report))
            return True
        if status in (S.CANCELED, S.EXPIRED):
            if order.status is not status and order.is_open:
                if report.ts_triggered > 0 and S.TRIGGERED in LEGAL_TRANSITIONS[order.status]:
                    self._apply(order, self._triggered(order, report))
                for fill in fills:
                    self.reconcile_fill_report(order, fill)
                terminal = OrderCanceled if status is S.CANCELED else OrderExpired
                self._apply(
                    order,
                    terminal(
                        **self._order_identity(order),
                        venue_order_id=report.venue_order_id,
                        account_id=report.account_id,
                        ts_event=report.ts_last,
                        ts_init=self.clock.timestamp_ns(),
                    ),
                )
            return True
        for fill in fills:
            self.reconcile_fill_report(order, fill)
        return self._check_fill_quantity(order, report, instrument)

    def _update_if_due(self, order: Order, report: OrderStatusReport) -> None:
        if order.is_closed or not order_update_due(order, report):
            return
        quantity = report.quantity if report.quantity.raw >= order.filled_qty.raw else order.quantity
        self._apply(
            order,
            OrderUpdated(
                **self._order_identity(order),
                quantity=quantity,
                price=report.price,
                trigger_price=report.trigger_price,
                account_id=report.account_id,
                ts_event=report.ts_last,
                ts_init=self.clock.timestamp_ns(),
            ),
        )

    def _check_fill_quantity(self, order: Order, report: OrderStatusReport, instrument: Instrument) -> bool:
        """§2.5 fill-quantity check: infer the missing fill when the venue has filled more than the cache."""
        if report.filled_qty.raw < order.filled_qty.raw:
            self.log.error(
                "order %s: venue filled %s is below the cached %s",
                order.client_order_id,
                report.filled_qty,
                order.filled_qty,
            )
            return False
        if report.filled_qty.raw == order.filled_qty.raw:
            return True
        if order.is_closed:
            self.log.warning(
                "order %s is %s: venue filled %s vs cached %s not inferred",
                order.client_order_id,
                order.status.value,
                report.filled_qty,
                order.filled_qty,
            )
            return True
        try:
            fill = self._inferred_fill(order, report, instrument)
        except ValueError as exc:
            self.log.error("order %s: no inferred fill: %s", order.client_order_id, exc)
            return False
        coid = order.client_order_id
        first = coid not in self.inferred_fill_ts
        if first:
            self.inferred_fill_ts[coid] = fill.ts_event
        try:
            self._apply(order, fill)
        except (InvalidStateTransition, ValueError) as exc:
            if first:
                self.inferred_fill_ts.pop(coid, None)
            self.log.error("order %s: inferred fill refused: %s", coid, exc)
            return False
        self.log.warning(
            "order %s: inferred fill %s @ %s (venue filled %s)", coid, fill.last_qty, fill.last_px, report.filled_qty
        )
        if report.avg_px is not None and order.avg_px is not None and report.avg_px != order.avg_px:
            self.log.info("order %s: avg_px %s differs from the venue's %s", coid, order.avg_px, report.avg_px)
        return True

    def _inferred_fill(self, order: Order, report: OrderStatusReport, instrument: Instrument) -> OrderFilled:
        size_precision, price_precision = instrument.size_precision, instrument.price_precision
        gap = quantize(to_decimal(report.filled_qty) - to_decimal(order.filled_qty), size_precision)
        if gap <= 0:
            raise ValueError(f"fill gap {gap} rounds to nothing at size precision {size_precision}")
        last_qty = Quantity.of(gap, size_precision)
        price = inferred_fill_price(
            order.filled_qty, order.avg_px, report.filled_qty, report.avg_px, report.price, price_precision
        )
        last_px = Price.of(price, price_precision)
        liquidity = inferred_fill_liquidity(order.order_type, report.post_only)
        commission = self._commission(instrument, last_qty, last_px, liquidity)
        position_id = self._inferred_position_id(order, report)
        trade_id = inferred_trade_id(
            report.account_id,
            order.instrument_id,
            order.client_order_id,
            report.venue_order_id,
            order.side,
            order.order_type,
            report.filled_qty,
            last_qty,
            last_px,
            position_id,
            report.ts_last,
        )
        return OrderFilled(
            **self._order_identity(order),
            venue_order_id=report.venue_order_id,
            account_id=report.account_id,
            trade_id=trade_id,
            order_side=order.side,
            order_type=order.order_type,
            last_qty=last_qty,
            last_px=last_px,
            currency=instrument.quote_currency,
            commission=commission,
            liquidity_side=liquidity,
            position_id=position_id,
            reconciliation=True,
            ts_event=report.ts_last,
            ts_init=self.clock.timestamp_ns(),
        )

    def _inferred_position_id(self, order: Order, report: OrderStatusReport) -> PositionId:
        """The venue's position, else the order's, else the OMS's netting id (`{instrument}-EXTERNAL` for
        external orders), else `{instrument}-EXTERNAL`."""
        if report.venue_position_id is not None:
            return report.venue_position_id
        if order.position_id is not None:
            return order.position_id
        known = self.cache.position_id_for_order(order.client_order_id)
        if known is not None:
            return known
        if self._oms_type(order) is OmsType.NETTING:
            return position_id_for_netting(order.instrument_id, order.strategy_id)
        return PositionId(f"{order.instrument_id}-{EXTERNAL_STRATEGY_ID}")

    def _commission(self, instrument: Instrument, qty: Quantity, px: Price, liquidity: object) -> Money:
        client = self._clients.get(instrument.id.venue) or self._report_clients.get(instrument.id.venue)
        calculate = getattr(client, "calculate_commission", None)
        if calculate is not None:
            try:
                commission = calculate(instrument, qty, px, liquidity)
            except Exception as exc:
                self.log.warning("commission of an inferred fill not calculated: %r", exc)
            else:
                if isinstance(commission, Money):
                    return commission
        return Money(0, instrument.quote_currency)

    # ---- fill reports ------------------------------------------------------------------------
    def reconcile_fill_report(self, order: Order, report: FillReport) -> bool:
        """Apply one fill report to a known order (§2.6); True when applied or already covered."""
        coid = order.client_order_id
        inferred_ts = self.inferred_fill_ts.get(coid)
        if inferred_ts is not None and report.ts_event < inferred_ts:
            self.log.info("fill %s of %s predates its inferred fill: skipped", report.trade_id, coid)
            return True
        if report.trade_id in order.trade_ids:
            self._compare_known_fill(order, report)
            return True
        if order.filled_qty.raw + report.last_qty.raw > order.quantity.raw:
            if not self.config.allow_overfills:
                self.log.error(
                    "fill %s of %s %s would overfill %s (filled %s): refused",
                    report.trade_id,
                    report.last_qty,
                    coid,
                    order.quantity,
                    order.filled_qty,
                )
                return False
            self.log.warning("fill %s overfills order %s (allow_overfills)", report.trade_id, coid)
        instrument = self.cache.instrument(order.instrument_id)
        currency = instrument.quote_currency if instrument is not None else report.commission.currency
        fill = OrderFilled(
            **self._order_identity(order),
            venue_order_id=report.venue_order_id,
            account_id=report.account_id,
            trade_id=report.trade_id,
            order_side=order.side,
            order_type=order.order_type,
            last_qty=report.last_qty,
            last_px=report.last_px,
            currency=currency,
            commission=report.commission,
            liquidity_side=report.liquidity_side,
            position_id=report.venue_position_id,
            reconciliation=True,
            ts_event=report.ts_event,
            ts_init=self.clock.timestamp_ns(),
        )
        if report.ts_event < order.ts_last:
            self.log.info("fill %s of %s is older than the order's last event", report.trade_id, coid)
        try:
            self._apply(order, fill)
        except (InvalidStateTransition, ValueError) as exc:
            self.log.error("fill %s of %s refused: %s", report.trade_id, coid, exc)
            return False
        return True

    def _compare_known_fill(self, order: Order, report: FillReport) -> None:
        for event in order.events:
            if type(event) is OrderFilled and event.trade_id == report.trade_id:
                cached: OrderFilled = event  # type: ignore[assignment]
                if (
                    cached.last_qty.raw != report.last_qty.raw
                    or cached.last_px.raw != report.last_px.raw
                    or cached.commission.raw != report.commission.raw
                    or cached.commission.currency.code != report.commission.currency.code
                    or cached.liquidity_side is not report.liquidity_side
                    or cached.ts_event != report.ts_event
                ):
                    self.log.warning(
                        "fill %s of %s differs from the venue's report: the cached fill is kept",
                        report.trade_id,
                        order.client_order_id,
                    )
                return

    def reconcile_fill_report_single(self, report: FillReport) -> bool:
        """A fill report on its own (runtime, position check): False while its order is not known yet."""
        if self.is_shutting_down or not self.instrument_included(report.instrument_id):
            return True
        coid = self.cache.client_order_id_for(report.venue_order_id)
        if coid is None:
            self.log.info("fill %s for unknown venue order %s deferred", report.trade_id, report.venue_order_id)
            return False
        order = self.cache.order(coid)
        if order is None:
            order = next((o for o in self.cache.orders() if o.venue_order_id == report.venue_order_id), None)
            if order is None:
                self.log.info("fill %s: order of venue order %s not cached", report.trade_id, report.venue_order_id)
                return False
        if report.client_order_id is not None and report.client_order_id != order.client_order_id:
            self.log.warning(
                "fill %s names %s but venue order %s belongs to %s: skipped",
                report.trade_id,
                report.client_order_id,
                report.venue_order_id,
                order.client_order_id,
            )
            return True
        if self.cache.instrument(order.instrument_id) is None:
            return True
        return self.reconcile_fill_report(order, report)

    # ---- positions ---------------------------------------------------------------------------
    def reconcile_position_report(self, report: PositionStatusReport) -> bool:
        """Align the cached position(s) with the venue's report (§2.7): NETTING, or HEDGING with a venue id."""
        if self.is_shutting_down or not self.instrument_included(report.instrument_id):
            return True
        if report.venue_position_id is not None:
            return self._reconcile_hedging_position(report)
        return self._reconcile_netting_position(report)

    def _reconcile_netting_position(self, report: PositionStatusReport) -> bool:
        instrument = self.cache.instrument(report.instrument_id)
        if instrument is None:
            return True
        positions = [
            p
            for p in self.cache.positions_open(instrument_id=report.instrument_id)
            if p.account_id == report.account_id
        ]
        if len({p.strategy_id for p in positions}) > 1:
            self.log.warning(
                "split ownership: %s on %s is held by %s",
                report.instrument_id,
                report.account_id,
                ", ".join(sorted({str(p.strategy_id) for p in positions})),
            )
        cached = sum((_exact(p.signed_qty_raw) for p in positions), Decimal(0))
        venue = report.signed_decimal_qty
        cached_avg = _weighted_avg_open(positions)
        if cached == venue:
            self._warn_avg_mismatch(report, cached_avg)
            return True
        if not self.config.generate_missing_orders:
            self.log.warning(
                "position %s on %s: cached %s, venue %s (generate_missing_orders is off)",
                report.instrument_id,
                report.account_id,
                cached,
                venue,
            )
            return True
        return self._align(report, instrument, cached, cached_avg, venue, split_crossing=True)

    def _reconcile_hedging_position(self, report: PositionStatusReport) -> bool:
        instrument = self.cache.instrument(report.instrument_id)
        if instrument is None:
            return True
        position_id = PositionId(report.venue_position_id)  # type: ignore[arg-type]
        position = self.cache.position(position_id)
        venue = report.signed_decimal_qty
        if position is None:
            if venue == 0:
                return True
            cached, cached_avg = Decimal(0), None
        else:
            cached = _exact(position.signed_qty_raw)
            cached_avg = _weighted_avg_open([position])
            if cached == venue:
                self._warn_avg_mismatch(report, cached_avg)
                return True
        if not self.config.generate_missing_orders:
            self.log.error(
                "hedge position %s: cached %s, venue %s (generate_missing_orders is off)", position_id, cached, venue
            )
            return False
        return self._align(report, instrument, cached, cached_avg, venue, split_crossing=False)

    def _warn_avg_mismatch(self, report: PositionStatusReport, cached_avg: Decimal | None) -> None:
        venue_avg = report.avg_px_open
        if venue_avg and cached_avg is not None and not avg_px_matches(cached_avg, venue_avg):
            self.log.warning(
                "position %s: cached avg_px_open %s differs from the venue's %s",
                report.instrument_id,
                cached_avg,
                venue_avg,
            )

    def _align(
        self,
        report: PositionStatusReport,
        instrument: Instrument,
        cached: Decimal,
        cached_avg: Decimal | None,
        venue: Decimal,
        split_crossing: bool,
    ) -> bool:
        quote = self.cache.quote_tick(instrument.id)
        bid = None if quote is None else _exact(quote.bid_raw)
        ask = None if quote is None else _exact(quote.ask_raw)
        plan = plan_position_alignment(
            cached,
            cached_avg,
            venue,
            report.avg_px_open,
            instrument.size_precision,
            instrument.price_precision,
            bid=bid,
            ask=ask,
            close_price_fallback=isinstance(instrument, CurrencyPair),
            split_crossing=split_crossing,
        )
        if not plan.complete:
            self.log.error(
                "position %s: no price for a leg of the %s -> %s alignment", report.instrument_id, cached, venue
            )
        result = plan.complete
        for leg in plan.legs:
            order_report = self._alignment_report(report, instrument, leg, reuse=split_crossing)
            self.log.warning(
                "position %s on %s: cached %s, venue %s: %s %s %s%s",
                report.instrument_id,
                report.account_id,
                cached,
                venue,
                order_report.order_type.value,
                leg.side.value,
                leg.quantity,
                "" if leg.price is None else f" @ {leg.price}",
            )
            result = self.reconcile_order_report(order_report, [], is_external=False) and result
        return result

    def _alignment_report(
        self, report: PositionStatusReport, instrument: Instrument, leg: AlignmentLeg, reuse: bool
    ) -> OrderStatusReport:
        quantity = Quantity.of(leg.quantity, instrument.size_precision)
        price = None if leg.price is None else Price.of(leg.price, instrument.price_precision)
        venue_order_id = synthetic_venue_order_id(
            report.account_id,
            report.instrument_id,
            leg.side,
            leg.order_type,
            quantity,
            price,
            report.venue_position_id,
            leg.leg,
            report.ts_last,
        )
        client_order_id = self._reusable_order(report, leg, quantity) if reuse else None
        return OrderStatusReport(
            account_id=report.account_id,
            instrument_id=report.instrument_id,
            venue_order_id=venue_order_id,
            order_side=leg.side,
            order_type=leg.order_type,
            time_in_force=leg.time_in_force,
            order_status=OrderStatus.FILLED,
            quantity=quantity,
            filled_qty=quantity,
            price=price,
            avg_px=leg.price,
            ts_accepted=report.ts_last,
            ts_last=report.ts_last,
            ts_init=self.clock.timestamp_ns(),
            report_id=str(uuid.uuid4()),
            client_order_id=client_order_id,
            venue_position_id=report.venue_position_id,
        )

    def _reusable_order(
        self, report: PositionStatusReport, leg: AlignmentLeg, quantity: Quantity
    ) -> ClientOrderId | None:
        """A filled reconciliation order identical to this leg (same incident seen again): reuse its id."""
        for order in self.cache.orders(instrument_id=report.instrument_id, side=leg.side):
            if order.status is not OrderStatus.FILLED or not (
                order.init.reconciliation or is_reconciliation_order(order)
            ):
                continue
            if order.filled_qty.raw != quantity.raw:
                continue
            if order.price is not None and leg.price is not None and to_decimal(order.price) != leg.price:
                continue
            if order.avg_px is None or leg.price is None or order.avg_px != leg.price:
                continue
            return order.client_order_id
        return None

    # ---- event construction ------------------------------------------------------------------
    @staticmethod
    def _order_identity(order: Order) -> dict[str, object]:
        return {
            "trader_id": order.trader_id,
            "strategy_id": order.strategy_id,
            "instrument_id": order.instrument_id,
            "client_order_id": order.client_order_id,
        }

    def _accepted(self, order: Order, report: OrderStatusReport) -> OrderAccepted:
        return OrderAccepted(
            **self._order_identity(order),
            venue_order_id=report.venue_order_id,
            account_id=report.account_id,
            ts_event=report.ts_accepted,
            ts_init=self.clock.timestamp_ns(),
        )

    def _rejected(self, order: Order, report: OrderStatusReport) -> OrderRejected:
        return OrderRejected(
            **self._order_identity(order),
            account_id=report.account_id,
            reason=report.cancel_reason or "UNKNOWN",
            ts_event=report.ts_last,
            ts_init=self.clock.timestamp_ns(),
        )

    def _triggered(self, order: Order, report: OrderStatusReport) -> OrderTriggered:
        return OrderTriggered(
            **self._order_identity(order),
            venue_order_id=report.venue_order_id,
            account_id=report.account_id,
            ts_event=report.ts_triggered,
            ts_init=self.clock.timestamp_ns(),
        )


def _weighted_avg_open(positions: list[Position]) -> Decimal | None:
    """The quantity-weighted average open price of open positions, or None when there is none."""
    total = 0
    value = Fraction(0)
    for position in positions:
        size = abs(position.signed_qty_raw)
        if size == 0:
            continue
        total += size
        value += position.avg_px_open_exact * size
    if total == 0:
        return None
    exact = value / total
    return Decimal(exact.numerator) / Decimal(exact.denominator)
