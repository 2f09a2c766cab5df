"""Unit tests of the cache database layer (`toolkit.persistence.database`, `sqlite`): encoding, the writer
thread, and the SQLite backend's file handling.

The encoding round-trips every record kind exactly (msgpack and JSON, integer or ISO 8601 timestamps). The
writer is driven with an in-memory `apply` that can be made to fail: write-through commits one write per
transaction, write-behind batches a window, a transient error keeps and retries the batch (nothing lost,
duplicated or reordered, `put` never blocks), a write the backend refuses for good is dropped alone. The
builders at the top (`sample_*`) are shared with the integration tests of both backends.
"""

from __future__ import annotations

import logging
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from toolkit.core.clock import LiveClock
from toolkit.core.log import Logger
from toolkit.live.config import CacheConfig, DatabaseConfig, DatabaseType
from toolkit.model.enums import (
    AccountType,
    ContingencyType,
    LiquiditySide,
    OrderSide,
    OrderType,
    TimeInForce,
    TriggerType,
)
from toolkit.model.events import (
    AccountBalance,
    AccountState,
    MarginBalance,
    OrderAccepted,
    OrderCanceled,
    OrderEvent,
    OrderEventTypes,
    OrderFilled,
    OrderInitialized,
    OrderSubmitted,
    OrderUpdated,
)
from toolkit.model.identifiers import (
    AccountId,
    ClientOrderId,
    InstrumentId,
    OrderListId,
    PositionId,
    StrategyId,
    TradeId,
    TraderId,
    VenueOrderId,
)
from toolkit.model.instruments import Instrument, instrument_from_dict
from toolkit.model.objects import Currency, Money, Price, Quantity
from toolkit.persistence.database import (
    BackgroundWriter,
    Codec,
    DatabaseUnavailable,
    InstrumentTypes,
    Op,
    enc_hook,
    iso8601_to_ns,
    ns_to_iso8601,
    open_cache_database,
)
from toolkit.persistence.sqlite import SqliteCacheDatabase

TS = 1_700_000_000_123_456_789
USD = Currency.from_str("USD")
AUD = Currency.from_str("AUD")
TRADER = TraderId("TRADER-001")
STRATEGY = StrategyId("EMACross-001")
ACCOUNT = AccountId("SIM-001")
AUDUSD = InstrumentId("AUD/USD.SIM")
ENCODINGS = ["msgpack", "json"]


# -- shared builders ---------------------------------------------------------------------------------------------------


def db_logger(name: str = "cache-db") -> Logger:
    return Logger(name, LiveClock())


def sample_instruments() -> list[Instrument]:
    return [
        instrument_from_dict(
            {
                "kind": "CurrencyPair",
                "id": "AUD/USD.SIM",
                "base_currency": "AUD",
                "quote_currency": "USD",
                "price_increment": "0.00001",
                "size_increment": "1",
                "min_quantity": "1000",
                "max_notional": "1000000.00",
                "margin_init": "0.03",
                "maker_fee": "-0.00002",
                "taker_fee": "0.0002",
                "ts_event": TS,
                "ts_init": TS + 1,
            }
        ),
        instrument_from_dict(
            {
                "kind": "CryptoPerpetual",
                "id": "BTCUSDT-PERP.BINANCE",
                "base_currency": "BTC",
                "quote_currency": "USDT",
                "price_increment": "0.1",
                "size_increment": "0.001",
                "is_inverse": False,
                "raw_symbol": "BTCUSDT",
            }
        ),
        instrument_from_dict(
            {
                "kind": "FuturesContract",
                "id": "ESZ4.CME",
                "quote_currency": "USD",
                "price_increment": "0.25",
                "size_increment": "1",
                "multiplier": "50",
                "underlying": "ES",
                "activation_ns": TS,
                "expiration_ns": TS + 86_400_000_000_000,
            }
        ),
    ]


