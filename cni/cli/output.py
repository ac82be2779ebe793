"""Output for people (aligned tables) and for scripts (--format json)."""

from __future__ import annotations

import json
import sys


def _cell(value) -> str:
    return ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Rows as an aligned text table; `columns` are (key, heading) pairs."""
    cells = [[heading for _, heading in columns]] + [[_cell(row.get(key, "")) for key, _ in columns] for row in rows]
    widths = [max(len(line[n]) for line in cells) for n in range(len(columns))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in cells)


def emit(rows: list[dict], columns: list[tuple[str, str]], fmt: str) -> None:
    if fmt == "json":
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(table(rows, columns))


def emit_one(record: dict, fmt: str, text: str | None = None) -> None:
    """One record: JSON, or `text` (default: a "key  value" line per field, one line per item of
    a list) for people."""
    if fmt == "json":
        json.dump(record, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    if text is not None:
        print(text)
        return
    width = max(map(len, record), default=0)
    for key, value in record.items():
        items = value if isinstance(value, list) and value else [value]
        for n, item in enumerate(items):
            shown = json.dumps(item) if isinstance(item, dict) else _cell(item)
            print(f"{(key if n == 0 else '').ljust(width)}  {shown}".rstrip())
