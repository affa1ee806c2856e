"""Batch and video on Ray: a local cluster of this machine against the serial path.

Images are compared with the serial (local) engine run with the same CPU threads per worker,
bit for bit; video frames shot by shot. A worker process is killed with SIGKILL in the middle of
a run; the run must still finish with every output once and nothing half-written.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import three_shot_clip
from PIL import Image

from ccpl_core.batch import draw_style, find_inputs
from ccpl_core.cli import main
from ccpl_core.fsutil import TEMP_SUFFIX
from ccpl_core.models.untrained import random_sctnet
from ccpl_core.weights.files import save_sctnet

av = pytest.importorskip("av")
ray = pytest.importorskip("ray")

DATA = Path(__file__).parent / "data"
PHOTOS = ["astronaut.jpg", "chelsea.jpg", "rocket.jpg", "hubble.jpg"]


@pytest.fixture(scope="module")
def cluster():
    """One local Ray cluster for the module (the commands join it instead of starting one)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("model") / "tiny_art.safetensors"
    save_sctnet(random_sctnet("art", seed=1), path, include_encoder=True)
    return str(path)


@pytest.fixture(scope="module")
def styles(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("styles")
    for i, name in enumerate(["great_wave.jpg", "kandinsky.jpg"]):
        im = Image.open(DATA / "styles" / name).convert("RGB").resize((64, 64))
        im.save(folder / f"s{i}.png")
        im.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / f"s{i}_flipped.png")
    return folder


def _tree(root: Path, count: int = 12) -> Path:
    """``count`` small photos in a nested tree, and one damaged file."""
    folders = [root, root / "a", root / "a" / "b", root / "c"]
    for f in folders:
        f.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        im = Image.open(DATA / PHOTOS[i % len(PHOTOS)]).convert("RGB").resize((72, 56))
        im.rotate(i * 9).save(folders[i % 4] / f"img{i}.jpg")
    return root


def _batch(model: str, src: Path, out: Path, styles: Path, *extra: str) -> int:
    args = ["batch", str(src), "-o", str(out), "--style-folder", str(styles), "--seed", "7"]
    common = ["--model", model, "--size", "48", "--style-size", "48", "--device", "cpu"]
    return main([*args, *common, "--precision", "fp32", "--cpus-per-worker", "1", *extra])


def _pngs(folder: Path) -> dict[str, np.ndarray]:
    return {
        str(p.relative_to(folder)): np.asarray(Image.open(p)) for p in sorted(folder.rglob("*.png"))
    }


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "ccpl_manifest.jsonl").read_text().splitlines()]


def test_style_draw_is_a_function_of_path_and_seed():
    from pathlib import PurePosixPath

    rel = PurePosixPath("a/b/img3.jpg")
    assert draw_style(rel, 7, 20) == draw_style(PurePosixPath("a/b/img3.jpg"), 7, 20)
    picks = {draw_style(PurePosixPath(f"x/{i}.jpg"), 7, 20) for i in range(400)}
    assert len(picks) == 20  # every style gets used
    assert [draw_style(PurePosixPath(f"{i}.jpg"), 1, 20) for i in range(50)] != [
        draw_style(PurePosixPath(f"{i}.jpg"), 2, 20) for i in range(50)
    ]


def test_list_input_mirrors_relative_paths(tmp_path):
    src = _tree(tmp_path / "in", 4)
    listing = tmp_path / "in" / "list.txt"
    listing.write_text("# two of them\na/img1.jpg\nimg0.jpg  # the first\n\n")
    assert [str(rel) for _, rel in find_inputs(listing)] == ["a/img1.jpg", "img0.jpg"]
    found = [str(rel) for _, rel in find_inputs(src)]
    assert sorted(found) == ["a/b/img2.jpg", "a/img1.jpg", "c/img3.jpg", "img0.jpg"]  # no list


