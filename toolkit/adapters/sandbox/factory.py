"""Config and factory of the sandbox venue clients (`factory = "sandbox"` in a live client table).

`SandboxClientConfig` holds what both clients need to reach a `toolkit venue` server: its URL, the API key
and secret, the venue and account names, the OMS, lockstep acknowledgement, heartbeat, reconnect backoff
and request timeout. Three environment variables override the file when they are set, so one run file
works against any local venue: `TOOLKIT_SANDBOX_URL` (base_url), `TOOLKIT_SANDBOX_API_KEY` (api_key) and
`TOOLKIT_SANDBOX_API_SECRET` (api_secret); `with_environment()` applies them and the clients call it.
`SandboxClientFactory` builds a `SandboxDataClient` or `SandboxExecutionClient` from a config and the
node's dependencies (`clock`, `cache`, `log`, and `handle_data` or `send_event`; optional `trader_id`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from toolkit.live.clients import ClientFactory, LiveClientConfig
from toolkit.model.enums import OmsType

if TYPE_CHECKING:
    from toolkit.adapters.sandbox.client import SandboxDataClient, SandboxExecutionClient

ENV_URL = "TOOLKIT_SANDBOX_URL"
ENV_API_KEY = "TOOLKIT_SANDBOX_API_KEY"
ENV_API_SECRET = "TOOLKIT_SANDBOX_API_SECRET"


class SandboxClientConfig(LiveClientConfig, frozen=True):
    """Options of the sandbox data and execution clients; see the module docstring for the overrides."""

    factory: str = "sandbox"
    base_url: str = "http://127.0.0.1:8765"
    api_key: str = "sandbox-key"
    api_secret: str = "sandbox-secret"
    venue: str = "SIM"
    account_id: str = "SIM-001"
    oms_type: OmsType = OmsType.NETTING
    # Acknowledge each market event only once the node is idle (a venue run with --lockstep waits for it).
    # None (default): follow the venue's mode, read from GET /status when connecting.
    lockstep: bool | None = None
    # A ping is sent every heartbeat_secs; a socket with nothing received for 3 heartbeats is dead.
    heartbeat_secs: float = 5.0
    reconnect_initial_delay_secs: float = 0.1
    reconnect_max_delay_secs: float = 5.0
    request_timeout_secs: float = 10.0
    # Market data client id sent to the venue (a reconnecting client with the same id is the same lockstep
    # client); None: "{trader_id}-{client name}".
    client_id: str | None = None

    def __post_init__(self) -> None:
        _check_url(self.base_url)
        for name in ("heartbeat_secs", "reconnect_initial_delay_secs", "reconnect_max_delay_secs"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.request_timeout_secs <= 0:
            raise ValueError(f"request_timeout_secs must be positive, got {self.request_timeout_secs}")
        if self.reconnect_max_delay_secs < self.reconnect_initial_delay_secs:
            raise ValueError(
                f"reconnect_max_delay_secs ({self.reconnect_max_delay_secs}) must not be below "
                f"reconnect_initial_delay_secs ({self.reconnect_initial_delay_secs})"
            )
        if not self.api_key or not self.api_secret:
            raise ValueError("api_key and api_secret must not be empty")

    def with_environment(self, environ: Mapping[str, str] | None = None) -> SandboxClientConfig:
        """This config with `TOOLKIT_SANDBOX_URL` / `_API_KEY` / `_API_SECRET` applied when they are set."""
        env = os.environ if environ is None else environ
        changes: dict[str, str] = {}
        for var, field in ((ENV_URL, "base_url"), (ENV_API_KEY, "api_key"), (ENV_API_SECRET, "api_secret")):
            value = env.get(var)
            if value:
                changes[field] = value
        if not changes:
            return self
        if "base_url" in changes:
            try:
                _check_url(changes["base_url"])
            except ValueError as exc:
                raise ValueError(f"environment variable {ENV_URL}: {exc}") from None
        return msgspec.structs.replace(self, **changes)

    @property
    def root_url(self) -> str:
        """base_url without a trailing slash."""
        return self.base_url.rstrip("/")


def _check_url(url: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must start with http:// or https://, got {url!r}")


class SandboxClientFactory(ClientFactory):
    """Builds the sandbox clients; `name` (the client table's key) becomes the client id."""

    config_type: ClassVar[type[LiveClientConfig]] = SandboxClientConfig

    @classmethod
    def create_data_client(cls, name: str, config: Any, **deps: Any) -> SandboxDataClient:
        from toolkit.adapters.sandbox.client import SandboxDataClient
        from toolkit.model.identifiers import ClientId, Venue

        cfg = _sandbox_config(config)
        need = _require(deps, ("clock", "cache", "log", "handle_data"), "data")
        return SandboxDataClient(
            client_id=ClientId(name),
            venue=Venue(cfg.venue),
            config=cfg,
            trader_id=deps.get("trader_id"),
            **need,
        )

    @classmethod
    def create_exec_client(cls, name: str, config: Any, **deps: Any) -> SandboxExecutionClient:
        from toolkit.adapters.sandbox.client import SandboxExecutionClient
        from toolkit.model.identifiers import AccountId, ClientId, Venue

        cfg = _sandbox_config(config)
        need = _require(deps, ("clock", "cache", "log", "send_event"), "execution")
        return SandboxExecutionClient(
            client_id=ClientId(name),
            venue=Venue(cfg.venue),
            oms_type=cfg.oms_type,
            account_id=AccountId(cfg.account_id),
            config=cfg,
            **need,
        )


def _sandbox_config(config: Any) -> SandboxClientConfig:
    if isinstance(config, SandboxClientConfig):
        return config
    if isinstance(config, Mapping):
        from toolkit.core.config import config_from_dict

        return config_from_dict(dict(config), SandboxClientConfig)
    raise TypeError(f"expected a SandboxClientConfig, got {type(config).__name__}")


def _require(deps: Mapping[str, Any], names: tuple[str, ...], kind: str) -> dict[str, Any]:
    missing = [name for name in names if name not in deps]
    if missing:
        raise TypeError(f"the sandbox {kind} client needs {', '.join(missing)} (got {', '.join(sorted(deps))})")
    return {name: deps[name] for name in names}
