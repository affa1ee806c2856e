"""Shot-parallel video on Ray: a clip split at its scene cuts, shots stylised apart, joined.

The streaming engine starts a fresh temporal state at every cut (:mod:`ccpl_core.video.shots`),
so a shot stylised on its own equals the same frames of a serial run. The driver finds the cuts
(one pass over small frames), sends each shot to a :class:`ShotWorker` actor, which writes it as
a folder of lossless PNG frames beside the output, and then joins the folders in order into
the output with the source's timestamps and audio. Finished shots are kept until the output is
published, so a stopped run picks up where it was; with statistics 'clip' the workers first
sum each shot's feature moments, which add up to the whole clip's.

Input and output paths must be visible to every node (a shared file system), as for
``ccpl batch``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import CCPLError, InputError, describe, expected_errors, for_cli
from ..images import load_image_resized
from ..loading import load_model
from ..models import ContentStats
from ..pipeline import Stylizer
from ..stages import FeatureMoments
from ..video.engine import VideoOptions, clip_moments, output_info, stylize_video
from ..video.files import check_frame_size
from ..video.io import FrameFolderSink, FrameSink, FrameSource
from ..video.shots import Shot, find_shots
from .pool import Engine, WorkerFailed, connected, run_tasks


@dataclass(frozen=True)
class ClipSettings:
    """Everything a shot worker needs besides its shot (sent once, to each worker)."""

    model: str | None
    model_options: dict
    device: str
    precision: str
    styles: tuple[str, ...]
    weights: tuple[float, ...] | None
    style_size: int
    options: VideoOptions
    fps: float | None
    limit: int


@dataclass(frozen=True)
class ShotTask:
    """Stylise ``shot`` of ``input`` into the frames folder ``folder``."""

    input: str
    shot: Shot
    folder: str
    clip_stats: ContentStats | None = None


class ShotWorker:
    """Holds the model and the prepared style; stylises whole shots (or sums their moments)."""

    def __init__(self, settings: ClipSettings, threads: int | None = None) -> None:
        if threads:
            torch.set_num_threads(threads)
        s = self.settings = settings
        model = load_model(s.model, **s.model_options)
        self.stylizer = Stylizer(model, device=s.device, precision=s.precision)
        images = [load_image_resized(p, s.style_size, s.limit, "style") for p in s.styles]
        self.style = self.stylizer.prepare_style(images, s.weights)

    def _source(self, path: str) -> FrameSource:
        return FrameSource(path, fps=self.settings.fps, max_pixels=self.settings.limit)

    def moments(self, task: ShotTask) -> FeatureMoments | str:
        """The feature moments of the shot's frames (or the error, as one line)."""
        try:
            source = self._source(task.input)
            return clip_moments(self.stylizer, source, self.settings.options, task.shot)
        except expected_errors() as exc:
            return for_cli(describe(exc))

    def stylize(self, task: ShotTask) -> dict:
        """Write the shot's frames folder (kept if a finished one is there); its frame count,
        or the error as one line."""
        folder = Path(task.folder)
        try:
            if folder.is_dir():  # finished by an earlier run or an earlier try of this task
                return {"frames": sum(1 for _ in folder.glob("frame_*.png")), "kept": True}
            source = self._source(task.input)
            check_frame_size(self.stylizer, source, self.settings.options.size, task.input)
            sink = FrameFolderSink(folder, output_info(source.info, self.settings.options.size))
            opts = self.settings.options
            return stylize_video(
                self.stylizer,
                source,
                sink,
                self.style,
                opts,
                shot=task.shot,
                clip_stats=task.clip_stats,
            )
        except expected_errors() as exc:
            return {"error": for_cli(describe(exc))}