def test_batch_on_ray_equals_local(cluster, model, styles, tmp_path, capsys):
    src = _tree(tmp_path / "in")
    (src / "c" / "bad.png").write_bytes(b"not an image")
    assert _batch(model, src, tmp_path / "local", styles) == 2
    local_err = capsys.readouterr().err
    assert _batch(model, src, tmp_path / "ray", styles, "--engine", "ray", "--workers", "2",
                  "--per-task", "3") == 2  # fmt: skip
    err = capsys.readouterr().err
    # the damaged image: one line naming it, in both runs; the others written
    assert next(line for line in err.splitlines() if "bad.png" in line).startswith(
        "ccpl batch: error: cannot read image"
    )
    assert "bad.png" in local_err
    local, remote = _pngs(tmp_path / "local"), _pngs(tmp_path / "ray")
    assert len(local) == 12 and local.keys() == remote.keys()
    assert "a/b/img2.png" in local  # the tree is mirrored
    for name in local:
        assert np.array_equal(local[name], remote[name]), name
    by_output = {r["output"].replace("/ray/", "/local/"): r for r in _records(tmp_path / "ray")}
    for rec in _records(tmp_path / "local"):
        other = by_output[rec["output"]]
        assert (rec["status"], rec["style"]) == (other["status"], other["style"])
    failed = [r for r in _records(tmp_path / "ray") if r["status"] == "failed"]
    assert len(failed) == 1 and "bad.png" in failed[0]["error"]
    assert len({r["style"][0] for r in _records(tmp_path / "ray")}) > 1  # styles drawn


def test_batch_survives_a_killed_worker_and_resumes(cluster, model, styles, tmp_path, capsys):
    src = _tree(tmp_path / "in", 24)
    out = tmp_path / "out"
    command = partial(_batch, model, src, out, styles, "--engine", "ray", "--workers", "2",
                      "--per-task", "1", "--retries", "2")  # fmt: skip

    def three_written() -> bool:
        return out.exists() and len(list(out.rglob("*.png"))) >= 3

    killed, rc = _run_and_kill(command, "ImageWorker", three_written)
    assert killed is not None, "the run ended before a worker could be killed"
    assert rc == 0
    records = _records(out)
    outputs = [r["output"] for r in records]
    assert len(outputs) == 24 and len(set(outputs)) == 24  # each once
    assert all(r["status"] == "written" for r in records)
    assert len(list(out.rglob("*.png"))) == 24
    assert not [p for p in out.rglob("*") if p.name.endswith(TEMP_SUFFIX)]
    # the killed worker's task was redone by its restarted process: two others did work
    workers = {r["worker"] for r in records}
    assert len(workers - {f"{socket.gethostname()}:{killed}"}) >= 2
    # a rerun with --skip-existing does nothing more
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    capsys.readouterr()
    assert _batch(model, src, out, styles, "--engine", "ray", "--skip-existing") == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["written"], summary["skipped"]) == (0, 24)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == before
    assert len(_records(out)) == 24


def _run_and_kill(
    command: Callable[[], int], actor: str, ready: Callable[[], bool]
) -> tuple[int | None, int | None]:
    """Run ``command`` in a thread and, once ``ready()`` says it is under way, SIGKILL one live
    ``actor`` process; returns the killed pid (None if the run ended first) and the exit code."""
    result: dict = {}
    run = threading.Thread(target=lambda: result.setdefault("rc", command()))
    run.start()
    killed = None
    deadline = time.monotonic() + 300
    while run.is_alive() and killed is None and time.monotonic() < deadline:
        if ready():
            pids = _worker_pids(actor)
            if pids:
                killed = pids[0]
                os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    run.join(600)
    return killed, result.get("rc")


