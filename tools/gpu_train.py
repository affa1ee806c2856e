"""One timed training run on a lent GPU machine: packed data in, fp16 weights out.

A GPU machine is lent rarely, for minutes, with no network and a small carry limit, so this
script carries everything with it: the packed training images (``tools/gather_training_data.py
--pack``, ~30 MiB of WebP) and the model to start from. It runs a plan of stages, each for a
share of the time budget, on the same network, and writes fp16 inference weights to ``--out``
after every stage and every ``--save-minutes`` (an Adam state would exceed the size of a
returned file), plus ``log.json``; a joint stage also writes ``<mode>_averaged.safetensors``, the
mean of its weights over the last ``--average`` share of its time. A stage that fails is logged
and the plan goes on.

    python tools/gpu_train.py --pack data/train_v2_packed.tar \\
        --init models/ccpl_starter_art.safetensors --minutes 6 --out "$OUT" \\
        --plan art:reconstruct:0.2,art:sct:0.12,art:joint:0.48,photo:reconstruct:0.12,photo:sct:0.08
    # try it on a CPU first: --device cpu --minutes 1.5 --batch 2 --crop 64 --resize 96

A ``photo`` stage starts from the art network trained so far (its decoder's stride-4 layers, see
tools/photo_from_art.py) and writes photo weights.
"""

from __future__ import annotations

import argparse
import io
import json
import tarfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ccpl_core.cli.arguments import add_argument
from ccpl_core.declared import options_of
from ccpl_core.loading import load_model
from ccpl_core.models import SCTNet
from ccpl_core.models.sctnet import photo_from_art
from ccpl_core.training import CropSampler, PairBatches, TrainConfig, Trainer
from ccpl_core.training.data import resized_for_training
from ccpl_core.weights.files import save_sctnet

#: Learning rate of each stage (the SCT-only regression tolerates a larger one).
STAGE_LR = {"reconstruct": 2e-4, "sct": 5e-4, "joint": 1e-4}
#: The TrainConfig options this script takes as flags (the plan sets mode, stage and lr).
PASSED = (
    "batch_size",
    "crop",
    "resize",
    "workers",
    "precision",
    "style_color_aug",
    "sct_target",
    "fusion_weight",
    "palette_weight",
    "texture_weight",
    "wct",
    "warmup",
)
#: Where this script's defaults differ from TrainConfig's: a short run on one large GPU, with
#: a small resize (more of each picture in a crop), recoloured styles, the shape target in sct
#: stages and the fusion term keeping SCT's rank in joint stages.
OVERRIDES = {
    "batch_size": 16,
    "resize": 288,
    "workers": 8,
    "style_color_aug": 0.5,
    "sct_target": "shape",
    "fusion_weight": 10.0,
}


def _decode(name: str, data: bytes, short_side: int) -> torch.Tensor:
    with Image.open(io.BytesIO(data)) as im:
        return resized_for_training(np.asarray(im.convert("RGB")), short_side, name)


def read_pack(pack: Path, short_side: int) -> dict[str, tuple[list[torch.Tensor], list[str]]]:
    """content/style -> (uint8 [3, h, w] images, families), decoded on every core."""
    items: dict[str, list[tuple[str, str, bytes]]] = {"content": [], "style": []}
    with tarfile.open(pack) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            parts = Path(member.name).parts
            if len(parts) >= 3 and parts[0] in items and member.isfile():
                items[parts[0]].append((parts[1], member.name, tar.extractfile(member).read()))
    out = {}
    with ThreadPoolExecutor() as pool:
        for kind, entries in items.items():
            images = list(pool.map(lambda e: _decode(e[1], e[2], short_side), entries))
            out[kind] = (images, [fam for fam, _, _ in entries])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pack", required=True, help="packed data (.tar of content/ and style/)")
    ap.add_argument("--init", required=True, help="art model to start from (.safetensors)")
    ap.add_argument("--plan", default="art:reconstruct:0.25,art:sct:0.15,art:joint:0.6")
    ap.add_argument("--minutes", type=float, default=8.0, help="time budget, loading included")
    ap.add_argument("--save-minutes", type=float, default=1.5)
    ap.add_argument(
        "--stage-iterations",
        type=int,
        default=0,
        help="also stop each stage after this many iterations (0 = on time only; a try-out "
        "whose length does not depend on the machine's load)",
    )
    ap.add_argument("--out", required=True, help="results folder (fp16 weights, log.json)")
    ap.add_argument("--device", default="auto")
    train = options_of(TrainConfig)
    for name in PASSED:  # TrainConfig's declarations, with this script's overrides
        flags = ("--batch-size", "--batch") if name == "batch_size" else ()
        add_argument(ap, train[name], *flags, default=OVERRIDES.get(name, train[name].default))
    ap.add_argument(
        "--average",
        type=float,
        default=0.5,
        help="joint stages: also write <mode>_averaged.safetensors, the mean of the weights "
        "over this last share of the stage's time (0 = off)",
    )
    ap.add_argument(
        "--average-every", type=int, default=10, help="iterations between averaged snapshots"
    )
    args = ap.parse_args()
    t_start = time.perf_counter()
    deadline = t_start + args.minutes * 60
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    nets = {"art": load_model(args.init, mode="art")}
    data = read_pack(Path(args.pack), args.resize)
    log: dict = {"load_seconds": time.perf_counter() - t_start, "stages": []}
    if torch.cuda.is_available():
        log["gpu"] = torch.cuda.get_device_name()
    plan = [(m, s, float(f)) for m, s, f in (p.split(":") for p in args.plan.split(","))]
    train_seconds = deadline - time.perf_counter()
    for mode, stage, share in plan:
        if mode not in nets:
            nets[mode] = photo_from_art(nets["art"])
        net = nets[mode]
        stop_at = min(deadline, time.perf_counter() + share * train_seconds)
        record: dict = {"mode": mode, "stage": stage}
        try:
            record |= run_stage(net, mode, stage, stop_at, data, args, out)
        except Exception:  # keep what the earlier stages made; say what went wrong
            record["error"] = traceback.format_exc()[-2000:]
            print(record["error"], flush=True)
        log["stages"].append(record)
        (out / "log.json").write_text(json.dumps(log, indent=1))
    print(json.dumps([{k: v for k, v in s.items() if k != "history"} for s in log["stages"]]))


