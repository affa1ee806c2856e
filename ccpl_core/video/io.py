"""Streaming video input and output: a video file (PyAV) or a folder of frames.

Frames are read and written one at a time, so memory does not grow with the clip's length. A
video output keeps the source frame rate and copies the source's audio stream when present.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InputError
from ..images import IMAGE_SUFFIXES

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".gif")
#: x264 speed presets (slower = smaller file at the same quality).
X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)


def _av():
    try:
        import av
    except ImportError as exc:
        raise InputError("video files need PyAV: pip install av") from exc
    return av


@dataclass
class VideoInfo:
    frames: int | None  # None when the container does not say
    fps: Fraction
    width: int
    height: int
    has_audio: bool


class FrameSource:
    """Frames (uint8 [H, W, 3]) of a video file or of an image folder, in order."""

    def __init__(self, path: str | os.PathLike, fps: float | None = None) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            self.files = sorted(
                p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not self.files:
                raise InputError(f"no frames ({', '.join(IMAGE_SUFFIXES)}) in folder {self.path}")
            with Image.open(self.files[0]) as im:
                w, h = im.size
            self.info = VideoInfo(
                len(self.files), Fraction(fps or 25).limit_denominator(1001), w, h, False
            )
        elif self.path.is_file():
            self.files = []
            av = _av()
            try:
                with av.open(str(self.path)) as container:
                    if not container.streams.video:
                        raise InputError(f"{self.path} has no video stream")
                    stream = container.streams.video[0]
                    rate = stream.average_rate or stream.guessed_rate or Fraction(fps or 25)
                    self.info = VideoInfo(
                        stream.frames or None,
                        Fraction(rate),
                        stream.width,
                        stream.height,
                        bool(container.streams.audio),
                    )
            except (av.error.FFmpegError, OSError) as exc:
                raise InputError(f"cannot read video {self.path}: {exc}") from exc
        else:
            raise InputError(f"video input not found: {self.path}")

    def __iter__(self) -> Iterator[np.ndarray]:
        if self.files:
            for f in self.files:
                with Image.open(f) as im:
                    frame = np.asarray(im.convert("RGB"))
                if frame.shape[:2] != (self.info.height, self.info.width):
                    raise InputError(
                        f"frame {f.name} is {frame.shape[1]}x{frame.shape[0]} but the first frame "
                        f"is {self.info.width}x{self.info.height}; all frames must have one size"
                    )
                yield frame
            return
        av = _av()
        count = 0
        try:
            with av.open(str(self.path)) as container:
                for frame in container.decode(video=0):
                    count += 1
                    yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            raise InputError(f"error decoding {self.path} at frame {count}: {exc}") from exc
        if count == 0:
            raise InputError(f"{self.path} contains no decodable frames")


class FrameSink:
    """Writes uint8 [H, W, 3] frames to a video file or a folder of PNG frames."""

    def __init__(
        self,
        path: str | os.PathLike,
        info: VideoInfo,
        audio_from: Path | None = None,
        overwrite: bool = False,
        crf: int = 18,
        preset: str = "medium",
    ) -> None:
        """``crf`` (0 = lossless .. 51) and ``preset`` apply to H.264 outputs (mp4/mkv/mov)."""
        if not 0 <= int(crf) <= 51:
            raise InputError(f"crf: H.264 quality must be 0 (lossless) to 51, got {crf}")
        if preset not in X264_PRESETS:
            raise InputError(f"preset: expected one of {', '.join(X264_PRESETS)}, got {preset!r}")
        self.path = Path(path)
        self.info = info
        self.count = 0
        self.audio_from = audio_from if info.has_audio else None
        self._container = None
        if self.path.suffix.lower() in VIDEO_SUFFIXES:
            if self.path.exists() and not overwrite:
                raise InputError(f"output exists: {self.path} (use --overwrite)")
            self.tmp = self.path.with_name(f".{self.path.name}.partial{self.path.suffix}")
            av = _av()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._container = av.open(str(self.tmp), mode="w")
            codec = (
                "libx264"
                if self.path.suffix.lower() in (".mp4", ".mkv", ".mov", ".m4v")
                else "mpeg4"
            )
            self._stream = self._container.add_stream(codec, rate=info.fps)
            self._stream.width, self._stream.height = info.width, info.height
            self._stream.pix_fmt = "yuv420p"
            if codec == "libx264":
                self._stream.options = {"crf": str(int(crf)), "preset": preset}
            self._audio_in = self._audio_out = None
            if self.audio_from is not None:
                self._audio_in = av.open(str(self.audio_from))
                self._audio_out = self._container.add_stream_from_template(
                    self._audio_in.streams.audio[0]
                )
        else:
            if self.path.exists() and any(self.path.iterdir()) and not overwrite:
                raise InputError(f"output folder {self.path} is not empty (use --overwrite)")
            self.path.mkdir(parents=True, exist_ok=True)

    def write(self, frame: np.ndarray) -> None:
        if self._container is None:
            Image.fromarray(frame).save(self.path / f"frame_{self.count:06d}.png")
        else:
            av = _av()
            h, w = frame.shape[:2]
            if (w, h) != (self.info.width, self.info.height):
                raise InputError(
                    f"frame {self.count} is {w}x{h}, expected {self.info.width}x{self.info.height}"
                )
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            for packet in self._stream.encode(vf):
                self._container.mux(packet)
        self.count += 1

    def close(self) -> None:
        if self._container is None:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        if self._audio_in is not None:
            for packet in self._audio_in.demux(self._audio_in.streams.audio[0]):
                if packet.dts is None:
                    continue
                packet.stream = self._audio_out
                self._container.mux(packet)
            self._audio_in.close()
        self._container.close()
        self._container = None
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None
            Path(self.tmp).unlink(missing_ok=True)