def sample_account_states(account_id: str = "SIM-001", count: int = 3, ts: int = TS) -> list[AccountState]:
    states = []
    for i in range(count):
        total = Money.of(Decimal("100000.00") + i, USD)
        locked = Money.of(Decimal("250.50"), USD)
        states.append(
            AccountState(
                ts_event=ts + i * 1_000,
                ts_init=ts + i * 1_000 + 7,
                account_id=AccountId(account_id),
                account_type=AccountType.MARGIN,
                base_currency=USD,
                balances=(AccountBalance(total, locked, total - locked),),
                margins=(MarginBalance(Money.of("100.25", USD), Money.of("50.10", USD), AUDUSD),),
                reported=i % 2 == 1,
            )
        )
    return states


def sample_order_events(coid: str, ts: int = TS, position_id: str = "P-1", filled: bool = True) -> list[OrderEvent]:
    """A limit order's life: initialized with every parameter, submitted, accepted, updated, then filled twice
    (or canceled)."""
    common = {
        "trader_id": TRADER,
        "strategy_id": STRATEGY,
        "instrument_id": AUDUSD,
        "client_order_id": ClientOrderId(coid),
    }
    venue_order_id = VenueOrderId(f"V-{coid}")
    events: list[OrderEvent] = [
        OrderInitialized(
            ts_event=ts,
            ts_init=ts,
            **common,
            order_side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            quantity=Quantity.of("100000", 0),
            time_in_force=TimeInForce.GTD,
            price=Price.of("0.65432", 5),
            trigger_type=TriggerType.LAST_PRICE,
            expire_time_ns=ts + 3_600_000_000_000,
            post_only=True,
            limit_offset=Decimal("0.00010"),
            contingency_type=ContingencyType.OCO,
            order_list_id=OrderListId("OL-1"),
            linked_order_ids=(ClientOrderId(f"{coid}-L"),),
            tags=("ENTRY", "test"),
        ),
        OrderSubmitted(ts_event=ts + 1, ts_init=ts + 2, **common, account_id=ACCOUNT),
        OrderAccepted(ts_event=ts + 3, ts_init=ts + 4, **common, venue_order_id=venue_order_id, account_id=ACCOUNT),
        OrderUpdated(
            ts_event=ts + 5,
            ts_init=ts + 6,
            **common,
            quantity=Quantity.of("100000", 0),
            price=Price.of("0.65430", 5),
            venue_order_id=venue_order_id,
            account_id=ACCOUNT,
        ),
    ]
    if not filled:
        events.append(
            OrderCanceled(ts_event=ts + 7, ts_init=ts + 8, **common, venue_order_id=venue_order_id, account_id=ACCOUNT)
        )
        return events
    for i, qty in enumerate(("40000", "60000")):
        events.append(
            OrderFilled(
                ts_event=ts + 10 + i,
                ts_init=ts + 20 + i,
                **common,
                venue_order_id=venue_order_id,
                account_id=ACCOUNT,
                trade_id=TradeId(f"T-{coid}-{i}"),
                order_side=OrderSide.BUY,
                order_type=OrderType.LIMIT,
                last_qty=Quantity.of(qty, 0),
                last_px=Price.of("0.65430", 5),
                currency=USD,
                commission=Money.of("1.31", USD),
                liquidity_side=LiquiditySide.MAKER,
                position_id=PositionId(position_id),
            )
        )
    return events


def sample_position_record(position_id: str = "P-1", cycle: int = 0, ts: int = TS) -> dict[str, Any]:
    """A position record as the node writes it: plain values (text amounts, integer ns)."""
    return {
        "position_id": position_id,
        "cycle": cycle,
        "strategy_id": "EMACross-001",
        "instrument_id": "AUD/USD.SIM",
        "side": "LONG",
        "quantity": "100000",
        "avg_px_open": "0.65430",
        "realized_pnl": "-2.62 USD",
        "ts_opened": ts,
        "ts_closed": None,
        "ts_last": ts + 21,
        "duration_ns": 21,
        "fills": [{"trade_id": "T-1", "ts_event": ts + 10}],
    }