def run_stage(
    net: SCTNet, mode: str, stage: str, stop_at: float, data: dict, args, out: Path
) -> dict:
    """Train ``stage`` until ``stop_at``; writes ``<mode>.safetensors`` (fp16) as it goes."""
    given = {name: getattr(args, name) for name in PASSED}
    if stage != "joint":
        given["wct"] = 0.0  # the WCT share is the joint stage's
    cfg = TrainConfig(
        mode=mode,
        stage=stage,
        iterations=10**8,
        lr=STAGE_LR[stage],
        lr_decay=0.0,
        save_every=0,
        log_every=20,
        **given,
    )
    content, style = data["content"], data["style"]
    batches = PairBatches(
        CropSampler(content[0], args.crop, "content", content[1]),
        CropSampler(style[0], args.crop, "style", style[1]),
        cfg.batch_size,
        cfg.seed,
        style_color_aug=cfg.style_color_aug,
    )
    trainer = Trainer(net, cfg, batches, None, device=args.device)
    t0 = time.perf_counter()
    last_save = [t0]
    average_from = stop_at - args.average * (stop_at - t0) if stage == "joint" else float("inf")
    mean = WeightAverage()

    def should_stop() -> bool:
        now = time.perf_counter()
        if now - last_save[0] > args.save_minutes * 60:
            save(trainer.module.net.state_dict(), mode, stage, trainer.iteration, out)
            last_save[0] = now
        if now >= average_from and trainer.iteration % args.average_every == 0:
            mean.add(trainer.module.net)
        enough = args.stage_iterations and trainer.iteration >= args.stage_iterations
        return now >= stop_at or bool(enough)

    trainer.run(should_stop=should_stop)
    seconds = time.perf_counter() - t0
    save(trainer.module.net.state_dict(), mode, stage, trainer.iteration, out)
    if mean.count:
        save(mean.state(net), mode, stage, trainer.iteration, out, f"{mode}_averaged")
    net.cpu()
    print(f"{mode} {stage}: {trainer.iteration} it in {seconds:.0f} s", flush=True)
    return {
        "iterations": trainer.iteration,
        "seconds": seconds,
        "it_per_second": trainer.iteration / seconds,
        "batch": cfg.batch_size,
        "device": str(trainer.device),
        "dtype": str(trainer.dtype),
        "history": trainer.history,
        "averaged_snapshots": mean.count,
    }


class WeightAverage:
    """Running sum of a network's trainable weights (decoder + SCT), sampled every
    ``--average-every`` iterations: the mean of one run's late weights cancels much of the noise
    of its steps (as ``ccpl_core.training.average_checkpoints`` does for saved checkpoints)."""

    def __init__(self) -> None:
        self.total: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, net: SCTNet) -> None:
        for k, v in net.state_dict().items():
            if not k.startswith("encoder."):
                self.total[k] = self.total.get(k, 0) + v.detach().float()
        self.count += 1

    def state(self, like: SCTNet) -> dict[str, torch.Tensor]:
        """``like``'s state (its frozen encoder) with the mean trainable weights."""
        return like.state_dict() | {k: v / self.count for k, v in self.total.items()}


def save(
    state: dict[str, torch.Tensor],
    mode: str,
    stage: str,
    iterations: int,
    out: Path,
    name: str | None = None,
) -> None:
    """fp16 decoder + SCT (a 10 MB file for art) of a network's ``state``, named by mode (the
    latest state of that mode) unless ``name`` is given."""
    half = SCTNet(mode)
    half.load_state_dict({k: v.detach().cpu() for k, v in state.items()})
    half.half()
    meta = {"ccpl.last_stage": stage, "ccpl.iterations": str(iterations)}
    save_sctnet(half, out / f"{name or mode}.safetensors", meta, overwrite=True)


if __name__ == "__main__":
    main()
