"""Peak memory of a real ComfyUI running Load Video -> Video Style Transfer -> Save Video.

Makes a clip (a pan across a photo, with a sound track) of N frames at WxH, runs the graph on a
fresh ComfyUI (scripts/comfyui.sh) and reads the server process's peak resident memory (VmHWM)
before and after. With ``--image-path`` it runs the IMAGE-batch graph instead (Get Video
Components -> Video Frames Style Transfer -> Create Video -> Save Video), which holds the clip.

    eval "$(bash scripts/comfyui.sh)"
    python benchmarks/bench_video_node_memory.py --frames 2000 --size 720 --stylize-size 144
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import comfy_harness as harness  # noqa: E402


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def make_clip(path: Path, frames: int, height: int, fps: int = 24) -> None:
    width = height * 16 // 9
    photo = Image.open(ROOT / "examples/content/astronaut.jpg").convert("RGB")
    photo = np.asarray(photo.resize((width * 2, height)))
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.options = {"preset": "ultrafast", "crf": "23"}
        a = c.add_stream("aac", rate=44100, layout="mono")
        for i in range(frames):
            x = (i * 3) % width
            c.mux(v.encode(av.VideoFrame.from_ndarray(photo[:, x : x + width].copy(), "rgb24")))
        c.mux(v.encode(None))
        samples = np.zeros((1, 44100 * frames // fps), np.float32)
        for i in range(0, samples.shape[1], 1024):
            f = av.AudioFrame.from_ndarray(samples[:, i : i + 1024], format="flt", layout="mono")
            f.sample_rate, f.pts = 44100, i
            c.mux(a.encode(f))
        c.mux(a.encode(None))


def prompt(clip: str, stylize_size: int, image_path: bool) -> dict:
    common = {
        "1": {"class_type": "LoadSCTModel", "inputs": {"model_name": "ccpl-open-art",
              "mode": "auto", "device": "cpu", "precision": "auto"}},
        "2": {"class_type": "LoadVideo", "inputs": {"file": clip}},
        "3": {"class_type": "LoadImage", "inputs": {"image": "ccpl_style.jpg"}},
    }  # fmt: skip
    look = {"alpha": 1.0, "preserve_color": "none", "style_size": 256}
    if not image_path:
        return common | {
            "4": {"class_type": "CCPLVideoStylize", "inputs": {"sct_model": ["1", 0],
                  "video": ["2", 0], "style": ["3", 0], "content_statistics": "per-frame",
                  "size": stylize_size, **look}},
            "5": {"class_type": "SaveVideo", "inputs": {"video": ["4", 0],
                  "filename_prefix": "bench", "format": "auto", "codec": "auto"}},
        }  # fmt: skip
    return common | {
        "6": {"class_type": "GetVideoComponents", "inputs": {"video": ["2", 0]}},
        "4": {"class_type": "CCPLVideoFrameStylize", "inputs": {"sct_model": ["1", 0],
              "frames": ["6", 0], "style": ["3", 0], "content_statistics": "per-frame", **look}},
        "7": {"class_type": "CreateVideo", "inputs": {"images": ["4", 0], "fps": ["6", 2],
              "audio": ["6", 1]}},
        "5": {"class_type": "SaveVideo", "inputs": {"video": ["7", 0],
              "filename_prefix": "bench", "format": "auto", "codec": "auto"}},
    }  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--frames", type=int, default=2000)
    p.add_argument("--size", type=int, default=720, help="clip height (16:9)")
    p.add_argument("--stylize-size", type=int, default=0, help="the node's size (0 = source)")
    p.add_argument("--image-path", action="store_true", help="the IMAGE-batch graph instead")
    p.add_argument("--out", type=Path, help="append the result as a JSON line")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as base:
        server = harness.start(Path(base), install_requirements=False)
        try:
            make_clip(Path(base) / "input" / "bench.mp4", args.frames, args.size)
            idle = peak_rss_mb(server.proc.pid)
            t0 = time.perf_counter()
            pid = harness.queue(server, prompt("bench.mp4", args.stylize_size, args.image_path))
            entry = harness.wait(server, pid, timeout=6 * 3600)
            seconds = time.perf_counter() - t0
            peak = peak_rss_mb(server.proc.pid)
            (saved,) = (Path(base) / "output").glob("bench*.mp4")
            with av.open(str(saved)) as c:
                frames = sum(1 for _ in c.decode(video=0))
                facts = (float(c.streams.video[0].average_rate), bool(c.streams.audio))
        finally:
            server.stop()
    result = {
        "graph": "image batch" if args.image_path else "video node",
        "source": f"{args.size * 16 // 9}x{args.size}",
        "frames_in": args.frames,
        "stylize_size": args.stylize_size,
        "status": entry["status"]["status_str"],
        "frames_out": frames,
        "fps_out": facts[0],
        "audio_out": facts[1],
        "peak_rss_mb_idle": round(idle),
        "peak_rss_mb": round(peak),
        "seconds": round(seconds, 1),
    }
    print(json.dumps(result))
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
