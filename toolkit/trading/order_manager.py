"""Client-side contingent orders and GTD expiry for one strategy, so they work with any venue.

With `manage_contingent_orders`, OTO children (a bracket's stop-loss and take-profit) are held back
(INITIALIZED, never sent) until their parent fills: on its first fill in PARTIAL mode, or once it is
fully filled in FULL mode. A child is sent with the quantity still exposed (the parent's filled
quantity less what the children have filled) and the parent's position id; later parent fills
resize the released children. Because the execution engine tells the strategy of a fill before it
updates the position, a release waits for that position's event, so the risk engine's reduce-only
check sees the new position. OCO: any fill of one order cancels its open siblings. OUO: a full fill
cancels the siblings, a partial fill or a quantity change resizes each sibling to the order's leaves.
A parent that closes unfilled (canceled, expired, rejected, denied) discards its held children
locally; a linked order that closes that way cancels its siblings (unless the manager canceled it
because a sibling filled: that cancel does not bounce back to the filler). No cancel is ever sent for
an order that is closed or already pending cancel. With `manage_gtd_expiry`, every GTD order the
strategy submits gets a one-shot alert on the strategy's clock that cancels it at its expire time if
still working; the alert goes when the order closes. The decisions are pure functions returning
`Action`s; `OrderManager` keeps the small state and carries the actions out through its host.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from toolkit.core.clock import Clock
from toolkit.model.enums import ContingencyType, OrderStatus, TimeInForce, TriggerMode
from toolkit.model.events import (
    OrderCanceled,
    OrderDenied,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderModifyRejected,
    OrderRejected,
    OrderUpdated,
    PositionClosed,
    PositionEvent,
)
from toolkit.model.identifiers import ClientOrderId, PositionId
from toolkit.model.objects import Quantity
from toolkit.model.orders import Order

Lookup = Callable[[ClientOrderId], "Order | None"]
_CLOSED_UNFILLED = (OrderCanceled, OrderExpired, OrderRejected, OrderDenied)


@dataclass(frozen=True, slots=True)
class Release:
    """Send the held OTO children of `parent_id` (once its position reflects the fill)."""

    parent_id: ClientOrderId


@dataclass(frozen=True, slots=True)
class Resize:
    """Modify the quantity of a working order."""

    client_order_id: ClientOrderId
    quantity: Quantity


@dataclass(frozen=True, slots=True)
class Cancel:
    """Ask the venue to cancel a working order."""

    client_order_id: ClientOrderId


@dataclass(frozen=True, slots=True)
class Discard:
    """Cancel locally an order that was held back and never sent."""

    client_order_id: ClientOrderId


Action = Release | Resize | Cancel | Discard


# ---- pure decisions ---------------------------------------------------------------------------------
def _linked(order: Order, lookup: Lookup) -> list[Order]:
    return [o for o in (lookup(i) for i in order.linked_order_ids) if o is not None]


def exposed_raw(parent: Order, children: Sequence[Order]) -> int:
    """Raw quantity the parent's fills opened that no child has closed yet (never negative)."""
    return max(0, parent.filled_qty.raw - sum(c.filled_qty.raw for c in children))


def _is_working(order: Order) -> bool:
    """Sent and not closed or being canceled: something a modify or cancel can act on."""
    status = order.status
    return not order.is_closed and status not in (OrderStatus.INITIALIZED, OrderStatus.PENDING_CANCEL)


def cancel_action(target: Order, held: Collection[ClientOrderId]) -> Cancel | Discard | None:
    """How to cancel `target`: locally if held back, at the venue if working, else not at all."""
    if target.client_order_id in held:
        return Discard(target.client_order_id)
    if _is_working(target):
        return Cancel(target.client_order_id)
    return None


def resize_action(target: Order, quantity_raw: int, pending: Mapping[ClientOrderId, Quantity]) -> Resize | None:
    """A Resize of working `target` to `quantity_raw`, unless it already has (or was asked for) it or the new
    quantity would leave nothing to fill."""
    if not _is_working(target) or quantity_raw <= target.filled_qty.raw:
        return None
    current = pending.get(target.client_order_id, target.quantity)
    if current.raw == quantity_raw:
        return None
    return Resize(target.client_order_id, Quantity(quantity_raw, target.quantity.precision))


