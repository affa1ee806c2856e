"""``ccpl batch``: stylise a folder tree or an image list into the same tree, locally or on Ray."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import closing
from pathlib import Path

from tqdm import tqdm

from ..batch import (
    FORMATS,
    BatchSettings,
    ImageJob,
    ImageWorker,
    Manifest,
    find_inputs,
    plan_jobs,
    style_folder,
)
from ..cluster import WorkerFailed, run_tasks
from ..errors import InputError
from ..fsutil import TEMP_SUFFIX, refuse_inputs, short_name
from ..images import load_image_resized, max_pixels
from ..option_specs import SIZE, STYLE_SIZE, STYLE_WEIGHTS, TILE
from ..options import int_range, style_weights
from ..pipeline import ImageOptions
from .arguments import (
    add_argument,
    color_method,
    device_group,
    engine_group,
    engine_of,
    existing_arguments,
    max_pixels_argument,
    model_group,
    model_options,
    picture_arguments,
)

#: Images per task sent to a worker: enough to make the engine's cost per image small, few
#: enough that a dead worker's redone task is short.
PER_TASK = 8
MANIFEST_NAME = "ccpl_manifest.jsonl"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "batch",
        help="stylise a folder tree or an image list, on this machine or a Ray cluster",
        description="Stylise every image of a folder tree (or of a text list of images) into the "
        "same tree under the output folder, with one style, a blend, or a style per image drawn "
        "from a style folder. A manifest records each image; --skip-existing resumes.",
    )
    p.add_argument(
        "input", help="folder of images (walked recursively) or a text file listing them"
    )
    p.add_argument("-o", "--output", required=True, help="output folder (the tree is mirrored)")
    styles = p.add_argument_group("style")
    choice = styles.add_mutually_exclusive_group(required=True)
    choice.add_argument("--style", action="append", help="style image; repeat to blend several")
    choice.add_argument(
        "--style-folder", help="one style per image, drawn from this folder by --seed"
    )
    add_argument(styles, STYLE_WEIGHTS)
    add_argument(styles, STYLE_SIZE)
    styles.add_argument(
        "--seed",
        type=int,
        default=0,
        help="with --style-folder: the same seed gives each image the same style on any cluster "
        "(default 0)",
    )
    model_group(p)
    picture_arguments(p)
    add_argument(p, SIZE)
    add_argument(p, TILE)
    max_pixels_argument(p)
    device_group(p)
    out = p.add_argument_group("output")
    out.add_argument(
        "--format", choices=FORMATS, default="png", help="output format; same keeps each input's"
    )
    out.add_argument(
        "--record",
        default=None,
        help=f"the run's manifest: one JSON line per image (default OUTPUT/{MANIFEST_NAME})",
    )
    existing_arguments(out, "outputs")
    engine = engine_group(p)
    engine.add_argument(
        "--per-task",
        type=int_range(1, 10_000),
        default=PER_TASK,
        help=f"images sent to a worker at a time (default {PER_TASK})",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Plan every job and check the styles before any model loads, then run them."""
    engine = engine_of(args)
    limit = max_pixels(args.max_pixels)
    inputs = find_inputs(args.input)
    output = Path(args.output)
    refuse_inputs(output, [p for p, _ in inputs], folder=True)
    source = Path(args.input)
    if source.is_dir() and output.resolve().is_relative_to(source.resolve()):
        raise InputError(
            f"-o {output} is inside the input folder {source}: a later run would take the "
            "outputs for inputs; choose an output folder outside it"
        )
    if args.style_folder:
        if args.style_weights:
            raise InputError("--style-weights blends --style images; --style-folder draws one")
        styles, seed, weights = style_folder(args.style_folder), args.seed, None
    else:
        styles, seed = [Path(s) for s in args.style], None
        weights = style_weights(args.style_weights, len(styles), "--style-weights", "--style")
    for style in styles:  # a bad style stops the run before any work, not image by image
        load_image_resized(style, args.style_size, limit, "style")
    jobs = plan_jobs(inputs, output, args.format, styles, weights, seed)
    manifest = Manifest(args.record or output / MANIFEST_NAME)
    jobs, skipped = _existing(jobs, manifest, args)
    settings = BatchSettings(
        model=args.model,
        model_options=model_options(args),
        device=args.device,
        precision=args.precision,
        options=ImageOptions(
            alpha=args.alpha,
            palette=args.palette,
            wct=args.wct,
            preserve_color=color_method(args),
            tile=args.tile,
        ),
        size=args.size,
        style_size=args.style_size,
        limit=limit,
    )
    tasks = [jobs[i : i + args.per_task] for i in range(0, len(jobs), args.per_task)]
    counts = {"written": 0, "failed": 0, "skipped": skipped}
    failed: list[str] = []
    t0 = time.perf_counter()
    bar = tqdm(total=len(jobs), unit="img", desc=f"batch ({engine.name})", disable=None)
    runs = run_tasks(engine, ImageWorker, {"settings": settings}, "run", tasks)
    try:
        with closing(runs):
            for task, result in runs:
                records = _records(task, result)
                manifest.append(records)
                for record in records:
                    counts[record["status"]] += 1
                    if record["status"] == "failed":
                        failed.append(record["input"])
                        print(f"ccpl batch: error: {record['error']}", file=sys.stderr)
                bar.update(len(records))
    finally:
        bar.close()
        _remove_temporaries(jobs)
    seconds = time.perf_counter() - t0
    summary = {
        "engine": engine.name,
        "images": len(jobs) + skipped,
        **counts,
        "seconds": round(seconds, 2),
        "images_per_second": round(counts["written"] / seconds, 3) if seconds else None,
        "manifest": str(manifest.path),
    }
    print(json.dumps(summary))
    if failed:
        print(
            f"ccpl batch: error: {len(failed)} of {len(jobs)} images failed (see "
            f"{manifest.path}); the others were written: fix them and rerun with --skip-existing",
            file=sys.stderr,
        )
        return 2
    return 0


