"""Configuration of actors and strategies: frozen structs users subclass with their own fields.

The same config (one TOML table) serves a backtest and a live node. The live fields are accepted in
both; which of them act today and which arrive with later issues is written in `StrategyConfig`'s
docstring (and in `docs/live.md`, "Configuration reference"). Contingent orders and GTD expiry are
handled on the client side by `toolkit.trading.order_manager` when the config asks for them.
"""

from __future__ import annotations

import msgspec

from toolkit.core.config import ToolkitConfig
from toolkit.model.enums import OmsType, TriggerMode
from toolkit.model.identifiers import InstrumentId


class ActorConfig(ToolkitConfig):
    """`component_id` defaults to the class name plus `-000`."""

    component_id: str | None = None
    log_events: bool = True


class StrategyConfig(ToolkitConfig):
    """Base of every strategy config.

    - `strategy_id`: `NAME-TAG`; defaults to `{ClassName}-{order_id_tag}`. Unique within a node.
    - `order_id_tag`: the tag in the strategy id and in its client order ids (default "000"; the live
      spec's None means the same: the node-wide default tag). Unique within a node.
    - `oms_type`: run the strategy's own OMS (NETTING or HEDGING position ids); None: the venue's.
    - `use_uuid_client_order_ids`: UUID4 client order ids instead of `O-...` ones (some venues require
      them).
    - `cancel_orders_on_stop`: when the strategy stops (the node stops, or the strategy alone), the
      node cancels the strategy's open orders (default True).
    - `external_order_claims`: instrument ids whose external orders (found at the venue by
      reconciliation) this strategy takes over; empty = none (the spec's None). Implemented by the
      "persistence and reconciliation" issue: accepted and reported as not yet active until then.
    - `manage_contingent_orders`: handle OTO/OCO/OUO links on the client side, so they work with any
      venue (`toolkit.trading.order_manager`): OTO children are held until their parent fills, a fill
      or cancel of a linked order cancels or resizes the others.
    - `oto_trigger_mode`: when held OTO children are sent: on the parent's first fill, sized to what
      has filled and resized as it fills further (PARTIAL, the default), or once it is fully filled
      (FULL). Used with `manage_contingent_orders`.
    - `manage_gtd_expiry`: a timer on the strategy's clock cancels each GTD order the strategy
      submits at its expire time if it is still working (for venues that do not expire GTD orders).
    - `log_events`: log every order and position event the strategy receives.

    `toolkit.live.config.unimplemented_options` lists the not-yet-active options a node config sets, so
    the node warns about each instead of ignoring it.
    """

    strategy_id: str | None = None
    order_id_tag: str = "000"
    oms_type: OmsType | None = None
    external_order_claims: list[InstrumentId] = msgspec.field(default_factory=list)
    manage_contingent_orders: bool = False
    manage_gtd_expiry: bool = False
    oto_trigger_mode: TriggerMode = TriggerMode.PARTIAL
    use_uuid_client_order_ids: bool = False
    cancel_orders_on_stop: bool = True
    log_events: bool = True