def builtins_of(obj: Any) -> Any:
    return msgspec.to_builtins(obj, enc_hook=enc_hook)


def assert_same(actual: Any, expected: Any) -> None:
    """Exact equality: same class and the same fields down to each price's precision and each currency."""
    assert type(actual) is type(expected), (type(actual), type(expected))
    assert actual == expected
    assert builtins_of(actual) == builtins_of(expected)


# -- ISO 8601 timestamps -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ts", [0, 1, 999_999_999, 1_000_000_000, TS, 2**63 - 1, -1, -1_500_000_000])
def test_iso8601_round_trips_every_nanosecond(ts: int) -> None:
    text = ns_to_iso8601(ts)
    assert len(text.rpartition(".")[2]) == 10  # nine decimals and the Z
    assert iso8601_to_ns(text) == ts


def test_iso8601_text_is_utc_with_nine_decimals() -> None:
    assert ns_to_iso8601(TS) == "2023-11-14T22:13:20.123456789Z"
    with pytest.raises(ValueError, match="nine decimals"):
        iso8601_to_ns("2023-11-14T22:13:20.123Z")


# -- the codec ---------------------------------------------------------------------------------------------------------


def every_record() -> list[tuple[Any, Any]]:
    """(value, decode type) of each record kind the cache database stores."""
    records: list[tuple[Any, Any]] = [(i, InstrumentTypes) for i in sample_instruments()]
    records += [(s, AccountState) for s in sample_account_states()]
    records += [(e, OrderEventTypes) for e in sample_order_events("O-1")]
    records += [(e, OrderEventTypes) for e in sample_order_events("O-2", filled=False)]
    return records


@pytest.mark.parametrize("iso", [False, True], ids=["ns", "iso8601"])
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_codec_round_trips_every_record_kind_exactly(encoding: str, iso: bool) -> None:
    codec = Codec(encoding, iso)
    for value, decode_type in every_record():
        assert_same(codec.decode(codec.encode(value), decode_type), value)
    record = sample_position_record()
    assert codec.decode(codec.encode(record), dict[str, Any]) == record
    state = {"a": b"\x00\x01\xff", "ts_b": b"2023-11-14T22:13:20.123456789Z"}
    assert codec.decode_plain(codec.encode_plain(state), dict[str, bytes]) == state


def test_decoded_identifiers_have_their_types() -> None:
    codec = Codec("json")
    filled = sample_order_events("O-1")[-1]
    decoded = codec.decode(codec.encode(filled), OrderEventTypes)
    assert type(decoded.client_order_id) is ClientOrderId
    assert type(decoded.trade_id) is TradeId
    assert type(decoded.position_id) is PositionId
    assert type(decoded.last_px) is Price and decoded.last_px.precision == 5


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_iso8601_mode_stores_ts_fields_as_text_and_nothing_else(encoding: str) -> None:
    codec = Codec(encoding, timestamps_as_iso8601=True)
    initialized = sample_order_events("O-1")[0]
    plain = Codec("msgpack").decode(codec.encode(initialized)) if encoding == "msgpack" else None
    stored = plain if plain is not None else msgspec.json.decode(codec.encode(initialized))
    assert stored["ts_event"] == ns_to_iso8601(TS)
    assert stored["ts_init"] == ns_to_iso8601(TS)
    assert stored["expire_time_ns"] == TS + 3_600_000_000_000  # not a ts_* field: stays an integer
    assert stored["type"] == "OrderInitialized"
    nested = msgspec.json.decode(Codec("json", True).encode(sample_position_record()))
    assert nested["fills"][0]["ts_event"] == ns_to_iso8601(TS + 10)
    assert nested["ts_closed"] is None


