"""How faithfully a model's decoder draws what its encoder saw: no style, no fusion (alpha 0).

A diagnostic, not a judge of pictures: the decoder's halos, glow and colour casts show here
before any style is involved (docs/training_experiments.md). Each held-out image (the quality
set's contents and paintings, never trained on) is encoded and decoded at ``--size``; the
figure is the PSNR against the image, per image and averaged over photos and paintings. The
reconstruct training stage lowers an L1 + perceptual loss on other images, so treat a gain
here as necessary, not sufficient: the stylised pictures decide (bench_quality, the panel).

    python benchmarks/bench_reconstruction.py --model ccpl-open-art --model runs/eval/NAME \\
        --sheet /tmp/reconstruction.png --tag NAME
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ccpl_core import Stylizer, load_image, load_model, resize_short_side

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_quality as bq


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", default=None, help="repeat to compare")
    p.add_argument("--set", default=str(bq.HELDOUT))
    p.add_argument("--size", type=int, default=384, help="shorter side (default %(default)s)")
    p.add_argument("--sheet", default=None, help="image | reconstruction, per model, as a PNG")
    p.add_argument("--tag", default=None, help="write benchmarks/results/reconstruction_TAG.json")
    return p.parse_args(argv)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1 / max(((a - b) ** 2).mean().item(), 1e-12))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _, contents, styles = bq.load_set(Path(args.set), photo=False)
    images = {
        group: [(p.stem, resize_short_side(load_image(p)[0], args.size)) for p in paths]
        for group, paths in (("photos", contents), ("paintings", styles))
    }
    report: dict = {"set": str(args.set), "size": args.size, "models": {}}
    cells: list[list[torch.Tensor]] = []
    for name in args.model or [None]:
        st = Stylizer(load_model(name), device="cpu", precision="fp32")
        row, per = [], {}
        with torch.inference_mode():
            for items in images.values():
                for stem, x in items:
                    y = st.decode(st.encode(x), tuple(x.shape[-2:])).clamp(0, 1)
                    per[stem] = round(psnr(y, x), 3)
                    row.append(y)
        means = {g: round(float(np.mean([per[s] for s, _ in images[g]])), 3) for g in images}
        report["models"][name or "default"] = {"psnr_mean": means, "psnr": per}
        label = name or "default"
        print(
            f"{label}: PSNR photos {means['photos']:.2f} dB, paintings {means['paintings']:.2f} dB"
        )
        cells.append(row)
    if args.tag:
        out = bq.RESULTS / f"reconstruction_{args.tag}.json"
        out.write_text(json.dumps(report, indent=1) + "\n")
        print(out)
    if args.sheet:
        originals = [x for items in images.values() for _, x in items]
        write_sheet([originals, *cells], Path(args.sheet))
    return 0


def write_sheet(rows: list[list[torch.Tensor]], path: Path, cell: int = 224) -> None:
    """One column per image, one row per model (the originals first)."""
    sheet = Image.new("RGB", (cell * len(rows[0]), cell * len(rows)), "white")
    for i, row in enumerate(rows):
        for j, t in enumerate(row):
            sheet.paste(bq.thumbnail(bq.to_pil(t), cell), (j * cell, i * cell))
    sheet.save(path)


if __name__ == "__main__":
    raise SystemExit(main())
