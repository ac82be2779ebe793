"""docs/cli.md's reference and `pynet COMMAND --help` list the same commands and options.

Each command of the parser (every leaf of its subcommands) has a `### ` heading in the reference
naming it in backticks; the options table under that heading (the first column of each row) lists
exactly the command's options, but `-h`/`--help` and `--format table|json`, which every command
takes and the reference says once; and every choice argparse accepts for an option is in its row.
"""

from __future__ import annotations

import argparse
import pathlib
import re

from cni.cli.main import parser

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "cli.md"
OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")
COMMON = {"-h", "--help"}


def commands(p: argparse.ArgumentParser = None, path: tuple[str, ...] = ("pynet",)):
    """(command words, parser) of the top level and of every leaf command."""
    p = p or parser()
    subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs or len(path) == 1:
        yield path, p
    for sub in subs:
        seen = set()
        for name, child in sub.choices.items():  # (an alias maps to the same parser: listed once)
            if id(child) not in seen:
                seen.add(id(child))
                yield from commands(child, (*path, name))


def options(p: argparse.ArgumentParser) -> dict[str, tuple]:
    """option string -> the choices of its option, without the ones every command has."""
    found = {}
    for action in p._actions:
        for flag in action.option_strings:
            if flag not in COMMON and not (flag == "--format" and action.choices == ("table", "json")
                                           and len(p.prog.split()) > 1):
                found[flag] = tuple(action.choices or ())
    return found


def reference() -> dict[str, dict[str, str]]:
    """command ("pynet run") -> {option: its table row} from the reference part of docs/cli.md."""
    text = DOC.read_text().split("\n## Reference\n", 1)[1]
    sections = {}
    for part in re.split(r"^### ", text, flags=re.M)[1:]:
        heading, _, body = part.partition("\n")
        rows = {}
        for line in body.splitlines():
            if line.startswith("| `"):
                first = line.split(" | ")[0]
                rows.update({flag: line for flag in OPTION.findall(first)})
        for name in re.findall(r"`(pynet[^`]*)`", heading):
            assert name not in sections, f"{name}: two sections"
            sections[name] = rows
    return sections


def test_every_command_has_a_section_and_every_section_a_command():
    documented = reference()
    real = {" ".join(path) for path, _ in commands()}
    assert sorted(real - documented.keys()) == [], "commands missing from docs/cli.md"
    assert sorted(documented.keys() - real) == [], "docs/cli.md documents commands pynet does not have"


def test_each_command_lists_the_options_its_help_does():
    documented = reference()
    for path, p in commands():
        name = " ".join(path)
        want, rows = options(p), documented[name]
        assert sorted(rows) == sorted(want), f"{name}: docs/cli.md lists {sorted(rows)}, --help {sorted(want)}"
        for flag, choices in want.items():
            missing = [c for c in choices if str(c) not in rows[flag]]
            assert not missing, f"{name} {flag}: docs/cli.md does not name {missing}"


def test_every_command_takes_format_after_its_words():
    """`pynet lab status --format json` as `pynet ps --format json` (`lab on` passes the rest on)."""
    missing = [" ".join(path) for path, p in commands()
               if len(path) > 1 and path[-2:] != ("lab", "on") and "--format" not in p._option_string_actions]
    assert missing == []
