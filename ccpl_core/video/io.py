"""Streaming video input and output: a video file (PyAV) or a folder of frames.

Frames are read and written one at a time, so memory does not grow with the clip's length. A
video output keeps what the source says about display and time: frames are turned upright by
the display matrix (rotation tag), the pixels keep their shape on screen (sample aspect ratio),
each frame keeps its timestamp (a variable frame rate stays variable, the length is kept), and
the source's audio stream is copied when present. Outputs are written through
:class:`ccpl_core.fsutil.Staged`: nothing appears under the final name before it is complete.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

from ..errors import InputError
from ..fsutil import Staged, natural_key
from ..images import IMAGE_SUFFIXES, check_pixels, load_frame

log = logging.getLogger("ccpl")

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
    width: int  # of the upright frame
    height: int
    has_audio: bool
    #: unit of the frames' timestamps (None: frames follow ``fps``, e.g. a folder of frames)
    time_base: Fraction | None = None
    #: sample aspect ratio: the width of a pixel on screen over its height (1: square pixels)
    sar: Fraction = Fraction(1)


class Timing(NamedTuple):
    """When a decoded frame is shown: ``pts`` and ``duration`` in the source's time base (None
    where the container does not say)."""

    pts: int | None
    duration: int | None


class FrameSource:
    """Frames (uint8 [H, W, 3]) of a video file or of an image folder, in order.

    Frames of a folder are read like still images (:func:`ccpl_core.images.load_frame`), in
    natural order (``2.png`` before ``10.png``): upright by their EXIF orientation, 16-bit files
    scaled by their bit depth, a damaged frame reported by name. Frames of a video file are
    turned upright by the container's display matrix (a phone's portrait clip stays portrait),
    and :meth:`timed` gives each one's timestamps, so that a variable-frame-rate clip keeps its
    timing; ``info.sar`` is the shape of its pixels on screen. ``fps`` is the frame rate of a
    folder (default 25); ``max_pixels`` the pixel limit of a frame (default: $CCPL_MAX_PIXELS or
    :data:`ccpl_core.images.DEFAULT_MAX_PIXELS`).
    """

    def __init__(
        self, path: str | os.PathLike, fps: float | None = None, max_pixels: int | None = None
    ) -> None:
        self.path = Path(path)
        self.max_pixels = max_pixels
        if fps is not None and not (math.isfinite(fps) and fps > 0):
            raise InputError(f"fps: the frame rate must be a finite number above 0, got {fps}")
        rate = Fraction(fps if fps is not None else 25).limit_denominator(1001)
        self._first: np.ndarray | None = None
        self.rotation = 0  # degrees counter-clockwise that turn a decoded frame upright
        if self.path.is_dir():
            self.files = sorted(
                (p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES),
                key=natural_key,
            )
            if not self.files:
                raise InputError(f"no frames ({', '.join(IMAGE_SUFFIXES)}) in folder {self.path}")
            # decoded (not just its header) so that the size is the upright one; kept for __iter__
            self._first = load_frame(self.files[0], max_pixels)
            h, w = self._first.shape[:2]
            self.info = VideoInfo(len(self.files), rate, w, h, False)
        elif self.path.is_file():
            self.files = []
            self.info = self._probe(rate)
            check_pixels(f"video {self.path}", self.info.width, self.info.height, max_pixels)
        else:
            raise InputError(f"video input not found: {self.path}")

    def _probe(self, rate: Fraction) -> VideoInfo:
        """The clip's description; its first frame is decoded for the display matrix."""
        av = _av()
        try:
            with av.open(str(self.path)) as container:
                if not container.streams.video:
                    raise InputError(f"{self.path} has no video stream")
                stream = container.streams.video[0]
                first = next(container.decode(stream), None)
                self.rotation = _quarter_turns(first.rotation if first is not None else 0) * 90
                width, height = stream.width, stream.height
                sar = stream.sample_aspect_ratio or Fraction(1)
                if self.rotation % 180:
                    width, height, sar = height, width, 1 / sar
                return VideoInfo(
                    stream.frames or None,
                    Fraction(stream.average_rate or stream.guessed_rate or rate),
                    width,
                    height,
                    bool(container.streams.audio),
                    time_base=Fraction(stream.time_base) if stream.time_base else None,
                    sar=Fraction(sar),
                )
        except (av.error.FFmpegError, OSError) as exc:
            raise InputError(f"cannot read video {self.path}: {exc}") from exc

    def __iter__(self) -> Iterator[np.ndarray]:
        for frame, _ in self.timed():
            yield frame

    def timed(
        self, start: int = 0, stop: int | None = None, pts: int | None = None
    ) -> Iterator[tuple[np.ndarray, Timing | None]]:
        """Each frame with its :class:`Timing` (None for a folder: frames follow ``fps``).

        ``start``/``stop``: only frames ``start`` .. ``stop - 1`` (one shot of the clip); ``pts``,
        the timestamp of frame ``start``, lets a video file seek to it instead of decoding every
        frame before it.
        """
        if self.files:
            for i, f in enumerate(self.files[start:stop], start):
                if i == 0 and self._first is not None:
                    frame = self._first
                else:
                    frame = load_frame(f, self.max_pixels)
                if frame.shape[:2] != (self.info.height, self.info.width):
                    raise InputError(
                        f"frame {f.name} is {frame.shape[1]}x{frame.shape[0]} but the first frame "
                        f"is {self.info.width}x{self.info.height}; all frames must have one size"
                    )
                yield frame, None
            return
        av = _av()
        count = 0
        index = 0
        wanted = None if stop is None else stop - start
        turns = self.rotation // 90
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                seek = start > 0 and pts is not None
                if seek:
                    container.seek(pts, stream=stream, backward=True, any_frame=False)
                for frame in container.decode(stream):
                    count += 1
                    if seek:
                        if frame.pts is None or frame.pts < pts:
                            continue
                    elif index < start:
                        index += 1
                        continue
                    rgb = frame.to_ndarray(format="rgb24")
                    if turns:
                        rgb = np.ascontiguousarray(np.rot90(rgb, turns))
                    yield rgb, Timing(frame.pts, frame.duration or None)
                    if wanted is not None:
                        wanted -= 1
                        if wanted == 0:
                            return
        except av.error.FFmpegError as exc:
            raise InputError(f"error decoding {self.path} at frame {count}: {exc}") from exc
        if count == 0:
            raise InputError(f"{self.path} contains no decodable frames")


