"""Video Style Transfer (CCPLVideoStylize): core VIDEO in, VIDEO out, streamed file to file.

Against the fake ComfyUI (tests/fake_comfy); the real ComfyUI runs it in test_comfyui.py.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from helpers import image, pan_frames
from test_nodes import comfy_image, node
from test_video_output import clip_with_audio

from ccpl_core import Stylizer
from ccpl_core.video import FrameSink, FrameSource, VideoOptions, stylize_video


def run_node(pack, handle, video, **options):
    defaults = {"alpha": 1.0, "preserve_color": "none", "style_size": 0}
    with torch.inference_mode():
        (out,) = node(pack, "CCPLVideoStylize").stylize_video(
            handle,
            video,
            comfy_image(image("hubble", 64)),
            content_statistics="per-frame",
            **{**defaults, **options},
        )
    return out


def _video_from_file(source):
    from comfy_api.latest import InputImpl

    return InputImpl.VideoFromFile(source)


def decoded(path) -> tuple[np.ndarray, Fraction, bool]:
    with av.open(str(path)) as c:
        rate = Fraction(c.streams.video[0].average_rate)
        audio = bool(c.streams.audio)
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    return frames, rate, audio


def temp_files(pack) -> list[Path]:
    folder = Path(pack.folder_paths.get_temp_directory())
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_video_in_video_out_keeps_rate_frames_and_sound(pack, tiny_model, tmp_path):
    handle, net = tiny_model
    raw = pan_frames(10, 64, 80)
    clip = clip_with_audio(tmp_path / "in.mp4", raw, "aac", fps=12)
    out = run_node(pack, handle, _video_from_file(str(clip)), feature_blend=0.9)
    got, rate, audio = decoded(out.get_stream_source())
    assert (len(got), rate, audio) == (10, Fraction(12), True)
    # the same frames the core's streaming engine gives (up to H.264 at crf 18)
    st = Stylizer(net)
    ref_dir = tmp_path / "ref"
    src = FrameSource(clip)
    stylize_video(
        st,
        src,
        FrameSink(ref_dir, src.info),
        st.prepare_style(image("hubble", 64)),
        VideoOptions(statistics="per-frame", feature_blend=0.9),
    )
    ref = FrameSource(ref_dir)
    ref = np.stack(list(ref))
    assert got.shape == ref.shape
    assert np.abs(got.astype(int) - ref.astype(int)).mean() < 3
    assert pack.cu.UPDATES[-1] == (10, 10)  # progress reached the whole clip


def test_in_memory_video_is_copied_once_and_the_copy_removed(pack, tiny_model, tmp_path):
    handle, _ = tiny_model
    clip = clip_with_audio(tmp_path / "in.mp4", pan_frames(4, 48, 64), None)
    out = run_node(pack, handle, _video_from_file(io.BytesIO(clip.read_bytes())))
    got, _, audio = decoded(out.get_stream_source())
    assert len(got) == 4 and not audio
    assert [p.name.startswith("ccpl_video_") for p in temp_files(pack)] == [True]


def test_frame_size_option_resizes(pack, tiny_model, tmp_path):
    handle, _ = tiny_model
    clip = clip_with_audio(tmp_path / "in.mp4", pan_frames(3, 64, 96), None)
    out = run_node(pack, handle, _video_from_file(str(clip)), size=32)
    got, _, _ = decoded(out.get_stream_source())
    assert got.shape[1:3] == (32, 48)


def test_cancel_leaves_no_file(pack, tiny_model, tmp_path):
    handle, _ = tiny_model
    clip = clip_with_audio(tmp_path / "in.mp4", pan_frames(24, 48, 64), "aac")
    pack.mm.INTERRUPT["after_checks"] = 2  # Cancel pressed after the first chunks
    with pytest.raises(pack.mm.InterruptProcessingException):
        run_node(pack, handle, _video_from_file(io.BytesIO(clip.read_bytes())))
    pack.mm.INTERRUPT.update(flag=False, after_checks=None)
    assert temp_files(pack) == []  # neither the half video nor the copy of the source


def _no_video_stream(path: Path) -> Path:
    with av.open(str(path), "w") as c:
        a = c.add_stream("aac", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt")
        frame.sample_rate = 16000
        c.mux(a.encode(frame))
        c.mux(a.encode(None))
    return path


def _zero_frames(path: Path) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=12)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        c.start_encoding()  # a header, no frames
    return path


@pytest.mark.parametrize(
    "make,match",
    [
        (_no_video_stream, "has no video stream"),
        (_zero_frames, "no video stream|no (decodable )?frames"),
        (lambda p: p.write_bytes(b"not a video at all" * 50) and p, "cannot read video"),
    ],
)
def test_bad_videos_are_one_line_and_leave_nothing(pack, tiny_model, tmp_path, make, match):
    handle, _ = tiny_model
    path = make(tmp_path / "bad.mp4")
    with pytest.raises(ValueError, match=match) as err:
        run_node(pack, handle, _video_from_file(str(path)))
    assert type(err.value).__name__ == "InputError" and "\n" not in str(err.value)
    assert temp_files(pack) == []


def test_a_wrong_socket_value_is_named(pack, tiny_model):
    handle, _ = tiny_model
    frames = torch.rand(2, 32, 32, 3)
    with pytest.raises(ValueError, match="video: expected a VIDEO"):
        run_node(pack, handle, frames)


def test_one_step_is_capped_on_the_cpu_unless_the_budget_is_set(pack, tiny_model, monkeypatch):
    """ComfyUI's other models share the RAM: the video node plans smaller steps there."""
    from ccpl_pack.nodes import video_clip
    from ccpl_pack.nodes.stylize import make_stylizer

    handle, _ = tiny_model
    monkeypatch.delenv("CCPL_MEMORY_BUDGET_MB", raising=False)
    plain = make_stylizer(handle, "fp32").planner._budget
    capped = make_stylizer(handle, "fp32", cpu_step_cap=video_clip.CPU_STEP_BYTES).planner._budget
    assert capped == min(plain, video_clip.CPU_STEP_BYTES) < plain
    monkeypatch.setenv("CCPL_MEMORY_BUDGET_MB", "2000")
    assert make_stylizer(handle, "fp32", cpu_step_cap=1).planner._budget == 2000 * 2**20
