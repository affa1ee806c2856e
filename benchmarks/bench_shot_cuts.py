"""How well the scene-cut test (ccpl_core/video/shots.py) tells cuts from motion.

Three kinds of frame pairs, each scored by the share of the frame the motion explains
(``matched_fraction``; a cut is below ``CUT_FRACTION``): two different pictures (every ordered
pair of distinct photos and paintings), a pan over one photo at growing speeds, and consecutive
frames of real clips.

    python benchmarks/bench_shot_cuts.py --clip bigbuckbunny.mp4 \
        --out benchmarks/results/shot_cuts.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ccpl_core.video.io import FrameSource  # noqa: E402
from ccpl_core.video.shots import SHOT_SIDE, matched_fraction, shot_frame  # noqa: E402
from ccpl_core.video.temporal import CUT_FRACTION  # noqa: E402


def pictures() -> list[Path]:
    """Distinct pictures (a picture in two folders counted once, by name)."""
    found = sorted((ROOT / "tests/data").glob("*.jpg")) + sorted(
        (ROOT / "examples/content").glob("*")
    )
    found += sorted((ROOT.parent / "shared/data/paintings").glob("*.png"))[:10]
    seen, out = set(), []
    for p in found:
        if p.stem not in seen:
            seen.add(p.stem)
            out.append(p)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--clip", action="append", default=[], help="a real clip (repeatable)")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    images = [np.asarray(Image.open(f).convert("RGB").resize((320, 180))) for f in pictures()]
    small = [shot_frame(im) for im in images]
    different = [
        matched_fraction(small[a], small[b])
        for a, b in itertools.permutations(range(len(small)), 2)
    ]
    wide = np.asarray(
        Image.open(ROOT / "tests/data/astronaut.jpg").convert("RGB").resize((640, 180))
    )
    pans = {
        f"{step}/320": matched_fraction(
            shot_frame(wide[:, :320]), shot_frame(wide[:, step : step + 320])
        )
        for step in (8, 16, 32, 48, 80, 120)
    }
    clips = {}
    for clip in [str(ROOT / "examples/video/ccpl_clip.mp4"), *args.clip]:
        frames = [shot_frame(f) for f in FrameSource(clip)]
        scores = [matched_fraction(a, b) for a, b in itertools.pairwise(frames)]
        clips[Path(clip).name] = {
            "pairs": len(scores),
            "min": round(min(scores), 3),
            "p5": round(float(np.percentile(scores, 5)), 3),
            "cuts": [i + 1 for i, s in enumerate(scores) if s < CUT_FRACTION],
        }
    result = {
        "shot_side": SHOT_SIDE,
        "cut_below": CUT_FRACTION,
        "different_pictures": {
            "pairs": len(different),
            "max": round(max(different), 3),
            "p95": round(float(np.percentile(different, 95)), 3),
            "median": round(float(np.median(different)), 3),
            "missed_cuts": sum(s >= CUT_FRACTION for s in different),
        },
        "pan_matched": {k: round(v, 3) for k, v in pans.items()},
        "clips": clips,
    }
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