def _quarter_turns(degrees: float) -> int:
    """A display rotation as quarter turns (0..3); phones write multiples of 90 degrees."""
    return round(degrees / 90) % 4


#: Video codec and pixel format per output container.
VIDEO_CODECS = {
    ".mp4": ("libx264", "yuv420p"),
    ".m4v": ("libx264", "yuv420p"),
    ".mov": ("libx264", "yuv420p"),
    ".mkv": ("libx264", "yuv420p"),
    ".avi": ("mpeg4", "yuv420p"),
    ".webm": ("libvpx-vp9", "yuv420p"),
    ".gif": ("gif", "rgb8"),
}
#: Audio codecs each container takes as they are (None: any); others are re-encoded.
AUDIO_COPY: dict[str, frozenset[str] | None] = {
    ".mp4": frozenset({"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"}),
    ".m4v": frozenset({"aac", "mp3", "alac", "ac3", "eac3"}),
    ".mov": frozenset({"aac", "mp3", "alac", "ac3", "pcm_s16le", "pcm_s16be", "pcm_s24le"}),
    ".mkv": None,
    ".avi": frozenset({"mp3", "mp2", "ac3", "pcm_s16le", "pcm_u8"}),
    ".webm": frozenset({"opus", "vorbis"}),
    ".gif": frozenset(),
}
#: The codec audio is re-encoded to when it cannot be copied (None: dropped).
AUDIO_ENCODE = {
    ".mp4": "aac",
    ".m4v": "aac",
    ".mov": "aac",
    ".mkv": "aac",
    ".avi": "libmp3lame",
    ".webm": "libopus",
    ".gif": None,
}
#: Container format of each output suffix (outputs are written to an open file, not a name).
FORMATS = {
    ".mp4": "mp4",
    ".m4v": "ipod",
    ".mov": "mov",
    ".mkv": "matroska",
    ".avi": "avi",
    ".webm": "webm",
    ".gif": "gif",
}
#: Name of the frames a frames folder holds (``frame_000000.png``, ...).
FRAME_NAME = re.compile(r"frame_[0-9]{6,}\.png")


