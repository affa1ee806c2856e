"""Every output is written one way: a private temporary beside it, published only complete, and
never over something that exists unless --overwrite says so.

The hostile situations are real: symlinks planted where ccpl writes, a file that appears while
a run works, two runs to one output at once, an output that is one of the inputs, and stop
signals sent to a running command (a subprocess, so a signal that is not handled cannot take
the test run with it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from helpers import make_clip, refused, run
from PIL import Image

from ccpl_core.video import FrameSink, FrameSource
from ccpl_core.video.io import VideoInfo
from ccpl_core.weights import save_sctnet

ROOT = Path(__file__).resolve().parents[1]
NO_MODEL = "/nonexistent/never-loaded.safetensors"
VICTIM = b"a file elsewhere that must never change\n"


@pytest.fixture(scope="module")
def model(tmp_path_factory, photo_net) -> Path:
    folder = tmp_path_factory.mktemp("model")
    return save_sctnet(photo_net, folder / "tiny_photo.safetensors", include_encoder=True)


def noise(path: Path, h: int = 24, w: int = 32, seed: int = 0) -> Path:
    arr = (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)
    Image.fromarray(arr).save(path)
    return path


def leftovers(folder: Path) -> list[str]:
    """Temporary names (ccpl's all end in .partial) anywhere under ``folder``."""
    return sorted(str(p) for p in folder.rglob("*") if "partial" in p.name)


def video_argv(src, style, model, out, *extra) -> list[str]:
    return ["video", src, "--style", style, "--model", model, "--feature-blend", "0", "--palette",
            "0", "--wct", "0", "-o", out, "--device", "cpu", *extra]  # fmt: skip


def ccpl(*argv, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "ccpl_core", *map(str, argv)]
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw
    )


# ---------------------------------------------------------------- symlinks are never followed


