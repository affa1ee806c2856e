"""The CCPL training loop: paper recipe, exact resume, mixed precision, DDP.

Checkpoints (:mod:`.checkpoint`) hold the trainable weights and the optimiser state; batches
and anchor positions are functions of (seed, iteration), so resuming from a checkpoint
reproduces the uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from ..errors import ModelError
from ..images import save_image
from ..models import SCTNet
from ..pipeline import Stylizer
from ..runtime import resolve_device, resolve_dtype
from ..stopping import STOP_SIGNALS
from ..weights.files import save_sctnet
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .data import PairBatches, batch_generator
from .objectives import Teacher, TrainModule, loss_weights, teacher_weight_at

LATEST = "latest.safetensors"


class Trainer:
    """Runs training on one device (or one rank of a torchrun job)."""

    def __init__(
        self,
        net: SCTNet,
        cfg: TrainConfig,
        batches: PairBatches,
        out_dir: str | os.PathLike | None,
        device: str | torch.device = "auto",
        validation: tuple[torch.Tensor, torch.Tensor] | None = None,
        channels_last: bool = True,
        teacher: Teacher | None = None,
    ) -> None:
        cfg.validate()
        if teacher is None and teacher_weight_at(cfg, 0) > 0:
            raise ModelError("`teacher_weight` is above zero but the trainer was given no teacher")
        if net.mode != cfg.mode:
            raise ModelError(f"the model is {net.mode} but training mode is {cfg.mode}")
        self.cfg = cfg
        self.device = resolve_device(device)
        self.dtype = training_dtype(cfg.precision, self.device)
        #: None keeps everything in memory: no checkpoint, log or validation files (finetune).
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.batches = batches
        self.validation = validation
        self.rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)  # the CCPL heads start the same for the same seed
            self.module = TrainModule(net, cfg, teacher)
        self.module.to(self.device, memory_format=self.memory_format)
        self.ddp: nn.Module = self.module
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp = nn.parallel.DistributedDataParallel(self.module, device_ids=ids)
        self.params = [p for p in self.module.parameters() if p.requires_grad]
        self.optim = torch.optim.Adam(self.params, lr=cfg.lr)
        self.scaler = torch.amp.GradScaler(enabled=self.dtype == torch.float16)
        self.iteration = 0
        self.history: list[dict] = []

    # ------------------------------------------------------------------ running
    @property
    def weights(self) -> dict[str, float]:
        """The loss weights of the next step (the teacher's decays with the iteration)."""
        return loss_weights(self.cfg, self.iteration)

    def lr_at(self, iteration: int) -> float:
        rise = min(1.0, (iteration + 1) / self.cfg.warmup) if self.cfg.warmup > 0 else 1.0
        return rise * self.cfg.lr / (1.0 + self.cfg.lr_decay * iteration)

    def step(self, content: torch.Tensor, style: torch.Tensor) -> dict[str, float]:
        """One optimisation step on uint8 or float batches; returns the losses."""
        cfg = self.cfg
        c = _to_float(content, self.device).contiguous(memory_format=self.memory_format)
        s = _to_float(style, self.device).contiguous(memory_format=self.memory_format)
        gen = batch_generator(cfg.seed + 7, self.iteration, self.rank)
        for group in self.optim.param_groups:
            group["lr"] = self.lr_at(self.iteration)
        weights = self.weights
        self.module.use_teacher = "teacher" in weights
        self.module.train()
        amp = self.dtype != torch.float32
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=amp):
            losses = self.ddp(c, s, gen)
        total = sum(w * losses[name] for name, w in weights.items())
        if not torch.isfinite(total):
            raise FloatingPointError(
                f"loss became {float(total)} at iteration {self.iteration}; lower the learning "
                "rate or train at `precision` fp32"
            )
        self.optim.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        self.scaler.step(self.optim)
        self.scaler.update()
        self.iteration += 1
        names = list(losses)
        values = torch.stack([*(losses[n] for n in names), total]).detach().float().tolist()
        record: dict[str, float] = {"iteration": self.iteration}
        record |= dict(zip([*names, "total"], values, strict=True))
        record["lr"] = self.lr_at(self.iteration - 1)
        return record

    def run(
        self,
        until: int | None = None,
        on_step: Callable[[dict[str, float]], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[dict]:
        """Train up to ``until`` (default: the configured iterations), checkpointing as it goes.

        ``should_stop`` is asked after every step: when it says so, training stops at that step
        boundary and saves a checkpoint of it (a graceful stop). An exception (Ctrl-C, an
        interrupt raised by ``on_step``) leaves the last complete checkpoint in place; nothing is
        half-written.
        """
        cfg = self.cfg
        stop = until or cfg.iterations
        loader = torch.utils.data.DataLoader(
            self.batches,
            batch_size=None,
            sampler=range(self.iteration, stop),
            num_workers=cfg.workers,
            persistent_workers=False,
            prefetch_factor=2 if cfg.workers else None,
            worker_init_fn=_leave_stop_signals_to_the_trainer,
        )
        t0 = time.perf_counter()
        window: list[dict] = []
        for content, style in loader:
            losses = self.step(content, style)
            window.append(losses)
            if on_step:
                on_step(losses)
            it = self.iteration
            if it % cfg.log_every == 0 or it == stop:
                rec = _mean_record(window)
                rec["sec_per_iter"] = (time.perf_counter() - t0) / len(window)
                self.history.append(rec)
                self._log(rec)
                window, t0 = [], time.perf_counter()
            keep = cfg.keep_every and it % cfg.keep_every == 0  # whatever save_every says
            if (keep or (cfg.save_every and it % cfg.save_every == 0)) and it != stop:
                self.save_checkpoint()
                if keep:
                    self.save_checkpoint(self.out_dir / f"iter_{it:07d}.safetensors")
            if cfg.val_every and self.validation is not None and it % cfg.val_every == 0:
                self.save_validation()
            if should_stop is not None and should_stop():
                break
        self.save_checkpoint()
        return self.history

    # -------------------------------------------------------------- checkpoints
    def save_checkpoint(self, path: str | os.PathLike | None = None) -> Path | None:
        """Write a checkpoint (default: ``latest`` in the run folder); rank 0 only."""
        if self.rank != 0 or (path is None and self.out_dir is None):
            return None
        target = Path(path) if path else self.out_dir / LATEST
        return save_checkpoint(target, self.module, self.optim, self.cfg, self.iteration)

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        self.iteration = load_checkpoint(path, self.module, self.optim, self.cfg)

    def export(
        self,
        path: str | os.PathLike,
        metadata: dict[str, str] | None = None,
        overwrite: bool = False,
    ) -> Path:
        """Write the inference weights (decoder + SCT) that LoadSCTModel and the CLI load; an
        existing file is replaced only with ``overwrite``."""
        meta = {
            "ccpl.iterations": str(self.iteration),
            "ccpl.config": json.dumps(dataclasses.asdict(self.cfg), sort_keys=True),
            **(metadata or {}),
        }
        return save_sctnet(self.module.net, path, meta, overwrite=overwrite)

    # ----------------------------------------------------------------- logging
    def _log(self, rec: dict) -> None:
        if self.rank != 0 or self.out_dir is None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        # appended in place (a log grows), but never through a symlink planted in the run folder
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        with os.fdopen(os.open(self.out_dir / "log.jsonl", flags, 0o666), "a") as fh:
            fh.write(json.dumps(rec) + "\n")

    def save_validation(self) -> Path | None:
        """A grid of content | style | picture for the fixed validation pairs, each picture
        made as the product makes it (:class:`ccpl_core.Stylizer` with its defaults)."""
        if self.rank != 0 or self.validation is None or self.out_dir is None:
            return None
        content, style = (_to_float(x, self.device) for x in self.validation)
        stylizer = Stylizer(self.module.net, self.device, precision="fp32")
        rows = [
            torch.cat([c, s, stylizer.stylize(c, s[None])[0]], dim=-1)
            for c, s in zip(content, style, strict=True)
        ]
        path = self.out_dir / "val" / f"iter_{self.iteration:07d}.png"
        return save_image(torch.cat(rows, dim=-2), path, overwrite=True)


def _leave_stop_signals_to_the_trainer(worker_id: int) -> None:
    """Data workers ignore the stop signals (Ctrl-C, SIGTERM, SIGHUP): a terminal's Ctrl-C (or
    ``kill`` of the process group, or a closed terminal) reaches every process, and a worker that
    died of it made the trainer fail mid-step instead of stopping gracefully and saving that
    step. The trainer shuts its workers down."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def training_dtype(precision: str, device: torch.device) -> torch.dtype:
    """Like inference, except that ``auto`` trains in float32 on a CPU.

    Without native bf16 units, oneDNN emulates bf16 and the backward pass is slower than in
    float32 (measured 2.7x slower for a reconstruction step on an AVX-512 CPU without bf16).
    """
    if precision == "auto" and device.type == "cpu":
        return torch.float32
    return resolve_dtype(precision, device)


def _to_float(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()


def _mean_record(window: list[dict]) -> dict:
    keys = dict.fromkeys(k for w in window for k in w if k not in ("iteration", "lr"))
    rec = {}
    for k in keys:  # a decaying teacher leaves the losses part-way through a window
        values = [w[k] for w in window if k in w]
        rec[k] = sum(values) / len(values)
    rec["iteration"] = window[-1]["iteration"]
    rec["lr"] = window[-1]["lr"]
    rec["finite"] = all(math.isfinite(w["total"]) for w in window)
    return rec
