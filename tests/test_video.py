"""Video: streaming I/O, chunking, clip statistics, flow blending and the warping-error metric."""

from __future__ import annotations

import json
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from helpers import DATA, pan_frames, stylize_folder, write_folder
from PIL import Image

from ccpl_core import InputError, Stylizer
from ccpl_core.cli import main
from ccpl_core.video import FrameSink, FrameSource, VideoOptions
from ccpl_core.video.metrics import warping_error


def write_video(frames, path, fps=12, audio=False):
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        s.options = {"crf": "0", "preset": "ultrafast"}
        a = c.add_stream("aac", rate=16000) if audio else None
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
        if a is not None:
            t = np.arange(16000 * len(frames) // fps) / 16000
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            for i in range(0, samples.shape[1], 1024):
                frame = av.AudioFrame.from_ndarray(
                    samples[:, i : i + 1024], format="flt", layout="mono"
                )
                frame.sample_rate = 16000
                for p in a.encode(frame):
                    c.mux(p)
            for p in a.encode():
                c.mux(p)
    return path


def test_folder_to_video_keeps_count_order_size_fps(tmp_path):
    frames = pan_frames(12)
    src = FrameSource(write_folder(frames, tmp_path / "in"), fps=15)
    sink = FrameSink(tmp_path / "out.mp4", src.info)
    for f in src:
        sink.write(f)
    sink.close()
    back = FrameSource(tmp_path / "out.mp4")
    assert back.info.fps == Fraction(15) and (back.info.width, back.info.height) == (128, 96)
    decoded = list(back)
    assert len(decoded) == 12
    # order: each decoded frame is closest to the source frame with the same index
    for i, d in enumerate(decoded):
        errs = [np.abs(d.astype(int) - f.astype(int)).mean() for f in frames]
        assert int(np.argmin(errs)) == i


def test_crf_and_preset_trade_size_for_quality(tmp_path):
    frames = pan_frames(8)
    src = FrameSource(write_folder(frames, tmp_path / "in"), fps=12)
    sizes, errors = {}, {}
    for crf, preset in ((0, "ultrafast"), (18, "medium"), (40, "veryfast")):
        path = tmp_path / f"crf{crf}.mp4"
        sink = FrameSink(path, src.info, crf=crf, preset=preset)
        for f in src:
            sink.write(f)
        sink.close()
        sizes[crf] = path.stat().st_size
        decoded = list(FrameSource(path))
        assert len(decoded) == len(frames)
        diffs = [np.abs(d.astype(int) - f).mean() for d, f in zip(decoded, frames, strict=True)]
        errors[crf] = float(np.mean(diffs))
    assert sizes[40] < sizes[18] < sizes[0]
    assert errors[0] < errors[18] < errors[40]
    for bad, what in (({"crf": 52}, "crf"), ({"crf": -1}, "crf"), ({"preset": "warp9"}, "preset")):
        with pytest.raises(InputError, match=f"^{what}: "):
            FrameSink(tmp_path / "bad.mp4", src.info, **bad)
    assert not list(tmp_path.glob("*bad*"))  # nothing half-written


def test_video_to_folder_and_audio_copied(tmp_path):
    path = write_video(pan_frames(12), tmp_path / "a.mp4", audio=True)
    src = FrameSource(path)
    assert src.info.has_audio and src.info.fps == Fraction(12)
    sink = FrameSink(tmp_path / "copy.mp4", src.info, audio_from=path)
    for f in src:
        sink.write(f)
    sink.close()
    with av.open(str(tmp_path / "copy.mp4")) as c:
        assert c.streams.audio and c.streams.video
    out = FrameSink(tmp_path / "frames", src.info)
    for f in src:
        out.write(f)
    assert not (tmp_path / "frames").exists()  # a frames folder appears complete, on close
    out.close()
    assert len(list((tmp_path / "frames").glob("*.png"))) == 12


def test_bad_inputs(tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"not a video at all")
    with pytest.raises(InputError, match="cannot read video"):
        FrameSource(tmp_path / "bad.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no frames"):
        FrameSource(tmp_path / "empty")
    mixed = write_folder(pan_frames(2), tmp_path / "mixed")
    Image.fromarray(np.zeros((50, 60, 3), np.uint8)).save(mixed / "f9999.png")
    with pytest.raises(InputError, match="all frames must have one size"):
        list(FrameSource(mixed))
    with pytest.raises(InputError, match="not found"):
        FrameSource(tmp_path / "nope.mp4")


def test_chunking_equals_unchunked(tmp_path, art_net):
    frames = pan_frames(7)
    for stats in ("per-frame", "clip", "running"):
        a = stylize_folder(art_net, frames, tmp_path, f"a_{stats}", batch=1, statistics=stats)
        b = stylize_folder(art_net, frames, tmp_path, f"b_{stats}", batch=4, statistics=stats)
        assert len(a) == 7
        if stats == "running":  # running statistics depend on the chunking by design
            continue
        assert (
            max(np.abs(x.astype(int) - y.astype(int)).max() for x, y in zip(a, b, strict=True)) <= 1
        )


def test_clip_statistics_are_whole_clip(art_net):
    frames = (
        torch.stack([torch.from_numpy(f).permute(2, 0, 1) for f in pan_frames(6)]).float() / 255
    )
    st = Stylizer(art_net)
    stats = st.content_statistics(frames)
    with torch.no_grad():
        feat = art_net.encoder(frames)
    flat = feat.permute(1, 0, 2, 3).reshape(feat.shape[1], -1)
    assert torch.allclose(stats.mean.flatten(), flat.mean(1), rtol=1e-4, atol=1e-5)
    assert torch.allclose(stats.std.flatten(), (flat.var(1) + 1e-5).sqrt(), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("flow", ["medium", "farneback"])
def test_metric_static_and_flicker(flow):
    frames = pan_frames(6, step=0)
    assert warping_error(frames, frames, preset=flow) < 1e-3
    rng = np.random.default_rng(0)
    flicker = [
        np.clip(f.astype(int) + rng.integers(-60, 60), 0, 255).astype(np.uint8) for f in frames
    ]
    assert warping_error(frames, flicker, preset=flow) > 0.05
    moving = pan_frames(6, step=3)
    # real motion is compensated by the flow
    assert warping_error(moving, moving, preset=flow) < 0.02


def test_flow_blend_lowers_warping_error(tmp_path, art_net):
    frames = pan_frames(8)
    plain = stylize_folder(art_net, frames, tmp_path, "plain", feature_blend=0.0)
    blended = stylize_folder(art_net, frames, tmp_path, "blend", feature_blend=0.0, flow_blend=0.8)
    e_plain, e_blend = warping_error(frames, plain), warping_error(frames, blended)
    assert e_blend < 0.8 * e_plain


def test_bad_options():
    for kw, match in (
        ({"statistics": "x"}, "statistics"),
        ({"flow_blend": 2.0}, "`flow_blend`"),
        ({"batch": 0}, "batch"),
    ):
        with pytest.raises(InputError, match=match):
            VideoOptions(**kw).validate()


def test_video_and_eval_commands(tmp_path, art_model_file, capsys):
    clip = write_video(pan_frames(12), tmp_path / "in.mp4", audio=True)
    out = tmp_path / "out.mp4"
    assert (
        main(
            [
                "video",
                str(clip),
                "-o",
                str(out),
                "--style",
                str(DATA / "hubble.jpg"),
                "--model",
                str(art_model_file),
                "--flow-blend",
                "0.5",
                "--detail-blend",
                "0.3",
                "--precision",
                "fp32",
                "--crf",
                "23",
                "--preset",
                "fast",
            ]
        )
        == 0
    )
    capsys.readouterr()
    back = FrameSource(out)
    assert len(list(back)) == 12 and back.info.has_audio and back.info.fps == Fraction(12)
    assert (
        main(
            [
                "eval",
                "temporal",
                "--source",
                str(clip),
                "--stylized",
                str(out),
                "--intervals",
                "1,5",
                "-o",
                str(tmp_path / "m.json"),
            ]
        )
        == 0
    )
    result = json.loads((tmp_path / "m.json").read_text())
    assert 0 < result["warping_error_1"] < 1 and "warping_error_5" in result
    assert (
        main(
            [
                "video",
                str(clip),
                "-o",
                str(out),
                "--style",
                str(DATA / "hubble.jpg"),
                "--model",
                str(art_model_file),
            ]
        )
        == 2
    )  # exists: not overwritten
