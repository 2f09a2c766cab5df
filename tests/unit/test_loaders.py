"""Tests of the generic loaders (bar CSVs, bid/ask bar pairs, TrueFX quotes), their exact parsing primitives,
and the first API (`load_*`, checked against an instrument), on the real sample files and small files in tmp_path."""

from __future__ import annotations

import csv
import zipfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from toolkit.catalog import DataCatalog
from toolkit.catalog.loaded import ROW, ImportRefused, LoadedData, check_loaded
from toolkit.catalog.loaders import (
    ASK_CODE,
    BID_CODE,
    SOURCE_ROW,
    LoaderError,
    decimal_text,
    format_ns,
    level_deltas,
    load_bars_csv,
    load_bars_csv_objects,
    load_bid_ask_bars_csv,
    load_truefx_quote_objects,
    load_truefx_quotes_csv,
    parse_booleans,
    parse_decimals,
    parse_epoch,
    read_bars_csv,
    read_bid_ask_bars_csv,
    read_csv_text,
    read_truefx_quotes_csv,
)
from toolkit.catalog.parquet import DataType
from toolkit.model.data import FLAG_LAST, FLAG_SNAPSHOT, Bar, BarType
from toolkit.model.instruments import Instrument, instrument_from_dict
from toolkit.model.objects import FIXED_SCALE, Price, Quantity

MINUTE = 60_000_000_000
BTC_BARS = "BTCUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL"


def pair(instrument_id: str, price_increment: str = "0.00001", size_increment: str = "1") -> Instrument:
    base, quote = instrument_id.split(".")[0].split("/")
    return instrument_from_dict(
        {
            "kind": "CurrencyPair",
            "id": instrument_id,
            "base_currency": base,
            "quote_currency": quote,
            "price_increment": price_increment,
            "size_increment": size_increment,
        }
    )


def btc_perp(price_increment: str = "0.125", size_increment: str = "0.0001") -> Instrument:
    return instrument_from_dict(
        {
            "kind": "CryptoPerpetual",
            "id": "BTCUSDT-PERP.BINANCE",
            "base_currency": "BTC",
            "quote_currency": "USDT",
            "price_increment": price_increment,
            "size_increment": size_increment,
        }
    )


GBPUSD = pair("GBP/USD.SIM")
EURUSD = pair("EUR/USD.SIM")


def raw(text: str) -> int:
    """The exact raw fixed-point value of decimal text, computed with Decimal."""
    value = Decimal(text) * FIXED_SCALE
    assert value == value.to_integral_value()
    return int(value)


def ns(text: str) -> int:
    """ns since the epoch of an ISO timestamp (naive = UTC), exactly (whole microseconds only)."""
    stamp = datetime.fromisoformat(text)
    stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    delta = stamp - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def csv_rows(path: Path, header: bool = True) -> list[list[str]]:
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[1:] if header else rows


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def frame_of(**columns: list) -> pl.DataFrame:
    """A parsing input frame: the given columns plus the source row column."""
    height = len(next(iter(columns.values())))
    return pl.DataFrame(columns).with_columns(pl.int_range(2, height + 2, dtype=pl.Int64).alias(SOURCE_ROW))


# ---- the real FX bar files -------------------------------------------------------------------------


def test_gbpusd_bid_ask_files_load_exactly(shared_data: Path) -> None:
    bid_file = shared_data / "fx" / "gbpusd-m1-bid-2012-02.csv"
    ask_file = shared_data / "fx" / "gbpusd-m1-ask-2012-02.csv"
    bid, ask = read_bid_ask_bars_csv(bid_file, ask_file, "GBP/USD.SIM", default_volume="1000000")
    assert isinstance(bid, LoadedData) and bid.data_type is DataType.BARS and bid.source == bid_file
    assert str(bid.identifier) == "GBP/USD.SIM-1-MINUTE-BID-EXTERNAL"
    assert str(ask.identifier) == "GBP/USD.SIM-1-MINUTE-ASK-EXTERNAL"
    assert bid.dataset == "bars/GBP/USD.SIM-1-MINUTE-BID-EXTERNAL"
    assert bid.rows == ask.rows == 30_117
    assert bid.frame.columns == ["open", "high", "low", "close", "volume", "ts_event", "ts_init", ROW]
    for loaded, path in ((bid, bid_file), (ask, ask_file)):
        rows = csv_rows(path)
        frame = loaded.frame
        assert len(rows) == frame.height
        assert frame[ROW].to_list() == list(range(2, 30_119))  # line numbers, the header is line 1
        for i, column in enumerate(("open", "high", "low", "close"), start=1):
            assert frame[column].to_list() == [raw(r[i]) for r in rows]
        assert frame["ts_init"].to_list() == [ns(r[0]) + MINUTE for r in rows]  # stamped at the open
        assert frame["ts_event"].equals(frame["ts_init"])
        assert set(frame["volume"].to_list()) == {1_000_000 * FIXED_SCALE}
    first = bid.frame.row(0, named=True)
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        1_575_970_000,
        1_576_060_000,
        1_575_760_000,
        1_575_760_000,
    )
    assert format_ns(first["ts_init"]) == "2012-02-01T00:01:00Z"
    last = ask.frame.row(-1, named=True)
    assert (last["open"], last["close"], last[ROW]) == (raw("1.59217"), raw("1.59216"), 30_118)
    assert format_ns(last["ts_init"]) == "2012-03-01T00:01:00Z"