def _worker_pids(name: str) -> list[int]:
    """Processes of live Ray actors of class ``name`` (Ray titles them ``ray::NAME``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode()
            except OSError:
                continue
            if title.startswith(f"ray::{name}"):
                found.append(int(entry.name))
    return found


def test_output_inside_the_input_tree_is_refused(tmp_path, styles, capsys):
    src = _tree(tmp_path / "in", 2)
    rc = main(["batch", str(src), "-o", str(src / "out"), "--style-folder", str(styles)])
    err = capsys.readouterr().err
    assert rc == 2 and "is inside the input folder" in err and len(err.splitlines()) == 1
    assert not (src / "out").exists()


def test_engine_ray_without_ray_is_one_line(tmp_path, styles):
    src = _tree(tmp_path / "in", 1)
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from ccpl_core.cli import main\n"
        f"sys.exit(main(['batch', {str(src)!r}, '-o', {str(tmp_path / 'o')!r}, "
        f"'--style-folder', {str(styles)!r}, '--engine', 'ray']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "ccpl batch: error: --engine ray needs Ray, which is not installed: pip install "
        "'comfyui-ccpl[cluster]' (or pip install ray), or run with --engine local"
    ]
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------------ video


def _video(model: str, clip: Path, out: Path, *extra: str) -> int:
    style = str(DATA / "styles" / "great_wave.jpg")
    args = ["video", str(clip), "--style", style, "--style-size", "48", "--model", model]
    return main([*args, "--device", "cpu", "--precision", "fp32", "-o", str(out), *extra])


@pytest.mark.parametrize("statistics", ["per-frame", "clip"])
def test_video_shots_on_ray_equal_the_serial_run(cluster, model, tmp_path, statistics):
    clip = three_shot_clip(tmp_path / "clip.mp4")
    opts = ["--statistics", statistics, "--palette", "0.5"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the serial run with the threads of one Ray worker
    try:
        assert _video(model, clip, tmp_path / "serial/", *opts) == 0
    finally:
        torch.set_num_threads(threads)
    ray_opts = ["--engine", "ray", "--workers", "2", "--cpus-per-worker", "1"]
    assert _video(model, clip, tmp_path / "ray/", *opts, *ray_opts) == 0
    serial, shots = _pngs(tmp_path / "serial"), _pngs(tmp_path / "ray")
    assert len(serial) == 24 and serial.keys() == shots.keys()
    worst = max(int(np.abs(serial[k].astype(int) - shots[k]).max()) for k in serial)
    # per-frame: bit-equal; clip: the shots' moments are summed in another order (float64)
    assert worst <= (0 if statistics == "per-frame" else 1)
    assert not list(tmp_path.glob(".*ccpl-shots"))  # the shots' folder is gone once joined
    if statistics != "per-frame":
        return
    # a video file: every frame, the frame rate and the sound
    assert _video(model, clip, tmp_path / "ray.mp4", *ray_opts) == 0
    with av.open(str(tmp_path / "ray.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 24
        assert float(c.streams.video[0].average_rate) == 12
        assert c.streams.audio


def test_video_survives_a_killed_worker(cluster, model, tmp_path):
    clip = three_shot_clip(tmp_path / "clip.mp4", per_shot=10)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert _video(model, clip, tmp_path / "serial/") == 0
    finally:
        torch.set_num_threads(threads)
    ray_opts = ["--engine", "ray", "--workers", "1", "--cpus-per-worker", "1", "--retries", "2"]
    work = tmp_path / ".ray.ccpl-shots"

    def shot_started() -> bool:
        return work.is_dir() and any(p.name.startswith("shot_") for p in work.iterdir())

    command = partial(_video, model, clip, tmp_path / "ray/", *ray_opts)
    killed, rc = _run_and_kill(command, "ShotWorker", shot_started)
    assert killed is not None, "the run ended before its worker could be killed"
    assert rc == 0
    serial, shots = _pngs(tmp_path / "serial"), _pngs(tmp_path / "ray")
    assert len(shots) == 30 and serial.keys() == shots.keys()
    assert all(np.array_equal(serial[k], shots[k]) for k in serial)
    assert not work.exists()
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(TEMP_SUFFIX)]


def test_a_stopped_ray_run_leaves_whole_files_and_no_workers(model, styles, tmp_path):
    src = _tree(tmp_path / "in", 40)
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "ccpl_core", "batch", str(src), "-o", str(out), "--model", model]
    argv += ["--style-folder", str(styles), "--size", "48", "--style-size", "48", "--device", "cpu"]
    argv += ["--engine", "ray", "--workers", "2", "--cpus-per-worker", "1", "--per-task", "1"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if out.exists() and len(list(out.rglob("*.png"))) >= 2:
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.05)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("ccpl batch: interrupted")
    written = list(out.rglob("*.png"))
    assert 2 <= len(written) < 40
    for path in written:  # every file there is whole
        Image.open(path).load()
    assert not [p for p in out.rglob("*") if p.name.endswith(TEMP_SUFFIX)]
    time.sleep(2)
    assert not _worker_pids("ImageWorker")  # the local cluster went with the run
