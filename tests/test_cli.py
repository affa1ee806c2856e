"""The ``ccpl`` command line, run in-process and as ``python -m ccpl_core``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import DATA, run
from PIL import Image

from ccpl_core.cli import main


@pytest.fixture()
def files(tmp_path, art_model_file):
    content = DATA / "chelsea.jpg"
    style = DATA / "hubble.jpg"
    return {"content": content, "style": style, "model": art_model_file, "tmp": tmp_path}


def stylize(files, out, *extra, contents=None) -> list[str]:
    """``ccpl stylize`` arguments: chelsea (or ``contents``) in hubble's style with the tiny art
    model, written to ``out``; then ``extra``."""
    contents = contents or [files["content"]]
    args = ["stylize", *contents, "--style", files["style"], "--model", files["model"], "-o", out]
    return [str(a) for a in [*args, *extra]]


def test_single_file(files):
    out = files["tmp"] / "out.png"
    rc = main(stylize(files, out, "--size", 96))
    assert rc == 0
    im = Image.open(out)
    assert im.size == (144, 96)  # shorter side resized to 96, aspect kept


def test_size_zero_keeps_input_size_and_folder_output(files):
    outdir = files["tmp"] / "many"
    contents = [files["content"], DATA / "rocket.jpg"]
    second_style = ["--style", DATA / "astronaut.jpg", "--style-weights", "0.7,0.3"]
    options = ["--size", 0, "--alpha", 0.5, "--preserve-color"]
    rc = main(stylize(files, outdir, *second_style, *options, contents=contents))
    assert rc == 0
    outs = sorted(p.name for p in outdir.iterdir())
    assert outs == ["chelsea_stylized.png", "rocket_stylized.png"]
    assert Image.open(outdir / "chelsea_stylized.png").size == Image.open(files["content"]).size


def test_mask_and_outside_style(files):
    w, h = Image.open(files["content"]).size
    mask = np.zeros((h, w), np.uint8)
    mask[:, : w // 2] = 255
    Image.fromarray(mask).save(files["tmp"] / "mask.png")
    out = files["tmp"] / "masked.png"
    mask_flags = ["--mask", files["tmp"] / "mask.png", "--mask-feather", 0]
    rc = main(stylize(files, out, "--size", 0, *mask_flags))
    assert rc == 0
    result = np.asarray(Image.open(out)).astype(int)
    original = np.asarray(Image.open(files["content"]).convert("RGB")).astype(int)
    assert np.abs(result[:, w // 2 :] - original[:, w // 2 :]).max() <= 1  # content kept
    assert np.abs(result[:, : w // 2] - original[:, : w // 2]).mean() > 5


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--style-weights", "1,2"], "--style-weights: 2 weights for 1 --style"),
        (["--mask", "missing.png"], "not found"),
        (["--outside-style", "x.png"], "needs --mask"),
        (["--alpha", "3"], "alpha"),
        (["--mode", "photo"], "art model but mode 'photo'"),
    ],
)
def test_errors_are_reported_not_raised(files, capsys, extra, message):
    rc, _, err = run(capsys, *stylize(files, files["tmp"] / "o.png", "--size", 64, *extra))
    assert rc == 2
    assert message in err


def test_existing_output_is_not_overwritten(files, capsys):
    out = files["tmp"] / "exists.png"
    out.write_bytes(b"user data")
    args = stylize(files, out, "--size", 64)
    assert main(args) == 2
    assert out.read_bytes() == b"user data"
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    assert out.read_bytes() != b"user data"


def test_several_inputs_need_a_folder(files, capsys):
    contents = [files["content"], files["content"]]
    rc = main(stylize(files, files["tmp"] / "x.png", contents=contents))
    assert rc == 2 and "output folder" in capsys.readouterr().err


def test_python_dash_m(files):
    out = files["tmp"] / "m.jpg"
    args = stylize(files, out, "--size", 64, "--precision", "auto")
    proc = subprocess.run(
        [sys.executable, "-m", "ccpl_core", *args], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert Image.open(out).size == (96, 64)
    help_text = subprocess.run(
        [sys.executable, "-m", "ccpl_core", "--help"], capture_output=True, text=True
    ).stdout
    assert "stylize" in help_text


def test_run_reporting_is_the_clis_failure_handling(capsys):
    from ccpl_core import InputError
    from ccpl_core.cli import run_reporting

    def bad_input():
        raise InputError("`size` must be positive, got -1")

    def interrupted():
        raise KeyboardInterrupt

    def bug():
        raise ZeroDivisionError("a bug keeps its traceback")

    assert run_reporting(lambda: 3, "tool") == 3
    assert run_reporting(bad_input, "tool") == 2
    assert capsys.readouterr().err == "tool: error: --size must be positive, got -1\n"
    assert run_reporting(interrupted, "tool") == 130
    assert capsys.readouterr().err == "tool: interrupted\n"
    with pytest.raises(ZeroDivisionError):
        run_reporting(bug, "tool")


@pytest.mark.parametrize(
    "script,args",
    [
        (
            "benchmarks/bench_quality.py",
            ["--set", "benchmarks/quality_in_repo.json", "--no-magenta", "--model"],
        ),
        ("tools/ship_model.py", ["--name", "x", "--recipe", "y"]),
    ],
)
def test_benchmarks_and_tools_report_a_missing_file_in_one_line(tmp_path, script, args):
    from ccpl_core.weights.manifest import REPO_ROOT

    manifest = (REPO_ROOT / "weights_manifest.json").read_bytes()
    missing = tmp_path / "no_such_model.safetensors"
    proc = subprocess.run(
        [sys.executable, script, *args, str(missing)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{Path(script).name}: error: "), proc.stderr
    assert "no_such_model" in lines[0]
    assert (REPO_ROOT / "weights_manifest.json").read_bytes() == manifest  # nothing written
