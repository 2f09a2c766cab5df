"""End-to-end: every real sample file imported into a catalog (through `import_files` and through the real
`toolkit catalog import` process), the checks refusing data that does not fit, and failed imports leaving the
catalog exactly as it was."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from tests.conftest import PROJECT_ROOT
from toolkit.catalog import CatalogError, DataCatalog
from toolkit.catalog.importer import FORMATS, ImportRefused, import_files, write_instrument_files
from toolkit.catalog.loaded import LoaderError
from toolkit.model.data import FLAG_LAST, FLAG_SNAPSHOT
from toolkit.model.objects import FIXED_SCALE

TOOLKIT = str(Path(sys.executable).parent / "toolkit")
MINUTE = 60_000_000_000
MS, US = 1_000_000, 1_000

# Increments found from the data: the finest grid every price/size of the files sits on.
INSTRUMENTS_TOML = """
[[instruments]]
kind = "CurrencyPair"
id = "GBP/USD.SIM"
base_currency = "GBP"
quote_currency = "USD"
price_increment = "0.00001"
size_increment = "1"

[[instruments]]
kind = "CurrencyPair"
id = "EUR/USD.SIM"
base_currency = "EUR"
quote_currency = "USD"
price_increment = "0.00001"
size_increment = "1"

[[instruments]]  # btc-perp-m1: prices on a 0.125 grid; volumes rounded to 0.0001 on import
kind = "CryptoPerpetual"
id = "BTC-PERP.SIM"
base_currency = "BTC"
quote_currency = "USD"
price_increment = "0.125"
size_increment = "0.0001"

[[instruments]]  # Binance spot in 2021: tick 0.01, lot 0.000001
kind = "CurrencyPair"
id = "BTCUSDT.BINANCE"
base_currency = "BTC"
quote_currency = "USDT"
price_increment = "0.01"
size_increment = "0.000001"

[[instruments]]  # Binance USDT-M futures: tick 0.01 in 2020 (Tardis), 0.1 in 2022 (depth files); lot 0.001
kind = "CryptoPerpetual"
id = "BTCUSDT-PERP.BINANCE"
base_currency = "BTC"
quote_currency = "USDT"
price_increment = "0.01"
size_increment = "0.001"

[[instruments]]  # Deribit inverse perpetual: tick 0.5, 10 USD contracts
kind = "CryptoPerpetual"
id = "BTC-PERPETUAL.DERIBIT"
base_currency = "BTC"
quote_currency = "USD"
settlement_currency = "BTC"
is_inverse = true
price_increment = "0.5"
size_increment = "10"