def test_symlinks_planted_where_ccpl_writes_are_never_followed(tmp_path, capsys, model):
    """Links at the temporary names earlier versions used, and at the final name."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(VICTIM)
    src = make_clip(tmp_path / "in.mp4", n=3)
    style = noise(tmp_path / "style.png", 40, 40)
    out = tmp_path / "out"
    out.mkdir()
    for name in (".clip.frames.partial.mp4", ".clip.audio.partial.mp4", ".a.png.partial"):
        (out / name).symlink_to(victim)
    rc, _, err = run(capsys, *video_argv(src, style, model, out / "clip.mp4"))
    assert rc == 0, err
    assert FrameSource(out / "clip.mp4").info.frames == 3

    # a symlink at the final name: refused without --overwrite, replaced (not written through)
    # with it, dangling or not
    (out / "link.mp4").symlink_to(victim)
    (out / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    rc, _, err = run(capsys, *video_argv(src, style, model, out / "link.mp4"))
    refused(rc, err, "link.mp4", "exists")
    rc, _, err = run(capsys, *video_argv(src, style, model, out / "link.mp4", "--overwrite"))
    assert rc == 0, err
    assert not (out / "link.mp4").is_symlink() and FrameSource(out / "link.mp4").info.frames
    argv = ["stylize", noise(tmp_path / "c.png"), "--style", style, "--model", model,
            "--size", "0", "-o", out / "dangling.png"]  # fmt: skip
    rc, _, err = run(capsys, *argv)
    refused(rc, err, "dangling.png", "exists")
    assert not (tmp_path / "nowhere.png").exists()
    assert victim.read_bytes() == VICTIM
    assert sorted(p.name for p in out.iterdir() if not p.is_symlink()) == ["clip.mp4", "link.mp4"]


def test_temporaries_are_private_and_unique(tmp_path):
    from ccpl_core.fsutil import Staged

    final = tmp_path / "a.png"
    with Staged(final) as one, Staged(final) as two, Staged(tmp_path / "f", folder=True) as d:
        assert one.path != two.path and one.path.parent == tmp_path
        assert one.path.stat().st_mode & 0o777 == 0o600 and d.path.stat().st_mode & 0o777 == 0o700
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------ nothing replaced without asking


def test_a_file_that_appears_during_the_run_is_never_replaced(tmp_path):
    """Checked at the moment of the move: an earlier check cannot see it."""
    from ccpl_core.errors import OutputExists
    from ccpl_core.fsutil import atomic_write

    target = tmp_path / "model.safetensors"

    def write(fh):
        fh.write(b"ours")
        target.write_bytes(b"another program's")  # appears while we write

    with pytest.raises(OutputExists, match=r"model\.safetensors"):
        atomic_write(target, write)
    assert target.read_bytes() == b"another program's"
    assert os.listdir(tmp_path) == ["model.safetensors"]
    atomic_write(target, lambda fh: fh.write(b"ours"), overwrite=True)
    assert target.read_bytes() == b"ours"

    info = VideoInfo(None, Fraction(10), 32, 24, False)
    for name in ("clip.mp4", "frames"):
        sink = FrameSink(tmp_path / name, info)
        sink.write(np.zeros((24, 32, 3), np.uint8))
        if name == "frames":
            (tmp_path / name).mkdir()
            (tmp_path / name / "mine.txt").write_text("user data")
        else:
            (tmp_path / name).write_text("user data")
        with pytest.raises(OutputExists, match=name):
            sink.close()
    assert (tmp_path / "clip.mp4").read_text() == "user data"
    assert os.listdir(tmp_path / "frames") == ["mine.txt"]
    assert leftovers(tmp_path) == []


def test_two_runs_to_one_output_give_one_result_and_one_refusal(tmp_path, model):
    # long enough (about 3 s of frames) that both runs pass their up-front checks before
    # either publishes: the refusal then comes from the move itself
    src = make_clip(tmp_path / "in.mp4", n=40)
    style = noise(tmp_path / "style.png", 40, 40)
    out = tmp_path / "same.mp4"
    procs = [ccpl(*video_argv(src, style, model, out)) for _ in range(2)]
    results = [(p.wait(timeout=240), *p.communicate()) for p in procs]
    codes = sorted(rc for rc, _, _ in results)
    assert codes == [0, 2], results
    (err,) = [e for rc, _, e in results if rc == 2]
    assert err.count("\n") == 1 and "same.mp4" in err and "exists" in err, err
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 40
    assert leftovers(tmp_path) == []


def test_export_and_eval_outputs_are_not_replaced(tmp_path, capsys):
    (tmp_path / "final.safetensors").write_bytes(b"an older model")
    base = ["train", "--content", tmp_path, "--style", tmp_path, "--out", tmp_path / "run",
            "--init", NO_MODEL]  # fmt: skip
    rc, _, err = run(capsys, *base, "--export", tmp_path / "final.safetensors")
    refused(rc, err, "final.safetensors", "--overwrite")
    (tmp_path / "m.json").write_text("{}")
    eval_argv = ["eval", "temporal", "--source", "a", "--stylized", "b"]
    rc, _, err = run(capsys, *eval_argv, "-o", tmp_path / "m.json")
    refused(rc, err, "m.json", "--overwrite")
    assert (tmp_path / "final.safetensors").read_bytes() == b"an older model"


# ---------------------------------------------------------------- an output that is an input


def test_an_output_that_is_an_input_is_refused_before_any_work(tmp_path, capsys):
    clip = make_clip(tmp_path / "clip.mp4", n=3)
    before = clip.read_bytes()
    style = noise(tmp_path / "style.png", 40, 40)
    photo = noise(tmp_path / "photo.png")
    (tmp_path / "alias.mp4").symlink_to(clip)
    os.link(photo, tmp_path / "hard.png")
    junk_model = tmp_path / "m.safetensors"
    junk_model.write_bytes(b"not read: refused before the model loads")
    stylize = ["stylize", photo, "--style", style, "--model", NO_MODEL, "--overwrite", "-o"]
    finetune = ["finetune", "--model", junk_model, "--style", style, "--content", tmp_path]
    cases = [
        (["eval", "temporal", "--source", clip, "--stylized", clip, "-o", clip], "clip.mp4"),
        (video_argv(clip, style, NO_MODEL, clip, "--overwrite"), "clip.mp4"),
        (video_argv(clip, style, NO_MODEL, tmp_path / "alias.mp4", "--overwrite"), "alias.mp4"),
        (video_argv(clip, style, NO_MODEL, tmp_path, "--overwrite"), "holds the input"),
        ([*stylize, tmp_path / "hard.png"], "hard.png"),
        ([*stylize, style], "style.png"),
        ([*finetune, "--overwrite", "-o", junk_model], "m.safetensors"),
    ]
    for argv, needle in cases:
        rc, _, err = run(capsys, *argv)
        refused(rc, err, needle, "input", "choose another output")
    assert clip.read_bytes() == before and (tmp_path / "alias.mp4").is_symlink()


# --------------------------------------------------------------------------- stop signals


def test_sigterm_stops_ccpl_video_and_leaves_no_temporary(tmp_path, model):
    src = make_clip(tmp_path / "in.mp4", n=400)
    style = noise(tmp_path / "style.png", 40, 40)
    out = tmp_path / "out"
    proc = ccpl(*video_argv(src, style, model, out / "clip.mp4"))
    deadline = time.time() + 120
    while not leftovers(out) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert leftovers(out), "the run ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert stderr.strip() == "ccpl video: interrupted by SIGTERM", stderr
    assert leftovers(tmp_path) == [] and not (out / "clip.mp4").exists()


#: Runs ``ccpl finetune`` and sends this process the signal at the first finished step, the
#: way a scheduler or a closed terminal would (the progress bar only times it).
FINETUNE_STOPPED = """
import os, signal, sys
import ccpl_core.cli.finetune as cli
from ccpl_core.cli import main

