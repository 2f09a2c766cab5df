"""Running a backtest from one TOML file: what `toolkit backtest CONFIG.toml` does.

`BacktestRun.from_file(path)` reads and checks the whole file (strategy class and config, venue,
models, instruments, data sources, period) before any data is touched: a wrong field, a missing
strategy file or an instrument the data or strategy names but no definition provides fails here,
naming the file and the field. `build()` wires a `BacktestEngine`; `run()` replays, then writes
the snapshot folder and returns the result.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from toolkit.backtest.config import BacktestConfig, DataConfig, FeeModelConfig, RunFile, VenueConfig
from toolkit.backtest.engine import BacktestEngine, BacktestEngineConfig
from toolkit.backtest.matching import MatchingConfig
from toolkit.backtest.models import (
    FeeModel,
    FillModel,
    FixedFeeModel,
    LatencyModel,
    MakerTakerFeeModel,
    PerContractFeeModel,
)
from toolkit.backtest.results import BacktestResult
from toolkit.catalog.loaders import load_bars_csv_objects, load_truefx_quote_objects
from toolkit.catalog.parquet import DataCatalog
from toolkit.core.config import ConfigError, config_from_dict, load_config, load_toml
from toolkit.model.data import BarType
from toolkit.model.enums import PriceType
from toolkit.model.identifiers import InstrumentId
from toolkit.model.instruments import Instrument, InstrumentError, instrument_from_dict
from toolkit.trading.loader import StrategyTable, load_strategy
from toolkit.trading.strategy import Strategy


def parse_time_ns(value: str | int | None, source: str, field: str) -> int | None:
    """ns since the epoch from an int, an ISO date (`2012-02-01`) or datetime (`...T10:00:00Z`, naive = UTC)."""
    if value is None or isinstance(value, int):
        return value
    try:
        text = value.strip().replace("Z", "+00:00")
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(source, field, f"{value!r} is not an ISO date/time or integer nanoseconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1_000


def load_instruments_file(path: Path, source: str, field: str) -> list[Instrument]:
    """Instrument definitions: TOML `[[instruments]]` tables or a JSON list; errors name the entry."""
    if not path.is_file():
        raise ConfigError(source, field, f"instruments file {path} not found")
    if path.suffix == ".json":
        try:
            data: Any = msgspec.json.decode(path.read_bytes())
        except msgspec.DecodeError as exc:
            raise ConfigError(str(path), None, f"JSON syntax error: {exc}") from None
    else:
        data = load_toml(path)
    entries = data if isinstance(data, list) else data.get("instruments") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(str(path), "instruments", "expected a list of instrument tables ([[instruments]])")
    out = []
    for index, entry in enumerate(entries):
        try:
            out.append(instrument_from_dict(entry))
        except InstrumentError as exc:
            raise ConfigError(str(path), f"instruments[{index}].{exc.field}", str(exc)) from None
    return out


def fee_model_from_config(config: FeeModelConfig | None, source: str) -> FeeModel:
    """The `[backtest.fee_model]` table as a model: maker_taker (also when there is no table), fixed or
    per_contract; a kind or value that does not fit is a `ConfigError` naming the field."""
    if config is None or config.kind == "maker_taker":
        return MakerTakerFeeModel()
    if config.commission is None:
        raise ConfigError(source, "backtest.fee_model.commission", f"a {config.kind} fee model needs a commission")
    if config.kind == "fixed":
        return FixedFeeModel(config.commission, config.charge_commission_once)
    if config.kind == "per_contract":
        return PerContractFeeModel(config.commission, config.legs, config.instrument_legs)
    raise ConfigError(
        source,
        "backtest.fee_model.kind",
        f"unknown fee model {config.kind!r} (expected maker_taker, fixed, per_contract)",
    )


def _resolve(path_text: str, base: Path) -> Path:
    """A path relative to the working directory, else to the config file's folder or its parent."""
    raw = Path(path_text)
    if raw.is_absolute():
        return raw
    for candidate in (Path.cwd() / raw, base / raw, base.parent / raw):
        if candidate.exists():
            return candidate
    return Path.cwd() / raw


