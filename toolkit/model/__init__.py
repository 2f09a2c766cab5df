"""Domain model: value types, market data, instruments, orders, events, positions and accounts.

Everything here is plain data plus pure logic: no I/O, no clocks, no engine imports. Engines in
`toolkit.engine` and venues in `toolkit.backtest` move these objects around; strategies read them.
"""