def test_gbpusd_bid_ask_bars_into_quotes(shared_data: Path) -> None:
    bid_file = shared_data / "fx" / "gbpusd-m1-bid-2012-02.csv"
    ask_file = shared_data / "fx" / "gbpusd-m1-ask-2012-02.csv"
    (quotes,) = read_bid_ask_bars_csv(bid_file, ask_file, "GBP/USD.SIM", into="quotes", default_size=1_000_000)
    assert quotes.data_type is DataType.QUOTES and str(quotes.identifier) == "GBP/USD.SIM"
    assert quotes.frame.columns == ["bid", "ask", "bid_size", "ask_size", "ts_event", "ts_init", ROW]
    assert quotes.rows == 30_117
    # One quote per bar, at the bar close: bid = BID close, ask = ASK close.
    assert quotes.frame.row(0) == (
        raw("1.57576"),
        raw("1.57585"),
        raw("1000000"),
        raw("1000000"),
        ns("2012-02-01 00:01:00+00:00"),
        ns("2012-02-01 00:01:00+00:00"),
        2,
    )
    assert quotes.frame.row(-1)[:2] == (raw("1.59208"), raw("1.59216"))
    assert quotes.frame["ts_init"][-1] == ns("2012-03-01 00:01:00+00:00")
    assert quotes.source_of("ask") == ask_file and quotes.source_of("bid") == bid_file
    with pytest.raises(ValueError, match="default size"):
        read_bid_ask_bars_csv(bid_file, ask_file, "GBP/USD.SIM", into="quotes")


def test_legacy_bid_ask_loader_and_bar_objects(shared_data: Path, tmp_path: Path) -> None:
    bid_file = shared_data / "fx" / "gbpusd-m1-bid-2012-02.csv"
    ask_file = shared_data / "fx" / "gbpusd-m1-ask-2012-02.csv"
    loaded = load_bid_ask_bars_csv(bid_file, ask_file, GBPUSD, default_volume=1_000_000)
    assert str(loaded.bid_bar_type) == "GBP/USD.SIM-1-MINUTE-BID-EXTERNAL"
    assert loaded.bid.columns == ["open", "high", "low", "close", "volume", "ts_event", "ts_init"]
    assert loaded.ask.height == 30_117
    catalog = DataCatalog(tmp_path)
    catalog.write_instruments([GBPUSD])
    catalog.write_bars(loaded.bid_bar_type, loaded.bid)
    catalog.write_bars(loaded.ask_bar_type, loaded.ask)
    bars = list(catalog.stream_objects([("bars", loaded.bid_bar_type), ("bars", loaded.ask_bar_type)]))
    assert len(bars) == 2 * 30_117
    assert all(
        b.bar_type.spec.price_type.value == "BID"
        and a.bar_type.spec.price_type.value == "ASK"
        and a.ts_init == b.ts_init
        for b, a in zip(bars[::2], bars[1::2], strict=True)
    )
    objects = load_bars_csv_objects(
        ask_file, "GBP/USD.SIM-1-MINUTE-ASK-EXTERNAL", GBPUSD, default_volume=Quantity.of(1, 0)
    )
    assert len(objects) == 30_117 and all(isinstance(b, Bar) for b in objects)
    assert objects[0].open == Price.from_str("1.57608") and objects[0].open.precision == 5
    assert objects[0].low == Price.from_str("1.57585") and objects[0].volume == Quantity.from_str("1")
    assert objects[0].ts_init == ns("2012-02-01 00:01:00+00:00")


