"""Market data storage: the Parquet `DataCatalog`, loaders for real vendor formats and a seeded generator.

`parquet` owns the on-disk layout (one dataset of bounded, ts_init-sorted part files per data type
and instrument or bar type, exact fixed-point integer columns, precisions in the schema metadata,
a per-dataset index of part spans; see docs/catalog.md) and the read paths the backtest uses
(range queries, Arrow batches k-way merged by `ts_init`, then objects). `loaders` turns files as
vendors publish them into frames in that raw schema, parsing prices exactly. `generator` makes
reproducible synthetic data for demos, tests and benchmarks.
"""

from toolkit.catalog.parquet import (
    SCHEMA_VERSION,
    CatalogError,
    ConsolidationReport,
    DataCatalog,
    DatasetInfo,
    DataType,
    decode_batch,
    objects_from_frame,
)

__all__ = [
    "SCHEMA_VERSION",
    "CatalogError",
    "ConsolidationReport",
    "DataCatalog",
    "DataType",
    "DatasetInfo",
    "decode_batch",
    "objects_from_frame",
]
