"""Serial against Ray on this machine: images/s, frames/s, and what Ray adds per item.

``images``: a folder tree of photos (variants of the repository's photos, 768 px) and a folder
of styles; ``ccpl batch`` runs with the local engine and with ``--engine ray`` (``--workers``
actors, each with the local run's CPU threads, so the pictures must be bit-equal) for one or two
counts of images. The cost per
image is the slope between the two counts, so start-up (Ray, the model load) is left out and
reported apart; Ray's overhead per image is the difference of the slopes.

``video``: a clip of ``--frames`` frames at ``--height`` made of ``--shots`` pans over
different photos (so it has scene cuts), ``ccpl video`` serial and ``--engine ray`` with
``--workers`` actors; frames are compared shot by shot (the serial run uses the threads of one
actor so that the two are bit-equal).

    python benchmarks/bench_cluster.py images --counts 16 48 --out benchmarks/results/cluster.jsonl
    python benchmarks/bench_cluster.py video --frames 2000 --height 180 --shots 8 --out ...
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = sorted((ROOT / "tests/data").glob("*.jpg")) + sorted((ROOT / "examples/content").glob("*"))
PAINTINGS = ROOT.parent / "shared/data/paintings"


def _ccpl(*args: str) -> float:
    """Run one ccpl command; its wall time in seconds."""
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "ccpl_core", *args], check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - t0


def _styles(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    found = sorted(PAINTINGS.glob("*.png")) or sorted((ROOT / "tests/data/styles").glob("*"))
    for i in range(count):
        im = Image.open(found[i % len(found)]).convert("RGB")
        im.thumbnail((512, 512))
        (im if i < len(found) else im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)).save(
            folder / f"style{i:02d}.png"
        )
    return folder


def _tree(root: Path, count: int, side: int) -> Path:
    for i in range(count):
        folder = root / f"part{i % 5}" / f"group{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        im = Image.open(PHOTOS[i % len(PHOTOS)]).convert("RGB").resize((side * 4 // 3, side))
        im.rotate(i * 7 % 360).save(folder / f"img{i:05d}.jpg", quality=92)
    return root


def _same(a: Path, b: Path) -> tuple[int, int]:
    """Images compared by relative path: how many, and the largest difference in levels."""
    worst, n = 0, 0
    for p in sorted(a.rglob("*.png")):
        x = np.asarray(Image.open(p)).astype(int)
        y = np.asarray(Image.open(b / p.relative_to(a))).astype(int)
        worst, n = max(worst, int(np.abs(x - y).max())), n + 1
    return n, worst


def images(args: argparse.Namespace, base: Path) -> dict:
    threads = args.threads or os.cpu_count() or 1
    styles = _styles(base / "styles", args.styles)
    common = ["--style-folder", str(styles), "--seed", "1", "--size", str(args.size)]
    common += ["--device", "cpu", "--precision", "fp32", "--cpus-per-worker", str(threads)]
    if args.model:
        common += ["--model", args.model]
    runs: dict[str, dict[int, float]] = {"local": {}, "ray": {}}
    per_image: dict[str, list[float]] = {"local": [], "ray": []}
    compared, worst = 0, 0
    for count in args.counts:
        src = _tree(base / f"in{count}", count, args.source)
        for engine in ("local", "ray"):
            out = base / f"out_{engine}_{count}"
            extra = ["--engine", engine]
            extra += ["--workers", str(args.workers)] if engine == "ray" else []
            runs[engine][count] = _ccpl("batch", str(src), "-o", str(out), *common, *extra)
            records = [
                json.loads(x) for x in (out / "ccpl_manifest.jsonl").read_text().split("\n") if x
            ]
            assert all(r["status"] == "written" for r in records), records
            per_image[engine] += [r["seconds"] for r in records]
        n, diff = _same(base / f"out_local_{count}", base / f"out_ray_{count}")
        compared, worst = compared + n, max(worst, diff)
    lo, hi = min(args.counts), max(args.counts)
    if lo == hi:  # one count: the cost per image includes the start-up
        slope = {e: runs[e][hi] / hi for e in runs}
        start = {e: 0.0 for e in runs}
    else:
        slope = {e: (runs[e][hi] - runs[e][lo]) / (hi - lo) for e in runs}
        start = {e: runs[e][lo] - slope[e] * lo for e in runs}
    return {
        "mode": "images",
        "size": args.size,
        "threads": threads,
        "counts": args.counts,
        "wall_s": runs,
        "per_image_s": {e: round(v, 3) for e, v in slope.items()},
        "images_per_s": {e: round(1 / v, 3) for e, v in slope.items()},
        "startup_s": {e: round(v, 1) for e, v in start.items()},
        "worker_median_s": {e: round(float(np.median(v)), 3) for e, v in per_image.items()},
        "styles": args.styles,
        "ray_workers": args.workers,
        "ray_overhead_per_image_s": round(slope["ray"] - slope["local"], 3),
        "ray_overhead_pct": round(100 * (slope["ray"] - slope["local"]) / slope["local"], 1),
        "compared": compared,
        "max_difference_levels": worst,
    }


def _clip(path: Path, frames: int, height: int, shots: int, fps: int = 24) -> None:
    import av

    width = height * 16 // 9 // 2 * 2
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.options = {"crf": "18", "preset": "fast"}
        a = c.add_stream("aac", rate=44100, layout="mono")
        per = -(-frames // shots)
        for i in range(frames):
            shot, k = divmod(i, per)
            if k == 0:
                im = Image.open(PHOTOS[shot % len(PHOTOS)]).convert("RGB")
                big = np.asarray(im.resize((width * 2, height)))
            x = (k * 2) % width
            c.mux(v.encode(av.VideoFrame.from_ndarray(big[:, x : x + width].copy(), "rgb24")))
        c.mux(v.encode(None))
        t = np.arange(44100 * frames // fps) / 44100
        sound = (0.1 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)[None]
        for i in range(0, sound.shape[1], 1024):
            f = av.AudioFrame.from_ndarray(
                sound[:, i : i + 1024].copy(), format="flt", layout="mono"
            )
            f.sample_rate, f.pts = 44100, i
            c.mux(a.encode(f))
        c.mux(a.encode(None))


def video(args: argparse.Namespace, base: Path) -> dict:
    clip = base / "clip.mp4"
    _clip(clip, args.frames, args.height, args.shots)
    style = sorted(PAINTINGS.glob("*.png"))[:1] or [ROOT / "examples/style/starry_night.jpg"]
    common = ["--style", str(style[0]), "--device", "cpu", "--precision", "fp32"]
    if args.model:
        common += ["--model", args.model]
    per = str(args.threads or 1)
    serial = _ccpl("video", str(clip), "-o", str(base / "serial") + "/", *common,
                   "--cpus-per-worker", per)  # fmt: skip
    ray = _ccpl("video", str(clip), "-o", str(base / "ray") + "/", *common, "--engine", "ray",
                "--workers", str(args.workers), "--cpus-per-worker", per)  # fmt: skip
    compared, worst = _same(base / "serial", base / "ray")
    from ccpl_core.video.io import FrameSource
    from ccpl_core.video.shots import find_shots

    t0 = time.perf_counter()
    shots, _ = find_shots(FrameSource(clip))
    cuts_s = time.perf_counter() - t0
    return {
        "mode": "video",
        "shots_found": len(shots),
        "cut_search_s_per_frame": round(cuts_s / args.frames, 4),
        "frames": args.frames,
        "height": args.height,
        "shots": args.shots,
        "workers": args.workers,
        "threads_per_worker": int(per),
        "wall_s": {"serial": round(serial, 1), "ray": round(ray, 1)},
        "frames_per_s": {
            "serial": round(args.frames / serial, 3),
            "ray": round(args.frames / ray, 3),
        },
        "compared": compared,
        "max_difference_levels": worst,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("mode", choices=["images", "video"])
    p.add_argument("--model", default=None, help="default: the manifest's default art model")
    p.add_argument("--threads", type=int, default=None, help="CPU threads per worker")
    p.add_argument(
        "--counts", type=int, nargs="+", default=[16, 48], help="images per run (slope: two runs)"
    )
    p.add_argument("--size", type=int, default=512, help="stylised shorter side")
    p.add_argument("--source", type=int, default=768, help="input photos' shorter side")
    p.add_argument("--styles", type=int, default=20)
    p.add_argument("--frames", type=int, default=2000)
    p.add_argument("--height", type=int, default=180)
    p.add_argument("--shots", type=int, default=8)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, help="append the result as a JSON line")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = (images if args.mode == "images" else video)(args, Path(tmp))
    result["cpu"] = os.cpu_count()
    print(json.dumps(result))
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
