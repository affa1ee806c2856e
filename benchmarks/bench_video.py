"""Video benchmarks: throughput vs the authors' per-frame loop, coherence options, memory.

    python benchmarks/bench_video.py throughput --model ccpl-starter-art
    python benchmarks/bench_video.py coherence --clip bikes.mp4 --clip vtest.avi --style S.jpg
    python benchmarks/bench_video.py memory --frames 1000 --size 1080   # ccpl video's defaults

* throughput: frames per second of ``stylize_video`` (clip statistics, fast precision) and of
  the authors' loop (per frame: encode style and content in fp32, fuse, decode) on the same
  synthetic frames; one process, medians of the per-frame times.
* coherence: warping error at interval 1 and 10 plus the style-distance figure for every option
  on real clips (first N frames), relative to plain per-frame processing.
* memory: peak RSS of ``ccpl video`` on a generated clip of the given length and size.
* pathcost: seconds per megapixel of the video path (``stylize_video`` with ``ccpl video``'s
  defaults, reading and writing an mp4) against the image path (``Stylizer.stylize`` on the same
  frames in memory, batches of 8), alternated ``--repeats`` times in one process; the ratio of
  the medians is what a clip costs over its frames as images.

    python benchmarks/bench_video.py pathcost --clip bikes.mp4 --frames 24 --model ccpl-open-art
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

OPTIONS = {
    "per-frame": {"statistics": "per-frame"},
    "clip-stats": {"statistics": "clip"},
    "running-stats": {"statistics": "running"},
    "flow-0.5": {"statistics": "per-frame", "flow_blend": 0.5},
    "clip+flow-0.5": {"statistics": "clip", "flow_blend": 0.5},
    "clip+flow-0.8": {"statistics": "clip", "flow_blend": 0.8},
    "feature-0.9": {"statistics": "per-frame", "feature_blend": 0.9},
    "feature-0.95 (default)": {"statistics": "per-frame", "feature_blend": 0.95},
    "feature-1.0": {"statistics": "per-frame", "feature_blend": 1.0},
    "clip+feature-0.95": {"statistics": "clip", "feature_blend": 0.95},
    "feature-0.95+flow-0.3": {"statistics": "per-frame", "feature_blend": 0.95, "flow_blend": 0.3},
    "per-frame+palette-0": {"statistics": "per-frame", "palette": 0.0},
    "feature-0.95+palette-0": {"statistics": "per-frame", "feature_blend": 0.95, "palette": 0.0},
    "per-frame+wct-0": {"statistics": "per-frame", "wct": 0.0},
    "feature-0.95+wct-0": {"statistics": "per-frame", "feature_blend": 0.95, "wct": 0.0},
    "feature-0.95+detail-0.2": {
        "statistics": "per-frame",
        "feature_blend": 0.95,
        "detail_blend": 0.2,
    },
    "feature-0.95+detail-0.5": {
        "statistics": "per-frame",
        "feature_blend": 0.95,
        "detail_blend": 0.5,
    },
}
#: Every option states its blends; anything not named is off (the palette and WCT shares are
#: the product's defaults unless named).
OFF = {"feature_blend": 0.0, "flow_blend": 0.0, "detail_blend": 0.0}


def smooth_frames(n: int, h: int, w: int) -> list[np.ndarray]:
    gen = torch.Generator().manual_seed(0)
    base = torch.nn.functional.avg_pool2d(torch.rand(1, 3, h, w + 4 * n, generator=gen), 9, 1, 4)
    return [
        (base[0, :, :, 4 * k : 4 * k + w].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        for k in range(n)
    ]


class ListSource:
    """In-memory frames with the FrameSource interface."""

    def __init__(self, frames, info) -> None:
        self.frames, self.info, self.path = frames, info, Path("synthetic")

    def __iter__(self):
        return iter(self.frames)


def throughput(args) -> dict:
    from ccpl_core import Stylizer, load_model
    from ccpl_core.video import FrameSink, VideoOptions, stylize_video
    from ccpl_core.video.engine import DEFAULT_FEATURE_BLEND
    from ccpl_core.video.io import VideoInfo

    net = load_model(args.model)
    style = torch.rand(1, 3, 512, 512, generator=torch.Generator().manual_seed(1))
    out = {}
    sizes = {
        "512p": (512, 912, args.frames),
        "1080p": (1080, 1920, max(3, args.frames // 3)),
    }
    for label in args.sizes.split(","):
        if label not in sizes:
            raise SystemExit(f"bench_video: --sizes: {label!r} is not one of {', '.join(sizes)}")
        h, w, n = sizes[label]
        frames = smooth_frames(n, h, w)
        # authors' loop
        times = []
        with torch.no_grad():
            for f in frames:
                t0 = time.perf_counter()
                c = torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255
                y = net.decoder(net.sct(net.encoder(c), net.encoder(style)))
                _ = (y.clamp(0, 1)[0].permute(1, 2, 0) * 255).byte().numpy()
                times.append(time.perf_counter() - t0)
        authors_fps = 1 / float(np.median(times[1:] if len(times) > 1 else times))
        row = {"frames": n, "authors_fp32_fps": authors_fps}
        runs = {
            "ccpl_fp32_fps": ("fp32", OFF),
            "ccpl_auto_fps": ("auto", OFF),
            "ccpl_auto_feature_blend_fps": ("auto", {"feature_blend": DEFAULT_FEATURE_BLEND}),
            "ccpl_auto_detail_blend_fps": (
                "auto",
                {"feature_blend": DEFAULT_FEATURE_BLEND, "detail_blend": 0.2},
            ),
        }
        for key, (precision, blend) in runs.items():
            st = Stylizer(net, precision=precision, device=args.device)
            prepared = st.prepare_style(style)
            source = ListSource(frames, VideoInfo(n, 25, w, h, False))
            with tempfile.TemporaryDirectory() as tmp:
                sink = FrameSink(Path(tmp) / "o", source.info)
                opts = VideoOptions(statistics="per-frame", batch=4, **{**OFF, **blend})
                res = stylize_video(st, source, sink, prepared, opts)
            row[key] = res["fps"]
        row["speedup_fast_vs_authors"] = row["ccpl_auto_fps"] / authors_fps
        out[label] = row
        print(label, row, flush=True)
    return out


def coherence(args) -> dict:
    from ccpl_core import Stylizer, load_image, load_model, resize_short_side
    from ccpl_core.images import planned_size
    from ccpl_core.video import FrameSink, FrameSource, VideoOptions, stylize_video
    from ccpl_core.video.metrics import style_distance, warping_error

    net = load_model(args.model)
    st = Stylizer(net, precision=args.precision, device=args.device)
    style_img = resize_short_side(load_image(args.style)[0], 512)
    prepared = st.prepare_style(style_img)
    results = {}
    for clip in args.clip:
        src_all = FrameSource(clip)
        with tempfile.TemporaryDirectory() as tmp:
            # the first N frames, resized, as the common source of every option
            src_dir = Path(tmp) / "src"
            h, w = planned_size(src_all.info.height, src_all.info.width, args.size)
            sink = FrameSink(src_dir, dataclasses.replace(src_all.info, width=w, height=h))
            for i, f in enumerate(src_all):
                if i >= args.max_frames:
                    break
                if args.size:
                    x = torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255
                    f = resize_short_side(x, args.size)[0].permute(1, 2, 0).numpy() * 255
                    f = f.round().astype(np.uint8)
                sink.write(f)
            sink.close()
            src = FrameSource(src_dir)
            row = {}
            chosen = args.options.split(",") if args.options else list(OPTIONS)
            for name in chosen:
                kw = OPTIONS[name]
                out_dir = Path(tmp) / name
                opts = VideoOptions(batch=4, **{**OFF, **kw})
                res = stylize_video(st, src, FrameSink(out_dir, src.info), prepared, opts)
                out = FrameSource(out_dir)
                row[name] = {
                    "warping_error_1": warping_error(iter(src), iter(out), 1),
                    "warping_error_10": warping_error(iter(src), iter(out), 10),
                    # the same with an independent flow: blending uses DIS, so DIS in the
                    # metric could flatter it
                    "warping_error_1_farneback": warping_error(
                        iter(src), iter(out), 1, preset="farneback"
                    ),
                    "style_distance": style_distance(iter(out), style_img, net.encoder, every=5),
                    "fps": res["fps"],
                }
                print(Path(clip).name, name, row[name], flush=True)
            base = row.get("per-frame")  # ratios only when the baseline ran in this process
            for rec in row.values() if base else ():
                rec["warping_error_1_vs_per_frame"] = (
                    rec["warping_error_1"] / base["warping_error_1"]
                )
                rec["style_distance_vs_per_frame"] = rec["style_distance"] / base["style_distance"]
                rec["warping_error_1_farneback_vs_per_frame"] = (
                    rec["warping_error_1_farneback"] / base["warping_error_1_farneback"]
                )
            results[Path(clip).name] = {
                "frames": src.info.frames,
                "size": [src.info.width, src.info.height],
                "options": row,
            }
    return results


def pathcost(args) -> dict:
    from ccpl_core import Stylizer, load_image, load_model, resize_short_side
    from ccpl_core.video import FrameSink, FrameSource, VideoOptions, stylize_video

    net = load_model(args.model)
    st = Stylizer(net, precision=args.precision, device=args.device)
    prepared = st.prepare_style(resize_short_side(load_image(args.style)[0], 512))
    results = {}
    for clip in args.clip:
        with tempfile.TemporaryDirectory() as tmp:
            src = FrameSource(clip)
            frames = []
            for f in src:
                x = torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255
                x = resize_short_side(x, args.size) if args.size else x
                frames.append((x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
                if len(frames) == args.frames:
                    break
            h, w = frames[0].shape[:2]
            excerpt = Path(tmp) / "excerpt.mp4"
            info = dataclasses.replace(src.info, frames=len(frames), width=w, height=h)
            sink = FrameSink(excerpt, dataclasses.replace(info, has_audio=False), crf=0)
            for f in frames:
                sink.write(f)
            sink.close()
            batch = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)
            image_s, video_s = [], []
            for r in range(args.repeats):
                t0 = time.perf_counter()
                for i in range(0, len(frames), 8):
                    out = st.stylize(batch[i : i + 8].float() / 255, prepared)
                    _ = (out * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
                image_s.append(time.perf_counter() - t0)
                source = FrameSource(excerpt)
                out_sink = FrameSink(Path(tmp) / f"out{r}.mp4", source.info)
                t0 = time.perf_counter()
                stylize_video(st, source, out_sink, prepared, VideoOptions())
                out_sink.close()
                video_s.append(time.perf_counter() - t0)
                print(clip, r, round(image_s[-1], 2), round(video_s[-1], 2), flush=True)
            mpix = len(frames) * h * w / 1e6
            results[Path(clip).name] = {
                "frames": len(frames),
                "size": [w, h],
                "image_s_per_mpix": float(np.median(image_s)) / mpix,
                "video_s_per_mpix": float(np.median(video_s)) / mpix,
                "ratio_video_to_image": float(np.median(video_s) / np.median(image_s)),
                "image_s": image_s,
                "video_s": video_s,
            }
            print(results[Path(clip).name], flush=True)
    return results


MEMORY_CHILD = r"""
import json, resource, sys, time
import ccpl_core.cli.video as cli_video
from ccpl_core.cli import main

