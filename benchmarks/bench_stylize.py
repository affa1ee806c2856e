"""Stylisation speed and peak memory: ccpl_core (exact and fast) vs the authors' pipeline.

The baseline re-creates how the authors' test script works: for every content image it encodes
content *and* style in fp32 (default memory format, ``torch.no_grad``), fuses with SCT and decodes
the whole image at once. ccpl_core encodes the style once per call, runs in inference mode with
channels_last, tiles when the image would not fit its memory budget, and in fast mode computes
the encoder and decoder in bf16 (CPU with AVX512-BF16/AMX) or fp16/bf16 (GPU).

Each (size, pipeline) runs in a fresh subprocess so its peak RSS (CPU) or peak allocated memory
(GPU) is its own. Times are per content image, median over repeats, after one warm-up call.

    python benchmarks/bench_stylize.py --model models/ccpl-starter-art --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SIZES = {"512x512": (512, 512, 4, 3), "1080p": (1080, 1920, 2, 2), "4K": (2160, 3840, 1, 1)}
PIPELINES = ("authors-fp32", "ccpl-exact", "ccpl-fast")


def child(args: argparse.Namespace) -> None:
    import torch

    from ccpl_core import Stylizer, load_model
    from ccpl_core.models.untrained import random_sctnet

    torch.set_num_threads(args.threads)
    h, w, batch, repeats = SIZES[args.size]
    device = torch.device(args.device)
    net = load_model(args.model) if args.model else random_sctnet("art")
    gen = torch.Generator().manual_seed(0)
    contents = torch.rand(batch, 3, h, w, generator=gen)
    # smooth random content (real images are not white noise; keeps the output meaningful)
    contents = torch.nn.functional.avg_pool2d(contents, 9, 1, 4)
    style = torch.rand(1, 3, 512, 512, generator=gen)

    if args.pipeline == "authors-fp32":
        net = net.to(device)

        def call():
            outs = []
            with torch.no_grad():
                for i in range(batch):
                    c = contents[i : i + 1].to(device)
                    s = style.to(device)
                    out = net.decoder(net.sct(net.encoder(c), net.encoder(s)))
                    outs.append(out[..., :h, :w].clamp(0, 1).cpu())
            return torch.cat(outs)
    else:
        precision = "fp32" if args.pipeline == "ccpl-exact" else "auto"
        st = Stylizer(net, device=device, precision=precision)

        def call():
            return st.stylize(contents, style)

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    out = call()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = call()
        sync()
        times.append((time.perf_counter() - t0) / batch)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.save_output:
        torch.save(out[:1].clone(), args.save_output)
    print(
        json.dumps(
            {
                "median_s_per_image": statistics.median(times),
                "times": times,
                "peak_MB": peak,
                "batch": batch,
            }
        )
    )


def run_one(pipeline: str, size: str, args: argparse.Namespace, save: Path | None) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--pipeline",
        pipeline,
        "--size",
        size,
        "--device",
        args.device,
        "--threads",
        str(args.threads),
    ]
    if args.model:
        cmd += ["--model", args.model]
    if save:
        cmd += ["--save-output", str(save)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default=None, help="model to time (default: random weights)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--pipelines", default=",".join(PIPELINES))
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--tag", default="cpu")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--pipeline", help=argparse.SUPPRESS)
    ap.add_argument("--size", help=argparse.SUPPRESS)
    ap.add_argument("--save-output", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return

    import torch

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / "_outputs"
    tmp.mkdir(exist_ok=True)
    results: dict = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "threads": args.threads,
            "device": args.device,
            "torch": torch.__version__,
            "model": args.model or "random",
        },
        "sizes": {},
    }
    for size in args.sizes.split(","):
        row = {}
        for pipeline in args.pipelines.split(","):
            save = tmp / f"{size}_{pipeline}.pt" if pipeline != "authors-fp32" else None
            row[pipeline] = run_one(pipeline, size, args, save)
            print(size, pipeline, row[pipeline], flush=True)
        base = row.get("authors-fp32", {}).get("median_s_per_image")
        for rec in row.values():
            if base and "median_s_per_image" in rec:
                rec["speedup_vs_authors"] = base / rec["median_s_per_image"]
        exact, fast = tmp / f"{size}_ccpl-exact.pt", tmp / f"{size}_ccpl-fast.pt"
        if exact.exists() and fast.exists():
            a, b = torch.load(exact, weights_only=True), torch.load(fast, weights_only=True)
            row["fast_vs_exact_rel_l2"] = float((b - a).norm() / a.norm())
        results["sizes"][size] = row
    for f in tmp.glob("*.pt"):
        f.unlink()
    tmp.rmdir()
    path = out_dir / f"stylize_{args.tag}.json"
    path.write_text(json.dumps(results, indent=2))
    print(path)


if __name__ == "__main__":
    main()
