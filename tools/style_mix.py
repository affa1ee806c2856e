"""A training style folder that favours real paintings: links to every image of some families and
an evenly spaced few of the others (the gathered data is mostly game art, users paint with
paintings).

    python tools/style_mix.py data/train_v3/style data/styles_mix
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

IMAGE_EXT = (".jpg", ".jpeg", ".png", ".webp")
ALL_OF = ("paintings", "met_paintings", "korean_paintings", "textures")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("source", type=Path, help="gathered style folder (one sub-folder per family)")
    p.add_argument("out", type=Path, help="new folder of links")
    p.add_argument("--all", default=",".join(ALL_OF), help="families taken whole (comma list)")
    p.add_argument("--per-family", type=int, default=20, help="images of every other family")
    p.add_argument("--every", type=int, default=6, help="take every N-th image of the others")
    args = p.parse_args(argv)
    if args.out.exists():
        sys.exit(f"style_mix: {args.out} exists; remove it or choose another folder")
    whole = set(args.all.split(","))
    total = 0
    for family in sorted(d for d in args.source.iterdir() if d.is_dir()):
        files = sorted(f for f in family.iterdir() if f.suffix.lower() in IMAGE_EXT)
        if family.name not in whole:
            files = files[:: args.every][: args.per_family]
        (args.out / family.name).mkdir(parents=True)
        for f in files:
            link = args.out / family.name / f.name
            link.symlink_to(os.path.relpath(f.resolve(), link.parent))
        total += len(files)
        print(f"{family.name}: {len(files)}")
    print(f"{total} style images in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