[[instruments]]  # BitMEX inverse perpetual: tick 0.5, 1 USD contracts
kind = "CryptoPerpetual"
id = "XBTUSD.BITMEX"
base_currency = "BTC"
quote_currency = "USD"
settlement_currency = "BTC"
is_inverse = true
price_increment = "0.5"
size_increment = "1"
"""


def raw(text: str) -> int:
    value = Decimal(text) * FIXED_SCALE
    assert value == value.to_integral_value()
    return int(value)


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def instruments_file(tmp_path: Path) -> Path:
    path = tmp_path / "instruments.toml"
    path.write_text(INSTRUMENTS_TOML)
    return path


@pytest.fixture
def catalog(tmp_path: Path, instruments_file: Path) -> DataCatalog:
    store = DataCatalog(tmp_path / "catalog")
    write_instrument_files(store, [instruments_file])
    return store


def market(shared_data: Path, name: str) -> Path:
    return shared_data / ("fx" if name.startswith(("gbpusd", "eurusd")) else "crypto") / name


def catalog_state(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under the catalog with its size and modification time."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def run_toolkit(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [TOOLKIT, *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, env=env, check=False
    )


# ---- every sample file, through import_files ----------------------------------------------------------


def test_every_format_has_a_sample_file_test() -> None:
    assert set(FORMATS) == {
        "bars_csv",
        "bid_ask_bars_csv",
        "truefx_quotes",
        "binance_quotes",
        "binance_trades",
        "binance_depth",
        "tardis_book_snapshot_25",
        "tardis_incremental_book_l2",
        "tardis_trades",
    }


@pytest.mark.parametrize(("name", "side"), [("gbpusd-m1-bid-2012-02.csv", "BID"), ("gbpusd-m1-ask-2012-02.csv", "ASK")])
def test_import_gbpusd_bar_file(catalog: DataCatalog, shared_data: Path, name: str, side: str) -> None:
    path = market(shared_data, name)
    bar_type = f"GBP/USD.SIM-1-MINUTE-{side}-EXTERNAL"
    report = import_files(catalog, "bars_csv", "GBP/USD.SIM", [path], bar_type=bar_type, default_volume="1000000")
    assert report.rows == {f"bars/{bar_type}": 30_117} and report.repairs == () and report.warnings == ()
    bars = catalog.query("bars", bar_type)
    rows = csv_rows(path)
    assert bars.height == len(rows) == 30_117
    assert bars["close"].to_list() == [raw(r["close"]) for r in rows]
    first, last = bars.row(0, named=True), bars.row(-1, named=True)
    if side == "BID":
        assert (first["open"], first["high"], first["low"], first["close"]) == tuple(
            map(raw, ("1.57597", "1.57606", "1.57576", "1.57576"))
        )
        assert (last["open"], last["close"]) == (raw("1.59206"), raw("1.59208"))
    else:
        assert (first["open"], first["close"]) == (raw("1.57608"), raw("1.57585"))
        assert (last["open"], last["close"]) == (raw("1.59217"), raw("1.59216"))
    # Stamped at the bar open in the file; stored at the close.
    assert first["ts_init"] == 1_328_054_400 * 10**9 + MINUTE  # 2012-02-01 00:01:00
    assert last["ts_init"] == 1_330_560_000 * 10**9 + MINUTE  # 2012-03-01 00:01:00
    assert set(bars["volume"].to_list()) == {raw("1000000")}


def test_import_gbpusd_bid_and_ask_files_into_bars_and_into_quotes(catalog: DataCatalog, shared_data: Path) -> None:
    bid, ask = market(shared_data, "gbpusd-m1-bid-2012-02.csv"), market(shared_data, "gbpusd-m1-ask-2012-02.csv")
    report = import_files(catalog, "bid_ask_bars_csv", "GBP/USD.SIM", [bid, ask], default_volume=1)
    assert report.rows == {
        "bars/GBP/USD.SIM-1-MINUTE-BID-EXTERNAL": 30_117,
        "bars/GBP/USD.SIM-1-MINUTE-ASK-EXTERNAL": 30_117,
    }
    report = import_files(catalog, "bid_ask_bars_csv", "GBP/USD.SIM", [bid, ask], into="quotes", default_size="1000000")
    assert report.rows == {"quotes/GBP/USD.SIM": 30_117}
    quotes = catalog.query("quotes", "GBP/USD.SIM")
    assert quotes["bid"].to_list() == [raw(r["close"]) for r in csv_rows(bid)]
    assert quotes["ask"].to_list() == [raw(r["close"]) for r in csv_rows(ask)]
    assert quotes.row(0)[:2] == (raw("1.57576"), raw("1.57585")) and quotes.row(-1)[:2] == (
        raw("1.59208"),
        raw("1.59216"),
    )
    # Real FX data: 347 minutes close with the bid above the ask (first on line 526): reported, not refused.
    assert quotes.filter(pl.col("bid") > pl.col("ask")).height == 347
    assert report.warnings == (
        f"{bid} (quotes/GBP/USD.SIM): row 526, column bid: bid 1.57429 is above ask 1.57425 (crossed quote) "
        "(347 rows in total)",
    )


def test_import_eurusd_truefx_quotes(catalog: DataCatalog, shared_data: Path) -> None:
    path = market(shared_data, "eurusd-quotes-2020-01-01.csv")
    report = import_files(catalog, "truefx_quotes", "EUR/USD.SIM", [path], default_size="1000000")
    assert report.rows == {"quotes/EUR/USD.SIM": 9_500}
    quotes = catalog.query("quotes", "EUR/USD.SIM")
    assert quotes.height == 9_500
    assert quotes.row(0) == (
        raw("1.1212"),
        raw("1.12172"),
        raw("1000000"),
        raw("1000000"),
        *[1_577_898_000_065 * MS] * 2,
    )
    assert quotes.row(-1)[:2] == (raw("1.1213"), raw("1.12132"))
    assert quotes["ts_init"][-1] == 1_577_919_652_125 * MS


def test_import_btc_perp_bars_needs_and_reports_rounding(catalog: DataCatalog, shared_data: Path) -> None:
    path = market(shared_data, "btc-perp-m1-2022-01.csv")
    bar_type = "BTC-PERP.SIM-1-MINUTE-LAST-EXTERNAL"
    with pytest.raises(LoaderError, match=r"row 249, column volume: value '218102.59507500002' has 11 decimals"):
        import_files(catalog, "bars_csv", "BTC-PERP.SIM", [path], bar_type=bar_type)
    report = import_files(catalog, "bars_csv", "BTC-PERP.SIM", [path], bar_type=bar_type, fix="round")
    assert report.rows == {f"bars/{bar_type}": 45_031}
    assert len(report.repairs) == 2
    assert "column volume: rounded 6 value(s) with more than 9 decimals" in report.repairs[0]
    assert report.repairs[1].endswith("rounded 13 volume values to the 0.0001 grid")
    bars = catalog.query("bars", bar_type)
    assert bars.row(0)[:5] == (raw("46319"), raw("46385"), raw("46319"), raw("46377"), raw("2300413.7295"))
    assert bars.row(-1)[:5] == (raw("38525"), raw("38546"), raw("38525"), raw("38544"), raw("685906.9735"))
    assert bars["ts_init"][0] == 1_640_991_660 * 10**9 + MINUTE  # 2021-12-31 23:01 + 1 minute
    assert bars["volume"][244 - 2] == raw("289169.9848")


def test_import_binance_quotes_parquet(catalog: DataCatalog, shared_data: Path) -> None:
    path = market(shared_data, "binance-btcusdt-quotes-2021-01-08.parquet")
    report = import_files(catalog, "binance_quotes", "BTCUSDT.BINANCE", [path])
    assert report.rows == {"quotes/BTCUSDT.BINANCE": 451}
    quotes = catalog.query("quotes", "BTCUSDT.BINANCE")
    source = pq.read_table(path).to_pydict()
    assert quotes["bid"].to_list() == [raw(format(v, ".15g")) for v in source["bid"]]
    assert quotes.row(0) == (
        raw("39432.99"),
        raw("39433.62"),
        raw("0.0031"),
        raw("0.066851"),
        *[1_610_064_001_076 * MS] * 2,
    )
    assert quotes.row(-1)[:4] == (raw("39490.97"), raw("39490.98"), raw("0.131467"), raw("0.884984"))
    assert any("repeats the previous row's timestamp" in w for w in report.warnings)


def test_import_binance_trades_parquet(catalog: DataCatalog, shared_data: Path) -> None:
    path = market(shared_data, "binance-btcusdt-trades-2021-01-08.parquet")
    report = import_files(catalog, "binance_trades", "BTCUSDT.BINANCE", [path])
    assert report.rows == {"trades/BTCUSDT.BINANCE": 2_001}
    trades = catalog.query_objects("trades", "BTCUSDT.BINANCE")
    assert len(trades) == 2_001
    assert (str(trades[0].price), str(trades[0].size), trades[0].aggressor_side.value, trades[0].trade_id) == (
        "39432.48",
        "0.000263",
        "SELLER",
        "553287559",
    )
    assert (str(trades[-1].price), str(trades[-1].size), trades[-1].trade_id) == ("39491.76", "0.014596", "553289559")
    assert trades[-1].ts_init == 1_610_064_046_355 * MS


def test_import_binance_depth_snapshot_and_updates(catalog: DataCatalog, shared_data: Path) -> None:
    snap = market(shared_data, "binance-futures-btcusdt-depth-snap-2022-11-01.csv")
    update = market(shared_data, "binance-futures-btcusdt-depth-update-2022-11-01.csv")
    # The update file repeats lines 2-38 at 65-101: the 8 repeated deletes are exact duplicate deltas.
    with pytest.raises(ImportRefused) as info:
        import_files(catalog, "binance_depth", "BTCUSDT-PERP.BINANCE", [snap, update])
    assert (info.value.path, info.value.row, info.value.issues[0].kind) == (update, 65, "duplicate_row")
    assert "--fix dedupe" in str(info.value)
    report = import_files(catalog, "binance_depth", "BTCUSDT-PERP.BINANCE", [snap, update], fix="dedupe")
    assert report.rows == {"deltas/BTCUSDT-PERP.BINANCE": 101 + 100 - 8}
    assert report.repairs == (f"{update} (deltas/BTCUSDT-PERP.BINANCE): dropped 8 exact duplicate rows",)
    assert any("do not continue the book" in w for w in report.warnings)
    deltas = catalog.query_objects("deltas", "BTCUSDT-PERP.BINANCE")
    assert deltas[0].action.value == "CLEAR" and deltas[0].flags == FLAG_SNAPSHOT
    assert (deltas[1].action.value, deltas[1].side.value, str(deltas[1].price), str(deltas[1].size)) == (
        "ADD",
        "BUY",
        "20377.00",
        "1.770",
    )
    assert deltas[100].flags == FLAG_SNAPSHOT | FLAG_LAST and str(deltas[100].price) == "20365.90"
    assert (deltas[101].action.value, deltas[101].side.value, str(deltas[101].price)) == ("DELETE", "SELL", "20472.80")
    assert deltas[-1].is_last and str(deltas[-1].price) == "20879.10" and str(deltas[-1].size) == "10.249"
    assert deltas[-1].sequence == 2_098_041_696_700 and deltas[-1].ts_init == 1_667_347_199_939 * MS


@pytest.mark.parametrize("into", ["depth10", "deltas"])
def test_import_tardis_book_snapshot_25(catalog: DataCatalog, shared_data: Path, into: str) -> None:
    path = market(shared_data, "tardis-binance-futures-btcusdt-book-snapshot-25.csv")
    report = import_files(catalog, "tardis_book_snapshot_25", "BTCUSDT-PERP.BINANCE", [path], into=into)
    rows = csv_rows(path)
    if into == "depth10":
        assert report.rows == {"depth10/BTCUSDT-PERP.BINANCE": 10}
        depths = catalog.query_objects("depth10", "BTCUSDT-PERP.BINANCE")
        assert [str(p) for p in (depths[0].best_bid_price, depths[0].best_ask_price)] == ["11657.07", "11657.08"]
        assert depths[0].ts_event == int(rows[0]["timestamp"]) * US
        assert depths[-1].ts_init == int(rows[-1]["local_timestamp"]) * US == 1_598_918_404_009_468 * US
        assert depths[-1].ask_sizes_raw[0] == raw("1.475") and depths[-1].bid_prices_raw[9] == raw(
            rows[-1]["bids[9].price"]
        )
    else:
        assert report.rows == {"deltas/BTCUSDT-PERP.BINANCE": 510}
        deltas = catalog.query_objects("deltas", "BTCUSDT-PERP.BINANCE")
        assert sum(d.action.value == "CLEAR" for d in deltas) == 10 and sum(d.is_last for d in deltas) == 10
        assert str(deltas[-1].price) == rows[-1]["asks[24].price"]


def test_import_tardis_incremental_book_l2(catalog: DataCatalog, shared_data: Path) -> None:
    path = market(shared_data, "tardis-deribit-btc-perpetual-book-l2-incremental.csv")
    report = import_files(catalog, "tardis_incremental_book_l2", "BTC-PERPETUAL.DERIBIT", [path])
    assert report.rows == {"deltas/BTC-PERPETUAL.DERIBIT": 16}
    deltas = catalog.query_objects("deltas", "BTC-PERPETUAL.DERIBIT")
    assert [d.action.value for d in deltas] == ["CLEAR"] + ["ADD"] * 15
    assert (str(deltas[1].price), str(deltas[1].size)) == ("6421.5", "18640")
    assert (str(deltas[-1].price), str(deltas[-1].size), deltas[-1].is_last) == ("6428.5", "39950", True)
    assert deltas[-1].ts_event == 1_585_699_200_245_000 * US and deltas[-1].ts_init == 1_585_699_200_355_684 * US


def test_import_tardis_trades(catalog: DataCatalog, shared_data: Path) -> None:
    path = market(shared_data, "tardis-bitmex-xbtusd-trades.csv")
    report = import_files(catalog, "tardis_trades", "XBTUSD.BITMEX", [path])
    assert report.rows == {"trades/XBTUSD.BITMEX": 10}
    trades = catalog.query_objects("trades", "XBTUSD.BITMEX")
    assert (str(trades[0].price), str(trades[0].size), trades[0].trade_id) == (
        "8531.5",
        "2152",
        "ccc3c1fa-212c-e8b0-1706-9b9c4f3d5ecf",
    )
    assert trades[-1].trade_id == "7cae8d7b-b69d-025b-cc3c-84b911f37a8a"
    assert trades[-1].ts_init == 1_583_020_803_336_743 * US


# ---- the real CLI process -------------------------------------------------------------------------------


def test_cli_imports_instruments_bars_trades_and_deltas_and_lists_them(
    tmp_path: Path, shared_data: Path, instruments_file: Path
) -> None:
    root = tmp_path / "cli-catalog"
    proc = run_toolkit("catalog", "instruments", "--catalog", str(root), str(instruments_file))
    assert proc.returncode == 0, proc.stderr
    assert "wrote 7 instrument definition(s)" in proc.stdout and "XBTUSD.BITMEX" in proc.stdout
    bid, ask = market(shared_data, "gbpusd-m1-bid-2012-02.csv"), market(shared_data, "gbpusd-m1-ask-2012-02.csv")
    proc = run_toolkit(
        "catalog", "import", "--format", "bid_ask_bars_csv", "--instrument", "GBP/USD.SIM", "--catalog", str(root),
        "--default-volume", "1000000", str(bid), str(ask),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (
        "imported bars/GBP/USD.SIM-1-MINUTE-BID-EXTERNAL: 30,117 rows, ts_init 2012-02-01T00:01:00Z .. "
        "2012-03-01T00:01:00Z (from gbpusd-m1-bid-2012-02.csv)" in proc.stdout
    )
    assert "imported bars/GBP/USD.SIM-1-MINUTE-ASK-EXTERNAL: 30,117 rows" in proc.stdout
    trades = market(shared_data, "binance-btcusdt-trades-2021-01-08.parquet")
    proc = run_toolkit(
        "catalog", "import", "--format", "binance_trades", "--instrument", "BTCUSDT.BINANCE", "--catalog", str(root),
        str(trades),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "imported trades/BTCUSDT.BINANCE: 2,001 rows" in proc.stdout and "warning:" in proc.stdout
    btc = market(shared_data, "btc-perp-m1-2022-01.csv")
    proc = run_toolkit(
        "catalog", "import", "--format", "bars_csv", "--instrument", "BTC-PERP.SIM", "--catalog", str(root),
        "--bar-type", "BTC-PERP.SIM-1-MINUTE-LAST-EXTERNAL", "--fix", "round", str(btc),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "imported bars/BTC-PERP.SIM-1-MINUTE-LAST-EXTERNAL: 45,031 rows" in proc.stdout
    assert proc.stdout.count("repaired: ") == 2 and "rounded 13 volume values to the 0.0001 grid" in proc.stdout
    l2 = market(shared_data, "tardis-deribit-btc-perpetual-book-l2-incremental.csv")
    proc = run_toolkit(
        "catalog", "import", "--format", "tardis_incremental_book_l2", "--instrument", "BTC-PERPETUAL.DERIBIT",
        "--catalog", str(root), str(l2),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "imported deltas/BTC-PERPETUAL.DERIBIT: 16 rows" in proc.stdout
    proc = run_toolkit("catalog", "ls", "--catalog", str(root))
    assert proc.returncode == 0, proc.stderr
    listed = {tuple(line.split()[:3]) for line in proc.stdout.splitlines()[1:]}
    assert listed == {
        ("bars", "GBP/USD.SIM-1-MINUTE-BID-EXTERNAL", "30,117"),
        ("bars", "GBP/USD.SIM-1-MINUTE-ASK-EXTERNAL", "30,117"),
        ("bars", "BTC-PERP.SIM-1-MINUTE-LAST-EXTERNAL", "45,031"),
        ("trades", "BTCUSDT.BINANCE", "2,001"),
        ("deltas", "BTC-PERPETUAL.DERIBIT", "16"),
    }


def test_cli_refuses_a_coarse_instrument_with_one_line_and_status_2(tmp_path: Path, shared_data: Path) -> None:
    root = tmp_path / "coarse"
    definitions = tmp_path / "coarse.json"
    definitions.write_text(
        json.dumps(
            {
                "instruments": [
                    {
                        "kind": "CurrencyPair",
                        "id": "GBP/USD.SIM",
                        "base_currency": "GBP",
                        "quote_currency": "USD",
                        "price_increment": "0.0001",
                        "size_increment": "1",
                    }
                ]
            }
        )
    )
    assert run_toolkit("catalog", "instruments", "--catalog", str(root), str(definitions)).returncode == 0
    bid = market(shared_data, "gbpusd-m1-bid-2012-02.csv")
    proc = run_toolkit(
        "catalog", "import", "--format", "bars_csv", "--instrument", "GBP/USD.SIM", "--catalog", str(root),
        "--bar-type", "GBP/USD.SIM-1-MINUTE-BID-EXTERNAL", "--default-volume", "1", str(bid),
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {bid} (bars/GBP/USD.SIM-1-MINUTE-BID-EXTERNAL): row 2, column open: 1.57597 ")
    assert "is not a multiple of the price increment 0.0001" in lines[0] and "[off_grid_price]" in lines[0]
    assert not (root / "bars").exists()


# ---- refusals leave the catalog as it was -------------------------------------------------------------


def test_bars_on_a_ten_times_coarser_grid_are_refused_naming_the_first_offending_row(
    tmp_path: Path, shared_data: Path
) -> None:
    store = DataCatalog(tmp_path / "c")
    definitions = tmp_path / "gbp.toml"
    definitions.write_text(INSTRUMENTS_TOML.replace('price_increment = "0.00001"', 'price_increment = "0.0001"', 1))
    write_instrument_files(store, [definitions])
    ask = market(shared_data, "gbpusd-m1-ask-2012-02.csv")
    with pytest.raises(ImportRefused) as info:
        import_files(
            store, "bars_csv", "GBP/USD.SIM", [ask], bar_type="GBP/USD.SIM-1-MINUTE-ASK-EXTERNAL", default_volume=1
        )
    # Line 2, the first bar, opens at 1.57608: off a 0.0001 grid.
    assert (info.value.path, info.value.row, info.value.column, info.value.value) == (ask, 2, "open", "1.57608")
    assert "the prices imply increment 0.00001" in str(info.value)
    assert store.list_datasets() == []


MALFORMED_BARS = {
    "missing_column": ("timestamp,open,high,low,volume\n2024-01-02 00:00:00+00:00,1.1,1.2,1.0,5\n", 1, "close"),
    "non_numeric": (
        "{h}2024-01-02 00:00:00+00:00,1.1,1.2,1.0,1.1,5\n2024-01-02 00:01:00+00:00,1.1,1.2,abc,1.1,5\n",
        3,
        "low",
    ),
    "nan": ("{h}2024-01-02 00:00:00+00:00,1.1,1.2,1.0,1.1,5\n2024-01-02 00:01:00+00:00,NaN,1.2,1.0,1.1,5\n", 3, "open"),
    "negative_size": (
        "{h}2024-01-02 00:00:00+00:00,1.1,1.2,1.0,1.1,5\n2024-01-02 00:01:00+00:00,1.1,1.2,1.0,1.1,-5\n",
        3,
        "volume",
    ),
    "unsorted": (
        "{h}2024-01-02 00:05:00+00:00,1.1,1.2,1.0,1.1,5\n2024-01-02 00:01:00+00:00,1.1,1.2,1.0,1.1,5\n",
        3,
        "ts_init",
    ),
}


@pytest.fixture
def populated(catalog: DataCatalog, shared_data: Path) -> DataCatalog:
    """A catalog that already holds data, so "unchanged" means something."""
    path = market(shared_data, "tardis-bitmex-xbtusd-trades.csv")
    import_files(catalog, "tardis_trades", "XBTUSD.BITMEX", [path])
    bars = catalog.path.parent / "existing.csv"
    bars.write_text("timestamp,open,high,low,close,volume\n2024-01-01 00:00:00+00:00,1.1,1.2,1.0,1.1,5\n")
    import_files(catalog, "bars_csv", "EUR/USD.SIM", [bars], bar_type="EUR/USD.SIM-1-MINUTE-BID-EXTERNAL")
    return catalog


@pytest.mark.parametrize("case", sorted(MALFORMED_BARS))
def test_malformed_bar_files_are_refused_and_change_nothing(populated: DataCatalog, tmp_path: Path, case: str) -> None:
    text, row, column = MALFORMED_BARS[case]
    path = tmp_path / f"{case}.csv"
    path.write_text(text.format(h="timestamp,open,high,low,close,volume\n"))
    before_files, before_sets = catalog_state(populated.path), populated.list_datasets()
    with pytest.raises(ValueError) as info:
        import_files(populated, "bars_csv", "EUR/USD.SIM", [path], bar_type="EUR/USD.SIM-1-MINUTE-BID-EXTERNAL")
    error = info.value
    assert isinstance(error, LoaderError)
    assert (error.path, error.row, error.column) == (path, row, column)
    assert str(path) in str(error) and f"row {row}, column {column}" in str(error)
    assert catalog_state(populated.path) == before_files and populated.list_datasets() == before_sets


def test_truncated_and_bad_parquet_files_are_refused_and_change_nothing(
    populated: DataCatalog, tmp_path: Path, shared_data: Path
) -> None:
    source = market(shared_data, "binance-btcusdt-trades-2021-01-08.parquet")
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(source.read_bytes()[:20_000])
    negative = tmp_path / "negative.parquet"
    table = pq.read_table(source)
    sizes = table.column("quantity").to_pylist()
    sizes[41] = -0.5
    pq.write_table(table.set_column(3, "quantity", [sizes]), negative)
    before_files, before_sets = catalog_state(populated.path), populated.list_datasets()
    with pytest.raises(LoaderError, match=r"truncated\.parquet: not a readable Parquet file"):
        import_files(populated, "binance_trades", "BTCUSDT.BINANCE", [source, truncated])
    with pytest.raises(ImportRefused) as info:
        import_files(populated, "binance_trades", "BTCUSDT.BINANCE", [negative])
    assert (info.value.row, info.value.column, info.value.issues[0].kind) == (42, "size", "non_positive_size")
    assert str(info.value).startswith(f"{negative} (trades/BTCUSDT.BINANCE): row 42, column size: size -0.5")
    assert catalog_state(populated.path) == before_files and populated.list_datasets() == before_sets


def test_unsorted_rows_are_sorted_on_request_and_the_repair_reported(catalog: DataCatalog, tmp_path: Path) -> None:
    path = tmp_path / "unsorted.csv"
    path.write_text(MALFORMED_BARS["unsorted"][0].format(h="timestamp,open,high,low,close,volume\n"))
    report = import_files(
        catalog, "bars_csv", "EUR/USD.SIM", [path], bar_type="EUR/USD.SIM-1-MINUTE-BID-EXTERNAL", fix=["sort"]
    )
    assert report.repairs == (f"{path} (bars/EUR/USD.SIM-1-MINUTE-BID-EXTERNAL): sorted 1 row out of order",)
    assert catalog.query("bars", "EUR/USD.SIM-1-MINUTE-BID-EXTERNAL")["ts_init"].is_sorted()


def test_overlap_with_stored_rows_needs_replace(populated: DataCatalog, shared_data: Path) -> None:
    path = market(shared_data, "tardis-bitmex-xbtusd-trades.csv")
    before = catalog_state(populated.path)
    with pytest.raises(ValueError, match=r"trades/XBTUSD.BITMEX already holds 10 row\(s\) .* pass --replace"):
        import_files(populated, "tardis_trades", "XBTUSD.BITMEX", [path])
    assert catalog_state(populated.path) == before
    report = import_files(populated, "tardis_trades", "XBTUSD.BITMEX", [path], replace=True)
    assert report.rows == {"trades/XBTUSD.BITMEX": 10}
    assert populated.query("trades", "XBTUSD.BITMEX").height == 10


@pytest.mark.parametrize("failure", ["disk", "catalog"])
def test_a_failed_write_of_the_second_dataset_removes_the_first(
    catalog: DataCatalog, shared_data: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    bid, ask = market(shared_data, "gbpusd-m1-bid-2012-02.csv"), market(shared_data, "gbpusd-m1-ask-2012-02.csv")
    before = catalog_state(catalog.path)
    original = DataCatalog.write
    calls = []

    def failing_write(self: DataCatalog, data_type, identifier, *args, **kwargs):
        calls.append(str(identifier))
        if len(calls) == 2:
            raise OSError(28, "No space left on device") if failure == "disk" else CatalogError("a writer got there")
        return original(self, data_type, identifier, *args, **kwargs)

    monkeypatch.setattr(DataCatalog, "write", failing_write)
    expected = OSError if failure == "disk" else ValueError
    with pytest.raises(expected) as info:
        import_files(catalog, "bid_ask_bars_csv", "GBP/USD.SIM", [bid, ask], default_volume=1)
    if failure == "catalog":
        assert str(info.value) == (
            "bars/GBP/USD.SIM-1-MINUTE-ASK-EXTERNAL: a writer got there (removed again what it wrote to "
            "bars/GBP/USD.SIM-1-MINUTE-BID-EXTERNAL)"
        )
    assert calls == ["GBP/USD.SIM-1-MINUTE-BID-EXTERNAL", "GBP/USD.SIM-1-MINUTE-ASK-EXTERNAL"]
    assert catalog_state(catalog.path) == before and catalog.list_datasets() == []


def test_files_of_one_dataset_must_be_in_time_order(catalog: DataCatalog, tmp_path: Path) -> None:
    header = "timestamp,open,high,low,close,volume\n"
    early = tmp_path / "early.csv"
    early.write_text(
        header + "2024-01-01 00:00:00+00:00,1.1,1.2,1.0,1.1,5\n2024-01-01 00:01:00+00:00,1.1,1.2,1.0,1.1,5\n"
    )
    late = tmp_path / "late.csv"
    late.write_text(header + "2024-01-01 00:05:00+00:00,1.1,1.2,1.0,1.1,5\n")
    bar_type = "EUR/USD.SIM-1-MINUTE-BID-EXTERNAL"
    with pytest.raises(
        LoaderError, match=r"early\.csv: row 2, column ts_init: .* before the end .* of the previous file"
    ):
        import_files(catalog, "bars_csv", "EUR/USD.SIM", [late, early], bar_type=bar_type)
    report = import_files(catalog, "bars_csv", "EUR/USD.SIM", [early, late], bar_type=bar_type)
    assert report.rows == {f"bars/{bar_type}": 3} and len(report.datasets[0].sources) == 2


def test_usage_errors(catalog: DataCatalog, tmp_path: Path, shared_data: Path) -> None:
    bid = market(shared_data, "gbpusd-m1-bid-2012-02.csv")
    with pytest.raises(
        ValueError, match=r"instrument AUD/USD.SIM is not defined in catalog .*toolkit catalog instruments"
    ):
        import_files(catalog, "bars_csv", "AUD/USD.SIM", [bid], bar_type="AUD/USD.SIM-1-MINUTE-BID-EXTERNAL")
    with pytest.raises(ValueError, match="format bars_csv needs --bar-type"):
        import_files(catalog, "bars_csv", "GBP/USD.SIM", [bid])
    with pytest.raises(ValueError, match="format truefx_quotes needs --default-size"):
        import_files(catalog, "truefx_quotes", "EUR/USD.SIM", [bid])
    with pytest.raises(ValueError, match="format binance_trades does not take --default-size"):
        import_files(catalog, "binance_trades", "BTCUSDT.BINANCE", [bid], default_size=1)
    with pytest.raises(ValueError, match="takes two files"):
        import_files(catalog, "bid_ask_bars_csv", "GBP/USD.SIM", [bid])
    with pytest.raises(ValueError, match="unknown format 'csv'"):
        import_files(catalog, "csv", "GBP/USD.SIM", [bid])
    with pytest.raises(ValueError, match="unknown fix 'shuffle'"):
        import_files(
            catalog, "bars_csv", "GBP/USD.SIM", [bid], bar_type="GBP/USD.SIM-1-MINUTE-BID-EXTERNAL", fix="shuffle"
        )
    with pytest.raises(ValueError, match=r"default_size 0.5 is not a multiple of the size increment 1 of EUR/USD.SIM"):
        import_files(catalog, "truefx_quotes", "EUR/USD.SIM", [bid], default_size="0.5")
