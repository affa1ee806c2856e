"""Video keeps what the container says about display and time, and fails cleanly on a full disk.

Each clip is made here with PyAV the way cameras write them: a phone's portrait clip is stored
landscape with a display rotation, an anamorphic clip has non-square pixels (a sample aspect
ratio), a screen recording has a variable frame rate. The output must look the same on screen
(orientation, shape) and last as long (within one frame).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from helpers import make_clip, run
from PIL import Image

from ccpl_core.video import FrameSink, FrameSource
from ccpl_core.weights import save_sctnet

ROOT = Path(__file__).resolve().parents[1]
#: Frame times of a variable-frame-rate clip: a 0.4 s pause after the fourth frame.
VFR_MS = [0, 100, 200, 300, 700, 800, 900, 1000, 1100, 1200]


@pytest.fixture(scope="module")
def model(tmp_path_factory, photo_net) -> Path:
    folder = tmp_path_factory.mktemp("model")
    return save_sctnet(photo_net, folder / "tiny_photo.safetensors", include_encoder=True)


def probe(path: Path) -> dict:
    """What a player sees: upright size, pixel shape, display rotation, frame times, length."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = [(f.time, f.rotation) for f in c.decode(video=0)]
        return {
            "size": (s.width, s.height),
            "sar": s.sample_aspect_ratio or Fraction(1),
            "rotation": frames[0][1],
            "times": [t for t, _ in frames],
            "seconds": c.duration / av.time_base if c.duration else None,
        }


def copy(src: Path, out: Path, **kw) -> None:
    """A clip through FrameSource and FrameSink, as ccpl video moves frames."""
    source = FrameSource(src)
    sink = FrameSink(out, source.info, **kw)
    for frame, timing in source.timed():
        sink.write(frame, timing)
    sink.close()


def noise_png(path: Path, h: int, w: int, seed: int = 0) -> Path:
    arr = (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)
    Image.fromarray(arr).save(path)
    return path


def test_a_phone_clip_keeps_its_orientation_shape_and_timing(tmp_path, capsys, model):
    """Portrait, anamorphic and variable-frame-rate at once, through ``ccpl video``."""
    clip = make_clip(tmp_path / "phone.mp4", w=64, h=48, rotation=-90, sar="8/9", times_ms=VFR_MS)
    style = noise_png(tmp_path / "style.png", 40, 40)
    out = tmp_path / "out.mp4"
    argv = ["video", clip, "--style", style, "--model", model, "-o", out]
    argv += ["--feature-blend", "0", "--palette", "0", "--wct", "0"]  # the fastest run
    rc, _, err = run(capsys, *argv)
    assert rc == 0, err
    src, got = probe(clip), probe(out)
    assert src["size"] == (64, 48) and src["rotation"] == -90
    # stored upright (48 wide, 64 high) with no rotation left to apply; the pixels turned with it
    assert got["size"] == (48, 64) and got["rotation"] == 0
    assert got["sar"] == Fraction(9, 8)  # the same shape on screen
    assert got["times"] == pytest.approx(src["times"], abs=1e-3)
    assert abs(got["seconds"] - src["seconds"]) <= 0.1  # within one frame


@pytest.mark.parametrize(("rotation", "corner"), [(-90, (0, 1)), (90, (1, 0)), (180, (1, 1))])
def test_frames_are_turned_the_way_the_display_matrix_says(tmp_path, rotation, corner):
    """The stored top-left block ends up where a player shows it."""
    clip = make_clip(tmp_path / "r.mp4", n=2, w=64, h=48, rotation=rotation)
    frame = next(iter(FrameSource(clip)))
    h, w = frame.shape[:2]
    quadrants = {
        (r, c): frame[r * h // 2 : (r + 1) * h // 2, c * w // 2 : (c + 1) * w // 2].mean()
        for r in (0, 1)
        for c in (0, 1)
    }
    assert max(quadrants, key=quadrants.get) == corner, quadrants
    assert (w, h) == ((64, 48) if rotation == 180 else (48, 64))


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov", ".webm", ".avi", ".gif"])
def test_variable_frame_rate_keeps_its_timing_in_every_container(tmp_path, suffix):
    clip = make_clip(tmp_path / "vfr.mkv", times_ms=VFR_MS)
    copy(clip, tmp_path / f"out{suffix}")
    src, got = probe(clip), probe(tmp_path / f"out{suffix}")
    assert len(got["times"]) == 10
    assert got["times"] == pytest.approx(src["times"], abs=0.05)  # AVI: the nearest 1/fps tick
    assert abs(got["seconds"] - src["seconds"]) <= 0.1


def test_sample_aspect_ratio_is_kept(tmp_path, caplog):
    clip = make_clip(tmp_path / "dv.mkv", sar="8/9")
    for suffix in (".mp4", ".mkv"):
        copy(clip, tmp_path / f"out{suffix}")
        assert probe(tmp_path / f"out{suffix}")["sar"] == Fraction(8, 9)
    copy(clip, tmp_path / "frames")
    with Image.open(tmp_path / "frames" / "frame_000000.png") as im:
        xdpi, ydpi = im.info["dpi"]
    assert ydpi / xdpi == pytest.approx(8 / 9, rel=1e-3)  # pHYs: a pixel's width / height
    with caplog.at_level(logging.WARNING, logger="ccpl"):
        copy(clip, tmp_path / "out.gif")
    assert "square pixels" in caplog.text


def test_numbered_frames_are_read_in_natural_order(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(1, 13):  # 1.png .. 12.png, grey level = number
        Image.fromarray(np.full((8, 8, 3), i * 10, np.uint8)).save(folder / f"{i}.png")
    levels = [int(f[0, 0, 0]) for f in FrameSource(folder)]
    assert levels == [i * 10 for i in range(1, 13)]


#: ``ccpl video`` into a 16 KiB file system (a tmpfs in a private mount namespace), then a
#: listing of what it left there.
FULL_DISK = """
mount -t tmpfs -o size=16k tmpfs "$1" || exit 99
shift
"$@"
rc=$?
ls -A "$DISK"
exit $rc
"""


def test_a_full_disk_while_writing_frames_names_the_path_and_leaves_nothing(tmp_path, model):
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) for a small private file system")
    disk = tmp_path / "disk"
    disk.mkdir()
    frames = tmp_path / "in"
    frames.mkdir()
    for i in range(20):
        noise_png(frames / f"{i}.png", 48, 64, seed=i)
    style = noise_png(tmp_path / "style.png", 40, 40)
    cmd = [sys.executable, "-m", "ccpl_core", "video", frames, "--style", style, "--model",
           model, "--feature-blend", "0", "--palette", "0", "--wct", "0", "--batch", "1", "-o",
           disk / "frames"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DISK": str(disk), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        ["unshare", "-r", "-m", "sh", "-c", FULL_DISK, "sh", str(disk), *map(str, cmd)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    if done.returncode == 99:
        pytest.skip(f"cannot mount a private tmpfs here: {done.stderr.strip()}")
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"ccpl video: error: {disk / 'frames' / 'frame_0'}"), line
    assert "the disk is full" in line
    assert done.stdout == ""  # nothing left on the full disk, no .partial to take for a frame
