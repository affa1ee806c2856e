"""Helpers shared by tests (importable because tests/ is on sys.path under pytest)."""

from __future__ import annotations

import json
import struct
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ccpl_core import Stylizer
from ccpl_core.images import load_image
from ccpl_core.models.untrained import random_sctnet
from ccpl_core.training import CropSampler, PairBatches, TrainConfig, Trainer
from ccpl_core.training.data import tensors_to_uint8
from ccpl_core.video import FrameSink, FrameSource, VideoOptions, stylize_video
from ccpl_core.video.temporal import Motion
from ccpl_core.weights.files import save_sctnet, save_state, sha256_file

DATA = Path(__file__).parent / "data"


def image(name: str, size: int | None = None) -> torch.Tensor:
    """A real photo from tests/data as [1, 3, H, W], optionally resized to size x size."""
    x = load_image(DATA / f"{name}.jpg")[0]
    if size:
        x = torch.nn.functional.interpolate(
            x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        ).clamp(0, 1)
    return x


def png_header(width: int, height: int, depth: int = 8, colour: int = 2) -> bytes:
    """A PNG that declares ``width`` x ``height`` in its IHDR but holds almost no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def run(capsys, *argv) -> tuple[int, str, str]:
    """``ccpl ARGV`` in-process: (exit code, stdout, stderr)."""
    from ccpl_core.cli import main

    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def refused(rc: int, err: str, *needles: str, warnings: bool = False) -> str:
    """Assert one clear refusal (exit 2, one ``ccpl X: error:`` line naming every needle, no
    traceback); with ``warnings``, warning lines before it are allowed. Returns its line."""
    assert "Traceback" not in err, err
    assert rc == 2, (rc, err)
    lines = [line for line in err.splitlines() if line.strip()]
    if warnings:
        lines = [line for line in lines if ": error: " in line]
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("ccpl ") and ": error: " in line, line
    for needle in needles:
        assert needle in line, (needle, line)
    return line


# ---------------------------------------------------------------------------- node pack

#: ComfyUI input types that are widgets (not links) in a workflow.
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


# ---------------------------------------------------------------------------- video


def pan_frames(n=10, h=96, w=128, step=3):
    """A camera pan over a real photo: frame k is shifted by k*step pixels."""
    img = np.asarray(Image.open(DATA / "astronaut.jpg").convert("RGB"))
    return [img[20 : 20 + h, 10 + step * k : 10 + step * k + w].copy() for k in range(n)]


def make_clip(path, n=10, w=64, h=48, rotation=0, sar=None, times_ms=None, fps=10):
    """A real H.264 clip of ``n`` frames, each with a white block in its stored top-left corner
    and a grey level that counts the frames. ``rotation``: display rotation (degrees
    counter-clockwise, as a phone writes it); ``sar``: sample aspect ratio; ``times_ms``: frame
    timestamps in milliseconds (default: 1/fps apart)."""
    import av

    time_base = Fraction(1, 1000)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"crf": "0", "preset": "ultrafast"}
        s.codec_context.time_base = time_base
        if rotation:
            s.set_display_rotation(rotation)
        if sar is not None:
            s.codec_context.sample_aspect_ratio = Fraction(sar)
        for i in range(n):
            f = np.full((h, w, 3), 40 + (i * 7) % 150, np.uint8)
            f[: h // 2, : w // 4] = 255
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = times_ms[i] if times_ms else round(i * 1000 / fps)
            vf.time_base = time_base
            c.mux(s.encode(vf))
        c.mux(s.encode(None))
    return path


def write_folder(frames, folder):
    """Write ``frames`` (uint8 [H, W, 3]) as f0000.png, f0001.png, ... into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"f{i:04d}.png")
    return folder


def stylize_folder(net, frames, tmp_path, name, **kw):
    """Stylise ``frames`` with hubble through a frames folder; the output frames as arrays.

    ``kw`` are :class:`VideoOptions`.
    """
    st = Stylizer(net)
    style = st.prepare_style(load_image(DATA / "hubble.jpg")[0])
    src = FrameSource(write_folder(frames, tmp_path / f"{name}_in"))
    sink = FrameSink(tmp_path / name, src.info)
    stylize_video(st, src, sink, style, VideoOptions(**kw))
    return [np.asarray(Image.open(p)) for p in sorted((tmp_path / name).glob("*.png"))]


def uniform_motion(h, w, dx=0.0, dy=0.0, mask=1.0):
    """A :class:`Motion` (h x w) moving every pixel by (dx, dy), with reliability ``mask``."""
    back = np.zeros((h, w, 2), np.float32)
    back[..., 0], back[..., 1] = dx, dy
    return Motion(back, np.full((h, w), mask, np.float32))


# ---------------------------------------------------------------------------- weights


