"""Tests of the Binance loaders on the real sample files (Parquet quotes/trades, futures depth CSVs) and on
small CSV/Parquet files written to tmp_path (the other layouts Binance publishes, malformed input)."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from toolkit.catalog.binance import read_binance_depth, read_binance_quotes, read_binance_trades
from toolkit.catalog.loaded import ROW, LoaderError
from toolkit.catalog.loaders import ASK_CODE, BID_CODE
from toolkit.catalog.parquet import DataType
from toolkit.model.data import FLAG_LAST, FLAG_SNAPSHOT
from toolkit.model.objects import FIXED_SCALE

CRYPTO = "crypto"
QUOTES = "binance-btcusdt-quotes-2021-01-08.parquet"
TRADES = "binance-btcusdt-trades-2021-01-08.parquet"
SNAP = "binance-futures-btcusdt-depth-snap-2022-11-01.csv"
UPDATE = "binance-futures-btcusdt-depth-update-2022-11-01.csv"
ADD, UPDATE_ACTION, DELETE, CLEAR = 1, 2, 3, 4
MS = 1_000_000


def raw(text: str) -> int:
    value = Decimal(text) * FIXED_SCALE
    assert value == value.to_integral_value()
    return int(value)


def raw_of_float(value: float) -> int:
    """What a float in a vendor Parquet file stands for: its decimal at 15 significant digits."""
    return raw(format(value, ".15g"))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ---- quotes ------------------------------------------------------------------------------------------


def test_binance_quotes_parquet_loads_exactly(shared_data: Path) -> None:
    path = shared_data / CRYPTO / QUOTES
    loaded = read_binance_quotes(path, "BTCUSDT.BINANCE")
    frame = loaded.frame
    assert loaded.data_type is DataType.QUOTES and str(loaded.identifier) == "BTCUSDT.BINANCE"
    assert frame.columns == ["bid", "ask", "bid_size", "ask_size", "ts_event", "ts_init", ROW]
    assert frame.height == 451 and frame[ROW].to_list() == list(range(1, 452))
    source = pq.read_table(path).to_pydict()
    for column in ("bid", "ask", "bid_size", "ask_size"):
        assert frame[column].to_list() == [raw_of_float(v) for v in source[column]]
    epoch_ms = pl.Series(source["timestamp"]).dt.epoch("ms")
    assert frame["ts_event"].to_list() == (epoch_ms * MS).to_list()
    assert frame["ts_init"].equals(frame["ts_event"])
    # First and last rows of the file, as published.
    assert frame.row(0) == (
        raw("39432.99"),
        raw("39433.62"),
        raw("0.0031"),
        raw("0.066851"),
        1_610_064_001_076 * MS,
        1_610_064_001_076 * MS,
        1,
    )
    assert frame.row(-1) == (
        raw("39490.97"),
        raw("39490.98"),
        raw("0.131467"),
        raw("0.884984"),
        1_610_064_046_674 * MS,
        1_610_064_046_674 * MS,
        451,
    )


def test_binance_quotes_csv_same_layout_and_book_ticker(shared_data: Path, tmp_path: Path) -> None:
    parquet = read_binance_quotes(shared_data / CRYPTO / QUOTES, "BTCUSDT.BINANCE")
    # The same table as CSV (ISO timestamps, floats as their shortest text): text is exact, so the float
    # noise it carries (0.031035000000000004) is refused, or rounded half-even at 9 decimals when asked.
    as_csv = tmp_path / "quotes.csv"
    pl.read_parquet(shared_data / CRYPTO / QUOTES).write_csv(as_csv)
    with pytest.raises(LoaderError, match=r"row 5, column bid_size: value '0.031035000000000004' has 18 decimals"):
        read_binance_quotes(as_csv, "BTCUSDT.BINANCE")
    loaded = read_binance_quotes(as_csv, "BTCUSDT.BINANCE", round_excess=True)
    assert loaded.frame.drop(ROW).equals(parquet.frame.drop(ROW))
    assert any("column bid_size: rounded" in line for line in loaded.repairs)
    assert loaded.frame[ROW].to_list() == list(range(2, 453))
    # data.binance.vision bookTicker, with and without its header: ts_event = transaction_time, ts_init = event_time.
    body = (
        "1,20377.00,1.770,20377.10,0.500,1667346579146,1667346579150\n"
        "2,20377.10,0.1,20377.20,2,1667346579200,1667346579201\n"
    )
    header = "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time\n"
    for name, text in (("bt.csv", header + body), ("bt_noheader.csv", body)):
        frame = read_binance_quotes(write(tmp_path, name, text), "BTCUSDT-PERP.BINANCE").frame
        assert frame.row(0)[:6] == (
            raw("20377.00"),
            raw("20377.10"),
            raw("1.770"),
            raw("0.500"),
            1_667_346_579_146 * MS,
            1_667_346_579_150 * MS,
        )
        assert frame[ROW].to_list() == ([2, 3] if name == "bt.csv" else [1, 2])


# ---- trades -------------------------------------------------------------------------------------------


def test_binance_trades_parquet_loads_exactly(shared_data: Path) -> None:
    path = shared_data / CRYPTO / TRADES
    loaded = read_binance_trades(path, "BTCUSDT.BINANCE")
    frame = loaded.frame
    assert loaded.data_type is DataType.TRADES
    assert frame.columns == ["price", "size", "aggressor_side", "trade_id", "ts_event", "ts_init", ROW]
    assert frame.height == 2_001
    source = pq.read_table(path).to_pydict()
    assert frame["price"].to_list() == [raw_of_float(v) for v in source["price"]]
    assert frame["size"].to_list() == [raw_of_float(v) for v in source["quantity"]]
    assert frame["trade_id"].to_list() == [str(v) for v in source["trade_id"]]
    # buyer_maker True: the buyer rested, the seller aggressed.
    expected = ["SELLER" if v == "True" else "BUYER" for v in source["buyer_maker"]]
    assert frame["aggressor_side"].to_list() == expected
    assert expected.count("SELLER") == sum(1 for v in source["buyer_maker"] if v == "True")
    assert frame.row(0) == (
        raw("39432.48"),
        raw("0.000263"),
        "SELLER",
        "553287559",
        1_610_064_000_278 * MS,
        1_610_064_000_278 * MS,
        1,
    )
    assert frame.row(1)[2:4] == ("BUYER", "553287560")
    # Row 3's quantity is stored as the double 0.00031099999999999997: it is the 0.000311 Binance printed.
    assert source["quantity"][2] == 0.00031099999999999997 and frame["size"][2] == raw("0.000311")
    assert frame.row(-1) == (
        raw("39491.76"),
        raw("0.014596"),
        "SELLER",
        "553289559",
        1_610_064_046_355 * MS,
        1_610_064_046_355 * MS,
        2_001,
    )


@pytest.mark.parametrize(
    ("text", "trade_id", "size", "side", "ts_ns"),
    [
        # spot trades: id,price,qty,quote_qty,time,is_buyer_maker,is_best_match
        (
            "553287559,39432.48,0.000263,10.37074224,1610064000278,True,True\n",
            "553287559",
            "0.000263",
            "SELLER",
            1_610_064_000_278 * MS,
        ),
        # futures trades: id,price,qty,quote_qty,time,is_buyer_maker
        ("1,20377.0,0.005,101.885,1667346579146,false\n", "1", "0.005", "BUYER", 1_667_346_579_146 * MS),
        # futures aggTrades: agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker
        ("7,20377.0,0.006,10,12,1667346579146,true\n", "7", "0.006", "SELLER", 1_667_346_579_146 * MS),
        # spot aggTrades (+ is_best_match), microsecond stamps (spot files since 2025)
        ("8,20377.0,0.007,10,12,1735689600000123,false,true\n", "8", "0.007", "BUYER", 1_735_689_600_000_123_000),
        # with a header
        (
            "id,price,qty,quote_qty,time,is_buyer_maker\n9,20377.0,0.008,101.885,1667346579146,false\n",
            "9",
            "0.008",
            "BUYER",
            1_667_346_579_146 * MS,
        ),
    ],
)
def test_binance_trade_csv_layouts(tmp_path: Path, text: str, trade_id: str, size: str, side: str, ts_ns: int) -> None:
    frame = read_binance_trades(write(tmp_path, "t.csv", text), "BTCUSDT.BINANCE").frame
    assert frame.drop(ROW).rows() == [
        (raw(text.splitlines()[-1].split(",")[1]), raw(size), side, trade_id, ts_ns, ts_ns)
    ]


def test_binance_trades_malformed(tmp_path: Path, shared_data: Path) -> None:
    header = "timestamp,trade_id,price,quantity,buyer_maker\n"
    good = "1610064000278,553287559,39432.48,0.000263,True\n"
    cases = [
        (
            "bad_side.csv",
            good + "1610064000310,553287560,39439.44,0.004376,sometimes\n",
            3,
            "buyer_maker",
            "not a boolean",
        ),
        ("bad_price.csv", good + "1610064000310,553287560,39439.4.4,0.004376,False\n", 3, "price", "not a decimal"),
        ("nan.csv", good + "1610064000310,553287560,NaN,0.004376,False\n", 3, "price", "not a finite number"),
        ("no_id.csv", good + "1610064000310,,39439.44,0.004376,False\n", 3, "trade_id", "value is missing"),
        ("bad_ts.csv", good + "yesterday,553287560,39439.44,0.004376,False\n", 3, "timestamp", "is not epoch"),
    ]
    for name, body, row, column, message in cases:
        with pytest.raises(LoaderError) as info:
            read_binance_trades(write(tmp_path, name, header + body), "BTCUSDT.BINANCE")
        assert (info.value.row, info.value.column) == (row, column), name
        assert message in str(info.value)
    missing = write(tmp_path, "missing.csv", "timestamp,trade_id,price,buyer_maker\n" + "1,2,3,True\n")
    with pytest.raises(LoaderError, match=r"missing\.csv: row 1, column quantity: missing column quantity or qty"):
        read_binance_trades(missing, "BTCUSDT.BINANCE")
    symbols = write(tmp_path, "s.csv", "symbol," + header + "BTCUSDT," + good + "ETHUSDT," + good)
    with pytest.raises(LoaderError, match=r"row 3, column symbol: symbol 'ETHUSDT' differs from 'BTCUSDT'"):
        read_binance_trades(symbols, "BTCUSDT.BINANCE")


def test_parquet_problems_name_file_row_and_column(tmp_path: Path, shared_data: Path) -> None:
    table = pq.read_table(shared_data / CRYPTO / TRADES)
    truncated = tmp_path / "truncated.parquet"
    data = (shared_data / CRYPTO / TRADES).read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(LoaderError, match=r"truncated\.parquet: not a readable Parquet file \(truncated or corrupt"):
        read_binance_trades(truncated, "BTCUSDT.BINANCE")
    prices = table.column("price").to_pylist()
    for index, value, message in (
        (4, float("nan"), "value 'NaN' is not a finite number"),
        (9, None, "value is missing"),
    ):
        bad = prices.copy()
        bad[index] = value
        path = tmp_path / f"bad{index}.parquet"
        pq.write_table(table.set_column(2, "price", pa.array(bad, pa.float64())), path)
        with pytest.raises(LoaderError) as info:
            read_binance_trades(path, "BTCUSDT.BINANCE")
        assert (info.value.row, info.value.column) == (index + 1, "price")
        assert str(info.value) == f"{path}: row {index + 1}, column price: {message}"
    tiny = tmp_path / "tiny.parquet"
    pq.write_table(table.slice(0, 1).set_column(3, "quantity", pa.array([1e-10])), tiny)
    with pytest.raises(LoaderError, match=r"row 1, column size: value '0.0000000001' has 10 decimals"):
        read_binance_trades(tiny, "BTCUSDT.BINANCE")


# ---- futures depth --------------------------------------------------------------------------------------


def test_binance_depth_snapshot_and_updates_become_deltas(shared_data: Path) -> None:
    snap_path, update_path = shared_data / CRYPTO / SNAP, shared_data / CRYPTO / UPDATE
    snapshot, updates = read_binance_depth([snap_path, update_path], "BTCUSDT-PERP.BINANCE")
    assert snapshot.data_type is DataType.DELTAS and snapshot.source == snap_path and updates.source == update_path
    assert snapshot.frame.columns == [
        "action",
        "side",
        "price",
        "size",
        "order_id",
        "flags",
        "sequence",
        "ts_event",
        "ts_init",
        ROW,
    ]
    # The snapshot file (100 bid levels) is a CLEAR then 100 ADDs, all flagged SNAPSHOT, LAST on the last.
    snap = snapshot.frame
    assert snap.height == 101
    assert snap.row(0) == (CLEAR, 0, 0, 0, 0, FLAG_SNAPSHOT, 2_098_021_528_332, *[1_667_346_579_146 * MS] * 2, 2)
    assert snap.row(1) == (
        ADD,
        BID_CODE,
        raw("20377.00"),
        raw("1.770"),
        0,
        FLAG_SNAPSHOT,
        2_098_021_528_332,
        *[1_667_346_579_146 * MS] * 2,
        2,
    )
    assert snap.row(-1)[:6] == (ADD, BID_CODE, raw("20365.90"), raw("0.207"), 0, FLAG_SNAPSHOT | FLAG_LAST)
    assert snap[ROW].to_list() == [2, *range(2, 102)]
    rows = list(csv.DictReader(snap_path.open()))
    assert snap["price"].to_list()[1:] == [raw(r["price"]) for r in rows]
    assert snap["size"].to_list()[1:] == [raw(r["qty"]) for r in rows]
    # The update file is one exchange event (update id 2098041696700): LAST only on its last delta.
    upd = updates.frame
    assert upd.height == 100 and upd[ROW].to_list() == list(range(2, 102))
    rows = list(csv.DictReader(update_path.open()))
    assert upd["price"].to_list() == [raw(r["price"]) for r in rows]
    assert upd["size"].to_list() == [raw(r["qty"]) for r in rows]
    assert upd["side"].to_list() == [BID_CODE if r["side"] == "b" else ASK_CODE for r in rows]
    assert set(upd["sequence"].to_list()) == {2_098_041_696_700}
    assert upd["flags"].to_list() == [0] * 99 + [FLAG_LAST]
    assert upd.row(0)[:4] == (DELETE, ASK_CODE, raw("20472.80"), 0)  # qty 0 removes the level
    assert upd.row(6)[:4] == (ADD, ASK_CODE, raw("20473.60"), raw("0.126"))  # line 8: a new level
    assert upd.row(69)[:4] == (UPDATE_ACTION, ASK_CODE, raw("20473.60"), raw("0.126"))  # line 71 repeats line 8
    assert upd.row(-1)[:6] == (UPDATE_ACTION, ASK_CODE, raw("20879.10"), raw("10.249"), 0, FLAG_LAST)
    counts = dict(upd.group_by("action").len().iter_rows())
    assert counts == {ADD: 50, UPDATE_ACTION: 29, DELETE: 21}
    assert sum(1 for r in rows if Decimal(r["qty"]) == 0) == 21
    # The sample's update ids do not follow the snapshot's (10 minutes apart), and lines 65-101 repeat 2-38.
    assert snapshot.warnings == ()
    gap, repeat = updates.warnings
    assert gap.startswith(f"{update_path}: row 2: update ids 2098041693435..2098041696700") and "2098021528333" in gap
    assert repeat.startswith(f"{update_path}: row 65: 37 row(s) repeat a level")


def test_binance_depth_continuous_updates_have_no_warning(tmp_path: Path) -> None:
    header = "symbol,timestamp,first_update_id,last_update_id,side,update_type,price,qty,pu\n"
    snap = write(
        tmp_path, "s.csv", header + "BTCUSDT,1000,10,10,b,snap,100.0,1,-1\nBTCUSDT,1000,10,10,a,snap,101.0,2,-1\n"
    )
    update = write(
        tmp_path,
        "u.csv",
        header
        + "BTCUSDT,1001,9,12,b,set,100.0,3,8\n"  # straddles the snapshot id 10
        + "BTCUSDT,1001,9,12,a,set,101.0,0,8\n"
        + "BTCUSDT,1002,13,15,b,set,99.0,1,12\n"  # pu = previous last_update_id
        + "BTCUSDT,1003,17,18,b,set,99.0,2,14\n",  # pu 14 != 15: a gap
    )
    snapshot, updates = read_binance_depth([snap, update], "BTCUSDT-PERP.BINANCE")
    assert snapshot.frame["action"].to_list() == [CLEAR, ADD, ADD]
    assert snapshot.frame["flags"].to_list() == [FLAG_SNAPSHOT, FLAG_SNAPSHOT, FLAG_SNAPSHOT | FLAG_LAST]
    assert updates.frame["action"].to_list() == [UPDATE_ACTION, DELETE, ADD, UPDATE_ACTION]
    assert updates.frame["flags"].to_list() == [0, FLAG_LAST, FLAG_LAST, FLAG_LAST]
    assert updates.frame["sequence"].to_list() == [12, 12, 15, 18]
    assert len(updates.warnings) == 1 and "row 5: update ids 17..18 (pu 14)" in updates.warnings[0]
    assert "expected pu = 15" in updates.warnings[0]


def test_binance_depth_malformed(tmp_path: Path) -> None:
    header = "symbol,timestamp,first_update_id,last_update_id,side,update_type,price,qty,pu\n"
    good = "BTCUSDT,1000,10,10,b,snap,100.0,1,-1\n"
    cases = [
        (
            "side.csv",
            good + "BTCUSDT,1000,10,10,x,snap,100.0,1,-1\n",
            3,
            "side",
            "value 'x' is not one of b, a, bid, ask",
        ),
        (
            "type.csv",
            good + "BTCUSDT,1000,10,10,b,delta,100.0,1,-1\n",
            3,
            "update_type",
            "'delta' is not one of snap, set",
        ),
        ("qty.csv", good + "BTCUSDT,1000,10,10,b,snap,100.0,1..,-1\n", 3, "qty", "value '1..' is not a decimal number"),
        ("id.csv", good + "BTCUSDT,1000,10,ten,b,snap,100.0,1,-1\n", 3, "last_update_id", "not an integer update id"),
    ]
    for name, body, row, column, message in cases:
        with pytest.raises(LoaderError) as info:
            read_binance_depth([write(tmp_path, name, header + body)], "BTCUSDT-PERP.BINANCE")
        assert (info.value.row, info.value.column) == (row, column), name
        assert message in str(info.value), name
    no_qty = write(tmp_path, "noqty.csv", header.replace(",qty", "") + "BTCUSDT,1000,10,10,b,snap,100.0,-1\n")
    with pytest.raises(LoaderError, match=r"noqty\.csv: row 1, column qty: missing column qty or quantity"):
        read_binance_depth([no_qty], "BTCUSDT-PERP.BINANCE")
