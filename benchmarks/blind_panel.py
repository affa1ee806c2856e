"""The blind panel: raters judge our picture against another method's, not knowing which is which.

This is the last word on shipping a model and on the defaults (see docs/benchmarks.md). It wraps
the workplace's ``blind_pairs.py`` (``--tool``; by default ../shared/tools/blind_pairs.py beside
the checkout) and keeps every panel under benchmarks/results/panels/NAME/: the sheets (JPEG), the
answer key, each rater's votes and the tally.

    # 1. pictures of both methods, in the layout the panel reads
    python benchmarks/bench_quality.py --save /tmp/pics            # ours, magenta, controls
    # 2. sheets, and one copy of them per rater (the raters never see the key)
    python benchmarks/blind_panel.py make --name NAME --a ours=/tmp/pics/ccpl-open-art \\
        --b magenta=/tmp/pics/magenta --pairs 16 --seed 29 --raters /tmp/raters
    # 3. each rater writes /tmp/raters/NAME_rK/votes.json; then
    python benchmarks/blind_panel.py tally --name NAME /tmp/raters/NAME_r*/votes.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PANELS = ROOT / "benchmarks" / "results" / "panels"
TOOL = ROOT.parent / "shared" / "tools" / "blind_pairs.py"
HELDOUT = ROOT / "benchmarks" / "quality_heldout.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tool", default=str(TOOL), help="blind_pairs.py (default: %(default)s)")
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make", help="sheets for a panel and one copy per rater")
    m.add_argument("--name", required=True, help="panel folder under benchmarks/results/panels")
    m.add_argument("--a", required=True, help="NAME=DIR of one method's pictures")
    m.add_argument("--b", required=True, help="NAME=DIR of the other method's pictures")
    m.add_argument("--set", default=str(HELDOUT), help="content/style set (bench_quality's)")
    m.add_argument("--pairs", type=int, default=16)
    m.add_argument("--seed", type=int, default=29)
    m.add_argument("--raters", default=None, help="copy the sheets to RATERS/NAME_rK/ for K=1..3")
    m.add_argument("--n-raters", type=int, default=3)
    t = sub.add_parser("tally", help="tally the raters' votes and keep them with the panel")
    t.add_argument("--name", required=True)
    t.add_argument("votes", nargs="+", help="one votes.json per rater")
    return p.parse_args(argv)


def set_folders(set_path: Path, into: Path) -> tuple[Path, Path]:
    """Plain content/ and style/ folders (links) of a bench_quality set, as blind_pairs reads."""
    spec = json.loads(set_path.read_text())
    folders = []
    for key in ("contents", "styles"):
        folder = into / key
        folder.mkdir(parents=True)
        for item in spec[key]:
            src = (ROOT / item["path"]).resolve()
            (folder / src.name).symlink_to(src)
        folders.append(folder)
    return folders[0], folders[1]


def make(args: argparse.Namespace) -> int:
    out = PANELS / args.name
    if out.exists():
        sys.exit(f"blind_panel: {out} exists; choose another --name (panels are kept, not redone)")
    with tempfile.TemporaryDirectory() as tmp:
        content, style = set_folders(Path(args.set), Path(tmp))
        subprocess.run(
            [
                sys.executable,
                args.tool,
                "make",
                "--content",
                str(content),
                "--style",
                str(style),
                "--method",
                args.a,
                "--method",
                args.b,
                "--pairs",
                str(args.pairs),
                "--seed",
                str(args.seed),
                "--out",
                str(out),
            ],
            check=True,
        )
    sheets = sorted((out / "sheets").glob("*.png"))
    if args.raters:
        for k in range(1, args.n_raters + 1):
            folder = Path(args.raters) / f"{args.name}_r{k}"
            folder.mkdir(parents=True, exist_ok=False)
            for s in sheets:
                shutil.copy(s, folder / s.name)
            print(f"rater {k}: {folder}")
    for s in sheets:  # kept in the repository as JPEG (a tenth of the size)
        Image.open(s).convert("RGB").save(s.with_suffix(".jpg"), quality=85)
        s.unlink()
    return 0


def tally(args: argparse.Namespace) -> int:
    out = PANELS / args.name
    votes = out / "votes"
    votes.mkdir(exist_ok=True)
    kept = []
    for k, v in enumerate(args.votes, start=1):
        json.loads(Path(v).read_text())  # a broken answer stops here, before anything is kept
        kept.append(votes / f"r{k}.json")
        shutil.copy(v, kept[-1])
    result = subprocess.run(
        [sys.executable, args.tool, "tally", "--key", str(out / "key.json"), *map(str, kept)],
        check=True,
        capture_output=True,
        text=True,
    )
    (out / "tally.txt").write_text(result.stdout)
    print(result.stdout, end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return make(args) if args.command == "make" else tally(args)


if __name__ == "__main__":
    raise SystemExit(main())
