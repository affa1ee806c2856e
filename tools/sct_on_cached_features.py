"""Train SCT alone on cached encoder features: the sct stage at a fraction of its CPU cost.

The sct stage does not need the decoder, and its encoder features do not change, so they can be
computed once: on 2 CPU cores a step then costs ~1 s instead of ~5 s. This tool caches the
relu4_1 features of random training crops (styles colour-augmented as in ``ccpl train``), then
trains SCT on them with the ``shape`` target (:func:`ccpl_core.training.objectives.fusion_shape`)
and reports, on the last 48 cached pairs (held-out crops), the effective rank and variance
ratio of the fused features against the style's. It writes the model (the starting decoder,
the new SCT) for ``benchmarks/bench_quality.py --model OUT``.

    python tools/sct_on_cached_features.py --init models/ccpl_open_art.safetensors \\
        --content data/train_v2/content --style data/train_v2/style --out runs/sct_shape \\
        --contents 800 --styles 1000 --steps 450 --lr 1e-3
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

import torch

from ccpl_core import load_model
from ccpl_core.cli import run_reporting
from ccpl_core.training.data import (
    CropSampler,
    augment_colours,
    batch_generator,
    families_of,
    list_images,
)
from ccpl_core.training.objectives import fusion_shape, fusion_statistics
from ccpl_core.weights.files import save_sctnet

HELD_OUT = 48
#: lr / (1 + LR_DECAY * step): the decay of the run docs/training_experiments.md quotes (ten
#: times the trainer's default ``lr_decay``; a short run at lr 1e-3 needs it).
LR_DECAY = 5e-4


@torch.no_grad()
def cache_features(net, folder: str, count: int, colour_aug: float, seed: int) -> torch.Tensor:
    """Deepest-tap features (fp16; relu4_1 for art) of ``count`` random 256 px crops of images
    resized to 288 px."""
    files = list_images(folder, folder)
    sampler = CropSampler.from_files(files, 288, 256, folder, families_of(files, folder))
    chunks = []
    for i in range(0, count, 8):
        gen = batch_generator(seed, i)
        crops = augment_colours(sampler.sample(min(8, count - i), gen), gen, colour_aug)
        chunks.append(net.encoder.taps(crops.float() / 255, (net.spec.tap,))[0].half())
    return torch.cat(chunks)


@torch.no_grad()
def held_out_figures(sct, content: torch.Tensor, style: torch.Tensor) -> dict[str, float]:
    """Medians over held-out pairs of :func:`fusion_statistics` and the shape loss."""
    rows = []
    for c, s in zip(content.float(), style.float(), strict=True):
        fused = sct(c[None], s[None])
        rows.append(fusion_statistics(fused, s[None]))
        rows[-1]["shape_loss"] = float(fusion_shape(fused, s[None], c[None]))
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--init", required=True, help="art model to start from (file or folder)")
    p.add_argument("--content", required=True)
    p.add_argument("--style", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--contents", type=int, default=800)
    p.add_argument("--styles", type=int, default=1000)
    p.add_argument("--steps", type=int, default=450)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--eval-every", type=int, default=75)
    args = p.parse_args(argv)
    torch.manual_seed(0)
    net = load_model(args.init)
    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.out / f"features_{args.contents}_{args.styles}.pt"
    if cache.exists():  # tensors only: our own cache, read without unpickling code
        content, style = torch.load(cache, weights_only=True).values()
    else:
        content = cache_features(net.eval(), args.content, args.contents, 0.0, 11)
        style = cache_features(net, args.style, args.styles, 0.5, 12)
        torch.save({"content": content, "style": style}, cache)
    held = (content[-HELD_OUT:], style[-HELD_OUT:])
    content, style = content[:-HELD_OUT], style[:-HELD_OUT]
    sct = net.sct.train()
    opt = torch.optim.Adam(sct.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(1)
    log = [{"step": 0, **held_out_figures(sct, *held)}]
    print(json.dumps(log[-1]), flush=True)
    started = time.perf_counter()
    for step in range(1, args.steps + 1):
        ci = torch.randint(len(content), (args.batch,), generator=gen)
        si = torch.randint(len(style), (args.batch,), generator=gen)
        cf, sf = content[ci].float(), style[si].float()
        loss = fusion_shape(sct(cf, sf), sf, cf)
        opt.zero_grad()
        loss.backward()
        opt.step()
        for group in opt.param_groups:
            group["lr"] = args.lr / (1 + LR_DECAY * step)
        if step % args.eval_every == 0 or step == args.steps:
            log.append({"step": step, "seconds": time.perf_counter() - started})
            log[-1] |= held_out_figures(sct, *held)
            print(json.dumps(log[-1]), flush=True)
    save_sctnet(
        net, args.out / "model.safetensors", {"ccpl.sct_steps": str(args.steps)}, overwrite=True
    )
    init = Path(args.init)
    for enc in (init if init.is_dir() else init.parent).glob("vgg_*.safetensors"):
        shutil.copy(enc, args.out / enc.name)  # bench_quality loads the folder as a model
    (args.out / "log.json").write_text(json.dumps(log, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_reporting(main))
