"""Tests of the CSV loaders on the real sample files and on small malformed files written to tmp_path."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from toolkit.catalog import DataCatalog
from toolkit.catalog.loaders import (
    LoaderError,
    format_ns,
    load_bars_csv,
    load_bars_csv_objects,
    load_bid_ask_bars_csv,
    load_truefx_quote_objects,
    load_truefx_quotes_csv,
)
from toolkit.model.data import Bar, BarType
from toolkit.model.instruments import Instrument, instrument_from_dict
from toolkit.model.objects import FIXED_SCALE, Price, Quantity

MINUTE = 60_000_000_000
BTC_BARS = "BTCUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL"


def pair(instrument_id: str, price_increment: str = "0.00001") -> Instrument:
    base, quote = instrument_id.split(".")[0].split("/")
    return instrument_from_dict(
        {
            "kind": "CurrencyPair",
            "id": instrument_id,
            "base_currency": base,
            "quote_currency": quote,
            "price_increment": price_increment,
            "size_increment": "1",
        }
    )


def btc_perp(price_increment: str = "0.001", size_increment: str = "0.0001") -> Instrument:
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


# ---- the real FX files -----------------------------------------------------------------------------


def test_gbpusd_bid_ask_files_load_exactly(shared_data: Path) -> None:
    bid_file = shared_data / "fx" / "gbpusd-m1-bid-2012-02.csv"
    ask_file = shared_data / "fx" / "gbpusd-m1-ask-2012-02.csv"
    loaded = load_bid_ask_bars_csv(bid_file, ask_file, GBPUSD, default_volume="1000000")
    assert str(loaded.bid_bar_type) == "GBP/USD.SIM-1-MINUTE-BID-EXTERNAL"
    assert str(loaded.ask_bar_type) == "GBP/USD.SIM-1-MINUTE-ASK-EXTERNAL"
    assert loaded.bid.height == 30_117 and loaded.ask.height == 30_117
    assert loaded.bid.columns == ["open", "high", "low", "close", "volume", "ts_event", "ts_init"]
    for frame, path in ((loaded.bid, bid_file), (loaded.ask, ask_file)):
        rows = csv_rows(path)
        assert len(rows) == frame.height
        # Every price equals its exact Decimal value, every ts_init is the open stamp + 60 s.
        for i, column in enumerate(("open", "high", "low", "close"), start=1):
            assert frame[column].to_list() == [raw(r[i]) for r in rows]
        opens = [ns(r[0]) for r in rows]
        assert frame["ts_init"].to_list() == [t + MINUTE for t in opens]
        assert frame["ts_event"].equals(frame["ts_init"])
        assert set(frame["volume"].to_list()) == {1_000_000 * FIXED_SCALE}
    first = loaded.bid.row(0, named=True)
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        1_575_970_000,
        1_576_060_000,
        1_575_760_000,
        1_575_760_000,
    )
    assert format_ns(first["ts_init"]) == "2012-02-01T00:01:00Z"
    assert loaded.ask["close"][-1] == raw("1.59216")
    assert format_ns(loaded.ask["ts_init"][-1]) == "2012-03-01T00:01:00Z"


def test_bars_as_objects(shared_data: Path) -> None:
    path = shared_data / "fx" / "gbpusd-m1-ask-2012-02.csv"
    bars = load_bars_csv_objects(path, "GBP/USD.SIM-1-MINUTE-ASK-EXTERNAL", GBPUSD, default_volume=Quantity.of(1, 0))
    assert len(bars) == 30_117 and all(isinstance(b, Bar) for b in bars)
    assert bars[0].open == Price.from_str("1.57608") and bars[0].open.precision == 5
    assert bars[0].low == Price.from_str("1.57585") and bars[0].volume == Quantity.from_str("1")
    assert bars[0].ts_init == ns("2012-02-01 00:01:00+00:00")


def test_eurusd_truefx_quotes_load_exactly(shared_data: Path) -> None:
    path = shared_data / "fx" / "eurusd-quotes-2020-01-01.csv"
    frame = load_truefx_quotes_csv(path, EURUSD, "1000000")
    assert frame.height == 9_500
    assert frame.columns == ["bid", "ask", "bid_size", "ask_size", "ts_event", "ts_init"]
    rows = csv_rows(path, header=False)
    assert frame["bid"].to_list() == [raw(r[1]) for r in rows]
    assert frame["ask"].to_list() == [raw(r[2]) for r in rows]
    assert frame["ts_init"][0] == ns("2020-01-01 17:00:00.065+00:00")
    assert frame["ts_init"][-1] == ns("2020-01-01 23:00:52.125+00:00")
    assert frame["ts_init"].is_sorted() and frame["ts_event"].equals(frame["ts_init"])
    assert set(frame["bid_size"].to_list()) == set(frame["ask_size"].to_list()) == {1_000_000 * FIXED_SCALE}
    quotes = load_truefx_quote_objects(path, EURUSD, 1_000_000)
    assert quotes[0].bid_price == Price.from_str("1.12120") and quotes[0].ask_price == Price.from_str("1.12172")
    assert quotes[0].ask_size == Quantity.from_str("1000000")


def test_truefx_prices_finer_than_the_instrument_name_file_line_and_value(shared_data: Path) -> None:
    path = shared_data / "fx" / "eurusd-quotes-2020-01-01.csv"
    with pytest.raises(LoaderError) as info:
        load_truefx_quotes_csv(path, pair("EUR/USD.SIM", "0.0001"), 1)
    assert info.value.path == path and info.value.line == 3
    assert "'1.121170' has 5 decimals, more than the 4 allowed by instrument EUR/USD.SIM" in str(info.value)
    assert str(info.value).startswith(f"{path}:3: bid")


# ---- the real crypto bar file (naive timestamps) ---------------------------------------------------


def test_btc_perp_bars_with_naive_timestamps(shared_data: Path) -> None:
    path = shared_data / "crypto" / "btc-perp-m1-2022-01.csv"
    frame = load_bars_csv(path, BTC_BARS, btc_perp(), round_volume=True)
    assert frame.height == 45_031
    rows = csv_rows(path)
    assert frame["ts_init"].to_list() == [ns(r[0]) + MINUTE for r in rows]
    assert format_ns(frame["ts_init"][0]) == "2021-12-31T23:02:00Z"
    assert frame["close"].to_list() == [raw(r[4]) for r in rows]
    assert frame.row(0, named=True)["volume"] == raw("2300413.7295")
    by_line = dict(zip(range(2, len(rows) + 2), frame["volume"].to_list(), strict=True))
    assert by_line[244] == raw("289169.9848")  # 289169.9847625: dropped 625 rounds up
    assert by_line[245] == raw("274956.5068")  # 274956.506825: dropped 25 rounds down
    assert by_line[247] == raw("246529.5510")  # 246529.55095: a tie, to the even digit


def test_btc_perp_strict_volume_and_coarse_prices_are_refused(shared_data: Path) -> None:
    path = shared_data / "crypto" / "btc-perp-m1-2022-01.csv"
    with pytest.raises(LoaderError, match=r"btc-perp-m1-2022-01.csv:244: volume '289169.9847625' has 7 decimals"):
        load_bars_csv(path, BTC_BARS, btc_perp())
    with pytest.raises(LoaderError) as info:
        load_bars_csv(path, BTC_BARS, btc_perp(price_increment="0.1"), round_volume=True)
    assert info.value.line == 244
    assert "open '46821.75' has 2 decimals, more than the 1 allowed by instrument BTCUSDT-PERP.BINANCE" in str(
        info.value
    )


def test_loaded_bid_ask_bars_stream_in_pairs_from_the_catalog(shared_data: Path, tmp_path: Path) -> None:
    loaded = load_bid_ask_bars_csv(
        shared_data / "fx" / "gbpusd-m1-bid-2012-02.csv",
        shared_data / "fx" / "gbpusd-m1-ask-2012-02.csv",
        GBPUSD,
        default_volume=1_000_000,
    )
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


# ---- small malformed files -------------------------------------------------------------------------


HEADER = "timestamp,open,high,low,close,volume\n"
GOOD = "2024-01-01 00:00:00+00:00,1.00000,1.00010,0.99990,1.00005,10\n"


def test_exact_parsing_of_decimal_text(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bars.csv",
        "timestamp,open,high,low,close,volume\n"
        "2024-01-01T00:00:00Z, 1.5 ,+2.25,.5,1.00000000,0\n"
        "2024-01-01 00:01:00.250+01:00,7,7.0,7,7.00,3\n",
    )
    instrument = pair("EUR/USD.SIM", "0.01")
    frame = load_bars_csv(path, "EUR/USD.SIM-1-MINUTE-MID-EXTERNAL", instrument, timestamps_at="close")
    # The +01:00 line is an hour earlier in UTC, so it sorts first.
    assert frame.row(1) == (
        raw("1.5"),
        raw("2.25"),
        raw("0.5"),
        raw("1"),
        0,
        ns("2024-01-01 00:00:00+00:00"),
        ns("2024-01-01 00:00:00+00:00"),
    )
    assert frame.row(0)[:5] == (raw("7"), raw("7"), raw("7"), raw("7"), raw("3"))
    assert frame["ts_init"][0] == ns("2023-12-31 23:01:00.250+00:00")


def test_half_even_volume_rounding(tmp_path: Path) -> None:
    lines = [
        f"2024-01-01 00:0{i}:00,1,1,1,1,{v}\n"
        for i, v in enumerate(["1.00005", "1.00015", "1.000051", "2.5", "0.00004"])
    ]
    path = write(tmp_path, "v.csv", HEADER + "".join(lines))
    instrument = btc_perp(price_increment="1", size_increment="0.0001")
    frame = load_bars_csv(path, BTC_BARS, instrument, round_volume=True)
    assert frame["volume"].to_list() == [raw("1.0000"), raw("1.0002"), raw("1.0001"), raw("2.5"), 0]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("2024-01-01 00:01:00+00:00,1.2.3,1.1,0.9,1.0,10", r":3: open '1.2.3' is not a decimal number"),
        ("2024-01-01 00:01:00+00:00,1.000001,1.1,0.9,1.0,10", r":3: open '1.000001' has 6 decimals, more than the 5"),
        ("2024-01-01 00:01:00+00:00,1.0,0.95,0.9,1.0,10", r":3: high 0.95 / low 0.9 do not bound open 1.0 / close 1.0"),
        ("2024-01-01 00:01:00+00:00,1.0,1.1,1.05,1.0,10", r":3: high 1.1 / low 1.05 do not bound open 1.0"),
        ("2024-01-01 00:01:00+00:00,1.0,1.1,,1.0,10", r":3: low missing is not a decimal number"),
        ("2024-01-01 00:01:00+00:00,1.0,1.1,0.9,1.0,1.5", r":3: volume '1.5' has 1 decimals, more than the 0"),
        ("2024-01-01 00:01:00+00:00,1.0,1.1,0.9,1.0,-5", r":3: volume '-5' is negative"),
        ("2024-01-01 00:01:00+00:00,0,1.1,0,1.0,5", r":3: open '0' is not positive"),
        ("2024-13-01 00:01:00+00:00,1.0,1.1,0.9,1.0,10", r":3: timestamp '2024-13-01 00:01:00\+00:00' is not an ISO"),
        ("2024-01-01 00:01:00+00:00,99999999999,99999999999,1,1,10", r":3: open '99999999999' is out of range"),
    ],
)
def test_malformed_bar_lines_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, "bad.csv", HEADER + GOOD + line + "\n" + GOOD)
    with pytest.raises(LoaderError, match=r"bad\.csv" + message) as info:
        load_bars_csv(path, "EUR/USD.SIM-1-MINUTE-BID-EXTERNAL", EURUSD)
    assert info.value.path == path and info.value.line == 3


def test_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    bad = "2024-01-01 00:02:00+00:00,1.0,1.1,0.9,1.0000001,10\n"
    path = write(tmp_path, "gaps.csv", HEADER + GOOD + "\n\n" + bad + "\n")
    with pytest.raises(LoaderError, match=r"gaps\.csv:5: close '1.0000001'"):
        load_bars_csv(path, "EUR/USD.SIM-1-MINUTE-BID-EXTERNAL", EURUSD)
    path = write(tmp_path, "ok.csv", HEADER + GOOD + "\n" + GOOD.replace("00:00:00", "00:01:00") + "\n\n")
    assert load_bars_csv(path, "EUR/USD.SIM-1-MINUTE-BID-EXTERNAL", EURUSD).height == 2


def test_file_level_errors(tmp_path: Path) -> None:
    bar_type = "EUR/USD.SIM-1-MINUTE-BID-EXTERNAL"
    no_volume = write(tmp_path, "nv.csv", "timestamp,open,high,low,close\n2024-01-01 00:00:00,1,1,1,1\n")
    with pytest.raises(LoaderError, match=r"nv\.csv:1: the file has no volume column: pass default_volume"):
        load_bars_csv(no_volume, bar_type, EURUSD)
    assert load_bars_csv(no_volume, bar_type, EURUSD, default_volume="5")["volume"].to_list() == [raw("5")]
    with pytest.raises(LoaderError, match=r"default_volume '0.5'"):
        load_bars_csv(no_volume, bar_type, EURUSD, default_volume="0.5")
    no_close = write(tmp_path, "nc.csv", "timestamp,open,high,low\n2024-01-01 00:00:00,1,1,1\n")
    with pytest.raises(LoaderError, match=r"nc\.csv:1: header lacks close"):
        load_bars_csv(no_close, bar_type, EURUSD, default_volume=1)
    with pytest.raises(LoaderError, match=r"is not for instrument GBP/USD\.SIM"):
        load_bars_csv(no_volume, bar_type, GBPUSD, default_volume=1)
    with pytest.raises(LoaderError, match="no fixed duration"):
        load_bars_csv(no_volume, "EUR/USD.SIM-100-TICK-BID-EXTERNAL", EURUSD, default_volume=1)
    with pytest.raises(LoaderError, match="no such file"):
        load_bars_csv(tmp_path / "missing.csv", bar_type, EURUSD, default_volume=1)


def test_timestamps_at_close_are_kept(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", HEADER + GOOD)
    at_open = load_bars_csv(path, "EUR/USD.SIM-5-MINUTE-BID-EXTERNAL", EURUSD)
    at_close = load_bars_csv(path, BarType.from_str("EUR/USD.SIM-5-MINUTE-BID-EXTERNAL"), EURUSD, timestamps_at="close")
    assert at_open["ts_init"][0] - at_close["ts_init"][0] == 5 * MINUTE


def test_bid_ask_mismatch_reports_the_first_difference(tmp_path: Path) -> None:
    rows = [f"2024-01-01 00:0{i}:00+00:00,1.0,1.1,0.9,1.0,1\n" for i in range(4)]
    bid = write(tmp_path, "bid.csv", HEADER + "".join(rows))
    ask = write(tmp_path, "ask.csv", HEADER + rows[0] + rows[1] + rows[3])
    with pytest.raises(LoaderError) as info:
        load_bid_ask_bars_csv(bid, ask, EURUSD)
    text = str(info.value)
    assert info.value.line == 4
    assert "bid.csv line 4 has the bar at 2024-01-01T00:03:00Z" in text
    assert "ask.csv line 4 has the bar at 2024-01-01T00:04:00Z" in text
    short = write(tmp_path, "short.csv", HEADER + rows[0] + rows[1])
    with pytest.raises(LoaderError, match=r"short\.csv ends after line 3"):
        load_bid_ask_bars_csv(bid, short, EURUSD)


def test_truefx_malformed_lines(tmp_path: Path) -> None:
    good = "20200101 170000065,1.121200,1.121720,0\n"
    bad_time = write(tmp_path, "t.csv", good + "2020-01-01 17:00,1.1,1.2,0\n")
    with pytest.raises(LoaderError, match=r"t\.csv:2: timestamp '2020-01-01 17:00' is not 'YYYYMMDD HHMMSSmmm'"):
        load_truefx_quotes_csv(bad_time, EURUSD, 1)
    bad_price = write(tmp_path, "p.csv", good + good + "20200101 170000066,1.12x,1.2,0\n")
    with pytest.raises(LoaderError, match=r"p\.csv:3: bid '1.12x' is not a decimal number"):
        load_truefx_quotes_csv(bad_price, EURUSD, 1)
    bad_volume = write(tmp_path, "v.csv", good + "20200101 170000066,1.1,1.2,-1\n")
    with pytest.raises(LoaderError, match=r"v\.csv:2: volume '-1' is negative"):
        load_truefx_quotes_csv(bad_volume, EURUSD, 1)
    columns = write(tmp_path, "c.csv", "20200101 170000065,1.1\n")
    with pytest.raises(LoaderError, match="expected 3 or 4 columns"):
        load_truefx_quotes_csv(columns, EURUSD, 1)
    three = write(tmp_path, "three.csv", "20200101 170000065,1.1,1.2\n")
    assert load_truefx_quotes_csv(three, EURUSD, "2")["bid_size"].to_list() == [raw("2")]
    with pytest.raises(LoaderError, match="default_size"):
        load_truefx_quotes_csv(three, EURUSD, "0.5")


def test_loaded_frames_are_sorted_by_ts_init(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", "20200101 170000070,1.1,1.2,0\n20200101 170000065,1.3,1.4,0\n")
    frame = load_truefx_quotes_csv(path, EURUSD, 1)
    assert frame["bid"].to_list() == [raw("1.3"), raw("1.1")]
    assert pl.Series(frame["ts_init"]).is_sorted()
