"""Scene cuts: found on the input frames, and the temporal state starts afresh at each, so a
shot stylised on its own equals the same frames of the whole clip (what lets the Ray engine
stylise shots in parallel)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import three_shot_clip

from ccpl_core import Stylizer
from ccpl_core.models.untrained import random_sctnet
from ccpl_core.video import FrameSink, FrameSource, VideoOptions, stylize_video
from ccpl_core.video.engine import ClipStylizer, output_info
from ccpl_core.video.shots import find_shots

pytest.importorskip("av")
pytest.importorskip("cv2")

ROOT = Path(__file__).resolve().parents[1]
STYLE = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return three_shot_clip(tmp_path_factory.mktemp("clip") / "clip.mp4")


@pytest.fixture(scope="module")
def stylizer() -> Stylizer:
    return Stylizer(random_sctnet("art", seed=3), device="cpu", precision="fp32")


def test_cuts_are_found_and_shots_read_exactly(clip):
    source = FrameSource(clip)
    shots, timings = find_shots(source)
    assert [(s.start, s.stop) for s in shots] == [(0, 8), (8, 16), (16, 24)]
    assert len(timings) == 24 and timings[8].pts == shots[1].pts
    frames = [f for f, _ in source.timed()]
    for shot in shots:  # seeking to the shot's first timestamp gives exactly its frames
        part = [f for f, _ in source.timed(shot.start, shot.stop, shot.pts)]
        assert len(part) == len(shot)
        assert all(
            np.array_equal(a, b) for a, b in zip(part, frames[shot.start : shot.stop], strict=True)
        )
    assert len(find_shots(FrameSource(ROOT / "examples/video/ccpl_clip.mp4"))[0]) == 1  # a pan


def _frames(folder: Path) -> list[np.ndarray]:
    return [f for f, _ in FrameSource(folder).timed()]


def test_each_shot_alone_equals_the_whole_clip(clip, stylizer, tmp_path):
    source = FrameSource(clip)
    style = stylizer.prepare_style(
        torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    )
    options = VideoOptions(statistics="running", palette=0.5, batch=5)
    info = output_info(source.info, 0)
    stylize_video(stylizer, source, FrameSink(tmp_path / "whole", info), style, options)
    whole = _frames(tmp_path / "whole")
    shots, _ = find_shots(source)
    for shot in shots:
        out = tmp_path / f"shot{shot.start}"
        stylize_video(stylizer, source, FrameSink(out, info), style, options, shot=shot)
        alone = _frames(out)
        assert len(alone) == len(shot)
        for a, b in zip(alone, whole[shot.start : shot.stop], strict=True):
            assert np.array_equal(a, b)
    # and a shot does depend on what came before it within the shot (the state is carried)
    moved = tmp_path / "from9"
    late = type(shots[1])(9, 16, None)
    stylize_video(stylizer, source, FrameSink(moved, info), style, options, shot=late)
    assert not all(np.array_equal(a, b) for a, b in zip(_frames(moved), whole[9:16], strict=True))


def test_the_frames_node_path_starts_a_fresh_state_at_cuts(clip, stylizer):
    frames = torch.from_numpy(np.stack([f for f, _ in FrameSource(clip).timed(0, 16)]))
    x = frames.permute(0, 3, 1, 2).float() / 255  # two shots
    style = stylizer.prepare_style(
        torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    )
    options = VideoOptions(palette=0.5, feature_blend=0)
    whole = ClipStylizer(style, options, find_cuts=True)(stylizer, x)
    second = ClipStylizer(style, options, find_cuts=True)(stylizer, x[8:16])
    assert torch.allclose(whole[8:16], second, atol=1e-5)
    carried = ClipStylizer(style, options)(stylizer, x)  # without: the palette map of shot one
    assert not torch.allclose(carried[8:16], second, atol=1e-3)
