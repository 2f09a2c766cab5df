"""Run a strategy on a live node from your own script (instead of `toolkit live`).

    uv run toolkit venue strategies/ema_cross_ticks.toml        # terminal 1: the sandbox venue
    uv run python strategies/live_node.py                       # terminal 2: this script

The script loads the run file's `[live]` and `[strategy]` tables, builds the `TradingNode` and runs it
until Ctrl+C (SIGINT) or SIGTERM, which stop it gracefully: strategies stop, their open orders are
canceled, a final snapshot is written and the clients disconnect. On platforms without signal
handlers Ctrl+C raises KeyboardInterrupt inside `run()`, which stops the node the same way; `dispose()`
in `finally` releases it. One node per process: run parallel nodes as separate processes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from toolkit.live.config import load_node_config
from toolkit.live.node import TradingNode


def main(run_file: str = str(Path(__file__).with_name("ema_cross_ticks.toml"))) -> int:
    loaded = load_node_config(run_file)
    node = TradingNode(loaded.config, source=loaded.source)
    try:
        node.run()
    finally:
        node.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