def _referenced(config: Any, prefix: str) -> list[tuple[str, InstrumentId]]:
    """(field path, instrument id) for every InstrumentId or BarType value inside a config struct."""
    found: list[tuple[str, InstrumentId]] = []
    if isinstance(config, msgspec.Struct):
        for name in config.__struct_fields__:
            found += _referenced(getattr(config, name), f"{prefix}.{name}")
    elif isinstance(config, InstrumentId):
        found.append((prefix, config))
    elif isinstance(config, BarType):
        found.append((prefix, config.instrument_id))
    elif isinstance(config, (list, tuple)):
        for index, item in enumerate(config):
            found += _referenced(item, f"{prefix}[{index}]")
    return found


class BacktestRun:
    """A checked run file, ready to build and run; see the module docstring."""

    def __init__(self, source: str, base_dir: Path, strategy: Strategy, backtest: BacktestConfig) -> None:
        self.source = source
        self.base_dir = base_dir
        self.strategy = strategy
        self.config = backtest
        self.start_ns = parse_time_ns(backtest.start, source, "backtest.start")
        self.end_ns = parse_time_ns(backtest.end, source, "backtest.end")
        if self.start_ns is not None and self.end_ns is not None and self.end_ns < self.start_ns:
            raise ConfigError(source, "backtest.end", f"{backtest.end} is before start {backtest.start}")
        self.catalog = self._open_catalog()
        self.instruments = self._instruments()
        self.data = list(backtest.data) or self._default_data()
        self.span: tuple[int, int] | None = None  # first/last ts_init of the data, known after build()
        self._check_references()

    @classmethod
    def from_file(cls, path: str | Path) -> BacktestRun:
        path = Path(path)
        source = str(path)
        run = load_config(path, RunFile)
        if run.backtest is None:
            raise ConfigError(source, "backtest", "the file has no [backtest] table")
        table = config_from_dict(run.strategy, StrategyTable, source=source, path_prefix="strategy")
        strategy = load_strategy(table, source, path.resolve().parent)
        return cls(source, path.resolve().parent, strategy, run.backtest)

    # ---- checks --------------------------------------------------------------------------------
    def _open_catalog(self) -> DataCatalog | None:
        if self.config.catalog is None:
            return None
        path = _resolve(self.config.catalog, self.base_dir)
        if not path.is_dir():
            raise ConfigError(self.source, "backtest.catalog", f"catalog folder {path} not found")
        return DataCatalog(path)

    def _instruments(self) -> dict[InstrumentId, Instrument]:
        instruments: list[Instrument] = []
        if self.config.instruments_file is not None:
            path = _resolve(self.config.instruments_file, self.base_dir)
            instruments = load_instruments_file(path, self.source, "backtest.instruments_file")
        elif self.catalog is not None:
            instruments = self.catalog.instruments()
        if not instruments:
            raise ConfigError(
                self.source, "backtest.instruments_file", "no instrument definitions: set instruments_file or a catalog"
            )
        return {i.id: i for i in instruments}

    def _default_data(self) -> list[DataConfig]:
        """No [[backtest.data]]: bars for each BarType in the strategy config, else quotes per instrument."""
        refs = _referenced(self.strategy.config, "strategy.config")
        bar_types = [v for v in _values(self.strategy.config) if isinstance(v, BarType)]
        if bar_types:
            return [DataConfig(type="bars", bar_type=bt) for bt in dict.fromkeys(bar_types)]
        ids = list(dict.fromkeys(iid for _, iid in refs))
        if not ids:
            raise ConfigError(
                self.source, "backtest.data", "no data listed and the strategy config names no instrument"
            )
        return [DataConfig(type="quotes", instrument_id=iid) for iid in ids]

    def _check_references(self) -> None:
        known = ", ".join(sorted(self.instruments)) or "none"
        refs = _referenced(self.strategy.config, "strategy.config")
        for index, data in enumerate(self.data):
            field = f"backtest.data[{index}]"
            if data.bar_type is None and data.instrument_id is None:
                raise ConfigError(self.source, field, "give instrument_id (quotes, trades) or bar_type (bars)")
            if data.type == "bars" and data.bar_type is None:
                raise ConfigError(self.source, f"{field}.bar_type", "bars need a bar_type")
            if data.file is not None and data.format is None:
                raise ConfigError(
                    self.source, f"{field}.format", "a data file needs its format (bars_csv, truefx_quotes)"
                )
            if data.file is None and self.catalog is None:
                raise ConfigError(self.source, f"{field}.file", "no file given and no backtest.catalog to read from")
            iid = data.bar_type.instrument_id if data.bar_type is not None else data.instrument_id
            refs.append((f"{field}.{'bar_type' if data.bar_type is not None else 'instrument_id'}", iid))  # type: ignore[arg-type]
        for field, iid in refs:
            if iid not in self.instruments:
                raise ConfigError(self.source, field, f"unknown instrument {iid} (defined: {known})")
            if iid.venue != self.config.venue.name:
                raise ConfigError(self.source, field, f"instrument {iid} is not on venue {self.config.venue.name}")

    # ---- build and run -------------------------------------------------------------------------
    def build(self) -> BacktestEngine:
        """The engine with the venue, instruments, data and the strategy."""
        return self.build_engine(with_strategy=True)

    def build_engine(self, with_strategy: bool = True) -> BacktestEngine:
        """The engine with the run's venue, models, instruments and data; the strategy only if asked
        (the sandbox venue replays the same data and venue without it)."""
        cfg = self.config
        engine = BacktestEngine(
            BacktestEngineConfig(
                trader_id=cfg.trader_id,
                equity_interval_ns=cfg.equity_interval_secs * 1_000_000_000,
                risk_engine=cfg.risk_engine,
            )
        )
        venue = cfg.venue
        engine.add_venue(
            venue.name,
            venue.oms_type,
            venue.account_type,
            venue.starting_balances,
            base_currency=venue.base_currency,
            default_leverage=venue.default_leverage,
            leverages={InstrumentId(k): v for k, v in venue.leverages.items()},
            fill_model=self._fill_model(),
            fee_model=self._fee_model(),
            latency_model=self._latency_model(),
            book_type=venue.book_type,
            matching=_matching(venue),
        )
        for instrument in self.instruments.values():
            if instrument.id.venue == venue.name:
                engine.add_instrument(instrument)
        self._catalog_requests: list[tuple[str, Any]] = []
        for index, data in enumerate(self.data):
            self._add_data(engine, index, data)
        if self._catalog_requests:
            # One k-way merged stream for every catalog dataset: bounded memory whatever the data size.
            catalog, requests = self.catalog, list(self._catalog_requests)
            start, end = self.start_ns, self.end_ns
            engine.add_data_stream(
                lambda: catalog.stream_objects(requests, start, end),  # type: ignore[union-attr]
                bar_types=[ident for _, ident in requests if isinstance(ident, BarType)],
            )
        if with_strategy:
            engine.add_strategy(self.strategy)
        return engine

    def _fill_model(self) -> FillModel | None:
        fm = self.config.fill_model
        return None if fm is None else FillModel(fm.prob_fill_on_limit, fm.prob_slippage, fm.random_seed)

    def _latency_model(self) -> LatencyModel | None:
        lm = self.config.latency_model
        if lm is None:
            return None
        return LatencyModel(
            base_latency_ns=lm.base_latency_ns,
            insert_latency_ns=lm.insert_latency_ns,
            update_latency_ns=lm.update_latency_ns,
            cancel_latency_ns=lm.cancel_latency_ns,
        )

    def _fee_model(self) -> FeeModel:
        return fee_model_from_config(self.config.fee_model, self.source)

    def _add_data(self, engine: BacktestEngine, index: int, data: DataConfig) -> None:
        field = f"backtest.data[{index}]"
        if data.file is not None:
            path = _resolve(data.file, self.base_dir)
            if not path.is_file():
                raise ConfigError(self.source, f"{field}.file", f"data file {path} not found")
            try:
                if data.format == "bars_csv":
                    bt = data.bar_type
                    objects: list[Any] = load_bars_csv_objects(
                        path,
                        bt,
                        self.instruments[bt.instrument_id],
                        data.default_volume,  # type: ignore[union-attr]
                    )
                else:
                    iid = data.instrument_id
                    if iid is None:
                        raise ConfigError(self.source, f"{field}.instrument_id", "truefx_quotes needs instrument_id")
                    if data.default_size is None:
                        raise ConfigError(self.source, f"{field}.default_size", "truefx_quotes needs default_size")
                    objects = load_truefx_quote_objects(path, self.instruments[iid], data.default_size)
            except ConfigError:
                raise
            except ValueError as exc:
                raise ConfigError(self.source, f"{field}.file", str(exc)) from None
            engine.add_data(objects)
            if objects:
                self._extend_span(objects[0].ts_init, objects[-1].ts_init)
            return
        catalog = self.catalog
        assert catalog is not None
        kind = data.type
        ident: Any = data.bar_type if kind == "bars" else data.instrument_id
        try:
            catalog.stream_batches(kind, ident)  # resolves the dataset now: a missing one fails here
        except ValueError as exc:
            raise ConfigError(self.source, field, str(exc)) from None
        instrument = self.instruments[ident.instrument_id if isinstance(ident, BarType) else ident]
        for info in catalog.list_datasets():
            if info.data_type != kind or str(info.identifier) != str(ident):
                continue
            mid_bars = isinstance(ident, BarType) and ident.spec.price_type is PriceType.MID
            stored = (info.price_precision, info.size_precision)
            expected = (instrument.price_precision, instrument.size_precision)
            if stored != expected and not mid_bars:
                raise ConfigError(
                    self.source,
                    field,
                    f"dataset {kind}/{ident} is stored with price/size precision {stored[0]}/{stored[1]} but "
                    f"instrument {instrument.id} has {expected[0]}/{expected[1]}",
                )
            if info.first_ts_init is not None:
                self._extend_span(info.first_ts_init, info.last_ts_init)  # type: ignore[arg-type]
        self._catalog_requests.append((kind, ident))

    def _extend_span(self, first: int, last: int) -> None:
        self.span = (first, last) if self.span is None else (min(first, self.span[0]), max(last, self.span[1]))

    def run(
        self, output: str | Path, progress: Callable[[int, int], None] | None = None
    ) -> tuple[BacktestEngine, BacktestResult, Path]:
        """Build, replay, write the snapshot folder `output`; return the engine, the result and the path."""
        engine = self.build()
        engine.run(self.start_ns, self.end_ns, progress=progress)
        result = engine.result()
        path = engine.write_snapshot(output)
        return engine, result, Path(path)

    def default_output(self, stamp: str) -> Path:
        """`backtest.output_dir/<strategy id>-<stamp>` (the caller supplies the stamp, e.g. the wall time)."""
        return _resolve(self.config.output_dir, Path.cwd()) / f"{self.strategy.id}-{stamp}"


def _values(config: Any) -> list[Any]:
    if isinstance(config, msgspec.Struct):
        return [v for name in config.__struct_fields__ for v in _values(getattr(config, name))] + [config]
    if isinstance(config, (list, tuple)):
        return [v for item in config for v in _values(item)]
    return [config]


def _matching(venue: VenueConfig) -> MatchingConfig:
    """The venue table's behaviour switches (same names as `MatchingConfig`)."""
    return MatchingConfig(**{name: getattr(venue, name) for name in MatchingConfig.__struct_fields__})