class Bar(cli.tqdm):
    steps = 0

    def update(self, n=1):
        super().update(n)
        Bar.steps += n
        if Bar.steps == 1:
            os.kill(os.getpid(), getattr(signal, sys.argv[1]))

cli.tqdm = Bar
sys.exit(main(sys.argv[2:]))
"""


def test_sigterm_saves_the_finetune_step_in_progress(tmp_path, model, signum="SIGTERM"):
    from ccpl_core.weights.files import read_state

    content = tmp_path / "content"
    content.mkdir()
    for i in range(3):
        noise(content / f"{i}.png", 64, 64, seed=i)
    style = noise(tmp_path / "style.png", 64, 64, seed=9)
    out = tmp_path / "mine.safetensors"
    argv = ["finetune", "--model", model, "--style", style, "--content", content, "--steps",
            "50", "--crop", "48", "--batch-size", "1", "--device", "cpu", "-o", out]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", FINETUNE_STOPPED, signum, *map(str, argv)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr
    assert f"interrupted by {signum}, saved the last complete step" in done.stdout
    _, meta = read_state(out)
    assert 1 <= int(meta["ccpl.steps"]) < 50
    assert leftovers(tmp_path) == []


#: A command stopped by a signal inside :func:`run_reporting` while it writes an output.
STOPPED_WHILE_WRITING = """
import os, signal, sys, time
from ccpl_core.cli import run_reporting
from ccpl_core.fsutil import atomic_write

def write(fh):
    fh.write(b"half")
    os.kill(os.getpid(), getattr(signal, sys.argv[1]))
    time.sleep(30)

sys.exit(run_reporting(lambda: atomic_write(sys.argv[2], write), "ccpl stylize"))
"""


@pytest.mark.parametrize("signum", ["SIGINT", "SIGHUP"])  # SIGTERM: the tests above
def test_every_stop_signal_cleans_up_alike(tmp_path, signum):
    done = subprocess.run(
        [sys.executable, "-c", STOPPED_WHILE_WRITING, signum, str(tmp_path / "a.png")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert done.returncode == 130, done.stderr
    said = "interrupted" if signum == "SIGINT" else f"interrupted by {signum}"
    assert done.stderr == f"ccpl stylize: {said}\n"
    assert os.listdir(tmp_path) == []
