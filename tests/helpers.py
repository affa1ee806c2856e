"""Helpers shared by tests (importable because tests/ is on sys.path under pytest)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import torch

from ccpl_core.images import load_image

DATA = Path(__file__).parent / "data"


def image(name: str, size: int | None = None) -> torch.Tensor:
    """A real photo from tests/data as [1, 3, H, W], optionally resized to size x size."""
    x = load_image(DATA / f"{name}.jpg")[0]
    if size:
        x = torch.nn.functional.interpolate(
            x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        ).clamp(0, 1)
    return x


def png_header(width: int, height: int, depth: int = 8, colour: int = 2) -> bytes:
    """A PNG that declares ``width`` x ``height`` in its IHDR but holds almost no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def run(capsys, *argv) -> tuple[int, str, str]:
    """``ccpl ARGV`` in-process: (exit code, stdout, stderr)."""
    from ccpl_core.cli import main

    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def refused(rc: int, err: str, *needles: str, warnings: bool = False) -> str:
    """Assert one clear refusal (exit 2, one ``ccpl X: error:`` line naming every needle, no
    traceback); with ``warnings``, warning lines before it are allowed. Returns its line."""
    assert "Traceback" not in err, err
    assert rc == 2, (rc, err)
    lines = [line for line in err.splitlines() if line.strip()]
    if warnings:
        lines = [line for line in lines if ": error: " in line]
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("ccpl ") and ": error: " in line, line
    for needle in needles:
        assert needle in line, (needle, line)
    return line
