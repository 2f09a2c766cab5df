"""The sandbox venue server (`toolkit venue`): placeholder, being written."""

from __future__ import annotations

import argparse


def add_venue_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runfile")


def run_venue_cli(args: argparse.Namespace) -> int:
    raise NotImplementedError("toolkit venue is being written")
