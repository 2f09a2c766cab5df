"""Contingent orders at the simulated venue: OTO children held until their parent fills, OCO and OUO links.

`VenueContingencies` belongs to one matching engine and keeps the venue records of every order that
takes part in a contingency (a parent, a child, a linked sibling). The engine asks it on arrival
whether an order is held, rejected or admitted, and tells it about fills, closes and quantity changes;
it answers by calling the engine's own admit, cancel, reject and update steps, so every outcome is an
ordinary order event. Behaviour follows the venue spec §7: a child of a REJECTED parent is rejected; a
child of a working parent is held (still SUBMITTED) until the parent's first fill (PARTIAL mode) or its
full fill (FULL mode), then admitted with the parent's position id; an OCO fill cancels the siblings;
an OUO close cancels them and a partial fill sets their quantity to the filler's leaves, as does a
quantity modify; canceling or expiring a contingent order cancels its linked orders and held children.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit.model.enums import TriggerMode
from toolkit.model.identifiers import ClientOrderId

if TYPE_CHECKING:
    from toolkit.backtest.matching import MatchingEngine, VenueOrder

_NONE = "NO_CONTINGENCY"


class VenueContingencies:
    """Links between the venue's order records; see the module docstring."""

    def __init__(self, engine: MatchingEngine) -> None:
        self._engine = engine
        self._known: dict[ClientOrderId, VenueOrder] = {}
        self._held: dict[ClientOrderId, list[VenueOrder]] = {}
        self._held_index: dict[ClientOrderId, VenueOrder] = {}
        self._filling: set[ClientOrderId] = set()  # orders whose fill is canceling their siblings right now

    # ---- queries -----------------------------------------------------------------------------
    def parent_of(self, order: VenueOrder) -> VenueOrder | None:
        return None if order.parent is None else self._known.get(order.parent)

    def held(self, client_order_id: ClientOrderId) -> VenueOrder | None:
        return self._held_index.get(client_order_id)

    def held_orders(self) -> list[VenueOrder]:
        return list(self._held_index.values())

    def _siblings(self, order: VenueOrder) -> list[VenueOrder]:
        found = []
        for cid in order.linked:
            sibling = self._known.get(cid)
            if sibling is not None and not sibling.closed:
                found.append(sibling)
        return found

    # ---- engine hooks ------------------------------------------------------------------------
    def on_arrival(self, record: VenueOrder) -> str | None:
        """None: admit the order now; "": hold it (its parent has not filled); otherwise a rejection reason."""
        if record.parent is None and not record.linked and record.contingency == _NONE:
            return None
        self._known[record.client_order_id] = record
        if record.parent is not None:
            parent = self._known.get(record.parent)
            if parent is not None:  # an unknown parent: the client manages the links itself
                if parent.rejected:
                    return f"REJECT OTO from {parent.client_order_id}"
                if parent.closed and parent.filled == 0:
                    return f"parent order {parent.client_order_id} closed before it filled"
                if not self._released_by(parent):
                    self._held.setdefault(parent.client_order_id, []).append(record)
                    self._held_index[record.client_order_id] = record
                    return ""
                self._inherit_position(record, parent)
        if record.contingency in ("OCO", "OUO"):
            for cid in record.linked:
                sibling = self._known.get(cid)
                if sibling is not None and sibling.closed:
                    return f"linked order {cid} is already closed"
        return None

    def _released_by(self, parent: VenueOrder) -> bool:
        if self._engine.config.oto_trigger_mode is TriggerMode.FULL:
            return parent.filled >= parent.quantity
        return parent.filled > 0

    def _inherit_position(self, child: VenueOrder, parent: VenueOrder) -> None:
        if child.position_id is None and parent.position_id is not None and self._engine._hedging:
            child.position_id = parent.position_id

    def on_fill(self, order: VenueOrder, qty: int) -> None:
        engine = self._engine
        children = self._held.get(order.client_order_id)
        if children and self._released_by(order):
            del self._held[order.client_order_id]
            for child in children:
                self._held_index.pop(child.client_order_id, None)
                if child.closed:
                    continue
                self._inherit_position(child, order)
                child.matched_at = engine.data_points
                engine.admit(child)
        if order.contingency not in ("OCO", "OUO"):
            return
        self._filling.add(order.client_order_id)
        try:
            for sibling in self._siblings(order):
                if order.contingency == "OCO" or order.closed:
                    engine._cancel(sibling)  # its own close must not cancel the order that is filling
                else:
                    self._match_leaves(sibling, order.leaves)
        finally:
            self._filling.discard(order.client_order_id)

    def on_modify(self, order: VenueOrder) -> None:
        """A quantity change of an OUO order is mirrored on its linked orders."""
        if order.contingency != "OUO":
            return
        for sibling in self._siblings(order):
            self._match_leaves(sibling, order.leaves)

    def _match_leaves(self, sibling: VenueOrder, leaves: int) -> None:
        quantity = sibling.filled + leaves
        if quantity != sibling.quantity and leaves > 0:
            sibling.quantity = quantity
            self._engine._emit_updated(sibling)

    def on_closed(self, order: VenueOrder) -> None:
        """The order was canceled, expired or rejected: its held children and linked orders go too."""
        engine = self._engine
        held = self._held_index.pop(order.client_order_id, None)
        if held is not None and order.parent is not None:
            siblings = self._held.get(order.parent, [])
            if held in siblings:
                siblings.remove(held)
        children = self._held.pop(order.client_order_id, None)
        for child in children or ():
            self._held_index.pop(child.client_order_id, None)
            if child.closed:
                continue
            if order.rejected:
                engine._reject(child, f"REJECT OTO from {order.client_order_id}")
            else:
                engine._cancel(child)
        if order.contingency in ("OCO", "OUO"):
            for sibling in self._siblings(order):
                if sibling.client_order_id not in self._filling:
                    engine._cancel(sibling)
