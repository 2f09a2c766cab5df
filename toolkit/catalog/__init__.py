"""Market data storage: the Parquet `DataCatalog`, loaders for real vendor formats and a seeded generator.

`parquet` owns the on-disk layout (one dataset of part files per data type and instrument or bar
type, exact fixed-point integer columns, precisions in the schema metadata) and the read paths the
backtest uses (Arrow batches, then objects merged in `ts_init` order). `loaders` turns CSV files as
vendors publish them into frames in that raw schema, parsing prices exactly. `generator` makes
reproducible synthetic quotes and bars for demos, tests and benchmarks.
"""

from toolkit.catalog.parquet import (
    SCHEMA_VERSION,
    CatalogError,
    DataCatalog,
    DatasetInfo,
    DataType,
    objects_from_frame,
)

__all__ = ["SCHEMA_VERSION", "CatalogError", "DataCatalog", "DataType", "DatasetInfo", "objects_from_frame"]
