"""Is the fusion or the decoder the weak part? SCT's fused features against the style's, and the
same decoder fed a closed-form WCT instead, on the held-out set of bench_quality.

SCT's job is to give the content's deepest features the style's mean and covariance. This
measures how well it does (per pair, on the relu4_1 features of the held-out contents and
styles): the effective rank of the fused features' covariance (participation ratio) against the
style's, the ratio of their total variance, and the relative covariance error. Then the pictures:
bench_quality's figures for the model as shipped (``sct``), for its decoder fed the closed-form
whitening-colouring transform (``wct``, Li et al. 2017) and for the 50/50 mixture of the two
(``mix``), all without the palette step. The product mixes a share of WCT into SCT's fusion
(``--wct``, default 0.4, :mod:`ccpl_core.models.whitening`) because of what this measured.

    python benchmarks/bench_fusion.py --model ccpl-open-art --tag open_art
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_quality as bq

from ccpl_core import load_image, load_model, resize_short_side
from ccpl_core.cli import run_reporting
from ccpl_core.training.objectives import fusion_statistics
from ccpl_core.training.wct import whiten_colour

MIXES = {"sct": 0.0, "mix": 0.5, "wct": 1.0}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="manifest name or file (default: default art)")
    p.add_argument("--tag", default=None, help="write benchmarks/results/fusion_TAG.json")
    args = p.parse_args(argv)
    started = time.perf_counter()
    spec, content_paths, style_paths = bq.load_set(bq.HELDOUT, False)
    size = int(spec.get("size", 384))
    contents = [resize_short_side(load_image(c)[0], size) for c in content_paths]
    styles = [resize_short_side(load_image(s)[0], bq.CLI_STYLE_SIZE) for s in style_paths]
    names = ([c.stem for c in content_paths], [s.stem for s in style_paths])
    pairs = [(i, j) for j in range(len(styles)) for i in range(len(contents))]
    net = load_model(args.model).eval()
    tap = net.spec.style_taps[-1]
    with torch.no_grad():
        content_feats = [net.encoder.taps(c, [tap])[0] for c in contents]
        style_feats = [net.encoder.taps(s, [tap])[0] for s in styles]

    per_pair = []
    with torch.no_grad():
        for i, j in pairs:
            fused = net.sct(content_feats[i], style_feats[j])
            per_pair.append(fusion_statistics(fused, style_feats[j]))
    keys = per_pair[0].keys()
    fusion = {k: statistics.median(r[k] for r in per_pair) for k in keys}

    def runner(weight: float) -> bq.Runner:
        def run(content: torch.Tensor, j: int) -> torch.Tensor:
            i = next(k for k, c in enumerate(contents) if c is content)
            cf, sf = content_feats[i], style_feats[j]
            with torch.no_grad():
                fused = net.sct(cf, sf)
                if weight:
                    fused = weight * whiten_colour(cf, sf) + (1 - weight) * fused
                out = net.decoder(fused).clamp(0, 1)
            return out[..., : content.shape[-2], : content.shape[-1]]

        return run

    refs = bq.references(contents, styles, False)
    pictures = {}
    for name, weight in MIXES.items():
        figures, _ = bq.evaluate(runner(weight), contents, styles, pairs, refs, names, 96)
        pictures[name] = figures
    text = bq.table(pictures, False)
    print("fused relu4_1 features (median over pairs):")
    print(
        f"  effective rank {fusion['rank']:.1f} (style {fusion['style_rank']:.1f}), "
        f"variance ratio {fusion['variance_ratio']:.2f}, "
        f"covariance error {fusion['covariance_error']:.2f}"
    )
    print(text)
    if args.tag:
        report = {
            "benchmark": "fusion",
            "tag": args.tag,
            "model": args.model or "(manifest default)",
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(["python", *sys.argv]),
            "size": size,
            "style_size": bq.CLI_STYLE_SIZE,
            "fusion_median": fusion,
            "fusion_pairs": per_pair,
            "pictures": {k: {m: v[m] for m in v if m != "pairs"} for k, v in pictures.items()},
            "table": text,
            "versions": bq.versions(),
            "total_seconds": time.perf_counter() - started,
        }
        path = bq.RESULTS / f"fusion_{args.tag}.json"
        path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_reporting(main))
