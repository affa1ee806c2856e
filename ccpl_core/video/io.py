"""Streaming video input and output: a video file (PyAV) or a folder of frames.

Frames are read and written one at a time, so memory does not grow with the clip's length. A
video output keeps the source frame rate and copies the source's audio stream when present.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InputError
from ..fsutil import short_name
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
    width: int
    height: int
    has_audio: bool


class FrameSource:
    """Frames (uint8 [H, W, 3]) of a video file or of an image folder, in order.

    Frames of a folder are read like still images (:func:`ccpl_core.images.load_frame`): upright
    by their EXIF orientation, 16-bit files scaled by their bit depth, a damaged frame reported
    by name. ``fps`` is the frame rate of a folder (default 25); ``max_pixels`` the pixel limit
    of a frame (default: $CCPL_MAX_PIXELS or :data:`ccpl_core.images.DEFAULT_MAX_PIXELS`).
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
        if self.path.is_dir():
            self.files = sorted(
                p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not self.files:
                raise InputError(f"no frames ({', '.join(IMAGE_SUFFIXES)}) in folder {self.path}")
            # decoded (not just its header) so that the size is the upright one; kept for __iter__
            self._first = load_frame(self.files[0], max_pixels)
            h, w = self._first.shape[:2]
            self.info = VideoInfo(len(self.files), rate, w, h, False)
        elif self.path.is_file():
            self.files = []
            av = _av()
            try:
                with av.open(str(self.path)) as container:
                    if not container.streams.video:
                        raise InputError(f"{self.path} has no video stream")
                    stream = container.streams.video[0]
                    self.info = VideoInfo(
                        stream.frames or None,
                        Fraction(stream.average_rate or stream.guessed_rate or rate),
                        stream.width,
                        stream.height,
                        bool(container.streams.audio),
                    )
            except (av.error.FFmpegError, OSError) as exc:
                raise InputError(f"cannot read video {self.path}: {exc}") from exc
            check_pixels(f"video {self.path}", self.info.width, self.info.height, max_pixels)
        else:
            raise InputError(f"video input not found: {self.path}")

    def __iter__(self) -> Iterator[np.ndarray]:
        if self.files:
            for i, f in enumerate(self.files):
                if i == 0 and self._first is not None:
                    frame = self._first
                else:
                    frame = load_frame(f, self.max_pixels)
                if frame.shape[:2] != (self.info.height, self.info.width):
                    raise InputError(
                        f"frame {f.name} is {frame.shape[1]}x{frame.shape[0]} but the first frame "
                        f"is {self.info.width}x{self.info.height}; all frames must have one size"
                    )
                yield frame
            return
        av = _av()
        count = 0
        timing = _FrameTiming(self.path, self.info.fps)
        try:
            with av.open(str(self.path)) as container:
                for frame in container.decode(video=0):
                    count += 1
                    timing.see(frame.time)
                    yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            raise InputError(f"error decoding {self.path} at frame {count}: {exc}") from exc
        if count == 0:
            raise InputError(f"{self.path} contains no decodable frames")


class _FrameTiming:
    """Notices a variable frame rate while decoding and says once what the output does with it.

    Outputs are written at one constant rate (the source's average), so a clip whose frames are
    unevenly spaced plays with even spacing: its length is kept, but moments can shift against
    the (copied) audio by the largest gap's difference.
    """

    def __init__(self, path: Path, fps: Fraction) -> None:
        self.path, self.step = path, 1 / float(fps) if fps else None
        self.last: float | None = None
        self.warned = False

    def see(self, time: float | None) -> None:
        if time is None or self.step is None:
            return
        if (
            self.last is not None
            and not self.warned
            and abs(time - self.last - self.step) > 0.5 * self.step
        ):
            self.warned = True
            log.warning(
                "%s has a variable frame rate (a gap of %.3f s where %.3f s is the average); the "
                "output is written at a constant %.3f fps, so moments may shift slightly against "
                "the audio",
                self.path.name,
                time - self.last,
                self.step,
                1 / self.step,
            )
        self.last = time


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
#: Marks a frames folder whose run has not finished.
INCOMPLETE_MARK = "_INCOMPLETE"


class FrameSink:
    """Where uint8 [H, W, 3] frames go: a video file (:class:`VideoFileSink`) or a folder of PNG
    frames (:class:`FrameFolderSink`); ``FrameSink(path, info, ...)`` makes the one ``path``'s
    suffix names.

    Nothing is published under the final name before :meth:`close`, and :meth:`abort` removes
    what an unfinished run wrote.
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

    def write(self, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        if (w, h) != (self.info.width, self.info.height):
            raise InputError(
                f"frame {self.count} is {w}x{h}, expected {self.info.width}x{self.info.height}"
            )
        self._write(frame)
        self.count += 1

    def _write(self, frame: np.ndarray) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


class FrameFolderSink(FrameSink):
    """PNG frames ``frame_000000.png`` ... in a folder; each is written under a temporary name
    and renamed when complete, and a marker file says the folder is unfinished until
    :meth:`close`. The H.264 settings of a video output (``crf``, ``preset``) do not apply."""

    def __init__(
        self,
        path: str | os.PathLike,
        info: VideoInfo,
        audio_from: Path | None = None,
        overwrite: bool = False,
        **video_only,
    ) -> None:
        super().__init__(path, info)
        if self.path.exists() and not self.path.is_dir():
            raise InputError(
                f"output {self.path} is a file with an unknown video suffix; use a folder "
                f"for frames or one of {', '.join(VIDEO_SUFFIXES)}"
            )
        if self.path.exists() and any(self.path.iterdir()) and not overwrite:
            raise InputError(
                f"output folder {self.path} is not empty; choose another folder or allow "
                "`overwrite`"
            )
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / INCOMPLETE_MARK).write_text(
            "this frames folder is being written or its run was interrupted\n"
        )

    def _write(self, frame: np.ndarray) -> None:
        final = self.path / f"frame_{self.count:06d}.png"
        tmp = self.path / f".frame_{self.count:06d}.partial.png"
        Image.fromarray(frame).save(tmp)
        os.replace(tmp, final)

    def close(self) -> None:
        """Finish the folder; frames of an earlier, longer run in it are removed."""
        if self.path.is_dir():
            for old in self.path.glob("frame_*.png"):
                index = old.stem.removeprefix("frame_")
                if index.isdigit() and int(index) >= self.count:
                    old.unlink()
            (self.path / INCOMPLETE_MARK).unlink(missing_ok=True)

    def abort(self) -> None:
        """A frames folder keeps its complete frames (and its marker)."""


class VideoFileSink(FrameSink):
    """A video file, written to a hidden temporary file that becomes the output on
    :meth:`close`. The frames are encoded first and the source's audio is added in a final
    remux (copied when the container takes its codec, else re-encoded), so a problem with the
    audio never costs the stylised frames: the video is then kept without sound and a warning
    says why."""

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
        self._container = None
        if self.path.exists() and not overwrite:
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
        self.tmp = _temp_name(self.path, "frames")
        av = _av()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self.tmp), mode="w")
        self._stream = self._container.add_stream(codec, rate=info.fps)
        self._stream.width, self._stream.height = self.size
        self._stream.pix_fmt = pix_fmt
        if codec == "libx264":
            self._stream.options = {"crf": str(int(crf)), "preset": preset}

    def _write(self, frame: np.ndarray) -> None:
        av = _av()
        frame = frame[: self.size[1], : self.size[0]]
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
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
        if self.audio_from is not None:
            self._add_audio()
        os.replace(self.tmp, self.path)

    def _add_audio(self) -> None:
        """Remux the encoded frames with the source's audio; keep them silent if that fails."""
        av = _av()
        muxed = _temp_name(self.path, "audio")
        try:
            with av.open(str(self.audio_from)) as src, av.open(str(self.tmp)) as frames:
                audio_in = src.streams.audio[0]
                name = audio_in.codec_context.codec.canonical_name
                allowed = AUDIO_COPY[self.suffix]
                copy = allowed is None or name in allowed
                target = None if copy else AUDIO_ENCODE[self.suffix]
                if not copy and target is None:
                    log.warning(
                        "%s: %s files carry no audio; sound dropped", self.path.name, self.suffix
                    )
                    return
                with av.open(str(muxed), mode="w") as out:
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
            os.replace(muxed, self.tmp)
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            log.warning(
                "%s: the source audio could not be added (%s); video kept without sound",
                self.path.name,
                exc,
            )
        finally:
            Path(muxed).unlink(missing_ok=True)

    def abort(self) -> None:
        """Remove what the unfinished video wrote."""
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None
            Path(self.tmp).unlink(missing_ok=True)


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


def _temp_name(path: Path, kind: str) -> Path:
    """A hidden sibling name that stays within the file system's name limit."""
    return path.with_name(f".{short_name(path.stem)}.{kind}.partial{path.suffix}")
