"""toolkit: a research-to-live trading toolkit (backtest and live from one Strategy class)."""
