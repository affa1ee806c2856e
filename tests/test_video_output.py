"""Video outputs never lose the stylised frames: odd sizes, audio a container cannot take,
folders of frames from an earlier run, interruptions."""

from __future__ import annotations

import logging
from fractions import Fraction

import av
import numpy as np
import pytest
from helpers import pan_frames, write_folder

from ccpl_core import InputError
from ccpl_core.video import FrameSink, FrameSource
from ccpl_core.video.io import VideoInfo


def clip_with_audio(path, frames, codec, layout="mono", rate=16000, fps=12):
    """A real file: lossless H.264 (or mpeg4 in .avi) + a sine tone in ``codec``."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4" if path.suffix == ".avi" else "libx264", rate=fps)
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        a = (
            c.add_stream({"opus": "libopus"}.get(codec, codec), rate=rate, layout=layout)
            if codec
            else None
        )
        for f in frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode(None))
        if a is not None:
            t = np.arange(rate * len(frames) // fps) / rate
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            for i in range(0, samples.shape[1], 960):
                frame = av.AudioFrame.from_ndarray(
                    samples[:, i : i + 960], format="flt", layout="mono"
                )
                frame.sample_rate = rate
                c.mux(a.encode(frame))
            c.mux(a.encode(None))
    return path


def copy_clip(src_path, out_path, **kw):
    src = FrameSource(src_path)
    sink = FrameSink(out_path, src.info, audio_from=src_path, **kw)
    for f in src:
        sink.write(f)
    sink.close()
    return src.info


def streams(path):
    with av.open(str(path)) as c:
        video = c.streams.video[0]
        audio = c.streams.audio[0].codec_context.codec.canonical_name if c.streams.audio else None
        frames = sum(1 for _ in c.decode(video=0))
        return frames, (video.width, video.height), audio


@pytest.mark.parametrize(
    "source,audio_codec,output,expect_audio",
    [
        ("a.mov", "pcm_s16le", "out.mp4", "aac"),  # PCM cannot go into mp4: re-encoded
        ("a.mkv", "opus", "out.avi", "mp3"),  # Opus cannot go into avi: re-encoded
        ("a.mp4", "aac", "out.mkv", "aac"),  # copied as it is
        ("a.mp4", "aac", "out.webm", "opus"),
    ],
)
def test_audio_that_a_container_cannot_take_is_reencoded(
    tmp_path, caplog, source, audio_codec, output, expect_audio
):
    path = clip_with_audio(tmp_path / source, pan_frames(12), audio_codec, rate=48000)
    with caplog.at_level(logging.WARNING, logger="ccpl"):
        copy_clip(path, tmp_path / output)
    frames, size, audio = streams(tmp_path / output)
    assert frames == 12 and size == (128, 96)
    assert audio == expect_audio
    assert ("re-encoded" in caplog.text) == (audio_codec != expect_audio)
    assert not list(tmp_path.glob(".*partial*"))


def test_gif_output_drops_sound_with_a_warning(tmp_path, caplog):
    path = clip_with_audio(tmp_path / "a.mp4", pan_frames(6), "aac")
    with caplog.at_level(logging.WARNING, logger="ccpl"):
        copy_clip(path, tmp_path / "out.gif")
    frames, _, audio = streams(tmp_path / "out.gif")
    assert frames == 6 and audio is None
    assert "no audio" in caplog.text


def test_a_broken_audio_source_keeps_the_video(tmp_path, caplog):
    path = clip_with_audio(tmp_path / "a.mp4", pan_frames(6), "aac")
    info = FrameSource(path).info
    broken = tmp_path / "gone.mp4"
    broken.write_bytes(b"\0" * 100)  # the audio source became unreadable mid-run
    sink = FrameSink(tmp_path / "out.mp4", info, audio_from=broken)
    for f in FrameSource(path):
        sink.write(f)
    with caplog.at_level(logging.WARNING, logger="ccpl"):
        sink.close()
    assert streams(tmp_path / "out.mp4")[0] == 6
    assert "without sound" in caplog.text


@pytest.mark.parametrize("w,h", [(65, 33), (77, 40), (64, 31)])
@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov", ".avi"])
def test_odd_frame_sizes(tmp_path, w, h, suffix):
    info = VideoInfo(None, Fraction(10), w, h, False)
    sink = FrameSink(tmp_path / f"o{suffix}", info)
    rng = np.random.default_rng(0)
    for _ in range(20):  # more than one encoder buffer
        sink.write(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    sink.close()
    frames, size, _ = streams(tmp_path / f"o{suffix}")
    assert frames == 20 and size == (w - w % 2, h - h % 2)


def test_overwrite_of_a_frames_folder_leaves_no_stale_frames(tmp_path):
    long = pan_frames(8)
    info = FrameSource(write_folder(long, tmp_path / "in")).info
    out = tmp_path / "frames"
    for count in (8, 5):
        sink = FrameSink(out, info, overwrite=True)
        for f in long[:count]:
            sink.write(f)
        # the older folder stays whole until the new one replaces it
        assert not out.exists() if count == 8 else len(list(out.iterdir())) == 8
        sink.close()
    assert sorted(p.name for p in out.iterdir()) == [f"frame_{i:06d}.png" for i in range(5)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "in"]


def test_interrupted_frames_folder_leaves_nothing(tmp_path):
    frames = pan_frames(4)
    info = FrameSource(write_folder(frames, tmp_path / "in")).info
    sink = FrameSink(tmp_path / "frames", info)
    sink.write(frames[0])
    sink.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_long_output_names_and_unknown_suffix(tmp_path):
    name = "x" * 250 + ".mp4"  # the longest name most file systems allow, plus nothing
    info = VideoInfo(None, Fraction(10), 32, 32, False)
    sink = FrameSink(tmp_path / name, info)
    sink.write(np.zeros((32, 32, 3), np.uint8))
    sink.close()
    assert (tmp_path / name).exists()
    (tmp_path / "clip.xyz").write_bytes(b"")
    with pytest.raises(InputError, match="unknown video suffix"):
        FrameSink(tmp_path / "clip.xyz", info, overwrite=True)


def test_the_output_name_picks_the_sink(tmp_path):
    from ccpl_core.video.io import FrameFolderSink, VideoFileSink

    info = VideoInfo(2, Fraction(25), 32, 24, False)
    video, folder = FrameSink(tmp_path / "a.mp4", info), FrameSink(tmp_path / "frames", info)
    assert type(video) is VideoFileSink and type(folder) is FrameFolderSink
    for sink in (video, folder):
        sink.write(np.zeros((24, 32, 3), np.uint8))
        sink.close()
    assert (tmp_path / "a.mp4").is_file() and (tmp_path / "frames" / "frame_000000.png").is_file()
