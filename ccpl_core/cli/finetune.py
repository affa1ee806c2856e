"""``ccpl finetune``: adapt a trained model to your own style image(s)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from ..errors import InputError
from ..images import check_writable, load_image
from ..loading import load_model
from ..options import finite_float, multiple_of, positive_int, seed
from ..training.data import list_images, load_resized
from ..training.finetune import PRESETS, finetune
from ..weights.files import save_sctnet


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "finetune",
        help="finetune a model on your own style image(s)",
        description="Finetune decoder + SCT of a trained model on one or a few "
        "style images and a folder of content images.",
    )
    p.add_argument("--model", required=True, help="model to start from (file or folder)")
    p.add_argument("--style", action="append", required=True, help="style image (repeatable)")
    p.add_argument("--content", required=True, help="folder of content images (or video frames)")
    p.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        default="quick",
        help="; ".join(
            f"{k}: {v[0]} steps, lr {v[1]}, crop {v[2]}, batch {v[3]}" for k, v in PRESETS.items()
        ),
    )
    # numbers are checked while the arguments are parsed, before the model loads
    preset = "(default: the preset's)"
    p.add_argument("--steps", type=positive_int, default=None, help=f"training steps {preset}")
    p.add_argument(
        "--lr", type=finite_float(0, low_open=True), default=None, help=f"learning rate {preset}"
    )
    p.add_argument(
        "--crop", type=multiple_of(8, 32), default=None, help=f"crop size, a multiple of 8 {preset}"
    )
    p.add_argument("--batch-size", type=positive_int, default=None, help=f"crops per step {preset}")
    p.add_argument("--content-weight", type=finite_float(0), default=1.0)
    p.add_argument("--style-weight", type=finite_float(0), default=10.0)
    p.add_argument("--ccpl-weight", type=finite_float(0), default=5.0)
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto")
    p.add_argument("--device", default="auto")
    p.add_argument("--models-dir", default=None)
    p.add_argument("-o", "--output", required=True, help="output .safetensors file")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.suffix != ".safetensors":
        raise InputError(f"-o {out}: the output must be a .safetensors file")
    if out.exists() and not args.overwrite:
        raise InputError(f"output exists: {out} (use --overwrite)")
    check_writable([out])  # the result is written after the whole run: refused now, not then
    model = load_model(args.model, models_dir=args.models_dir)
    styles = [load_image(s)[0] for s in args.style]
    contents = [
        load_resized(f, 512)[None].float() / 255 for f in list_images(args.content, "--content")
    ]
    steps = args.steps if args.steps is not None else PRESETS[args.preset][0]
    bar = tqdm(total=steps, unit="step", desc="finetune", disable=None)

    def on_step(losses: dict) -> None:
        bar.update(1)
        bar.set_postfix(style=f"{losses['style']:.3g}", ccpl=f"{losses['ccpl']:.3g}")

    try:
        result = finetune(
            model,
            styles,
            contents,
            steps=args.steps,
            lr=args.lr,
            crop=args.crop,
            batch_size=args.batch_size,
            preset=args.preset,
            content_weight=args.content_weight,
            style_weight=args.style_weight,
            ccpl_weight=args.ccpl_weight,
            seed=args.seed,
            device=args.device,
            precision=args.precision,
            on_step=on_step,
        )
    finally:
        bar.close()
    # self-contained (with its encoder), so the file works wherever it is moved
    path = save_sctnet(
        result.model, out, result.metadata, include_encoder=True, overwrite=args.overwrite
    )
    state = "interrupted, saved the last complete step" if result.interrupted else "done"
    print(f"{path} ({state}, {result.metadata['ccpl.steps']} steps)")
    return 130 if result.interrupted else 0
