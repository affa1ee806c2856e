"""Every bad input gets one clear line, and no run loses a user's work.

Each test makes its bad input itself (tiny files under tmp_path) and runs the ``ccpl`` entry
point in-process. A refusal must be: exit code 2, exactly one line on stderr that names the
input and says what to do, no traceback, and nothing (partial or stale) under a final output
name. Refusals that need no model are checked with a model path that does not exist: reaching
the model load would give another message, so they also prove that no work was done first.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import png_header, refused, run
from PIL import Image

from ccpl_core import image_files
from ccpl_core.cli import main
from ccpl_core.cli import stylize as stylize_cli
from ccpl_core.errors import describe
from ccpl_core.images import MAX_PIXELS_ENV
from ccpl_core.video import FrameSource
from ccpl_core.weights import save_sctnet

#: A model path that must never be opened: refusals are expected before the model loads.
NO_MODEL = "/nonexistent/never-loaded.safetensors"


def noise(path: Path, h: int, w: int, seed: int = 0, **save) -> Path:
    arr = (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)
    Image.fromarray(arr).save(path, **save)
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory, photo_net) -> Path:
    """The small photo model: the fastest to load of the random test models."""
    folder = tmp_path_factory.mktemp("model")
    return save_sctnet(photo_net, folder / "tiny_photo.safetensors", include_encoder=True)


@pytest.fixture()
def f(tmp_path):
    """Good inputs and the hostile files, made fresh for each test."""
    files = {
        "good": noise(tmp_path / "good.png", 24, 32),
        "good2": noise(tmp_path / "good2.png", 24, 32, seed=1),
        "style": noise(tmp_path / "style.png", 40, 40, seed=2),
        "style2": noise(tmp_path / "style2.png", 40, 40, seed=3),
        "empty": tmp_path / "empty.png",
        "text": tmp_path / "notes.png",
        "huge": tmp_path / "huge.png",
        "cut": tmp_path / "cut.jpg",
        "tiny": noise(tmp_path / "tiny.png", 3, 3),
        "out": tmp_path / "out",
    }
    files["empty"].write_bytes(b"")
    files["text"].write_text("this is not an image\n")
    files["huge"].write_bytes(png_header(50000, 50000))
    whole = noise(tmp_path / "whole.jpg", 64, 64, seed=4).read_bytes()
    files["cut"].write_bytes(whole[: len(whole) // 2])
    files["tmp"] = tmp_path
    return files


def stylize(f, *extra, model=NO_MODEL, content=None) -> list[str]:
    return [
        "stylize",
        *(content or [f["good"]]),
        "--style",
        f["style"],
        "--model",
        model,
        "--size",
        "0",
        "--style-size",
        "0",
        *extra,
    ]


def nothing_under(folder: Path) -> None:
    assert not folder.exists() or not any(folder.iterdir()), list(folder.iterdir())


# ----------------------------------------------------------------- options (parse time)

BAD_OPTIONS = [
    (["--style", "{style2}", "--style-weights", "inf,1"], "--style-weights", "finite"),
    (["--style", "{style2}", "--style-weights", "nan,1"], "--style-weights", "finite"),
    (["--style", "{style2}", "--style-weights=-1,0.5"], "--style-weights", ">= 0"),
    (["--style", "{style2}", "--style-weights", "0,0"], "--style-weights", "positive sum"),
    (["--size", "-5"], "--size", ">= 0"),
    (["--style-size", "-1"], "--style-size", ">= 0"),
    (["--tile", "1"], "--tile", ">= 32"),
    (["--mask-feather", "nan"], "--mask-feather", "whole number"),
    (["--alpha", "inf"], "--alpha", "between 0 and 1"),
    (["--max-pixels", "0"], "--max-pixels", "positive"),
    (["--max-pixels", "lots"], "--max-pixels", "16384x16384"),
    (["--overwrite", "--skip-existing"], "--skip-existing", "not allowed"),
]


@pytest.mark.parametrize(("extra", "option", "hint"), BAD_OPTIONS)
def test_bad_stylize_options(f, capsys, extra, option, hint):
    extra = [a.format(**{k: v for k, v in f.items()}) for a in extra]
    rc, _, err = run(capsys, *stylize(f, *extra, "-o", f["out"] / "a.png"))
    refused(rc, err, option, hint, "--help")
    assert not f["out"].exists()


BAD_VIDEO_OPTIONS = [
    (["--fps", "0"], "--fps"),
    (["--fps", "nan"], "--fps"),
    (["--fps", "inf"], "--fps"),
    (["--fps=-25"], "--fps"),
    (["--batch", "0"], "--batch"),
    (["--crf", "99"], "--crf"),
    (["--feature-blend", "nan"], "--feature-blend"),
    (["--size", "-1"], "--size"),
    (["--style-weights", "inf"], "--style-weights"),
]


@pytest.mark.parametrize(("extra", "option"), BAD_VIDEO_OPTIONS)
def test_bad_video_options(f, capsys, extra, option):
    frames = f["tmp"] / "frames"
    frames.mkdir()
    noise(frames / "0001.png", 24, 32)
    argv = ["video", frames, "--style", f["style"], "--model", NO_MODEL, "-o", f["out"] / "c.mp4"]
    rc, _, err = run(capsys, *argv, *extra)
    refused(rc, err, option, "expected")
    assert not f["out"].exists()


BAD_TRAIN_OPTIONS = [
    (["--iterations", "0"], "--iterations", ">= 1"),
    (["--batch-size", "-2"], "--batch-size", ">= 1"),
    (["--crop", "33"], "--crop", "multiple of 8"),
    (["--crop", "32"], "--crop", ">= 40"),
    (["--resize", "16"], "--resize", ">= 40"),
    (["--lr", "0"], "--lr", "> 0"),
    (["--lr", "inf"], "--lr", "finite"),
    (["--lr-decay=-1"], "--lr-decay", ">= 0"),
    (["--style-weight", "nan"], "--style-weight", "finite"),
    (["--ccpl-weight=-5"], "--ccpl-weight", ">= 0"),
    (["--pixel-weight", "inf"], "--pixel-weight", "finite"),
    (["--style-color-aug", "1.5"], "--style-color-aug", "between 0 and 1"),
    (["--tau", "0"], "--tau", "> 0"),
    (["--num-anchors", "0"], "--num-anchors", ">= 1"),
    (["--seed", "99999999999"], "--seed", "4294967295"),
    (["--save-every=-1"], "--save-every", ">= 0"),
    (["--log-every", "0"], "--log-every", ">= 1"),
    (["--val-every=-1"], "--val-every", ">= 0"),
    (["--workers=-1"], "--workers", ">= 0"),
    (["--iterations", "ten"], "--iterations", "whole number"),
]


@pytest.mark.parametrize(("extra", "option", "hint"), BAD_TRAIN_OPTIONS)
def test_bad_train_options(f, capsys, extra, option, hint):
    out = f["tmp"] / "run"
    argv = ["train", "--content", f["tmp"], "--style", f["tmp"], "--out", out, "--init", NO_MODEL]
    rc, _, err = run(capsys, *argv, *extra)
    refused(rc, err, option, hint, "--help")
    assert not out.exists()


def test_train_resize_below_crop_and_bad_export(f, capsys):
    out = f["tmp"] / "run"
    base = ["train", "--content", f["tmp"], "--style", f["tmp"], "--out", out, "--init", NO_MODEL]
    rc, _, err = run(capsys, *base, "--crop", "256", "--resize", "128")
    refused(rc, err, "--resize 128", "--crop 256")
    rc, _, err = run(capsys, *base, "--export", f["tmp"] / "final.pth")
    refused(rc, err, "final.pth", ".safetensors")
    blocker = f["tmp"] / "blocker"
    blocker.write_text("x")
    rc, _, err = run(capsys, *base, "--export", blocker / "final.safetensors")
    refused(rc, err, "is a file, not a folder")
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "option", "hint"),
    [
        (["--steps", "0"], "--steps", ">= 1"),
        (["--lr", "nan"], "--lr", "finite"),
        (["--crop", "100"], "--crop", "multiple of 8"),
        (["--batch-size", "0"], "--batch-size", ">= 1"),
        (["--style-weight=-1"], "--style-weight", ">= 0"),
        (["--content-weight", "inf"], "--content-weight", "finite"),
    ],
)
def test_bad_finetune_options(f, capsys, extra, option, hint):
    out = f["tmp"] / "mine.safetensors"
    argv = ["finetune", "--model", NO_MODEL, "--style", f["style"], "--content", f["tmp"]]
    rc, _, err = run(capsys, *argv, "-o", out, *extra)
    refused(rc, err, option, hint, "--help")
    assert not out.exists()


def test_finetune_output_checked_before_the_model(f, capsys):
    blocker = f["tmp"] / "blocker"
    blocker.write_text("x")
    argv = ["finetune", "--model", NO_MODEL, "--style", f["style"], "--content", f["tmp"]]
    rc, _, err = run(capsys, *argv, "-o", blocker / "mine.safetensors")
    refused(rc, err, "is a file, not a folder")


def test_bad_eval_intervals(f, capsys):
    rc, _, err = run(
        capsys, "eval", "temporal", "--source", "a", "--stylized", "b", "--intervals", "0"
    )
    refused(rc, err, "--intervals", ">= 1")


def test_bad_pixel_limit_in_the_environment(f, capsys, monkeypatch):
    monkeypatch.setenv(MAX_PIXELS_ENV, "-3")
    rc, _, err = run(capsys, *stylize(f, "-o", f["out"] / "a.png"))
    refused(rc, err, MAX_PIXELS_ENV, "16384x16384")


# ------------------------------------------------------------- inputs refused before the model


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("empty", "the file is empty"),
        ("text", "damaged or not an image"),
        ("huge", "50000x50000"),
    ],
)
def test_unreadable_content(f, capsys, name, hint):
    rc, _, err = run(capsys, *stylize(f, "-o", f["out"] / "a.png", content=[f[name]]))
    line = refused(rc, err, str(f[name]), hint)
    if name == "huge":
        assert "--max-pixels" in line and "268 Mpx" in line
    nothing_under(f["out"])


def test_unreadable_style(f, capsys):
    argv = ["stylize", f["good"], "--style", f["huge"], "--model", NO_MODEL, "-o", f["out"]]
    rc, _, err = run(capsys, *argv)
    refused(rc, err, str(f["huge"]), "50000x50000", "limit")
    rc, _, err = run(capsys, *argv[:3], f["text"], *argv[4:])
    refused(rc, err, str(f["text"]), "damaged or not an image")


def test_size_above_the_pixel_limit(f, capsys):
    rc, _, err = run(capsys, *stylize(f, "--size", "99999", "-o", f["out"] / "a.png"))
    refused(rc, err, str(f["good"]), "--size 99999", "limit")
    rc, _, err = run(capsys, *stylize(f, "--style-size", "99999", "-o", f["out"] / "a.png"))
    refused(rc, err, str(f["style"]), "limit")
    nothing_under(f["out"])


def test_size_limit_can_be_lowered(f, capsys):
    rc, _, err = run(capsys, *stylize(f, "--max-pixels", "10x10", "-o", f["out"] / "a.png"))
    refused(rc, err, str(f["good"]), "32x24", "limit of 100 pixels")


def test_output_too_wide_for_its_format(f, capsys):
    strip = noise(f["tmp"] / "strip.png", 4, 600)
    argv = stylize(f, "--size", "128", "-o", f["out"] / "a.webp", content=[strip])
    rc, _, err = run(capsys, *argv)
    refused(rc, err, str(strip), "19200x128", "16383", ".png")


def test_unknown_output_suffix(f, capsys):
    rc, _, err = run(capsys, *stylize(f, "-o", f["tmp"] / "x.gif"))
    refused(rc, err, "x.gif", ".gif is not an image format", ".png", "end the name with /")
    assert not (f["tmp"] / "x.gif").exists()


def test_output_under_a_file(f, capsys):
    blocker = f["tmp"] / "blocker"
    blocker.write_text("a regular file")
    rc, _, err = run(capsys, *stylize(f, "-o", blocker / "sub" / "a.png"))
    refused(rc, err, str(blocker), "is a file, not a folder", "choose another output")
    assert blocker.read_text() == "a regular file"


def test_read_only_output_folder(f, capsys):
    folder = f["tmp"] / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("this user (root) can write into a read-only folder")
        rc, _, err = run(capsys, *stylize(f, "-o", folder / "a.png"))
        refused(rc, err, str(folder), "permissions")
    finally:
        folder.chmod(0o755)


def test_unwritable_output_folder_as_root_sees_it(f, capsys, monkeypatch):
    """What a read-only folder gives (root writes anywhere, so the refusal is simulated)."""
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    rc, _, err = run(capsys, *stylize(f, "-o", f["out"] / "a.png"))
    refused(rc, err, str(f["out"]), "Permission denied", "permissions")
    assert not f["out"].exists()


def test_output_name_too_long(f, capsys):
    """300 bytes: more than the file system takes, refused before the model, one line."""
    rc, _, err = run(capsys, *stylize(f, "-o", f["tmp"] / ("n" * 300 + ".png")))
    refused(rc, err, str(f["tmp"]), "nnnn", "shorte")


def test_existing_output_names_both_ways_out(f, capsys):
    (f["tmp"] / "a.png").write_bytes(b"user data")
    rc, _, err = run(capsys, *stylize(f, "-o", f["tmp"] / "a.png"))
    refused(rc, err, "a.png", "--overwrite", "--skip-existing")
    assert (f["tmp"] / "a.png").read_bytes() == b"user data"


def test_video_inputs_and_outputs_refused_before_the_model(f, capsys):
    frames = f["tmp"] / "frames"
    frames.mkdir()
    (frames / "0001.png").write_bytes(png_header(50000, 50000))
    base = ["video", frames, "--style", f["style"], "--model", NO_MODEL]
    rc, _, err = run(capsys, *base, "-o", f["out"] / "c.mp4")
    refused(rc, err, "0001.png", "50000x50000", "limit")
    noise(frames / "0001.png", 24, 32)
    rc, _, err = run(capsys, *base, "-o", f["tmp"] / "clip.png")
    refused(rc, err, "clip.png", "not a video format", ".mp4")
    rc, _, err = run(capsys, *base, "--size", "99999", "-o", f["out"] / "c.mp4")
    refused(rc, err, str(frames), "--size 99999", "limit")
    blocker = f["tmp"] / "blocker"
    blocker.write_text("x")
    rc, _, err = run(capsys, *base, "-o", blocker / "c.mp4")
    refused(rc, err, "is a file, not a folder")
    (f["tmp"] / "dir.mp4").mkdir()
    rc, _, err = run(capsys, *base, "--overwrite", "-o", f["tmp"] / "dir.mp4")
    refused(rc, err, "dir.mp4 is a folder", "choose a file name")
    nothing_under(f["out"])


def test_expected_library_errors_are_one_line(f, capsys, monkeypatch):
    """OpenCV / PyAV / OS / memory failures reaching main() become one line; bugs do not."""
    import av
    import cv2

    failures = [
        (
            cv2.error("OpenCV(5.0.0) loadsave.cpp:79: error: (-215:Assertion failed)\n  more"),
            "OpenCV",
        ),
        (av.error.InvalidDataError(errno.EINVAL, "Invalid data", "clip.mp4"), "clip.mp4"),
        (OSError(errno.ENOSPC, "No space left on device", "out.png"), "the disk is full"),
        (OSError(errno.EROFS, "Read-only file system", "out.png"), "read-only"),
        (MemoryError(), "out of memory"),
        (Image.DecompressionBombError("Image size (9 pixels) exceeds limit"), "Pillow"),
    ]
    for exc, needle in failures:
        assert "\n" not in describe(exc)

        def fail(*args, _exc=exc, **kwargs):
            raise _exc

        monkeypatch.setattr(stylize_cli, "load_model", fail)
        rc, _, err = run(capsys, *stylize(f, "-o", f["out"] / "a.png"))
        refused(rc, err, needle)
    monkeypatch.setattr(stylize_cli, "load_model", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):  # a bug keeps its traceback
        main([str(a) for a in stylize(f, "-o", f["out"] / "a.png")])


# ------------------------------------------------------------------ refused with the model


def test_truncated_jpeg(f, capsys, model):
    rc, _, err = run(capsys, *stylize(f, "-o", f["out"] / "a.png", model=model, content=[f["cut"]]))
    refused(rc, err, str(f["cut"]), "truncated", "replace it")
    nothing_under(f["out"])


def test_tiny_content(f, capsys, model):
    rc, _, err = run(
        capsys, *stylize(f, "-o", f["out"] / "a.png", model=model, content=[f["tiny"]])
    )
    refused(rc, err, str(f["tiny"]), "3x3", "at least 5 pixels", "--size 5")
    nothing_under(f["out"])


@pytest.mark.parametrize("value", ["-100", "0", "inf", "nan", "1e999"])
def test_bad_memory_budget_in_the_environment(f, capsys, model, monkeypatch, value):
    """Was accepted (a negative budget: the slowest tiling) or an OverflowError traceback."""
    monkeypatch.setenv("CCPL_MEMORY_BUDGET_MB", value)
    rc, _, err = run(capsys, *stylize(f, "-o", f["out"] / "a.png", model=model))
    refused(rc, err, f"CCPL_MEMORY_BUDGET_MB={value!r}", "MiB above 0", "unset it")
    nothing_under(f["out"])


def test_disk_full_while_saving(f, capsys, model, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(f["out"] / "a.png"))

    monkeypatch.setattr(image_files, "save_image", full)
    rc, _, err = run(capsys, *stylize(f, "-o", f["out"] / "a.png", model=model))
    refused(rc, err, "a.png", "No space left", "free some space")


def test_corrupt_frame_in_a_folder(f, capsys, model):
    frames = f["tmp"] / "frames"
    frames.mkdir()
    for i in range(3):
        noise(frames / f"{i:04d}.png", 24, 32, seed=i)
    (frames / "0001.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    out = f["tmp"] / "clip.mp4"
    argv = ["video", frames, "--style", f["style"], "--model", model, "--feature-blend", "0"]
    rc, _, err = run(capsys, *argv, "-o", out)
    refused(rc, err, "0001.png", "damaged")
    assert sorted(p.name for p in f["tmp"].iterdir() if "clip" in p.name) == []


def test_batch_reports_each_failure_and_finishes_the_rest(f, capsys, model):
    content = [f["good"], f["text"], f["cut"], f["good2"]]
    rc, out, err = run(capsys, *stylize(f, "-o", f["out"], model=model, content=content))
    assert rc == 2 and "Traceback" not in err
    written = sorted(p.name for p in f["out"].iterdir())
    assert written == ["good2_stylized.png", "good_stylized.png"]
    lines = err.strip().splitlines()
    assert len(lines) == 3, err  # one per failed image, then the list
    assert "notes.png" in lines[0] and "cut.jpg" in lines[1]
    assert "2 of 4 images failed" in lines[2] and "notes.png" in lines[2] and "cut.jpg" in lines[2]
    assert "--skip-existing" in lines[2]
    assert "good_stylized.png" in out and "good2_stylized.png" in out

    # the rerun is not refused for the outputs already written; it finishes the batch
    noise(f["text"], 24, 32, seed=5)
    noise(f["cut"], 24, 32, seed=6, format="JPEG")
    before = (f["out"] / "good_stylized.png").stat().st_mtime_ns
    rc, out, err = run(
        capsys, *stylize(f, "--skip-existing", "-o", f["out"], model=model, content=content)
    )
    assert rc == 0, err
    assert "skipping 2" in err and "Traceback" not in err
    assert sorted(p.name for p in f["out"].iterdir()) == [
        "cut_stylized.png",
        "good2_stylized.png",
        "good_stylized.png",
        "notes_stylized.png",
    ]
    assert (f["out"] / "good_stylized.png").stat().st_mtime_ns == before


def test_batch_of_only_bad_images_stops_before_the_model(f, capsys):
    rc, out, err = run(capsys, *stylize(f, "-o", f["out"], content=[f["text"], f["empty"]]))
    lines = err.strip().splitlines()
    assert rc == 2 and out == "" and "Traceback" not in err and len(lines) == 3, err
    assert "notes.png" in lines[0] and "empty.png" in lines[1]
    assert "2 of 2 images failed" in lines[2] and "others were written" not in lines[2]
    nothing_under(f["out"])


def test_exif_rotated_photo_comes_out_upright(f, capsys, model):
    im = Image.fromarray((np.random.default_rng(7).random((24, 40, 3)) * 255).astype(np.uint8))
    exif = im.getexif()
    exif[0x0112] = 6  # stored landscape, shown portrait (rotated 90 degrees clockwise)
    im.save(f["tmp"] / "phone.jpg", exif=exif)
    rc, _, err = run(
        capsys, *stylize(f, "-o", f["tmp"] / "o.png", model=model, content=[f["tmp"] / "phone.jpg"])
    )
    assert rc == 0, err
    assert Image.open(f["tmp"] / "o.png").size == (24, 40)


def test_16bit_frames_with_low_values_stay_dark(f):
    frames = f["tmp"] / "frames16"
    frames.mkdir()
    Image.fromarray(np.full((6, 8), 200, np.uint16)).save(frames / "0001.png")
    (frame,) = list(FrameSource(frames))
    assert frame.dtype == np.uint8 and frame.max() <= 1  # 200/65535, not 200/255


# ---------------------------------------------------------------- files written and read


@pytest.mark.parametrize("length", [238, 251])
def test_long_valid_output_name_is_written(tmp_path, length):
    """A name the file system takes must not fail at the very end for its temporary name."""
    from ccpl_core.fsutil import TEMP_NAME_MAX, atomic_write

    seen = []

    def write(fh):
        seen.append(os.listdir(tmp_path))
        fh.write(b"result")

    name = "n" * (length - 4) + ".png"
    atomic_write(tmp_path / name, write)
    assert (tmp_path / name).read_bytes() == b"result"
    (temp,) = seen[0]
    assert temp.startswith(".nnnn") and temp.endswith(".partial")
    assert len(temp.encode()) <= TEMP_NAME_MAX < 255
    assert os.listdir(tmp_path) == [name]


def test_interrupted_write_leaves_nothing(tmp_path):
    from ccpl_core.fsutil import atomic_write

    (tmp_path / "a.png").write_bytes(b"user data")

    def fail(fh):
        fh.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "a.png", fail)
    assert os.listdir(tmp_path) == ["a.png"]
    assert (tmp_path / "a.png").read_bytes() == b"user data"


def test_training_images_read_like_every_other_image(tmp_path, monkeypatch):
    """EXIF orientation, 16-bit scaling and the pixel limit apply to training images too."""
    from ccpl_core.errors import InputError
    from ccpl_core.training.data import CropSampler, load_resized

    im = Image.fromarray((np.random.default_rng(7).random((80, 120, 3)) * 255).astype(np.uint8))
    exif = im.getexif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    im.save(tmp_path / "phone.jpg", exif=exif)
    assert tuple(load_resized(tmp_path / "phone.jpg", 64).shape) == (3, 96, 64)  # upright

    Image.fromarray(np.full((70, 70), 200, np.uint16)).save(tmp_path / "dark16.png")
    dark = load_resized(tmp_path / "dark16.png", 64)
    assert dark.dtype == torch.uint8 and int(dark.max()) <= 1  # 200/65535, not 200/255

    (tmp_path / "huge.png").write_bytes(png_header(50000, 50000))
    noise(tmp_path / "small.png", 40, 50)
    (tmp_path / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    for name, needles in [
        ("huge.png", ("50000x50000", "limit")),
        ("small.png", ("50x40", "at least 64")),
        ("cut.png", ("cut.png", "damaged")),
        ("missing.png", ("missing.png", "not found")),
    ]:
        with pytest.raises(InputError) as info:
            CropSampler.from_files([tmp_path / name], 64, 32, "--content")
        line = str(info.value)
        assert "\n" not in line and all(n in line for n in needles), line


# ------------------------------------------------------------------- the environment


@pytest.mark.parametrize(
    ("env", "needles"),
    [
        ({"WORLD_SIZE": ""}, ("WORLD_SIZE=''", "whole number", "unset it")),
        ({"WORLD_SIZE": "two"}, ("WORLD_SIZE='two'", "whole number")),
        ({"WORLD_SIZE": "2", "RANK": ""}, ("RANK is empty", "torchrun")),
        (
            {"WORLD_SIZE": "2", "RANK": "5", "LOCAL_RANK": "0", "MASTER_ADDR": "h"}
            | {"MASTER_PORT": "1"},
            ("RANK='5'", "from 0 to 1"),
        ),
        (
            {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "x", "MASTER_ADDR": "h"}
            | {"MASTER_PORT": "1"},
            ("LOCAL_RANK='x'",),
        ),
    ],
)
def test_bad_distributed_variables(f, capsys, monkeypatch, env, needles):
    """Refused before any image is read (the folders here hold none)."""
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    empty = f["tmp"] / "empty"
    empty.mkdir()
    argv = ["train", "--content", empty, "--style", empty, "--out", f["tmp"] / "run", "--init",
            NO_MODEL]  # fmt: skip
    rc, _, err = run(capsys, *argv)
    refused(rc, err, *needles)


def test_bad_ccpl_and_hub_variables(f, capsys, monkeypatch):
    monkeypatch.setenv("CCPL_MODELS_DIR", str(f["good"]))
    rc, _, err = run(capsys, "weights", "list")
    refused(rc, err, "CCPL_MODELS_DIR=", "is a file, not a folder", "unset it")
    monkeypatch.setenv("CCPL_MODELS_DIR", str(f["tmp"] / "models"))
    monkeypatch.setenv("CCPL_MANIFEST", str(f["tmp"] / "gone.json"))
    rc, _, err = run(capsys, "weights", "list")
    refused(rc, err, "CCPL_MANIFEST=", "not found", "unset it")
    monkeypatch.delenv("CCPL_MANIFEST")
    # the Hub client parses these as whole seconds when imported: "2.5" failed that import
    hosted = {"repo_id": "me/weights", "revision": "0" * 40, "hosted": True}
    entry = {"kind": "model", "mode": "art", "hub": hosted,
             "files": [{"name": "x.safetensors", "sha256": "0" * 64, "size": 10}]}  # fmt: skip
    manifest = f["tmp"] / "hosted.json"
    manifest.write_text(json.dumps({"schema_version": 1, "models": {"x": entry}}))
    for name, value in [("HF_HUB_ETAG_TIMEOUT", "abc"), ("HF_HUB_DOWNLOAD_TIMEOUT", "2.5")]:
        monkeypatch.setenv(name, value)
        argv = ["weights", "--manifest", manifest, "--models-dir", f["tmp"] / "m", "download", "x"]
        rc, _, err = run(capsys, *argv)
        refused(rc, err, f"{name}={value!r}", "whole number", warnings=True)
        monkeypatch.delenv(name)


# ------------------------------------------------------------------ files and options


def test_manifest_saved_as_utf16_is_read(tmp_path, capsys, photo_net):
    from helpers import tiny_manifest

    path, models = tiny_manifest(tmp_path, photo_net)
    text = path.read_text()
    for encoding in ("utf-16", "utf-8-sig", "utf-32"):  # the first two write a BOM
        path.write_bytes(text.encode(encoding))
        rc, out, err = run(capsys, "weights", "--manifest", path, "--models-dir", models, "list")
        assert rc == 0 and "tiny" in out and "Traceback" not in err, (encoding, err)
    path.write_bytes(text.encode("utf-8").replace(b'"tiny"', b'"t\xe9ny"'))  # Latin-1 byte
    rc, _, err = run(capsys, "weights", "--manifest", path, "list")
    refused(rc, err, str(path), "not UTF-8", "save it as UTF-8")


def test_the_smallest_crop_accepted_trains(mode="art"):
    """The declared minimum of `crop` is one that every mode can train on (art needs the most:
    its style crops give SCT 1/8-scale features)."""
    from ccpl_core.declared import options_of
    from ccpl_core.models.untrained import random_sctnet
    from ccpl_core.training import CropSampler, PairBatches, TrainConfig, Trainer

    low = options_of(TrainConfig)["crop"].low
    images = [torch.randint(0, 255, (3, low + 8, low + 8), dtype=torch.uint8) for _ in range(2)]
    cfg = TrainConfig(mode=mode, iterations=1, batch_size=1, crop=low, resize=low, workers=0,
                      precision="fp32", save_every=0)  # fmt: skip
    batches = PairBatches(
        CropSampler(images, low, "content"), CropSampler(images, low, "style"), 1, 0
    )
    trainer = Trainer(random_sctnet(mode, seed=1), cfg, batches, None, device="cpu")
    trainer.run()
    assert trainer.iteration == 1 and np.isfinite(trainer.history[-1]["total"])


def test_eval_output_in_a_missing_folder_is_refused_before_measuring(f, capsys):
    argv = ["eval", "temporal", "--source", "a", "--stylized", "b"]
    rc, _, err = run(capsys, *argv, "-o", f["tmp"] / "no" / "such" / "m.json")
    refused(rc, err, "m.json", f"{f['tmp'] / 'no' / 'such'} does not exist", "create it")


def test_a_file_name_that_is_not_utf8_does_not_stop_the_batch(tmp_path, model):
    """On a strict UTF-8 terminal; the name is printed with escapes, the batch goes on."""
    import subprocess
    import sys

    folder = tmp_path / "in"
    folder.mkdir()
    bad = os.fsdecode(b"caf\xe9.png")  # Latin-1: not valid UTF-8
    noise(folder / bad, 24, 32)
    noise(folder / "good.png", 24, 32, seed=1)
    style = noise(tmp_path / "style.png", 40, 40, seed=2)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env |= {"PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "1"}
    argv = ["stylize", folder, "--style", style, "--model", model, "--size", "0", "--palette",
            "0", "--wct", "0", "-o", f"{out}/"]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "ccpl_core", *map(str, argv)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert sorted(os.listdir(os.fsencode(out))) == [b"caf\xe9_stylized.png", b"good_stylized.png"]
    assert "caf\\udce9_stylized.png" in done.stdout


def test_finetune_reads_its_content_images_as_it_needs_them(tmp_path):
    """A bounded cache: memory does not grow with the number of content images."""
    from ccpl_core.models.untrained import random_sctnet
    from ccpl_core.training.data import ImageFiles
    from ccpl_core.training.finetune import finetune

    files = [noise(tmp_path / f"{i}.png", 64, 80, seed=i) for i in range(12)]
    content = ImageFiles(files, 64, cache=3)
    content.check("--content")
    style = torch.rand(1, 3, 64, 64)
    result = finetune(random_sctnet("photo", seed=1), style, content, steps=3, crop=40,
                      batch_size=2, device="cpu", precision="fp32")  # fmt: skip
    assert result.metadata["ccpl.steps"] == "3"
    assert len(content._decoded) <= 3
    noise(tmp_path / "small.png", 40, 50)
    with pytest.raises(Exception, match=r"small\.png is only 50x40"):
        ImageFiles([tmp_path / "small.png"], 64).check("--content")
