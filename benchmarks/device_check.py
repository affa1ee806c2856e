"""The GPU check: one prepared run that proves and measures everything GPU-side.

A GPU machine is lent rarely and briefly (about 15 minutes in all, 10 per command), so this runs
every check in order, each in its own process with a time limit taken from one deadline, and
writes everything to ``--out`` (``device_check.json`` and ``device_check.log``):

1. the environment (GPU, driver, torch, CUDA);
2. the device-aware tests (``pytest -m gpu``: fast vs exact, tiled == untiled, a real
   out-of-memory retry, style encoded once per clip, a training step with autocast);
3. bench_stylize (512, 1080p, 4K; exact and fast), bench_video throughput (plain, feature
   blend, detail blend), bench_train (iterations per second, ours vs the authors' loop);
4. with time left, tools/gpu_train.py (a timed training run whose fp16 weights come back).

    python benchmarks/device_check.py --out "$OUT" --minutes 8          # on the GPU machine
    python benchmarks/device_check.py --quick --out /tmp/dc  # tried on a CPU first
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def environment() -> dict:
    import torch

    env = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda": torch.version.cuda}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env |= {"gpu": props.name, "gpu_memory_gib": round(props.total_memory / 2**30, 1)}
        try:
            env["driver"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=20,
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            env["driver"] = None
    return env


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default=None, help="default: cuda when there is one, else cpu")
    ap.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="stop everything by then (default 8; 20 with --quick: a CPU is slower)",
    )
    ap.add_argument("--quick", action="store_true", help="small sizes: a try-out on a CPU")
    ap.add_argument("--train-pack", default="data/train_v2_packed.tar")
    args = ap.parse_args()
    if args.minutes is None:
        args.minutes = 20.0 if args.quick else 8.0
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + args.minutes * 60
    log = open(out / "device_check.log", "w")  # noqa: SIM115 - written by every step
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    env["CCPL_TEST_DEVICE"] = args.device
    report: dict = {"environment": environment(), "steps": []}
    py = sys.executable
    bench = str(ROOT / "benchmarks")
    quick = args.quick
    steps = [
        ("tests", [py, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", "tests"], 0.2),
        (
            "bench_stylize",
            [
                py,
                f"{bench}/bench_stylize.py",
                "--device",
                args.device,
                "--model",
                "ccpl-open-art",
                "--sizes",
                "512x512" if quick else "512x512,1080p,4K",
                "--pipelines",
                "ccpl-exact,ccpl-fast" if quick else "authors-fp32,ccpl-exact,ccpl-fast",
                "--out",
                str(out),
                "--tag",
                args.device,
            ],
            0.2,
        ),
        (
            "bench_video",
            [
                py,
                f"{bench}/bench_video.py",
                "throughput",
                "--device",
                args.device,
                "--model",
                "ccpl-open-art",
                "--frames",
                "3" if quick else "30",
                "--sizes",
                "512p" if quick else "512p,1080p",
                "--out",
                str(out),
                "--tag",
                args.device,
            ],
            0.2,
        ),
        (
            "bench_train",
            [
                py,
                f"{bench}/bench_train.py",
                "--device",
                args.device,
                "--iters",
                "1" if quick else "20",
                "--crop",
                "64" if quick else "256",
                "--out",
                str(out),
                "--tag",
                args.device,
            ],
            0.15,
        ),
    ]
    if not quick and Path(args.train_pack).is_file():
        steps.append(
            (
                "gpu_train",
                [
                    py,
                    str(ROOT / "tools/gpu_train.py"),
                    "--pack",
                    args.train_pack,
                    "--init",
                    str(ROOT / "models/ccpl_open_art.safetensors"),
                    "--plan",
                    "art:joint:1.0",
                    "--out",
                    str(out / "train"),
                    "--minutes",
                    "{minutes}",
                ],
                1.0,
            )
        )
    for name, cmd, share in steps:
        left = deadline - time.monotonic()
        limit = max(0.0, left * share if name != "gpu_train" else left - 30)
        if limit < 20:
            report["steps"].append({"step": name, "skipped": "no time left"})
            continue
        cmd = [c.replace("{minutes}", f"{(limit - 20) / 60:.2f}") for c in cmd]
        log.write(f"\n===== {name}: {' '.join(cmd)}\n")
        log.flush()
        t0 = time.monotonic()
        try:
            proc = subprocess.run(
                cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=limit
            )
            rc: int | str = proc.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
        report["steps"].append({"step": name, "rc": rc, "seconds": time.monotonic() - t0})
        (out / "device_check.json").write_text(json.dumps(report, indent=1))
    log.close()
    print(json.dumps(report["steps"]))
    return 0 if all(s.get("rc") == 0 for s in report["steps"]) else 1


if __name__ == "__main__":
    sys.exit(main())