def test_gbpusd_bars_on_a_ten_times_coarser_grid_are_refused_at_the_first_row(shared_data: Path) -> None:
    path = shared_data / "fx" / "gbpusd-m1-bid-2012-02.csv"
    with pytest.raises(ImportRefused) as info:
        load_bars_csv(path, "GBP/USD.SIM-1-MINUTE-BID-EXTERNAL", pair("GBP/USD.SIM", "0.0001"), default_volume=1)
    error = info.value
    # Line 2 is the first bar: open 1.57597 is not a multiple of 0.0001.
    assert (error.path, error.row, error.column, error.value) == (path, 2, "open", "1.57597")
    assert error.issues[0].kind == "off_grid_price"
    assert str(error).startswith(f"{path} (bars/GBP/USD.SIM-1-MINUTE-BID-EXTERNAL): row 2, column open: 1.57597")
    assert "--fix round" in str(error)


# ---- the real TrueFX quote file -------------------------------------------------------------------


def test_eurusd_truefx_quotes_load_exactly(shared_data: Path) -> None:
    path = shared_data / "fx" / "eurusd-quotes-2020-01-01.csv"
    loaded = read_truefx_quotes_csv(path, "EUR/USD.SIM", default_size="1000000")
    frame = loaded.frame
    assert frame.height == 9_500 and loaded.data_type is DataType.QUOTES
    assert frame.columns == ["bid", "ask", "bid_size", "ask_size", "ts_event", "ts_init", ROW]
    rows = csv_rows(path, header=False)
    assert frame["bid"].to_list() == [raw(r[1]) for r in rows]
    assert frame["ask"].to_list() == [raw(r[2]) for r in rows]
    assert frame[ROW].to_list() == list(range(1, 9_501))  # no header: line 1 is the first quote
    assert frame.row(0)[:2] == (raw("1.121200"), raw("1.121720"))
    assert frame["ts_init"][0] == ns("2020-01-01 17:00:00.065+00:00")
    assert frame.row(-1)[:2] == (raw("1.121300"), raw("1.121320"))
    assert frame["ts_init"][-1] == ns("2020-01-01 23:00:52.125+00:00")
    assert frame["ts_event"].equals(frame["ts_init"])
    assert set(frame["bid_size"].to_list()) == set(frame["ask_size"].to_list()) == {1_000_000 * FIXED_SCALE}
    quotes = load_truefx_quote_objects(path, EURUSD, 1_000_000)
    assert len(quotes) == 9_500
    assert quotes[0].bid_price == Price.from_str("1.12120") and quotes[0].ask_price == Price.from_str("1.12172")
    assert quotes[0].ask_size == Quantity.from_str("1000000")


def test_truefx_prices_finer_than_the_instrument_are_refused(shared_data: Path) -> None:
    path = shared_data / "fx" / "eurusd-quotes-2020-01-01.csv"
    with pytest.raises(ImportRefused) as info:
        load_truefx_quotes_csv(path, pair("EUR/USD.SIM", "0.0001"), 1)
    # Line 1: bid 1.121200 fits 0.0001 but ask 1.121720 does not.
    assert (info.value.path, info.value.row, info.value.column, info.value.value) == (path, 1, "ask", "1.12172")
    with pytest.raises(ValueError, match=r"default_size 0.5 is not a multiple of the size increment 1 of EUR/USD.SIM"):
        load_truefx_quotes_csv(path, EURUSD, "0.5")


# ---- the real crypto bar file (naive timestamps, float noise in volumes) ---------------------------