class FrameSink:
    """Where uint8 [H, W, 3] frames go: a video file (:class:`VideoFileSink`) or a folder of PNG
    frames (:class:`FrameFolderSink`); ``FrameSink(path, info, ...)`` makes the one ``path``'s
    suffix names.

    Everything is written to a private temporary beside ``path`` (:class:`Staged`) and
    published by :meth:`close`, which refuses to replace what is there unless ``overwrite``;
    :meth:`abort` removes the temporary. Both may be called again (they then do nothing).
    """

    def __new__(cls, path: str | os.PathLike, *args, **kwargs):
        if cls is FrameSink:
            video = Path(path).suffix.lower() in VIDEO_SUFFIXES
            cls = VideoFileSink if video else FrameFolderSink
        return super().__new__(cls)

    def __init__(self, path: str | os.PathLike, info: VideoInfo) -> None:
        self.path = Path(path)
        self.info = info
        self.count = 0

    def write(self, frame: np.ndarray, timing: Timing | None = None) -> None:
        """Add the next frame; ``timing`` (from :meth:`FrameSource.timed`) places it in time."""
        h, w = frame.shape[:2]
        if (w, h) != (self.info.width, self.info.height):
            raise InputError(
                f"frame {self.count} is {w}x{h}, expected {self.info.width}x{self.info.height}"
            )
        self._write(frame, timing)
        self.count += 1

    def _write(self, frame: np.ndarray, timing: Timing | None) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


class FrameFolderSink(FrameSink):
    """PNG frames ``frame_000000.png`` ... in a folder, written into a private temporary folder
    that becomes the output on :meth:`close`: a frames folder is complete or absent, and no
    reader takes a half-written frame for one. ``overwrite`` replaces a folder that holds only
    frames (a folder with anything else in it is refused: replacing it would delete that). The
    H.264 settings of a video output (``crf``, ``preset``) do not apply; a non-square sample
    aspect ratio is written into each PNG (its pHYs chunk)."""

    def __init__(
        self,
        path: str | os.PathLike,
        info: VideoInfo,
        audio_from: Path | None = None,
        overwrite: bool = False,
        **video_only,
    ) -> None:
        super().__init__(path, info)
        check_frames_folder(self.path, overwrite)
        sar = info.sar or Fraction(1)
        # pHYs stores pixels per unit length: a pixel's width over its height is ydpi / xdpi
        self._save = {"dpi": (72 * sar.denominator, 72 * sar.numerator)} if sar != 1 else {}
        self._staged = Staged(self.path, folder=True, overwrite=overwrite)

    def _write(self, frame: np.ndarray, timing: Timing | None) -> None:
        name = f"frame_{self.count:06d}.png"
        try:
            Image.fromarray(frame).save(self._staged.path / name, **self._save)
        except OSError as exc:  # Pillow's errors name no file: name the frame of the output
            raise OSError(exc.errno, exc.strerror or str(exc), str(self.path / name)) from exc

    def close(self) -> None:
        """Publish the folder (replacing an older frames folder only with ``overwrite``)."""
        if not self._staged.done:
            self._staged.commit()

    def abort(self) -> None:
        """Remove the unfinished folder."""
        self._staged.discard()


