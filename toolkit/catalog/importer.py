"""Import of real data files into the catalog (`toolkit catalog import`): placeholder, being written."""

from __future__ import annotations

import argparse


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+")


def run_import_cli(args: argparse.Namespace) -> int:
    raise NotImplementedError("catalog import is being written")


def add_instruments_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("definitions")


def run_instruments_cli(args: argparse.Namespace) -> int:
    raise NotImplementedError("catalog instruments is being written")
