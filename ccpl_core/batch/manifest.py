"""The record of a batch run: one JSON line per image, appended as each is done.

Lines are appended (and flushed) as results arrive, so a run that is stopped keeps the record
of everything it finished; a rerun appends its own lines. The last line about an output is
the one that holds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import InputError


class Manifest:
    """An append-only JSON-lines file; :meth:`outputs` is what earlier runs recorded."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def records(self) -> list[dict[str, Any]]:
        """Every record, oldest first (a torn last line, from a run killed mid-write, skipped)."""
        if not self.path.exists():
            return []
        out = []
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the manifest {self.path}: {exc}") from exc
        for i, line in enumerate(lines):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                if i < len(lines) - 1:
                    raise InputError(
                        f"manifest {self.path} line {i + 1} is not JSON; move the file away to "
                        "start a new record"
                    ) from exc
        return out

    def outputs(self) -> dict[str, dict[str, Any]]:
        """The last record of each output."""
        return {r["output"]: r for r in self.records() if "output" in r}

    def append(self, records: list[dict[str, Any]]) -> None:
        """Add ``records`` (flushed, so that they survive the run being stopped)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            fh.flush()
