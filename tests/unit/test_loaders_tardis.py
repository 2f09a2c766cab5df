"""Tests of the Tardis loaders (book_snapshot_25, incremental_book_L2, trades) on the real sample files and on
small files written to tmp_path."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest

from toolkit.catalog.loaded import ROW, LoaderError
from toolkit.catalog.loaders import ASK_CODE, BID_CODE
from toolkit.catalog.parquet import DEPTH10_SCHEMA, DataType
from toolkit.catalog.tardis import read_tardis_book_snapshot, read_tardis_incremental_book_l2, read_tardis_trades
from toolkit.model.data import FLAG_LAST, FLAG_SNAPSHOT
from toolkit.model.objects import FIXED_SCALE

SNAPSHOT = "tardis-binance-futures-btcusdt-book-snapshot-25.csv"
INCREMENTAL = "tardis-deribit-btc-perpetual-book-l2-incremental.csv"
TRADES = "tardis-bitmex-xbtusd-trades.csv"
ADD, UPDATE, DELETE, CLEAR = 1, 2, 3, 4
US = 1_000


def raw(text: str) -> int:
    value = Decimal(text) * FIXED_SCALE
    assert value == value.to_integral_value()
    return int(value)


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ---- book_snapshot_25 -------------------------------------------------------------------------------------


def test_book_snapshot_25_into_depth10(shared_data: Path) -> None:
    path = shared_data / "crypto" / SNAPSHOT
    loaded = read_tardis_book_snapshot(path, "BTCUSDT-PERP.BINANCE")
    frame = loaded.frame
    assert loaded.data_type is DataType.DEPTH10 and loaded.source == path
    assert frame.columns == [*DEPTH10_SCHEMA.names, ROW]
    assert frame.height == 10 and frame[ROW].to_list() == list(range(2, 12))
    rows = rows_of(path)
    for side, name in (("bids", "bid"), ("asks", "ask")):
        for i in range(10):
            assert frame[f"{name}_price_{i}"].to_list() == [raw(r[f"{side}[{i}].price"]) for r in rows]
            assert frame[f"{name}_size_{i}"].to_list() == [raw(r[f"{side}[{i}].amount"]) for r in rows]
            assert set(frame[f"{name}_count_{i}"].to_list()) == {0}
    assert frame["ts_event"].to_list() == [int(r["timestamp"]) * US for r in rows]
    assert frame["ts_init"].to_list() == [int(r["local_timestamp"]) * US for r in rows]
    assert set(frame["flags"].to_list()) == {FLAG_SNAPSHOT | FLAG_LAST} and set(frame["sequence"].to_list()) == {0}
    first = frame.row(0, named=True)
    assert (first["bid_price_0"], first["bid_size_0"], first["ask_price_0"], first["ask_size_0"]) == (
        raw("11657.07"),
        raw("10.896"),
        raw("11657.08"),
        raw("1.714"),
    )
    assert (first["ts_event"], first["ts_init"]) == (1_598_918_403_696_000 * US, 1_598_918_403_810_979 * US)
    last = frame.row(-1, named=True)
    assert (last["ask_price_0"], last["ask_size_0"], last["bid_size_0"]) == (
        raw("11657.08"),
        raw("1.475"),
        raw("10.881"),
    )
    assert (last["ts_event"], last["ts_init"]) == (1_598_918_404_005_000 * US, 1_598_918_404_009_468 * US)


def test_book_snapshot_25_into_deltas_keeps_every_level(shared_data: Path) -> None:
    path = shared_data / "crypto" / SNAPSHOT
    loaded = read_tardis_book_snapshot(path, "BTCUSDT-PERP.BINANCE", into="deltas")
    frame = loaded.frame
    assert loaded.data_type is DataType.DELTAS
    assert frame.height == 10 * (1 + 25 + 25)
    rows = rows_of(path)
    for index, row in enumerate(rows):
        block = frame.slice(index * 51, 51)
        assert block["action"].to_list() == [CLEAR] + [ADD] * 50
        assert block["side"].to_list() == [0] + [BID_CODE] * 25 + [ASK_CODE] * 25
        prices = [raw(row[f"{s}[{i}].price"]) for s in ("bids", "asks") for i in range(25)]
        sizes = [raw(row[f"{s}[{i}].amount"]) for s in ("bids", "asks") for i in range(25)]
        assert block["price"].to_list() == [0, *prices] and block["size"].to_list() == [0, *sizes]
        assert block["flags"].to_list() == [FLAG_SNAPSHOT] * 50 + [FLAG_SNAPSHOT | FLAG_LAST]
        assert set(block[ROW].to_list()) == {index + 2}
        assert set(block["ts_init"].to_list()) == {int(row["local_timestamp"]) * US}
    with pytest.raises(ValueError, match="into must be 'depth10' or 'deltas'"):
        read_tardis_book_snapshot(path, "BTCUSDT-PERP.BINANCE", into="quotes")


def test_book_snapshot_with_fewer_levels_and_malformed_levels(tmp_path: Path) -> None:
    header = "exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,bids[0].price,bids[0].amount,"
    header += "asks[1].price,asks[1].amount,bids[1].price,bids[1].amount\n"
    path = write(tmp_path, "s.csv", header + "x,BTC,1000,1001,10.5,1,10.0,2,,,9.5,3\n")
    frame = read_tardis_book_snapshot(path, "BTC.X").frame
    assert frame.row(0, named=True)["ask_price_1"] == 0 and frame.row(0, named=True)["ask_size_1"] == 0
    assert frame.row(0, named=True)["bid_price_1"] == raw("9.5") and frame.row(0, named=True)["bid_price_2"] == 0
    deltas = read_tardis_book_snapshot(path, "BTC.X", into="deltas").frame
    assert deltas["action"].to_list() == [CLEAR, ADD, ADD, ADD]  # the empty ask level is left out
    half = write(tmp_path, "h.csv", header + "x,BTC,1000,1001,10.5,1,10.0,2,10.6,,9.5,3\n")
    with pytest.raises(LoaderError, match=r"h\.csv: row 2, column asks\[1\]\.amount: value is missing"):
        read_tardis_book_snapshot(half, "BTC.X")
    no_bids = write(tmp_path, "nb.csv", "exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount\n")
    with pytest.raises(LoaderError, match=r"nb\.csv: row 1, column bids\[0\]\.price: missing column"):
        read_tardis_book_snapshot(no_bids, "BTC.X")


# ---- incremental_book_L2 ----------------------------------------------------------------------------------


def test_incremental_book_l2_sample(shared_data: Path) -> None:
    path = shared_data / "crypto" / INCREMENTAL
    loaded = read_tardis_incremental_book_l2(path, "BTC-PERPETUAL.DERIBIT")
    frame = loaded.frame
    assert loaded.data_type is DataType.DELTAS
    rows = rows_of(path)
    assert len(rows) == 15 and frame.height == 16  # the 15 snapshot rows after a CLEAR
    assert frame["action"].to_list() == [CLEAR] + [ADD] * 15
    assert frame["side"].to_list() == [0] + [ASK_CODE] * 15
    assert frame["price"].to_list() == [0] + [raw(r["price"]) for r in rows]
    assert frame["size"].to_list() == [0] + [raw(r["amount"]) for r in rows]
    assert frame["flags"].to_list() == [FLAG_SNAPSHOT] * 15 + [FLAG_SNAPSHOT | FLAG_LAST]
    assert frame[ROW].to_list() == [2, *range(2, 17)]
    assert set(frame["ts_event"].to_list()) == {1_585_699_200_245_000 * US}
    assert set(frame["ts_init"].to_list()) == {1_585_699_200_355_684 * US}
    assert frame.row(1)[:4] == (ADD, ASK_CODE, raw("6421.5"), raw("18640"))
    assert frame.row(-1)[:4] == (ADD, ASK_CODE, raw("6428.5"), raw("39950"))


def test_incremental_updates_and_a_new_snapshot(tmp_path: Path) -> None:
    header = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n"
    lines = [
        "d,X,100,110,true,bid,10.0,5",  # 2: snapshot -> CLEAR + ADD
        "d,X,100,110,true,ask,11.0,6",  # 3
        "d,X,200,210,false,bid,10.0,7",  # 4: known level -> UPDATE
        "d,X,200,210,false,bid,9.5,1",  # 5: new level -> ADD
        "d,X,300,310,false,ask,11.0,0",  # 6: amount 0 -> DELETE
        "d,X,400,410,true,bid,10.0,1",  # 7: a new snapshot -> CLEAR again
        "d,X,500,510,false,bid,10.0,2",  # 8: UPDATE (in the new snapshot)
        "d,X,500,510,false,ask,11.0,3",  # 9: ADD (the ask was not in the new snapshot)
    ]
    frame = read_tardis_incremental_book_l2(write(tmp_path, "l2.csv", header + "\n".join(lines) + "\n"), "X.D").frame
    assert frame["action"].to_list() == [CLEAR, ADD, ADD, UPDATE, ADD, DELETE, CLEAR, ADD, UPDATE, ADD]
    assert frame[ROW].to_list() == [2, 2, 3, 4, 5, 6, 7, 7, 8, 9]
    snapshot_last = FLAG_SNAPSHOT | FLAG_LAST
    assert frame["flags"].to_list() == [
        FLAG_SNAPSHOT,
        FLAG_SNAPSHOT,
        snapshot_last,
        0,
        FLAG_LAST,
        FLAG_LAST,
        FLAG_SNAPSHOT,
        snapshot_last,
        0,
        FLAG_LAST,
    ]
    assert frame["ts_event"].to_list()[3:5] == [200 * US, 200 * US]
    assert frame["ts_init"].to_list()[3:5] == [210 * US, 210 * US]


def test_incremental_malformed(tmp_path: Path) -> None:
    header = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n"
    good = "d,X,100,110,true,bid,10.0,5\n"
    cases = [
        ("side.csv", good + "d,X,100,110,true,middle,10.0,5\n", "side", "value 'middle' is not one of"),
        ("snap.csv", good + "d,X,100,110,yes please,bid,10.0,5\n", "is_snapshot", "is not a boolean"),
        ("amount.csv", good + "d,X,100,110,true,bid,10.0,five\n", "amount", "value 'five' is not a decimal number"),
        ("ts.csv", good + "d,X,1.5e6,110,true,bid,10.0,5\n", "timestamp", "is not epoch microseconds"),
        ("symbol.csv", good + "d,Y,100,110,true,bid,10.0,5\n", "symbol", "symbol 'Y' differs from 'X'"),
    ]
    for name, body, column, message in cases:
        with pytest.raises(LoaderError) as info:
            read_tardis_incremental_book_l2(write(tmp_path, name, header + body), "X.D")
        assert (info.value.row, info.value.column) == (3, column), name
        assert message in str(info.value), name
    no_amount = write(tmp_path, "na.csv", header.replace(",amount", "") + "d,X,100,110,true,bid,10.0\n")
    with pytest.raises(LoaderError, match=r"na\.csv: row 1, column amount: missing column amount"):
        read_tardis_incremental_book_l2(no_amount, "X.D")


# ---- trades -----------------------------------------------------------------------------------------------


def test_trades_sample(shared_data: Path) -> None:
    path = shared_data / "crypto" / TRADES
    loaded = read_tardis_trades(path, "XBTUSD.BITMEX")
    frame = loaded.frame
    assert loaded.data_type is DataType.TRADES
    rows = rows_of(path)
    assert frame.height == len(rows) == 10
    assert frame["trade_id"].to_list() == [r["id"] for r in rows]
    assert frame["price"].to_list() == [raw(r["price"]) for r in rows]
    assert frame["size"].to_list() == [raw(r["amount"]) for r in rows]
    assert set(frame["aggressor_side"].to_list()) == {"SELLER"}  # every trade of the sample is a sell
    assert frame.row(0) == (
        raw("8531.5"),
        raw("2152"),
        "SELLER",
        "ccc3c1fa-212c-e8b0-1706-9b9c4f3d5ecf",
        1_583_020_803_145_000 * US,
        1_583_020_803_307_160 * US,
        2,
    )
    assert frame.row(-1) == (
        raw("8531.5"),
        raw("1"),
        "SELLER",
        "7cae8d7b-b69d-025b-cc3c-84b911f37a8a",
        1_583_020_803_276_000 * US,
        1_583_020_803_336_743 * US,
        11,
    )


def test_trade_sides_and_missing_ids(tmp_path: Path) -> None:
    header = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
    body = "e,X,100,110,,buy,1.5,2\ne,X,100,111,,sell,1.5,3\ne,X,200,210,t9,unknown,1.5,4\ne,X,300,310,,,1.5,5\n"
    frame = read_tardis_trades(write(tmp_path, "t.csv", header + body), "X.E").frame
    assert frame["aggressor_side"].to_list() == ["BUYER", "SELLER", "NO_AGGRESSOR", "NO_AGGRESSOR"]
    assert frame["trade_id"].to_list() == ["100-0", "100-1", "t9", "300-0"]
    bad = write(tmp_path, "b.csv", header + "e,X,100,110,t1,hold,1.5,2\n")
    with pytest.raises(LoaderError, match=r"b\.csv: row 2, column side: value 'hold' is not one of buy, sell, unknown"):
        read_tardis_trades(bad, "X.E")
    no_local = write(tmp_path, "nl.csv", header.replace("local_timestamp,", "") + "e,X,100,t1,buy,1.5,2\n")
    with pytest.raises(LoaderError, match=r"nl\.csv: row 1, column local_timestamp: missing column local_timestamp"):
        read_tardis_trades(no_local, "X.E")
