"""``ccpl train``: train decoder + SCT with the CCPL loss from folders of content and style."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch
from tqdm import tqdm

from .. import environment
from ..errors import InputError
from ..fsutil import atomic_write, refuse_inputs
from ..images import check_writable
from ..loading import load_model
from ..models import SCTNet
from ..option_specs import TRAIN
from ..stopping import STOPPED_EXIT, GracefulStop
from ..training import CropSampler, PairBatches, TrainConfig, Trainer, list_images
from ..training.data import families_of
from ..training.trainer import LATEST
from ..weights.files import encoder_fingerprint, read_state
from ..weights.layout import check_part, to_authors
from .arguments import add_argument, device_group


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train an SCT model with the CCPL loss",
        description=(
            "Train decoder + SCT. --stage joint is the paper's recipe; the staged recipe runs "
            "reconstruct (decoder inverts the encoder), then sct (SCT regressed onto the "
            "closed-form whitening-colouring transform), then joint, each stage --init from the "
            "previous one."
        ),
    )
    p.add_argument("--content", required=True, help="folder of content images")
    p.add_argument("--style", required=True, help="folder of style images")
    p.add_argument("--out", required=True, help="run folder: checkpoints, log.jsonl, val/")
    p.add_argument(
        "--encoder",
        help="encoder .safetensors (e.g. vgg_normalised_relu4_1): for a model from scratch or "
        "from another run's checkpoint (which holds no encoder)",
    )
    p.add_argument(
        "--init",
        help="start from this model (file, folder or another run's checkpoint) instead of scratch",
    )
    p.add_argument("--resume", action="store_true", help=f"continue from OUT/{LATEST}")
    for option in TRAIN.values():  # each checked while parsing: a typo costs no data load
        if option.name != "precision":  # --precision is the device group's
            add_argument(p, option)
    device_group(p)
    p.add_argument(
        "--export",
        default=None,
        help="write the final inference model (decoder + SCT) to this .safetensors",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing --export file")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    fields = TrainConfig.__dataclass_fields__
    return TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})


def initial_model(args: argparse.Namespace) -> SCTNet:
    """The model training starts from: a model, another run's checkpoint, or scratch."""
    if args.init and Path(args.init).is_file():
        tensors, meta = read_state(args.init)
        if meta.get("ccpl.kind") == "training-checkpoint":
            return _from_checkpoint(tensors, meta, args)
    if args.init:
        return load_model(args.init, mode=args.mode)
    if not args.encoder:
        raise InputError("pass --init MODEL (or a run's checkpoint) or --encoder ENCODER")
    return _with_encoder(SCTNet(args.mode), args)


def _with_encoder(net: SCTNet, args: argparse.Namespace) -> SCTNet:
    tensors, _ = read_state(args.encoder)
    part = to_authors(tensors)["encoder"]
    if not part:
        raise InputError(f"--encoder {args.encoder} holds no encoder.* weights")
    net.encoder.load_state_dict(
        check_part(part, args.mode, "encoder", args.encoder, allow_extra=True)
    )
    return net


def _from_checkpoint(tensors: dict, meta: dict, args: argparse.Namespace) -> SCTNet:
    """A model from another run's checkpoint (e.g. the previous stage of the recipe).

    A checkpoint holds no encoder: --encoder gives it, and it must be the one the checkpoint was
    trained with.
    """
    if meta.get("ccpl.mode") != args.mode:
        raise InputError(
            f"--init {args.init} is a {meta.get('ccpl.mode')} checkpoint, not {args.mode}"
        )
    if not args.encoder:
        raise InputError(f"--init {args.init} is a training checkpoint: also pass --encoder")
    net = _with_encoder(SCTNet(args.mode), args)
    want = meta.get("ccpl.encoder_fingerprint")
    if want and want != encoder_fingerprint(net.encoder.state_dict()):
        raise InputError(
            f"--encoder {args.encoder} is not the encoder {args.init} was trained with"
        )
    state = {k[4:]: v for k, v in tensors.items() if k.startswith("net.")}
    missing, unexpected = net.load_state_dict(state, strict=False)
    bad = [k for k in missing if not k.startswith("encoder.")] + list(unexpected)
    if bad:
        raise InputError(f"--init {args.init} does not fit a {args.mode} model ({bad[0]} ...)")
    return net


