"""Live trading: the TradingNode, its configs, live engines with bounded queues, client base classes."""