def fill_actions(
    order: Order,
    lookup: Lookup,
    held: Collection[ClientOrderId],
    mode: TriggerMode,
    pending: Mapping[ClientOrderId, Quantity],
) -> list[Action]:
    """What a fill of `order` (already applied to it) asks of its linked orders."""
    kind = order.contingency_type
    linked = _linked(order, lookup)
    actions: list[Action] = []
    if kind is ContingencyType.OTO:
        exposed = exposed_raw(order, linked)
        release_now = mode is TriggerMode.PARTIAL or order.status is OrderStatus.FILLED
        if release_now and any(c.client_order_id in held for c in linked):
            actions.append(Release(order.client_order_id))
        for child in linked:
            if child.client_order_id not in held and exposed > 0:
                resize = resize_action(child, child.filled_qty.raw + exposed, pending)
                if resize is not None:
                    actions.append(resize)
    elif kind is ContingencyType.OCO or (kind is ContingencyType.OUO and order.status is OrderStatus.FILLED):
        actions.extend(a for a in (cancel_action(s, held) for s in linked) if a is not None)
    elif kind is ContingencyType.OUO:
        leaves = order.leaves_qty.raw
        for sibling in linked:
            resize = resize_action(sibling, sibling.filled_qty.raw + leaves, pending)
            if resize is not None:
                actions.append(resize)
    return actions


def closed_unfilled_actions(order: Order, lookup: Lookup, held: Collection[ClientOrderId]) -> list[Action]:
    """What `order` closing by cancel, expiry, rejection or denial asks of its linked orders."""
    kind = order.contingency_type
    linked = _linked(order, lookup)
    if kind is ContingencyType.OTO:
        # Released children protect what the parent did fill; only the held-back ones go.
        return [Discard(c.client_order_id) for c in linked if c.client_order_id in held]
    if kind in (ContingencyType.OCO, ContingencyType.OUO):
        return [a for a in (cancel_action(s, held) for s in linked) if a is not None]
    return []


def updated_actions(order: Order, lookup: Lookup, pending: Mapping[ClientOrderId, Quantity]) -> list[Action]:
    """What a quantity change of `order` asks of its OUO siblings (each gets the order's leaves)."""
    if order.contingency_type is not ContingencyType.OUO or not _is_working(order):
        return []
    leaves = order.leaves_qty.raw
    actions: list[Action] = []
    for sibling in _linked(order, lookup):
        resize = resize_action(sibling, sibling.filled_qty.raw + leaves, pending)
        if resize is not None:
            actions.append(resize)
    return actions


def held_children(orders: Sequence[Order], lookup: Lookup) -> set[ClientOrderId]:
    """The orders of a list that wait for an OTO parent (in the list or already known) to fill."""
    in_list = {o.client_order_id: o for o in orders}
    held: set[ClientOrderId] = set()
    for order in orders:
        if order.parent_order_id is None:
            continue
        parent = in_list.get(order.parent_order_id) or lookup(order.parent_order_id)
        if parent is not None and parent.contingency_type is ContingencyType.OTO:
            held.add(order.client_order_id)
    return held


def restored_actions(
    orders: Sequence[Order], lookup: Lookup, mode: TriggerMode
) -> tuple[set[ClientOrderId], list[Action]]:
    """After a restart: the never-sent OTO children among a strategy's restored orders, to hold again, and what
    their parents did meanwhile asks of them, as the live events would have: a parent filled enough to release
    them (a first fill in PARTIAL mode, a full fill in FULL mode) releases them, a parent closed otherwise
    discards them, and a parent still waiting keeps them held."""
    held: set[ClientOrderId] = set()
    parents: dict[ClientOrderId, Order] = {}
    for order in orders:
        if order.status is not OrderStatus.INITIALIZED or order.parent_order_id is None:
            continue
        parent = lookup(order.parent_order_id)
        if parent is not None and parent.contingency_type is ContingencyType.OTO:
            held.add(order.client_order_id)
            parents.setdefault(parent.client_order_id, parent)
    actions: list[Action] = []
    for parent in parents.values():
        filled = parent.filled_qty.raw > 0
        if filled and (mode is TriggerMode.PARTIAL or parent.status is OrderStatus.FILLED):
            actions.append(Release(parent.client_order_id))
        elif parent.is_closed:
            actions.extend(Discard(c.client_order_id) for c in _linked(parent, lookup) if c.client_order_id in held)
    return held, actions