progress_path = sys.argv.pop(1)
inner = cli_video.stylize_video


def logged(stylizer, source, sink, style, options, progress=None):
    # the CLI's own call, with its progress also written to a file the parent reads
    def report(done, total):
        with open(progress_path, "a") as fh:
            fh.write(json.dumps({"t": time.time(), "done": done}) + "\n")
        if progress is not None:
            progress(done, total)

    return inner(stylizer, source, sink, style, options, report)


cli_video.stylize_video = logged
rc = main(sys.argv[1:])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rc": rc, "peak_rss_MB": peak}))
"""


def _proc_status(pid: int) -> dict:
    """VmRSS and VmHWM (peak) of a running process, in MB (Linux)."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, val = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(val.split()[0]) / 1024
    except OSError:
        pass
    return out


def memory(args) -> dict:
    """Peak RSS of ``ccpl video`` on a long generated clip, sampled while it runs.

    The trace (time, frames done, RSS, peak RSS) goes to ``<out>/video_memory_<tag>.trace.jsonl``
    as the run goes, so a run cut short still shows whether memory grows with the clip length.
    """
    from ccpl_core.video import FrameSink
    from ccpl_core.video.io import VideoInfo

    h = args.size
    w = h * 16 // 9
    args.out.mkdir(parents=True, exist_ok=True)
    trace = args.out / f"video_memory_{args.tag}.trace.jsonl"
    trace.write_text("")
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        sink = FrameSink(clip, VideoInfo(args.frames, 25, w, h, False))
        frames = smooth_frames(8, h, w)
        for i in range(args.frames):
            sink.write(frames[i % 8])
        sink.close()
        progress = Path(tmp) / "progress.jsonl"
        progress.write_text("")
        cmd = [sys.executable, "-c", MEMORY_CHILD, str(progress), "video", str(clip)]
        cmd += ["-o", str(Path(tmp) / "out.mp4"), "--style", args.style, "--model", args.model]
        cmd += ["--precision", args.precision, "--statistics", args.statistics]
        cmd += ["--flow-blend", str(args.flow_blend), "--feature-blend", str(args.feature_blend)]
        cmd += ["--detail-blend", str(args.detail_blend)]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        while proc.poll() is None:
            time.sleep(args.sample_every)
            lines = progress.read_text().splitlines()
            done = json.loads(lines[-1])["done"] if lines else 0
            row = {"seconds": round(time.perf_counter() - t0, 1), "done": done}
            row.update(_proc_status(proc.pid))
            with trace.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
        stdout = proc.stdout.read()
        rec = json.loads(stdout.strip().splitlines()[-1])
        rec.update(
            {
                "frames": args.frames,
                "size": [w, h],
                "statistics": args.statistics,
                "flow_blend": args.flow_blend,
                "feature_blend": args.feature_blend,
                "detail_blend": args.detail_blend,
                "seconds": time.perf_counter() - t0,
            }
        )
    print(rec)
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("what", choices=("throughput", "coherence", "memory", "pathcost"))
    ap.add_argument("--model", default="ccpl-starter-art")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--sizes", default="512p,1080p", help="throughput: frame sizes (512p, 1080p)")
    ap.add_argument("--size", type=int, default=0)
    ap.add_argument("--clip", action="append", default=[])
    ap.add_argument("--style", default="examples/style/starry_night.jpg")
    ap.add_argument("--max-frames", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--tag", default="cpu")
    ap.add_argument("--options", default="", help="coherence: comma-separated option names")
    ap.add_argument("--statistics", default="per-frame", help="memory: --statistics of ccpl video")
    ap.add_argument("--feature-blend", type=float, default=0.95, help="memory: --feature-blend")
    ap.add_argument("--flow-blend", type=float, default=0.0, help="memory: --flow-blend")
    ap.add_argument("--detail-blend", type=float, default=0.0, help="memory: --detail-blend")
    ap.add_argument("--sample-every", type=float, default=10.0, help="memory: seconds per sample")
    ap.add_argument("--repeats", type=int, default=3, help="pathcost: alternated runs of each")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    what = {"throughput": throughput, "coherence": coherence, "memory": memory}
    result = {**what, "pathcost": pathcost}[args.what](args)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"video_{args.what}_{args.tag}.json"
    path.write_text(
        json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "result": result}, indent=2)
    )
    print(path)


if __name__ == "__main__":
    main()