def authors_checkpoints(mode: str, seed: int = 0):
    """State dicts exactly as the authors' files hold them (full VGG, full decoder, SCT)."""
    g = torch.Generator().manual_seed(seed)
    full_vgg_convs = [0, 2, 5, 9, 12, 16, 19, 22, 25, 29, 32, 35, 38, 42, 45, 48, 51]
    shapes = [
        (3, 3, 1),
        (64, 3, 3),
        (64, 64, 3),
        (128, 64, 3),
        (128, 128, 3),
        (256, 128, 3),
        (256, 256, 3),
        (256, 256, 3),
        (256, 256, 3),
        (512, 256, 3),
    ] + [(512, 512, 3)] * 7
    vgg = {}
    for idx, (o, i, k) in zip(full_vgg_convs, shapes, strict=True):
        vgg[f"{idx}.weight"] = torch.randn(o, i, k, k, generator=g)
        vgg[f"{idx}.bias"] = torch.randn(o, generator=g)
    dec_shapes = {
        1: (256, 512),
        5: (256, 256),
        8: (256, 256),
        11: (256, 256),
        14: (128, 256),
        18: (128, 128),
        21: (64, 128),
        25: (64, 64),
        28: (3, 64),
    }
    decoder = {}
    for idx, (o, i) in dec_shapes.items():
        decoder[f"{idx}.weight"] = torch.randn(o, i, 3, 3, generator=g)
        decoder[f"{idx}.bias"] = torch.randn(o, generator=g)
    sct = {
        k: torch.randn(v.shape, generator=g)
        for k, v in random_sctnet(mode).sct.state_dict().items()
    }
    return vgg, decoder, sct


def tiny_manifest(tmp_path, net, hosted=False, sha=None):
    """A manifest.json in ``tmp_path`` with ``net`` as model 'tiny' (the art default) and its
    encoder as 'enc', both saved under tmp_path/models; ``sha`` overrides the model's checksum.
    Returns (manifest path, models folder)."""
    enc = {k: v for k, v in net.state_dict().items() if k.startswith("encoder.")}
    models = tmp_path / "models"
    e = save_state(enc, models / "enc.safetensors")
    m = save_sctnet(net, models / "tiny.safetensors")
    data = {
        "schema_version": 1,
        "default": {"art": "tiny"},
        "models": {
            "enc": {
                "kind": "encoder",
                "files": [{"name": e.name, "sha256": sha256_file(e), "size": e.stat().st_size}],
            },
            "tiny": {
                "kind": "model",
                "mode": "art",
                "requires": ["enc"],
                "license": "test",
                "files": [
                    {"name": m.name, "sha256": sha or sha256_file(m), "size": m.stat().st_size}
                ],
            },
        },
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(data))
    return path, models


# ---------------------------------------------------------------------------- training

PHOTOS = ("astronaut", "chelsea", "rocket")


def samplers(crop=64):
    """(content, style) crop samplers over PHOTOS and hubble at 128 x 128."""
    contents = [tensors_to_uint8(image(n, 128))[0] for n in PHOTOS]
    styles = [tensors_to_uint8(image("hubble", 128))[0]]
    return CropSampler(contents, crop, "content"), CropSampler(styles, crop, "style")


def make_trainer(tmp_path, iterations=6, seed=0, teacher=None, **kw):
    """A tiny CPU float32 :class:`Trainer` of a random art net writing to ``tmp_path``;
    ``kw`` are more :class:`TrainConfig` fields."""
    torch.manual_seed(0)
    net = random_sctnet("art", seed=1)
    cfg = TrainConfig(
        iterations=iterations,
        batch_size=2,
        crop=64,
        workers=0,
        log_every=1,
        save_every=3,
        precision="fp32",
        seed=seed,
        **kw,
    )
    c, s = samplers()
    batches = PairBatches(c, s, 2, seed)
    return Trainer(net, cfg, batches, tmp_path, device="cpu", teacher=teacher)


def three_shot_clip(path: Path, per_shot: int = 8, fps: int = 12) -> Path:
    """Three pans over different photos (two scene cuts), with a sound track."""
    import av

    w, h = 96, 64
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        a = c.add_stream("aac", rate=44100, layout="mono")
        n = 0
        for photo in ["astronaut.jpg", "chelsea.jpg", "rocket.jpg"]:
            big = np.asarray(Image.open(DATA / photo).convert("RGB").resize((w * 2, h)))
            for i in range(per_shot):
                frame = av.VideoFrame.from_ndarray(big[:, i * 3 : i * 3 + w].copy(), "rgb24")
                c.mux(v.encode(frame))
                n += 1
        c.mux(v.encode(None))
        t = np.arange(44100 * n // fps) / 44100
        sound = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        for i in range(0, sound.shape[1], 1024):
            f = av.AudioFrame.from_ndarray(
                sound[:, i : i + 1024].copy(), format="flt", layout="mono"
            )
            f.sample_rate, f.pts = 44100, i
            c.mux(a.encode(f))
        c.mux(a.encode(None))
    return path