def stylize_clip_by_shots(
    engine: Engine,
    settings: ClipSettings,
    input: str | os.PathLike,
    output: str | os.PathLike,
    *,
    overwrite: bool = False,
    crf: int = 18,
    preset: str = "medium",
    progress: Callable[[int, int | None], None] | None = None,
) -> dict:
    """Stylise ``input`` into ``output`` shot by shot on ``engine``'s workers; returns counts.

    Nothing appears under ``output`` unless every shot was stylised and the join finished; the
    finished shots stay in a folder beside it (``.NAME.ccpl-shots``) until then, and a rerun of
    the same command with the same input and options uses them.
    """
    source = FrameSource(input, fps=settings.fps, max_pixels=settings.limit)
    shots, timings = find_shots(source)
    work = _work_folder(Path(output), source, settings)
    tasks = [
        ShotTask(str(input), shot, str(work / f"shot_{shot.start:07d}-{shot.stop:07d}"))
        for shot in shots
    ]
    done = 0
    with connected(engine) if engine.name == "ray" else nullcontext():
        if settings.options.statistics == "clip":
            stats = _clip_stats(engine, settings, tasks)
            tasks = [ShotTask(t.input, t.shot, t.folder, stats) for t in tasks]
        for task, result in run_tasks(engine, ShotWorker, {"settings": settings}, "stylize", tasks):
            _check(task, result)
            done += len(task.shot)
            if progress is not None:
                progress(done, len(timings))
    sink = FrameSink(
        output,
        output_info(source.info, settings.options.size),
        audio_from=source.path if source.path.is_file() else None,
        overwrite=overwrite,
        crf=crf,
        preset=preset,
    )
    try:
        for task in tasks:
            frames = sorted(Path(task.folder).glob("frame_*.png"))
            if len(frames) != len(task.shot):
                raise CCPLError(f"{task.folder} holds {len(frames)} frames, not {len(task.shot)}")
            for i, frame in enumerate(frames, task.shot.start):
                with Image.open(frame) as im:
                    sink.write(np.asarray(im.convert("RGB")), timings[i])
        sink.close()
    except BaseException:
        sink.abort()
        raise
    shutil.rmtree(work, ignore_errors=True)
    return {"frames": len(timings), "shots": len(shots)}


def _check(task: ShotTask, result: object) -> None:
    """Raise the one line of a shot that failed."""
    where = f"shot of frames {task.shot.start}-{task.shot.stop - 1}"
    if isinstance(result, WorkerFailed):
        raise CCPLError(f"{where}: {result}; rerun the same command to finish (done shots kept)")
    if isinstance(result, str):
        raise InputError(result)
    if isinstance(result, dict) and "error" in result:
        raise InputError(result["error"])


def _clip_stats(engine: Engine, settings: ClipSettings, tasks: list[ShotTask]) -> ContentStats:
    """The whole clip's content statistics: each shot's moments on the workers, summed in order."""
    moments: dict[Shot, FeatureMoments] = {}
    for task, result in run_tasks(engine, ShotWorker, {"settings": settings}, "moments", tasks):
        _check(task, result)
        moments[task.shot] = result
    total = FeatureMoments(covariance=settings.options.wct > 0)
    for task in tasks:
        total.merge(moments[task.shot])
    return total.stats()


def _work_folder(output: Path, source: FrameSource, settings: ClipSettings) -> Path:
    """The folder of finished shots beside ``output``, emptied when it belongs to another input
    or other settings (a file named there records which)."""
    stat = source.path.stat()
    plan = json.dumps(
        {
            "input": str(source.path.resolve()),
            "size": stat.st_size,
            "mtime": stat.st_mtime_ns,
            "settings": asdict(settings) | {"options": asdict(settings.options)},
        },
        sort_keys=True,
        default=str,
    )
    work = output.parent / f".{output.name}.ccpl-shots"
    stamp = work / "plan.sha256"
    digest = hashlib.sha256(plan.encode()).hexdigest()
    if work.is_dir() and (not stamp.is_file() or stamp.read_text() != digest):
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    stamp.write_text(digest)
    return work
