"""Each ``compressguard`` command's help says what that command does."""

from __future__ import annotations

import argparse

import pytest

from pytest_compressguard import merge
from pytest_compressguard.search import cli as search


def parser(command: str) -> argparse.ArgumentParser:
    commands = argparse.ArgumentParser(prog="compressguard").add_subparsers()
    {"merge": merge.add_parser, "search": search.add_parser}[command](commands)
    return commands.choices[command]


@pytest.mark.parametrize("command", ["merge", "search"])
def test_every_option_has_help(command):
    silent = [
        a.option_strings[0]
        for a in parser(command)._actions
        if a.option_strings and not (a.help or "").strip()
    ]
    assert silent == []


def test_the_search_help_names_nothing_the_search_does_not_do():
    """The shared options once copied the plugin's help: the search has no --max-examples
    sample, no attack, no causal LMs and no question answering."""
    text = parser("search").format_help()
    for foreign in ("--max-examples", "attack", "causal", "question answering", "eval sets"):
        assert foreign not in text
    assert "seed of the calibration/held-out split" in " ".join(text.split())
