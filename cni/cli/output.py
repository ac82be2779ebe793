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
    """One record: JSON, or `text` (default: one "key: value" line per field) for people."""
    if fmt == "json":
        json.dump(record, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif text is not None:
        print(text)
    else:
        width = max(map(len, record), default=0)
        for key, value in record.items():
            shown = json.dumps(value) if isinstance(value, (dict, list)) and value and not _flat(value) else _cell(value)
            print(f"{key.ljust(width)}  {shown}")


def _flat(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value)