def check_frames_folder(path: Path, overwrite: bool) -> None:
    """Refuse a frames-folder output that is a file, a non-empty folder (without
    ``overwrite``) or a folder with files that are not frames (with it)."""
    if os.path.lexists(path) and not path.is_dir():
        raise InputError(
            f"output {path} is a file with an unknown video suffix; use a folder "
            f"for frames or one of {', '.join(VIDEO_SUFFIXES)}"
        )
    if not path.is_dir():
        return
    names = sorted(p.name for p in path.iterdir())
    if names and not overwrite:
        raise InputError(
            f"output folder {path} is not empty; choose another folder or allow `overwrite`"
        )
    others = [n for n in names if not FRAME_NAME.fullmatch(n)]
    if others:
        raise InputError(
            f"output folder {path} holds {others[0]!r}, which is not a frame: `overwrite` "
            "replaces only a folder of frames; choose a new or empty folder"
        )


class VideoFileSink(FrameSink):
    """A video file, written to a private temporary file that becomes the output on
    :meth:`close`. Frames keep their source timestamps (a frame folder's follow ``fps``) and the
    source's sample aspect ratio. The frames are encoded first and the source's audio is added
    in a final remux (copied when the container takes its codec, else re-encoded), so a problem
    with the audio never costs the stylised frames: the video is then kept without sound and a
    warning says why."""

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
        super().__init__(path, info)
        self.audio_from = audio_from if info.has_audio else None
        self.overwrite = overwrite
        self._container = None
        if os.path.lexists(self.path) and not overwrite:
            raise InputError(
                f"output exists: {self.path}; choose another name or allow `overwrite`"
            )
        self.suffix = self.path.suffix.lower()
        codec, pix_fmt = VIDEO_CODECS[self.suffix]
        # 4:2:0 chroma needs even sizes: drop a last odd row/column rather than fail later
        self.size = (info.width, info.height)
        if pix_fmt == "yuv420p":
            self.size = (info.width - info.width % 2, info.height - info.height % 2)
        if min(self.size) < 2:
            raise InputError(f"{self.path}: frames of {info.width}x{info.height} are too small")
        if self.size != (info.width, info.height):
            log.warning(
                "%s: %s needs even frame sizes; writing %dx%d (last odd row/column dropped)",
                self.path.name,
                self.suffix,
                *self.size,
            )
        self._clock = _Clock(info, self.suffix)
        av = _av()
        self._staged = Staged(self.path, overwrite=overwrite)
        try:
            self._container = av.open(self._staged.file, mode="w", format=FORMATS[self.suffix])
            self._stream = self._container.add_stream(codec, rate=info.fps)
            self._stream.width, self._stream.height = self.size
            self._stream.pix_fmt = pix_fmt
            self._stream.codec_context.time_base = self._clock.time_base
            self._stream.time_base = self._clock.time_base
            if info.sar and info.sar != 1:
                if self.suffix == ".gif":
                    log.warning(
                        "%s: GIF stores no pixel shape; the frames are shown with square "
                        "pixels, not the source's %s",
                        self.path.name,
                        info.sar,
                    )
                else:
                    self._stream.codec_context.sample_aspect_ratio = info.sar
            if codec == "libx264":
                self._stream.options = {"crf": str(int(crf)), "preset": preset}
        except BaseException:
            self.abort()
            raise

    def _write(self, frame: np.ndarray, timing: Timing | None) -> None:
        av = _av()
        frame = frame[: self.size[1], : self.size[0]]
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        vf.pts, duration = self._clock.place(timing)
        vf.time_base = self._clock.time_base
        if duration:
            vf.duration = duration
        for packet in self._stream.encode(vf):
            self._container.mux(packet)

    def close(self) -> None:
        """Finish the video: flush the encoder, add the audio, publish the file."""
        if self._container is None:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = None
        muxed = self._add_audio() if self.audio_from is not None else None
        if muxed is not None:
            self._staged.discard()
            muxed.commit()
        else:
            self._staged.commit()

    def _add_audio(self) -> Staged | None:
        """The encoded frames remuxed with the source's audio (None: keep them silent)."""
        av = _av()
        frames_file = self._staged.file
        muxed = Staged(self.path, overwrite=self.overwrite)
        try:
            frames_file.seek(0)
            with av.open(str(self.audio_from)) as src, av.open(frames_file) as frames:
                audio_in = src.streams.audio[0]
                name = audio_in.codec_context.codec.canonical_name
                allowed = AUDIO_COPY[self.suffix]
                copy = allowed is None or name in allowed
                target = None if copy else AUDIO_ENCODE[self.suffix]
                if not copy and target is None:
                    log.warning(
                        "%s: %s files carry no audio; sound dropped", self.path.name, self.suffix
                    )
                    muxed.discard()
                    return None
                with av.open(muxed.file, mode="w", format=FORMATS[self.suffix]) as out:
                    video_out = out.add_stream_from_template(frames.streams.video[0])
                    if copy:
                        audio_out = out.add_stream_from_template(audio_in)
                    else:
                        audio_out = out.add_stream(target, rate=audio_in.codec_context.sample_rate)
                        log.warning(
                            "%s: %s audio cannot go into %s as it is; re-encoded to %s",
                            self.path.name,
                            name,
                            self.suffix,
                            target,
                        )
                    video = _restamped(frames.demux(frames.streams.video[0]), video_out)
                    if copy:
                        audio = _restamped(src.demux(audio_in), audio_out)
                    else:
                        audio = _encoded(src.decode(audio_in), audio_out)
                    for packet in heapq.merge(video, audio, key=_seconds):
                        out.mux(packet)
            return muxed
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            muxed.discard()
            log.warning(
                "%s: the source audio could not be added (%s); video kept without sound",
                self.path.name,
                exc,
            )
            return None
        except BaseException:
            muxed.discard()
            raise

    def abort(self) -> None:
        """Remove what the unfinished video wrote."""
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None
        self._staged.discard()


