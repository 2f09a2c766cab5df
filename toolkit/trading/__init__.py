"""Trading layer: the `Strategy` and `Actor` base classes, the order factory and the incremental
indicators strategies feed with market data; the same code runs in backtests and in live nodes."""
