"""Configuration of actors and strategies: frozen structs users subclass with their own fields.

The same config (one TOML table) serves a backtest and a live node. The live fields
(`external_order_claims`, `manage_contingent_orders`, `manage_gtd_expiry`,
`use_uuid_client_order_ids`) are accepted here; their behaviour arrives with the live and
contingent-order issues, and until then they are documented as not yet active.
"""

from __future__ import annotations

import msgspec

from toolkit.core.config import ToolkitConfig
from toolkit.model.enums import OmsType


class ActorConfig(ToolkitConfig):
    """`component_id` defaults to the class name plus `-000`."""

    component_id: str | None = None
    log_events: bool = True


class StrategyConfig(ToolkitConfig):
    """Base of every strategy config.

    - `strategy_id`: `NAME-TAG`; defaults to `{ClassName}-{order_id_tag}`.
    - `order_id_tag`: the tag in the strategy id and its client order ids (default "000").
    - `oms_type`: run the strategy's own OMS (NETTING or HEDGING); default: the venue's.
    """

    strategy_id: str | None = None
    order_id_tag: str = "000"
    oms_type: OmsType | None = None
    external_order_claims: list[str] = msgspec.field(default_factory=list)
    manage_contingent_orders: bool = False
    manage_gtd_expiry: bool = False
    use_uuid_client_order_ids: bool = False
    log_events: bool = True