def init_distributed(device: str) -> tuple[int, str]:
    """Join a torchrun job when WORLD_SIZE > 1: returns (rank, device for this rank).

    The launcher's variables are checked first (:func:`ccpl_core.environment.world_size`)."""
    if environment.world_size() <= 1:
        return 0, device
    import torch.distributed as dist

    local = environment.local_rank()
    use_cuda = device in ("auto", "cuda") and torch.cuda.is_available()
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(local)
        return dist.get_rank(), f"cuda:{local}"
    return dist.get_rank(), "cpu"


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if args.export:  # written after the whole run: refused now rather than then
        export = Path(args.export)
        if export.suffix != ".safetensors":
            raise InputError(f"--export {export}: the model must be a .safetensors file")
        if os.path.lexists(export) and not args.overwrite:
            raise InputError(f"--export {export} exists: choose another name or pass --overwrite")
        refuse_inputs(export, [args.init, args.encoder], "--export")
        check_writable([export])
    rank, args.device = init_distributed(args.device)
    out = Path(args.out)
    content_files = list_images(args.content, "--content")
    style_files = list_images(args.style, "--style")
    if len(style_files) < 2:
        raise InputError(
            f"--style has {len(style_files)} image; training a general model needs several styles "
            "(to adapt a model to one style, use `ccpl finetune`)"
        )
    torch.manual_seed(cfg.seed)  # a model from scratch starts the same for the same seed
    net = initial_model(args)
    content = CropSampler.from_files(
        content_files, cfg.resize, cfg.crop, "--content", families_of(content_files, args.content)
    )
    style = CropSampler.from_files(
        style_files, cfg.resize, cfg.crop, "--style", families_of(style_files, args.style)
    )
    val = (
        content.sample(2, torch.Generator().manual_seed(1)),
        style.sample(2, torch.Generator().manual_seed(2)),
    )
    batches = PairBatches(
        content, style, cfg.batch_size, cfg.seed, rank=rank, style_color_aug=cfg.style_color_aug
    )
    teacher = None
    if cfg.teacher_weight > 0 and cfg.stage == "joint":
        from ..training.teacher import MagentaTeacher

        teacher = MagentaTeacher()
    trainer = Trainer(net, cfg, batches, out, device=args.device, validation=val, teacher=teacher)
    latest = out / LATEST
    if args.resume:
        if not latest.exists():
            raise InputError(f"--resume: no checkpoint at {latest}")
        trainer.load_checkpoint(latest)
    elif latest.exists():
        raise InputError(f"{latest} exists: pass --resume to continue or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        config = json.dumps(vars(args), default=str, indent=2).encode()
        atomic_write(out / "config.json", lambda fh: fh.write(config), overwrite=True)
    bar = tqdm(
        total=cfg.iterations,
        initial=trainer.iteration,
        unit="it",
        desc="train",
        disable=None if rank == 0 else True,
    )

    def on_step(losses: dict) -> None:
        bar.update(1)
        bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items() if k not in ("iteration", "lr")})

    stop = GracefulStop()  # Ctrl-C, SIGTERM, SIGHUP: finish and save the step in progress
    try:
        with stop.installed():
            trainer.run(on_step=on_step, should_stop=stop.requested)
    except KeyboardInterrupt as exc:  # a second one: stop at once, keep the last checkpoint
        kept = f"stopped at once; the last checkpoint in {latest} is kept"
        exc.kept = kept  # type: ignore[attr-defined]
        raise
    finally:
        bar.close()
    if stop.requested():
        print(f"stopped at iteration {trainer.iteration}; checkpoint saved to {latest}")
        return STOPPED_EXIT
    if args.export and rank == 0:
        meta = {"ccpl.source": "ccpl train"}
        print(trainer.export(args.export, meta, overwrite=args.overwrite))
    return 0
