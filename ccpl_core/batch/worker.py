"""The worker of a batch run: holds one model, stylises jobs one after another.

The same class runs in the command's own process (``--engine local``) and as a Ray actor
(``--engine ray``), so both engines read, stylise and write every image through
:func:`ccpl_core.image_files.stylize_file`. A bad image is reported in its result and the
others go on; a worker that dies is restarted by the engine and its jobs redone (each output is
written atomically, so a redone job replaces nothing half-written).
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

import torch

from ..errors import describe, expected_errors, for_cli
from ..image_files import stylize_file
from ..images import load_image_resized
from ..loading import load_model
from ..pipeline import ImageOptions, PreparedStyle, Stylizer
from .plan import ImageJob


@dataclass(frozen=True)
class BatchSettings:
    """Everything a worker needs besides the jobs (sent once, to each worker)."""

    model: str | None
    model_options: dict
    device: str
    precision: str
    options: ImageOptions
    size: int
    style_size: int
    limit: int


class ImageWorker:
    """Loads the model once; :meth:`run` stylises a list of jobs and returns one record each."""

    def __init__(self, settings: BatchSettings, threads: int | None = None) -> None:
        if threads:
            torch.set_num_threads(threads)
        self.settings = settings
        model = load_model(settings.model, **settings.model_options)
        self.stylizer = Stylizer(model, device=settings.device, precision=settings.precision)
        self.model_name = str(model.info.get("name", settings.model))
        self.where = f"{socket.gethostname()}:{os.getpid()}"
        self._styles: dict[tuple, PreparedStyle] = {}

    def run(self, jobs: list[ImageJob]) -> list[dict]:
        """Stylise each job; its record says what was written or why not."""
        return [self._one(job) for job in jobs]

    def _style(self, job: ImageJob) -> PreparedStyle:
        key = (job.styles, job.weights)
        if key not in self._styles:
            s = self.settings
            images = [load_image_resized(p, s.style_size, s.limit, "style") for p in job.styles]
            self._styles[key] = self.stylizer.prepare_style(images, job.weights)
        return self._styles[key]

    def _one(self, job: ImageJob) -> dict:
        s = self.settings
        t0 = time.perf_counter()
        record = {"input": job.source, "output": job.output, "style": list(job.styles)}
        if job.weights:
            record["style_weights"] = list(job.weights)
        record["model"] = self.model_name
        try:
            stylize_file(
                self.stylizer,
                self._style(job),
                job.source,
                job.output,
                s.options,
                size=s.size,
                limit=s.limit,
                overwrite=True,  # planned by the driver; a retried job rewrites its own output
            )
            record["status"] = "written"
        except expected_errors() as exc:
            record["status"] = "failed"
            message = for_cli(describe(exc))
            record["error"] = message if job.source in message else f"{job.source}: {message}"
        record["seconds"] = round(time.perf_counter() - t0, 3)
        record["worker"] = self.where
        return record
