"""Data checks of catalog datasets and imported frames (`toolkit catalog check`): placeholder, being written."""

from __future__ import annotations

import argparse


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--catalog", required=True)


def run_check_cli(args: argparse.Namespace) -> int:
    raise NotImplementedError("catalog check is being written")