def test_btc_perp_bars_with_naive_timestamps(shared_data: Path) -> None:
    path = shared_data / "crypto" / "btc-perp-m1-2022-01.csv"
    rows = csv_rows(path)
    # Six volumes carry float noise beyond 9 decimals (first on line 249): refused unless rounded.
    with pytest.raises(LoaderError) as info:
        read_bars_csv(path, BTC_BARS)
    assert (info.value.row, info.value.column, info.value.value) == (249, "volume", "218102.59507500002")
    assert "has 11 decimals, more than the 9 the catalog stores" in str(info.value)
    loaded = read_bars_csv(path, BTC_BARS, round_excess=True)
    frame = loaded.frame
    assert frame.height == 45_031
    assert frame["ts_init"].to_list() == [ns(r[0]) + MINUTE for r in rows]
    assert format_ns(frame["ts_init"][0]) == "2021-12-31T23:02:00Z"
    assert format_ns(frame["ts_init"][-1]) == "2022-02-01T05:32:00Z"
    for i, column in enumerate(("open", "high", "low", "close"), start=1):
        assert frame[column].to_list() == [raw(r[i]) for r in rows]
    assert frame.row(0)[:5] == (raw("46319"), raw("46385"), raw("46319"), raw("46377"), raw("2300413.7295"))
    assert frame.row(-1)[:5] == (raw("38525"), raw("38546"), raw("38525"), raw("38544"), raw("685906.9735"))
    by_line = dict(zip(frame[ROW].to_list(), frame["volume"].to_list(), strict=True))
    assert by_line[244] == raw("289169.9847625")  # 7 decimals: exact at the catalog's 9
    assert by_line[249] == raw("218102.595075000")  # ...00002 rounded away
    assert by_line[17528] == raw("420687.751975000")  # ...99996 rounds up
    assert len(loaded.repairs) == 1 and "rounded 6 value(s)" in loaded.repairs[0] and "row 249" in loaded.repairs[0]


def test_btc_perp_legacy_loader_rounds_volumes_to_the_size_grid(shared_data: Path) -> None:
    path = shared_data / "crypto" / "btc-perp-m1-2022-01.csv"
    with pytest.raises(
        LoaderError, match=r"btc-perp-m1-2022-01.csv: row 249, column volume: value '218102.59507500002'"
    ):
        load_bars_csv(path, BTC_BARS, btc_perp())
    frame = load_bars_csv(path, BTC_BARS, btc_perp(), round_volume=True)
    assert frame.height == 45_031 and frame.columns == ["open", "high", "low", "close", "volume", "ts_event", "ts_init"]
    volume = frame["volume"].to_list()
    assert volume[244 - 2] == raw("289169.9848")  # 289169.9847625: the dropped 625 rounds up
    assert volume[245 - 2] == raw("274956.5068")  # 274956.506825: 25 rounds down
    assert volume[247 - 2] == raw("246529.5510")  # 246529.55095: a tie, to the even digit


def test_btc_perp_prices_on_a_ten_times_coarser_grid_are_refused(shared_data: Path) -> None:
    path = shared_data / "crypto" / "btc-perp-m1-2022-01.csv"
    with pytest.raises(ImportRefused) as info:
        load_bars_csv(path, BTC_BARS, btc_perp(price_increment="0.01"), round_volume=True)
    # The prices sit on a 0.125 grid: line 17524 has close 43613.875, three decimals.
    assert (info.value.row, info.value.column, info.value.value) == (17_524, "close", "43613.875")
    assert "the prices imply increment 0.125" in str(info.value)


# ---- exact parsing primitives ------------------------------------------------------------------------


def test_decimal_text_is_parsed_exactly(tmp_path: Path) -> None:
    values = [" 1.5 ", "+2.25", ".5", "1.000000000", "-3", "0", "1e-05", "2.5E3", "123456789.123456789", "9."]
    parsed = parse_decimals(frame_of(v=values), "v", path=tmp_path / "f.csv")
    expected = ["1.5", "2.25", "0.5", "1", "-3", "0", "0.00001", "2500", "123456789.123456789", "9"]
    assert parsed.raw.to_list() == [raw(e) for e in expected]
    assert parsed.rounded == 0


def test_floats_are_read_as_the_decimal_they_stand_for() -> None:
    noisy = [0.00031099999999999997, 0.1 + 0.2, 1e-6, 46319.0, 39432.48, 2.5e-05, 0.0063289999999999996]
    assert decimal_text(pl.Series(noisy)).to_list() == [
        "0.000311",
        "0.3",
        "0.000001",
        "46319.0",
        "39432.48",
        "0.000025",
        "0.006329",
    ]