class _Clock:
    """Output timestamps: the source's own (a variable frame rate stays variable), in the
    source's time base, or one tick of ``1/fps`` per frame for a folder of frames.

    AVI counts frames at one rate, and an empty entry per tick of a fine time base would bloat
    its index: there, a source timestamp is rounded to the nearest tick of the average rate.
    A timestamp never repeats or goes back (the encoders refuse that).
    """

    def __init__(self, info: VideoInfo, suffix: str) -> None:
        self.source = info.time_base
        fine = self.source is not None and suffix != ".avi"
        self.time_base = self.source if fine else 1 / Fraction(info.fps)
        self.step = max(1, round(1 / (Fraction(info.fps) * self.time_base)))
        self.last: int | None = None

    def place(self, timing: Timing | None) -> tuple[int, int | None]:
        """(pts, duration) of the next frame in :attr:`time_base`."""
        pts = duration = None
        if timing is not None and self.source is not None:
            if timing.pts is not None:
                pts = round(timing.pts * self.source / self.time_base)
            if timing.duration:
                duration = max(1, round(timing.duration * self.source / self.time_base))
        if pts is None:
            pts = 0 if self.last is None else self.last + self.step
        if self.last is not None and pts <= self.last:
            pts = self.last + 1
        self.last = pts
        return pts, duration


def _restamped(packets: Iterator, stream) -> Iterator:
    """Demuxed packets (the empty flush packets left out), re-addressed to an output stream."""
    for packet in packets:
        if packet.size:
            packet.stream = stream
            yield packet


def _encoded(frames: Iterator, stream) -> Iterator:
    """Decoded audio frames encoded by an output stream (which converts their sample format)."""
    for frame in frames:
        frame.pts = None
        yield from stream.encode(frame)
    yield from stream.encode(None)


def _seconds(packet) -> float:
    """Decoding time of a packet, for interleaving streams of different time bases.

    Some containers (Matroska) store no decoding times: the presentation time stands in.
    """
    stamp = packet.dts if packet.dts is not None else packet.pts
    return float(stamp * packet.time_base) if stamp is not None else 0.0