# ---- the stateful part ------------------------------------------------------------------------------
class OrderManagerHost:
    """What the manager needs from its strategy (the `Strategy` passes its own methods)."""

    def __init__(
        self,
        lookup: Lookup,
        submit: Callable[[Order, PositionId | None], None],
        modify: Callable[[Order, Quantity], None],
        cancel: Callable[[Order], None],
        process_local: Callable[[Order, type, dict[str, object]], None],
    ) -> None:
        self.lookup = lookup
        self.submit = submit
        self.modify = modify
        self.cancel = cancel
        self.process_local = process_local


class OrderManager:
    """Holds OTO children, pending resizes and GTD alerts of one strategy; see the module docstring."""

    def __init__(
        self,
        host: OrderManagerHost,
        clock: Clock,
        *,
        name: str,
        manage_contingent_orders: bool = True,
        manage_gtd_expiry: bool = False,
        trigger_mode: TriggerMode = TriggerMode.PARTIAL,
    ) -> None:
        self.host = host
        self.clock = clock
        self.name = name
        self.manage_contingent_orders = manage_contingent_orders
        self.manage_gtd_expiry = manage_gtd_expiry
        self.trigger_mode = trigger_mode
        self.held: set[ClientOrderId] = set()
        self._due: dict[ClientOrderId, Quantity] = {}  # parent -> the fill qty whose position update we await
        self._pending_qty: dict[ClientOrderId, Quantity] = {}
        self._canceled_for_fill: set[ClientOrderId] = set()  # their cancel must not cancel the filler back
        self._gtd_timers: dict[ClientOrderId, str] = {}

    def reset(self) -> None:
        for name in self._gtd_timers.values():
            if name in self.clock.timer_names:
                self.clock.cancel_timer(name)
        self.held.clear()
        self._due.clear()
        self._pending_qty.clear()
        self._canceled_for_fill.clear()
        self._gtd_timers.clear()

    # -- submission
    def split_list(self, orders: Sequence[Order]) -> list[Order]:
        """Hold back the OTO children of a list being submitted; return the orders to send now, in order."""
        if not self.manage_contingent_orders:
            return list(orders)
        held = held_children(orders, self.host.lookup)
        self.held |= held
        return [o for o in orders if o.client_order_id not in held]

    def restore(self, orders: Sequence[Order]) -> None:
        """Take up the strategy's orders restored after a restart (see `restored_actions`): hold the never-sent
        OTO children again, release or discard those whose parent filled or closed meanwhile (the restored
        positions already reflect the fills, so a release does not wait for a position event), and set the
        GTD alert of every working GTD order when expiry is managed here."""
        if self.manage_contingent_orders:
            held, actions = restored_actions(orders, self.host.lookup, self.trigger_mode)
            self.held |= held
            for action in actions:
                if isinstance(action, Release):
                    parent = self.host.lookup(action.parent_id)
                    if parent is not None:
                        self._release(parent)
            self._execute(actions)
        for order in orders:
            if _is_working(order):
                self.on_submit(order)

    def discard(self, order: Order) -> None:
        """Cancel locally an order held back here (the strategy's `cancel_order` of a held child)."""
        self._execute([Discard(order.client_order_id)])

    def on_submit(self, order: Order) -> None:
        """Called just before `order` is sent: start its GTD alert when the strategy manages expiry."""
        if not self.manage_gtd_expiry or order.time_in_force is not TimeInForce.GTD or order.expire_time_ns <= 0:
            return
        coid = order.client_order_id
        name = f"{self.name}-GTD-{coid}"
        if coid in self._gtd_timers:
            return
        self._gtd_timers[coid] = name
        self.clock.set_time_alert(name, order.expire_time_ns, lambda _event: self._expire(coid), allow_past=True)

    def _expire(self, client_order_id: ClientOrderId) -> None:
        self._gtd_timers.pop(client_order_id, None)
        order = self.host.lookup(client_order_id)
        if order is not None and _is_working(order):
            self.host.cancel(order)

    # -- events
    def handle_event(self, event: OrderEvent) -> None:
        order = self.host.lookup(event.client_order_id)
        if order is None:
            return
        coid = order.client_order_id
        if isinstance(event, (OrderUpdated, OrderModifyRejected)) or order.is_closed:
            self._pending_qty.pop(coid, None)
        canceled_for_fill = order.is_closed and coid in self._canceled_for_fill
        if order.is_closed:
            self._canceled_for_fill.discard(coid)
        if order.is_closed and coid in self._gtd_timers:
            name = self._gtd_timers.pop(coid)
            if name in self.clock.timer_names:
                self.clock.cancel_timer(name)
        if not self.manage_contingent_orders or not order.is_contingent:
            return
        lookup = self.host.lookup
        if isinstance(event, OrderFilled):
            actions = fill_actions(order, lookup, self.held, self.trigger_mode, self._pending_qty)
            if any(isinstance(a, Release) for a in actions):
                self._due[coid] = event.last_qty
            self._execute(actions, for_fill=True)
            return
        if isinstance(event, _CLOSED_UNFILLED):
            if canceled_for_fill:
                return
            actions = closed_unfilled_actions(order, lookup, self.held)
        elif isinstance(event, OrderUpdated) and order.status is not OrderStatus.INITIALIZED:
            actions = updated_actions(order, lookup, self._pending_qty)
        else:
            return
        self._execute(actions)

    def handle_position_event(self, event: PositionEvent) -> None:
        """Send the children whose parent's fill this position event reflects."""
        for parent_id, fill_qty in list(self._due.items()):
            parent = self.host.lookup(parent_id)
            if parent is None:
                del self._due[parent_id]
                continue
            if parent.position_id != event.position_id:
                continue
            if isinstance(event, PositionClosed) and event.last_qty != fill_qty:
                continue  # the fill flips the position: wait for the opening part
            del self._due[parent_id]
            self._release(parent)

    def _release(self, parent: Order) -> None:
        children = _linked(parent, self.host.lookup)
        exposed = exposed_raw(parent, children)
        for child in children:
            coid = child.client_order_id
            if coid not in self.held:
                continue
            self.held.discard(coid)
            if child.status is not OrderStatus.INITIALIZED:
                continue
            if exposed <= 0:
                self.host.process_local(child, OrderCanceled, {})
                continue
            if child.quantity.raw != exposed:
                quantity = Quantity(exposed, child.quantity.precision)
                self.host.process_local(child, OrderUpdated, {"quantity": quantity})
            if parent.position_id is not None:
                child.set_position_id(parent.position_id)
            self.host.submit(child, parent.position_id)

    def _execute(self, actions: list[Action], for_fill: bool = False) -> None:
        # Each action is checked again when its turn comes: an earlier one may have closed the order.
        # Orders canceled because a sibling filled are remembered first (a local cancel is heard at once).
        lookup = self.host.lookup
        for action in actions:
            if isinstance(action, Release):
                continue  # waits for the position event (see `handle_position_event`)
            order = lookup(action.client_order_id)
            if order is None:
                continue
            if isinstance(action, Discard):
                if action.client_order_id in self.held and order.status is OrderStatus.INITIALIZED:
                    self.held.discard(action.client_order_id)
                    if for_fill:
                        self._canceled_for_fill.add(order.client_order_id)
                    self.host.process_local(order, OrderCanceled, {})
            elif isinstance(action, Cancel):
                if _is_working(order):
                    if for_fill:
                        self._canceled_for_fill.add(order.client_order_id)
                    self.host.cancel(order)
            elif isinstance(action, Resize):
                again = resize_action(order, action.quantity.raw, self._pending_qty)
                if again is not None:
                    self._pending_qty[order.client_order_id] = action.quantity
                    self.host.modify(order, action.quantity)