def _existing(
    jobs: list[ImageJob], manifest: Manifest, args: argparse.Namespace
) -> tuple[list[ImageJob], int]:
    """The jobs still to do, and how many were skipped; outputs found but not recorded (a run
    stopped between writing and recording) are recorded now."""
    present = [j for j in jobs if os.path.lexists(j.output)]
    if not present or args.overwrite:
        return jobs, 0
    if not args.skip_existing:
        names = ", ".join(j.output for j in present[:3])
        raise InputError(
            f"{len(present)} output(s) exist: {names} (use --skip-existing to resume, "
            "--overwrite to replace)"
        )
    recorded = manifest.outputs()
    unrecorded = [j for j in present if recorded.get(j.output, {}).get("status") != "written"]
    manifest.append(
        [
            {"input": j.source, "output": j.output, "style": list(j.styles), "status": "existing"}
            for j in unrecorded
        ]
    )
    done = {j.output for j in present}
    print(f"ccpl batch: skipping {len(present)} image(s) whose output exists", file=sys.stderr)
    return [j for j in jobs if j.output not in done], len(present)


def _records(task: list[ImageJob], result: list[dict] | WorkerFailed) -> list[dict]:
    if not isinstance(result, WorkerFailed):
        return result
    return [
        {
            "input": j.source,
            "output": j.output,
            "style": list(j.styles),
            "status": "failed",
            "error": f"{j.source}: {result}",
        }
        for j in task
    ]


def _remove_temporaries(jobs: list[ImageJob]) -> None:
    """Remove what a killed worker left half-written beside the outputs of this run (never
    under an output's name: outputs are published by an atomic rename)."""
    by_folder: dict[Path, set[str]] = {}
    for job in jobs:
        out = Path(job.output)
        by_folder.setdefault(out.parent, set()).add(f".{short_name(out.name)}.")
    for folder, prefixes in by_folder.items():
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if name.endswith(TEMP_SUFFIX) and any(name.startswith(p) for p in prefixes):
                (folder / name).unlink(missing_ok=True)
