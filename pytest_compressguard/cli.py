"""The ``compressguard`` command: ``merge`` (reports of several jobs) and ``search`` (the
smallest int8 student that passes a gate)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the subcommand; its exit status."""
    from pytest_compressguard import merge
    from pytest_compressguard.search import cli as search

    parser = argparse.ArgumentParser(
        prog="compressguard", description="Tools of pytest-compressguard."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    merge.add_parser(commands)
    search.add_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "merge":
        return merge.run(args)
    return search.run(args)