def test_more_than_nine_decimals_are_refused_or_rounded_half_even(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    values = ["1.0000000005", "1.0000000015", "1.00000000050001", "2.5"]
    with pytest.raises(LoaderError) as info:
        parse_decimals(frame_of(v=values), "v", path=path)
    assert (info.value.row, info.value.column, info.value.value) == (2, "v", "1.0000000005")
    assert "has 10 decimals, more than the 9" in str(info.value)
    parsed = parse_decimals(frame_of(v=values), "v", path=path, round_excess=True)
    assert parsed.raw.to_list() == [raw("1"), raw("1.000000002"), raw("1.000000001"), raw("2.5")]
    assert parsed.rounded == 3 and parsed.first_rounded == (2, "1.0000000005")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1.2.3", "value '1.2.3' is not a decimal number"),
        ("abc", "value 'abc' is not a decimal number"),
        ("NaN", "value 'NaN' is not a finite number"),
        ("-inf", "value '-inf' is not a finite number"),
        ("", "value is missing"),
        (None, "value is missing"),
        ("99999999999", "value '99999999999' is out of range"),
        ("1e400", "is not a decimal number"),
    ],
)
def test_bad_numbers_name_file_row_and_column(tmp_path: Path, value: str | None, message: str) -> None:
    path = tmp_path / "f.csv"
    with pytest.raises(LoaderError) as info:
        parse_decimals(frame_of(price=["1.0", value, "2.0"]), "price", path=path)
    assert info.value.path == path and info.value.row == 3 and info.value.column == "price"
    assert str(info.value).startswith(f"{path}: row 3, column price: ")
    assert message in str(info.value)


def test_float_nan_and_infinity_are_refused(tmp_path: Path) -> None:
    frame = frame_of(size=[1.5, float("nan"), float("inf")])
    with pytest.raises(LoaderError, match=r"row 3, column size: value 'NaN' is not a finite number"):
        parse_decimals(frame, "size", path=tmp_path / "f.parquet")


def test_epoch_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    frame = frame_of(t=["1610064000278", "1610064000278123", "+1610064000278"])
    assert parse_epoch(frame, "t", path=path, unit="ms_or_us").to_list() == [
        1_610_064_000_278_000_000,
        1_610_064_000_278_123_000,
        1_610_064_000_278_000_000,
    ]
    assert parse_epoch(frame_of(t=["1583020803145000"]), "t", path=path, unit="us").to_list() == [
        1_583_020_803_145_000_000
    ]
    iso = frame_of(t=["2021-01-08 00:00:01.076000+00:00", "1610064001076"])
    assert parse_epoch(iso, "t", path=path, unit="ms_or_us", iso=True).to_list() == [1_610_064_001_076_000_000] * 2
    for bad in ("16100640OO278", "-5", "2021-01-08", "99999999999999999999"):
        with pytest.raises(LoaderError, match=r"row 2, column t: timestamp .* is not epoch"):
            parse_epoch(frame_of(t=[bad]), "t", path=path, unit="ms_or_us")


def test_booleans(tmp_path: Path) -> None:
    frame = frame_of(b=["True", "false", " TRUE ", "0", "1"])
    assert parse_booleans(frame, "b", path=tmp_path / "f").to_list() == [True, False, True, False, True]
    with pytest.raises(LoaderError, match=r"row 3, column b: value 'maybe' is not a boolean"):
        parse_booleans(frame_of(b=["True", "maybe"]), "b", path=tmp_path / "f")


def test_zipped_csv_is_read_like_the_csv(tmp_path: Path) -> None:
    text = "timestamp,open,high,low,close,volume\n2024-01-01 00:00:00+00:00,1.00000,1.00010,0.99990,1.00005,10\n"
    archive = tmp_path / "bars.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("bars.csv", text)
    frame = read_csv_text(archive)
    assert frame.columns == [SOURCE_ROW, "timestamp", "open", "high", "low", "close", "volume"]
    assert frame[SOURCE_ROW].to_list() == [2]


def test_level_deltas_clear_add_update_delete_and_flags() -> None:
    levels = pl.DataFrame(
        {
            "part": [0] * 6,
            ROW: [2, 3, 4, 5, 6, 7],
            "ts_event": [10, 10, 20, 20, 30, 30],
            "ts_init": [11, 11, 21, 21, 31, 31],
            "sequence": [1, 1, 2, 2, 3, 3],
            "side": [BID_CODE, ASK_CODE, BID_CODE, BID_CODE, ASK_CODE, BID_CODE],
            "price": [100, 101, 100, 99, 101, 100],
            "size": [5, 6, 7, 8, 0, 0],
            "snapshot": [True, True, False, False, False, False],
            "clear": [True, False, False, False, False, False],
            "event": [1, 1, 2, 2, 3, 3],
        }
    )
    deltas = level_deltas(levels)
    # CLEAR, ADD, ADD (snapshot), UPDATE (level 100 known), ADD (99 new), DELETE, DELETE
    assert deltas["action"].to_list() == [4, 1, 1, 2, 1, 3, 3]
    assert deltas["side"].to_list() == [0, BID_CODE, ASK_CODE, BID_CODE, BID_CODE, ASK_CODE, BID_CODE]
    assert deltas["flags"].to_list() == [
        FLAG_SNAPSHOT,
        FLAG_SNAPSHOT,
        FLAG_SNAPSHOT | FLAG_LAST,
        0,
        FLAG_LAST,
        0,
        FLAG_LAST,
    ]
    assert deltas[ROW].to_list() == [2, 2, 3, 4, 5, 6, 7]
    assert deltas["sequence"].to_list() == [1, 1, 1, 2, 2, 3, 3]
    assert deltas.row(0)[2:4] == (0, 0)