def test_json_encoding_is_readable_text() -> None:
    data = Codec("json").encode(sample_order_events("O-1")[0])
    text = data.decode()
    assert '"type":"OrderInitialized"' in text
    assert '"client_order_id":"O-1"' in text
    assert '"limit_offset":"0.00010"' in text


# -- the writer thread -------------------------------------------------------------------------------------------------


class FlakyStore:
    """An in-memory `apply` that can be switched down (transient errors) and refuses ops marked `poison`."""

    def __init__(self) -> None:
        self.rows: list[Any] = []
        self.batches: list[int] = []
        self.up = threading.Event()
        self.up.set()
        self.attempts = 0

    def apply(self, batch: list[Op], batch_id: int, retrying: bool) -> list[tuple[Op, str]]:
        self.attempts += 1
        if not self.up.is_set():
            raise ConnectionError("store is down")
        if any(op[0] == "poison" for op in batch):
            raise ValueError("poison write")
        self.rows.extend(op[1] for op in batch)
        self.batches.append(len(batch))
        return []

    @staticmethod
    def is_transient(exc: BaseException) -> bool:
        return isinstance(exc, ConnectionError)


def make_writer(store: FlakyStore, interval_ms: int | None = None, **kwargs: Any) -> BackgroundWriter:
    writer = BackgroundWriter(
        "test-writer", store.apply, store.is_transient, "test store mem:0", db_logger(), interval_ms, **kwargs
    )
    writer.start()
    return writer


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


def test_write_through_commits_one_write_per_transaction() -> None:
    store = FlakyStore()
    writer = make_writer(store, 0)
    for i in range(200):
        writer.put(("row", i))
    assert writer.flush(10)
    assert store.rows == list(range(200))
    assert store.batches == [1] * 200
    assert writer.transactions == 200 and writer.persisted == 200 and writer.pending == 0
    writer.close(1)


def test_write_behind_batches_each_window_in_order() -> None:
    store = FlakyStore()
    writer = make_writer(store, 50)
    for i in range(1000):
        writer.put(("row", i))
    wait_for(lambda: writer.pending == 0)
    assert store.rows == list(range(1000))
    assert writer.transactions == len(store.batches) <= 3, store.batches
    writer.close(1)


def test_drain_mode_takes_everything_queued_without_waiting() -> None:
    store = FlakyStore()
    store.up.clear()
    writer = make_writer(store, None, drain=True)
    for i in range(300):
        writer.put(("row", i))
    wait_for(lambda: writer.in_outage)
    store.up.set()
    assert writer.flush(15)
    assert store.rows == list(range(300))
    assert len(store.batches) < 10, store.batches  # the first write alone, then the backlog together
    writer.close(1)


def test_flush_cuts_the_window_short() -> None:
    store = FlakyStore()
    writer = make_writer(store, 60_000)  # a one-minute window
    for i in range(10):
        writer.put(("row", i))
    started = time.monotonic()
    assert writer.flush(10)
    assert time.monotonic() - started < 5
    assert store.rows == list(range(10)) and store.batches == [10]
    writer.close(1)


def test_outage_keeps_retrying_without_loss_duplicates_or_blocking(caplog: pytest.LogCaptureFixture) -> None:
    store = FlakyStore()
    writer = make_writer(store, 0)
    writer.put(("row", 0))
    assert writer.flush(5)
    store.up.clear()
    slowest = 0.0
    with caplog.at_level(logging.ERROR, logger="toolkit"):
        for i in range(1, 501):
            started = time.perf_counter()
            writer.put(("row", i))
            slowest = max(slowest, time.perf_counter() - started)
        wait_for(lambda: writer.in_outage)
        assert not writer.flush(0.3)  # cannot finish while the store is down
        assert writer.last_error == "ConnectionError: store is down"
        wait_for(lambda: store.attempts >= 4)  # backoff 0.1, 0.2, 0.4...
    store.up.set()
    assert writer.flush(15)
    assert store.rows == list(range(501))
    assert not writer.in_outage
    assert slowest < 0.05, f"put blocked for {slowest * 1000:.1f} ms"
    outage_logs = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(outage_logs) == 1, [r.getMessage() for r in outage_logs]  # once per outage
    assert "test store mem:0" in outage_logs[0].getMessage()
    writer.close(1)


