"""Measure the peak working memory per pixel of untiled stylisation (calibrates the tile policy).

Runs each size in a fresh subprocess and reads its peak RSS; the per-pixel figure is the slope
between two sizes, so fixed costs (Python, torch, weights) cancel out.

    python benchmarks/memory_per_pixel.py
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = r"""
import resource, sys, torch
from ccpl_core.models.untrained import random_sctnet
from ccpl_core.pipeline import Stylizer
torch.set_num_threads(2)
side, precision = int(sys.argv[1]), sys.argv[2]
st = Stylizer(random_sctnet("art"), precision=precision)
style = st.prepare_style(torch.rand(1, 3, 256, 256))
x = torch.rand(1, 3, side, side)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
st.stylize(x, style, tile=0)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, base * 1024)
"""


def peak(side: int, precision: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(side), precision],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[0])


def main() -> None:
    results = {}
    for precision in ("fp32", "bf16"):
        small, large = 512, 1024
        p_small, p_large = peak(small, precision), peak(large, precision)
        per_px = (p_large - p_small) / (large * large - small * small)
        results[precision] = {
            "peak_512_MB": p_small / 2**20,
            "peak_1024_MB": p_large / 2**20,
            "bytes_per_pixel": round(per_px),
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