# ---- small malformed bar files ------------------------------------------------------------------------

HEADER = "timestamp,open,high,low,close,volume\n"
GOOD = "2024-01-01 00:00:00+00:00,1.00000,1.00010,0.99990,1.00005,10\n"
BAR_TYPE = "EUR/USD.SIM-1-MINUTE-BID-EXTERNAL"


def test_exact_parsing_of_a_bar_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bars.csv",
        "Timestamp, Open ,high,low,close,volume\n"
        "2024-01-01T00:00:00Z, 1.5 ,+2.25,.5,1.00000000,0\n"
        "2024-01-01 00:01:00.250+01:00,7,7.0,7,7.00,3\n",
    )
    loaded = read_bars_csv(path, "EUR/USD.SIM-1-MINUTE-MID-EXTERNAL", timestamps_at="close")
    # File order is kept (the checks, not the loader, deal with order): the +01:00 line is earlier in UTC.
    assert loaded.frame.row(0) == (
        raw("1.5"),
        raw("2.25"),
        raw("0.5"),
        raw("1"),
        0,
        *[ns("2024-01-01 00:00:00")] * 2,
        2,
    )
    assert loaded.frame.row(1)[:5] == (raw("7"), raw("7"), raw("7"), raw("7"), raw("3"))
    assert loaded.frame["ts_init"][1] == ns("2023-12-31 23:01:00.250+00:00")


@pytest.mark.parametrize(
    ("line", "column", "message"),
    [
        ("2024-01-01 00:01:00+00:00,1.2.3,1.1,0.9,1.0,10", "open", "value '1.2.3' is not a decimal number"),
        ("2024-01-01 00:01:00+00:00,1.0,1.1,,1.0,10", "low", "value is missing"),
        ("2024-01-01 00:01:00+00:00,nan,1.1,0.9,1.0,10", "open", "value 'nan' is not a finite number"),
        ("2024-13-01 00:01:00+00:00,1.0,1.1,0.9,1.0,10", "timestamp", "timestamp '2024-13-01 00:01:00+00:00' is not"),
        ("2024-01-01 00:01:00+00:00,99999999999,99999999999,1,1,10", "open", "value '99999999999' is out of range"),
        (
            "2024-01-01 00:01:00+00:00,1.0,0.95,0.9,1.0,10",
            "high",
            "high 0.95 / low 0.9 do not bound open 1.0 / close 1.0",
        ),
        ("2024-01-01 00:01:00+00:00,1.0,1.1,1.05,1.0,10", "low", "high 1.1 / low 1.05 do not bound open 1.0"),
        ("2024-01-01 00:01:00+00:00,1.0,1.1,0.9,1.0,1.0000000001", "volume", "has 10 decimals, more than the 9"),
    ],
)
def test_malformed_bar_lines_name_file_row_and_column(tmp_path: Path, line: str, column: str, message: str) -> None:
    path = write(tmp_path, "bad.csv", HEADER + GOOD + line + "\n" + GOOD)
    with pytest.raises(LoaderError) as info:
        read_bars_csv(path, BAR_TYPE)
    assert info.value.path == path and info.value.row == 3 and info.value.column == column
    assert str(info.value).startswith(f"{path}: row 3, column {column}: ")
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("line", "kind", "column", "message"),
    [
        ("2024-01-01 00:01:00+00:00,1.000001,1.1,0.9,1.0,10", "off_grid_price", "open", "1.000001 is not a multiple"),
        ("2024-01-01 00:01:00+00:00,1.0,1.1,0.9,1.0,1.5", "off_grid_size", "volume", "1.5 is not a multiple"),
        ("2024-01-01 00:01:00+00:00,1.0,1.1,0.9,1.0,-5", "non_positive_size", "volume", "-5 is negative"),
        ("2024-01-01 00:01:00+00:00,0,1.1,0,1.0,5", "non_positive_price", "open", "0 is not positive"),
    ],
)
def test_the_first_api_runs_the_checks(tmp_path: Path, line: str, kind: str, column: str, message: str) -> None:
    path = write(tmp_path, "bad.csv", HEADER + GOOD + line + "\n" + GOOD.replace("00:00:00", "00:02:00"))
    with pytest.raises(ImportRefused) as info:
        load_bars_csv(path, BAR_TYPE, EURUSD)
    assert (info.value.path, info.value.row, info.value.column) == (path, 3, column)
    assert info.value.issues[0].kind == kind
    assert message in str(info.value) and str(info.value).startswith(
        f"{path} (bars/{BAR_TYPE}): row 3, column {column}"
    )