def test_a_refused_write_is_dropped_alone(caplog: pytest.LogCaptureFixture) -> None:
    store = FlakyStore()
    writer = make_writer(store, 60_000)
    for i in range(5):
        writer.put(("row", i))
    writer.put(("poison", "bad"))
    for i in range(5, 10):
        writer.put(("row", i))
    with caplog.at_level(logging.ERROR, logger="toolkit"):
        assert writer.flush(10)
    assert store.rows == list(range(10))
    assert writer.failed == 1
    assert any("refused and dropped" in r.getMessage() and "poison" in r.getMessage() for r in caplog.records)
    writer.close(1)


def test_close_gives_up_on_an_unreachable_store_and_counts_the_lost_writes() -> None:
    store = FlakyStore()
    store.up.clear()
    writer = make_writer(store, 0)
    for i in range(20):
        writer.put(("row", i))
    started = time.monotonic()
    assert not writer.close(0.3)
    assert time.monotonic() - started < 5
    assert writer.lost == 20 and writer.pending == 0
    assert not writer.put(("row", 99))  # closed


def test_a_full_queue_drops_new_writes_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    store = FlakyStore()
    store.up.clear()
    writer = make_writer(store, 0, max_pending=10)
    with caplog.at_level(logging.ERROR, logger="toolkit"):
        accepted = [writer.put(("row", i)) for i in range(30)]
    assert accepted.count(False) == writer.dropped >= 19
    assert any("write queue full" in r.getMessage() for r in caplog.records)
    store.up.set()
    assert writer.flush(10)
    writer.close(1)


# -- SQLite files ------------------------------------------------------------------------------------------------------


def sqlite_config(path: Path | None, **kwargs: Any) -> CacheConfig:
    return CacheConfig(
        database=DatabaseConfig(type=DatabaseType.SQLITE, path=None if path is None else str(path)), **kwargs
    )


def test_open_cache_database_is_none_without_a_database(tmp_path: Path) -> None:
    assert open_cache_database("TRADER-001", CacheConfig(), db_logger(), tmp_path) is None


def test_sqlite_defaults_to_cache_db_in_the_snapshot_dir_in_wal_mode(tmp_path: Path) -> None:
    snapshot_dir = tmp_path / "output" / "live"  # does not exist yet
    db = open_cache_database("TRADER-001", sqlite_config(None), db_logger(), snapshot_dir)
    assert isinstance(db, SqliteCacheDatabase)
    try:
        assert db.path == snapshot_dir / "cache.db" and db.path.exists()
        import sqlite3

        with sqlite3.connect(db.path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.healthy
    finally:
        db.close()
    assert not db.healthy


def test_sqlite_unwritable_path_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    path = blocker / "cache.db"
    with pytest.raises(DatabaseUnavailable) as info:
        open_cache_database("TRADER-001", sqlite_config(path), db_logger(), tmp_path)
    message = str(info.value)
    assert "SQLite" in message and str(path) in message and "unavailable" in message


def test_sqlite_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    path.write_bytes(b"this is not a database file" * 100)
    with pytest.raises(DatabaseUnavailable, match="not a database"):
        open_cache_database("TRADER-001", sqlite_config(path), db_logger(), tmp_path)


def test_writes_before_open_are_kept_and_load_requires_open(tmp_path: Path) -> None:
    db = SqliteCacheDatabase("TRADER-001", sqlite_config(tmp_path / "c.db"), db_logger())
    db.put_general("k", b"v")
    assert db.pending == 1
    with pytest.raises(RuntimeError, match="not open"):
        db.load()
    db.open()
    db.open()  # idempotent
    assert db.load().general == {"k": b"v"}
    db.close()
    db.close()
