"""``ccpl finetune``: adapt a trained model to your own style image(s)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from tqdm import tqdm

from ..errors import InputError
from ..fsutil import refuse_inputs
from ..images import check_writable, load_image
from ..loading import load_model
from ..option_specs import (
    BATCH_SIZE,
    CCPL_WEIGHT,
    CONTENT_WEIGHT,
    CROP_SIZE,
    FINETUNE_PRESET,
    LEARNING_RATE,
    SEED,
    STEPS,
    STYLE_WEIGHT,
)
from ..stopping import STOPPED_EXIT, GracefulStop, Stopped, how_stopped
from ..training.data import ImageFiles, list_images
from ..training.finetune import PRESETS, finetune
from ..weights.files import save_sctnet
from .arguments import (
    add_argument,
    device_group,
    model_group,
    model_options,
    output_group,
    style_group,
)

#: Shorter side content images are read at (larger when the crop is larger).
CONTENT_SIDE = 512


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "finetune",
        help="finetune a model on your own style image(s)",
        description="Finetune decoder + SCT of a trained model on one or a few "
        "style images and a folder of content images.",
    )
    model_group(p, help="model to start from: manifest name, .safetensors file or folder")
    style_group(p, help="style image (repeatable)", blend=False)
    p.add_argument("--content", required=True, help="folder of content images (or video frames)")
    add_argument(p, FINETUNE_PRESET)
    # numbers are checked while the arguments are parsed, before the model loads
    training = p.add_argument_group("training")
    for option in (STEPS, LEARNING_RATE, CROP_SIZE, BATCH_SIZE):
        add_argument(training, option, default=None, default_text="the --preset's")
    for option in (CONTENT_WEIGHT, STYLE_WEIGHT, CCPL_WEIGHT, SEED):
        add_argument(training, option)
    device_group(p)
    output_group(p, "output .safetensors file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.suffix != ".safetensors":
        raise InputError(f"-o {out}: the output must be a .safetensors file")
    if os.path.lexists(out) and not args.overwrite:
        raise InputError(f"output exists: {out} (use --overwrite)")
    refuse_inputs(out, [args.model, *args.style])
    check_writable([out])  # the result is written after the whole run: refused now, not then
    # read when a crop needs them (a bounded cache): memory does not grow with their number
    contents = ImageFiles(list_images(args.content, "--content"), CONTENT_SIDE)
    contents.check("--content")
    model = load_model(args.model, **model_options(args))  # None: the manifest's default
    styles = [load_image(s)[0] for s in args.style]
    steps = args.steps if args.steps is not None else PRESETS[args.preset][0]
    bar = tqdm(total=steps, unit="step", desc="finetune", disable=None)

    def on_step(losses: dict) -> None:
        bar.update(1)
        bar.set_postfix(style=f"{losses['style']:.3g}", ccpl=f"{losses['ccpl']:.3g}")

    stop = GracefulStop()  # Ctrl-C, SIGTERM, SIGHUP: finish the step in progress, then save
    with stop.installed():
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
                should_stop=stop.requested,
            )
        finally:
            bar.close()
        # self-contained (with its encoder), so the file works wherever it is moved
        path = save_sctnet(
            result.model, out, result.metadata, include_encoder=True, overwrite=args.overwrite
        )
    stopped = result.interrupted or (Stopped(stop.signum) if stop.signum else None)
    state = f"{how_stopped(stopped)}, saved the last complete step" if stopped else "done"
    print(f"{path} ({state}, {result.metadata['ccpl.steps']} steps)")
    return STOPPED_EXIT if stopped else 0