def test_unsorted_rows_are_kept_by_the_loader_and_refused_by_the_checks(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", "20200101 170000070,1.1,1.2,0\n20200101 170000065,1.3,1.4,0\n")
    loaded = read_truefx_quotes_csv(path, "EUR/USD.SIM", default_size=1)
    assert loaded.frame["bid"].to_list() == [raw("1.1"), raw("1.3")]
    with pytest.raises(ImportRefused) as info:
        load_truefx_quotes_csv(path, EURUSD, 1)
    assert (info.value.row, info.value.column, info.value.issues[0].kind) == (2, "ts_init", "unsorted")
    fixed = check_loaded(loaded, EURUSD, {"sort"})
    assert fixed.frame["bid"].to_list() == [raw("1.3"), raw("1.1")]
    assert fixed.repairs == (f"{path} (quotes/EUR/USD.SIM): sorted 1 row out of order",)


def test_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    bad = "2024-01-01 00:02:00+00:00,1.0,1.1,0.9,x,10\n"
    path = write(tmp_path, "gaps.csv", HEADER + GOOD + "\n\n" + bad + "\n")
    with pytest.raises(LoaderError, match=r"gaps\.csv: row 5, column close: value 'x'"):
        read_bars_csv(path, BAR_TYPE)
    path = write(tmp_path, "ok.csv", HEADER + GOOD + "\n" + GOOD.replace("00:00:00", "00:01:00") + "\n\n")
    assert read_bars_csv(path, BAR_TYPE).frame[ROW].to_list() == [2, 4]


def test_file_level_errors(tmp_path: Path) -> None:
    no_volume = write(tmp_path, "nv.csv", "timestamp,open,high,low,close\n2024-01-01 00:00:00,1,1,1,1\n")
    with pytest.raises(LoaderError, match=r"nv\.csv: row 1, column volume: the file has no volume column"):
        read_bars_csv(no_volume, BAR_TYPE)
    assert read_bars_csv(no_volume, BAR_TYPE, default_volume="5").frame["volume"].to_list() == [raw("5")]
    with pytest.raises(ValueError, match=r"default_volume 0.5 is not a multiple of the size increment 1"):
        load_bars_csv(no_volume, BAR_TYPE, EURUSD, default_volume="0.5")
    with pytest.raises(LoaderError, match=r"default_volume -1 must not be negative"):
        read_bars_csv(no_volume, BAR_TYPE, default_volume="-1")
    no_close = write(tmp_path, "nc.csv", "timestamp,open,high,low\n2024-01-01 00:00:00,1,1,1\n")
    with pytest.raises(LoaderError) as info:
        read_bars_csv(no_close, BAR_TYPE, default_volume=1)
    assert (info.value.row, info.value.column) == (1, "close")
    assert "missing column close (the file has: timestamp, open, high, low)" in str(info.value)
    with pytest.raises(LoaderError, match=r"is not for instrument GBP/USD\.SIM"):
        load_bars_csv(no_volume, BAR_TYPE, GBPUSD, default_volume=1)
    with pytest.raises(LoaderError, match="no fixed duration"):
        read_bars_csv(no_volume, "EUR/USD.SIM-100-TICK-BID-EXTERNAL", default_volume=1)
    with pytest.raises(LoaderError, match="no such file"):
        read_bars_csv(tmp_path / "missing.csv", BAR_TYPE, default_volume=1)
    with pytest.raises(LoaderError, match="the file is empty"):
        read_bars_csv(write(tmp_path, "empty.csv", ""), BAR_TYPE, default_volume=1)
    assert read_bars_csv(write(tmp_path, "header.csv", HEADER), BAR_TYPE).rows == 0


def test_timestamps_at_close_are_kept(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", HEADER + GOOD)
    at_open = read_bars_csv(path, "EUR/USD.SIM-5-MINUTE-BID-EXTERNAL")
    at_close = read_bars_csv(path, BarType.from_str("EUR/USD.SIM-5-MINUTE-BID-EXTERNAL"), timestamps_at="close")
    assert at_open.frame["ts_init"][0] - at_close.frame["ts_init"][0] == 5 * MINUTE


def test_bid_ask_mismatch_reports_the_first_difference(tmp_path: Path) -> None:
    rows = [f"2024-01-01 00:0{i}:00+00:00,1.0,1.1,0.9,1.0,1\n" for i in range(4)]
    bid = write(tmp_path, "bid.csv", HEADER + "".join(rows))
    ask = write(tmp_path, "ask.csv", HEADER + rows[0] + rows[1] + rows[3])
    with pytest.raises(LoaderError) as info:
        read_bid_ask_bars_csv(bid, ask, "EUR/USD.SIM")
    text = str(info.value)
    assert info.value.row == 4
    assert "bid.csv line 4 has the bar at 2024-01-01T00:03:00Z" in text
    assert "ask.csv line 4 has the bar at 2024-01-01T00:04:00Z" in text
    short = write(tmp_path, "short.csv", HEADER + rows[0] + rows[1])
    with pytest.raises(LoaderError, match=r"short\.csv ends after line 3"):
        read_bid_ask_bars_csv(bid, short, "EUR/USD.SIM")
    with pytest.raises(ValueError, match=r"bar type GBP/USD.SIM-1-MINUTE-BID-EXTERNAL is not for instrument EUR/USD"):
        read_bid_ask_bars_csv(bid, ask, "EUR/USD.SIM", bar_type="GBP/USD.SIM-1-MINUTE-BID-EXTERNAL")


def test_quotes_from_bid_ask_bars_name_the_ask_file_for_ask_problems(tmp_path: Path) -> None:
    bid = write(tmp_path, "bid.csv", HEADER + GOOD)
    ask = write(tmp_path, "ask.csv", HEADER + GOOD.replace("1.00005,10", "1.000055,10"))
    (quotes,) = read_bid_ask_bars_csv(bid, ask, "EUR/USD.SIM", into="quotes", default_size=1)
    with pytest.raises(ImportRefused) as info:
        check_loaded(quotes, EURUSD)
    assert (info.value.path, info.value.row, info.value.column) == (ask, 2, "ask")
    assert str(info.value).startswith(f"{ask} (quotes/EUR/USD.SIM): row 2, column ask: 1.000055")


def test_truefx_malformed_lines(tmp_path: Path) -> None:
    good = "20200101 170000065,1.121200,1.121720,0\n"
    bad_time = write(tmp_path, "t.csv", good + "2020-01-01 17:00,1.1,1.2,0\n")
    with pytest.raises(LoaderError, match=r"t\.csv: row 2, column timestamp: timestamp '2020-01-01 17:00' is not"):
        read_truefx_quotes_csv(bad_time, "EUR/USD.SIM", default_size=1)
    bad_price = write(tmp_path, "p.csv", good + good + "20200101 170000066,1.12x,1.2,0\n")
    with pytest.raises(LoaderError, match=r"p\.csv: row 3, column bid: value '1.12x' is not a decimal number"):
        read_truefx_quotes_csv(bad_price, "EUR/USD.SIM", default_size=1)
    bad_volume = write(tmp_path, "v.csv", good + "20200101 170000066,1.1,1.2,lots\n")
    with pytest.raises(LoaderError, match=r"v\.csv: row 2, column volume: value 'lots' is not a decimal number"):
        read_truefx_quotes_csv(bad_volume, "EUR/USD.SIM", default_size=1)
    columns = write(tmp_path, "c.csv", "20200101 170000065,1.1\n")
    with pytest.raises(LoaderError, match="expected 3 or 4 columns"):
        read_truefx_quotes_csv(columns, "EUR/USD.SIM", default_size=1)
    three = write(tmp_path, "three.csv", "20200101 170000065,1.1,1.2\n")
    assert read_truefx_quotes_csv(three, "EUR/USD.SIM", default_size="2").frame["bid_size"].to_list() == [raw("2")]
