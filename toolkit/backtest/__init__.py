"""Backtesting: the engine that streams catalog data through simulated venues, the matching engine,
fill/latency/fee models, and the results and performance statistics of a run."""
