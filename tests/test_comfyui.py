"""Integration: this pack inside a real ComfyUI server, every example workflow via POST /prompt.

Needs a ComfyUI checkout: set COMFYUI_DIR (and COMFYUI_PYTHON to the interpreter of its venv;
default: this one). The video workflow also needs VideoHelperSuite: set VHS_DIR to its checkout.
Without COMFYUI_DIR the test is skipped with that message, so CI on a bare machine stays green.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import comfy_harness as harness
import pytest
from helpers import WIDGET_TYPES

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(
    not harness.comfyui_dir(),
    reason="set COMFYUI_DIR to a ComfyUI checkout (scripts/comfyui.sh makes one)",
)
#: Frames per VideoHelperSuite meta-batch window in the meta-batch test.
WINDOW = 4
SEED_CONTROLS = {"fixed", "increment", "decrement", "randomize"}
NODE_IDS = {
    "LoadSCTModel",
    "CCPLStylize",
    "CCPLVideoFrameStylize",
    "CCPLFinetune",
    "CCPLTemporalMetrics",
}


_get, _post = harness.get, harness.post


def to_api(workflow: dict, object_info: dict) -> dict:
    """Convert a UI-format workflow to the API format the /prompt endpoint takes."""
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    for node in workflow["nodes"]:
        info = object_info[node["type"]]
        spec = {**info["input"].get("required", {}), **info["input"].get("optional", {})}
        inputs: dict = {}
        linked = {}
        for slot in node.get("inputs", []):
            if slot.get("link") is not None:
                link = links[slot["link"]]
                linked[slot["name"]] = [str(link[1]), link[2]]
        values = node.get("widgets_values", [])
        if isinstance(values, dict):  # VideoHelperSuite stores widgets by name
            inputs.update({k: v for k, v in values.items() if k != "videopreview"})
        else:
            queue = list(values)
            for name, definition in spec.items():
                kind = definition[0]
                is_widget = isinstance(kind, list) or kind in WIDGET_TYPES
                if not is_widget or not queue:
                    continue
                value = queue.pop(0)  # a linked widget keeps its value in the list
                if name not in linked:
                    inputs[name] = value
                if name in ("seed", "noise_seed") and queue and queue[0] in SEED_CONTROLS:
                    queue.pop(0)
        inputs.update(linked)
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt


@pytest.fixture(scope="module")
def server(comfyui):
    return comfyui


def _clip_frames() -> int:
    """Frames of the example clip the pack puts into ComfyUI's input folder."""
    import av

    with av.open(str(ROOT / "examples/video/ccpl_clip.mp4")) as c:
        return sum(1 for _ in c.decode(video=0))


def _run(server, workflow_file: Path, timeout: float = 900) -> dict:
    workflow = json.loads(workflow_file.read_text())
    return _run_prompt(server, to_api(workflow, server["info"]), workflow_file.name, timeout)


def _run_prompt(server, prompt: dict, name: str, timeout: float = 900) -> dict:
    pid = _post(f"{server['url']}/prompt", {"prompt": prompt, "client_id": "ccpl-test"})[
        "prompt_id"
    ]
    deadline = time.time() + timeout
    while time.time() < deadline:
        history = _get(f"{server['url']}/history/{pid}")
        if pid in history and history[pid].get("status", {}).get("completed") is not None:
            entry = history[pid]
            status = entry["status"]
            assert status["status_str"] == "success", json.dumps(status["messages"])[-3000:]
            return entry
        time.sleep(1)
    raise AssertionError(
        f"{name} did not finish in {timeout}s; log: " + server["log"].read_text()[-2000:]
    )


def _widget_defaults(info: dict, node: str, **override) -> dict:
    """What a freshly added node holds: each widget's default, or a list's first entry."""
    values = {}
    spec = info[node]["input"]
    for name, entry in {**spec.get("required", {}), **spec.get("optional", {})}.items():
        kind, opts = entry[0], (entry[1] if len(entry) > 1 else {})
        if isinstance(kind, list):
            values[name] = opts.get("default", kind[0])
        elif kind in WIDGET_TYPES and "default" in opts:
            values[name] = opts["default"]
    return values | override


def test_fresh_nodes_with_their_defaults_run(server):
    """A graph of freshly added nodes, nothing changed but the two image names the pack ships."""
    info = server["info"]
    manifest = json.loads((ROOT / "weights_manifest.json").read_text())
    assert (
        info["LoadSCTModel"]["input"]["required"]["model_name"][0][0] == manifest["default"]["art"]
    )
    stylize = _widget_defaults(info, "CCPLStylize")
    stylize |= {"sct_model": ["1", 0], "content": ["2", 0], "style": ["3", 0]}
    prompt = {
        "1": {"class_type": "LoadSCTModel", "inputs": _widget_defaults(info, "LoadSCTModel")},
        "2": {"class_type": "LoadImage", "inputs": {"image": "ccpl_content.jpg"}},
        "3": {"class_type": "LoadImage", "inputs": {"image": "ccpl_style.jpg"}},
        "4": {"class_type": "CCPLStylize", "inputs": stylize},
        "5": {
            "class_type": "SaveImage",
            "inputs": {"images": ["4", 0], "filename_prefix": "fresh"},
        },
    }
    entry = _run_prompt(server, prompt, "fresh nodes")
    assert entry["outputs"]["5"]["images"], "nothing saved"


def test_object_info_lists_all_nodes(server):
    missing = NODE_IDS - set(server["info"])
    assert not missing, f"missing {missing}; log:\n{server['log'].read_text()[-3000:]}"
    assert server["info"]["LoadSCTModel"]["output"] == ["SCT_MODEL"]


def test_requirements_are_what_the_defaults_need(server):
    """After the Registry-style install, ComfyUI's venv has one OpenCV and all of this pack's
    requirements: nothing left to install, and Video Frame Stylize's default (flow) imports."""
    python = os.environ.get("COMFYUI_PYTHON", sys.executable)
    dry = subprocess.run(
        [python, "-m", "pip", "install", "--dry-run", "-r", str(ROOT / "requirements.txt")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert dry.returncode == 0 and "Would install" not in dry.stdout, dry.stdout[-2000:]
    probe = (
        "import importlib.metadata as m, cv2, safetensors, huggingface_hub, filelock, tqdm;"
        "print(sorted(d.metadata['Name'] for d in m.distributions()"
        " if d.metadata['Name'].lower().startswith('opencv')))"
    )
    found = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=120)
    assert found.returncode == 0, found.stderr[-2000:]
    assert found.stdout.strip() == "['opencv-python']"


#: The templates that need only ComfyUI's core nodes and this pack (all run in CI).
CORE_TEMPLATES = [
    "ccpl_image_stylize",
    "ccpl_finetune",
    "ccpl_video_core",
    "ccpl_video_frames_metrics",
]
VHS_TEMPLATES = ["ccpl_video_stylize", "ccpl_video_meta_batch"]


def _video_facts(path: Path) -> tuple[int, float, bool]:
    """(frames, frame rate, has sound) of a video file."""
    import av

    with av.open(str(path)) as c:
        rate = float(c.streams.video[0].average_rate)
        return sum(1 for _ in c.decode(video=0)), rate, bool(c.streams.audio)


def test_templates_are_all_tested():
    shipped = {p.stem for p in (ROOT / "example_workflows").glob("*.json")}
    assert shipped == set(CORE_TEMPLATES + VHS_TEMPLATES)


@pytest.mark.parametrize("name", CORE_TEMPLATES + VHS_TEMPLATES)
def test_example_workflow_runs(server, name):
    if name in VHS_TEMPLATES and "VHS_LoadVideo" not in server["info"]:
        pytest.skip("VideoHelperSuite not installed: set VHS_DIR to run the video workflows")
    if name == "ccpl_video_meta_batch":
        _queue_prompt(
            server,
            to_api(
                json.loads((ROOT / "example_workflows" / f"{name}.json").read_text()),
                server["info"],
            ),
        )
        time.sleep(2)
        _wait_for_empty_queue(server)
        videos = sorted((server["base"] / "output").glob("ccpl_video_windows_*.mp4"))
        assert videos, "the meta-batch workflow wrote no video"
        import av

        with av.open(str(videos[-1])) as c:
            assert sum(1 for _ in c.decode(video=0)) == _clip_frames()  # every window, one file
        return
    entry = _run(server, ROOT / "example_workflows" / f"{name}.json")
    outputs = entry["outputs"]
    files = []
    for out in outputs.values():
        for key in ("images", "gifs"):
            for item in out.get(key, []):
                files.append(
                    server["base"]
                    / item.get("type", "output")
                    / item.get("subfolder", "")
                    / item["filename"]
                )
    assert files, f"{name} produced no output files: {outputs}"
    for f in files:
        assert f.is_file() and f.stat().st_size > 1000, f
        if f.suffix in (".mp4", ".webm", ".mkv", ".mov"):
            # the source's frame count, frame rate and sound survive
            source = _video_facts(ROOT / "examples/video/ccpl_clip.mp4")
            assert _video_facts(f) == source, f"{f.name}: {_video_facts(f)} != {source}"
    if name == "ccpl_video_frames_metrics":
        workflow = json.loads((ROOT / "example_workflows" / f"{name}.json").read_text())
        (show,) = [str(n["id"]) for n in workflow["nodes"] if n["type"] == "PreviewAny"]
        report = json.loads(outputs[show]["text"][0])  # what core's Preview Any displays
        assert 0 < report["warping_error"] < 1
    if name == "ccpl_finetune":
        saved = list((server["base"] / "models" / "sct").glob("ccpl_finetuned_*.safetensors"))
        assert saved, "the finetuned model was not saved to models/sct"


def _queue_prompt(server, prompt: dict) -> str:
    return _post(f"{server['url']}/prompt", {"prompt": prompt, "client_id": "ccpl-test"})[
        "prompt_id"
    ]


def _wait_for_empty_queue(server, timeout: float = 900) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        queue = _get(f"{server['url']}/queue")
        if not queue["queue_running"] and not queue["queue_pending"]:
            return
        time.sleep(1)
    raise AssertionError("the queue did not empty; log: " + server["log"].read_text()[-2000:])


def _saved_frames(server, prefix: str):
    import numpy as np
    from PIL import Image

    files = sorted((server["base"] / "output").glob(f"{prefix}_*.png"))
    return np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files]) if files else None


def test_vhs_meta_batch_windows_continue_the_clip(server):
    """VHS Meta Batch Manager windows (4 frames) give the frames of one whole-clip run, with the
    feature and the detail blend carried across windows."""
    if "VHS_BatchManager" not in server["info"]:
        pytest.skip("VideoHelperSuite not installed: set VHS_DIR to run the meta-batch test")
    example = json.loads((ROOT / "example_workflows/ccpl_video_stylize.json").read_text())
    load_video = to_api(example, server["info"])["2"]["inputs"]  # the example's Load Video
    stylize = {
        "sct_model": ["1", 0],
        "frames": ["2", 0],
        "style": ["3", 0],
        "alpha": 1.0,
        "preserve_color": "none",
        "style_size": 256,
        "content_statistics": "per-frame",
        "precision": "model",
        "flow_blend": 0.0,
        "feature_blend": 0.95,
        "detail_blend": 0.2,
    }
    common = {
        "1": {
            "class_type": "LoadSCTModel",
            "inputs": {
                "model_name": "ccpl-open-art",
                "mode": "auto",
                "device": "cpu",
                "precision": "fp32",
            },
        },
        "3": {"class_type": "LoadImage", "inputs": {"image": "ccpl_style.jpg"}},
    }
    whole = {
        **common,
        "2": {"class_type": "VHS_LoadVideo", "inputs": load_video},
        "4": {"class_type": "CCPLVideoFrameStylize", "inputs": stylize},
        "6": {
            "class_type": "SaveImage",
            "inputs": {"images": ["4", 0], "filename_prefix": "whole"},
        },
    }
    windows = {
        **common,
        "7": {"class_type": "VHS_BatchManager", "inputs": {"frames_per_batch": WINDOW}},
        "2": {"class_type": "VHS_LoadVideo", "inputs": {**load_video, "meta_batch": ["7", 0]}},
        "4": {
            "class_type": "CCPLVideoFrameStylize",
            "inputs": {**stylize, "meta_batch": ["7", 0]},
        },
        "5": {
            "class_type": "VHS_VideoCombine",
            "inputs": {
                "images": ["4", 0],
                "frame_rate": 8,
                "loop_count": 0,
                "filename_prefix": "ccpl_windows",
                "format": "video/h264-mp4",
                "pix_fmt": "yuv420p",
                "crf": 19,
                "save_metadata": False,
                "trim_to_audio": False,
                "pingpong": False,
                "save_output": True,
                "meta_batch": ["7", 0],
            },
        },
        "6": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "win"}},
    }
    _queue_prompt(server, whole)
    _wait_for_empty_queue(server)
    _queue_prompt(server, windows)
    time.sleep(2)
    _wait_for_empty_queue(server)
    ref, got = _saved_frames(server, "whole"), _saved_frames(server, "win")
    n = _clip_frames()
    assert ref is not None and len(ref) == n, "the whole-clip run saved no frames"
    assert got is not None and len(got) == n, f"windows saved {None if got is None else len(got)}"
    history = _get(f"{server['url']}/history")
    prefix = lambda h: h["prompt"][2].get("6", {}).get("inputs", {}).get("filename_prefix")  # noqa: E731
    runs = [h for h in history.values() if prefix(h) == "win"]
    windows = -(-n // WINDOW)
    assert len(runs) == windows, f"expected {windows} meta-batch windows, saw {len(runs)}"
    for run in runs:
        assert run["status"]["status_str"] == "success", json.dumps(run["status"])[-2000:]
    diff = abs(got.astype(int) - ref.astype(int))
    assert diff.max() <= 2, f"windows differ from the whole clip by up to {diff.max()} levels"


def _video_prompt(video: str, prefix: str) -> dict:
    return {
        "1": {
            "class_type": "LoadSCTModel",
            "inputs": {
                "model_name": "ccpl-open-art",
                "mode": "auto",
                "device": "cpu",
                "precision": "fp32",
            },
        },
        "2": {"class_type": "LoadVideo", "inputs": {"file": video}},
        "3": {"class_type": "LoadImage", "inputs": {"image": "ccpl_style.jpg"}},
        "4": {
            "class_type": "CCPLVideoStylize",
            "inputs": {
                "sct_model": ["1", 0],
                "video": ["2", 0],
                "style": ["3", 0],
                "alpha": 1.0,
                "preserve_color": "none",
                "style_size": 128,
                "content_statistics": "per-frame",
            },
        },
        "5": {
            "class_type": "SaveVideo",
            "inputs": {
                "video": ["4", 0],
                "filename_prefix": prefix,
                "format": "auto",
                "codec": "auto",
            },
        },
    }


def _leftovers(server) -> set[str]:
    """Files the video node may leave: in the temp folder (earlier tests' results are there
    too: compare with a snapshot) or under the cancelled run's output prefix."""
    found = {p.name for p in (server.base / "temp").glob("*ccpl_*")}  # hidden ones too
    return found | {p.name for p in (server.base / "output").rglob("cancelled*")}


def test_video_node_cancel_leaves_no_file(server):
    """Cancel (POST /interrupt) in the middle of a clip: the run stops, nothing half-written."""
    from helpers import pan_frames
    from test_video_output import clip_with_audio

    frames = pan_frames(240, 128, 160, step=1)
    clip_with_audio(server.base / "input" / "ccpl_long.mp4", frames, "aac", fps=24)
    before = _leftovers(server)
    pid = harness.queue(server, _video_prompt("ccpl_long.mp4", "cancelled"))
    deadline = time.time() + 600  # the model loads first; generous for a loaded machine
    while not _leftovers(server) - before:  # the node is writing
        assert time.time() < deadline, "the video node never started writing"
        time.sleep(0.2)
    harness.post(f"{server.url}/interrupt")
    entry = harness.wait(server, pid, timeout=300)
    assert entry["status"]["status_str"] == "error"
    kinds = [m[0] for m in entry["status"]["messages"]]
    assert "execution_interrupted" in kinds, kinds
    assert _leftovers(server) - before == set()


@pytest.mark.parametrize(
    "content,line",
    [(b"not a video at all" * 64, "cannot read video"), (None, "has no video stream")],
)
def test_video_node_bad_input_is_one_line(server, tmp_path, content, line):
    import av
    import numpy as np

    path = server.base / "input" / f"ccpl_bad_{len(content or b'')}.mp4"
    if content is None:  # sound only
        with av.open(str(path), "w") as c:
            a = c.add_stream("aac", rate=16000, layout="mono")
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt")
            frame.sample_rate = 16000
            c.mux(a.encode(frame))
            c.mux(a.encode(None))
    else:
        path.write_bytes(content)
    before = _leftovers(server)
    entry = harness.wait(server, harness.queue(server, _video_prompt(path.name, "bad")))
    assert entry["status"]["status_str"] == "error"
    (error,) = [m[1] for m in entry["status"]["messages"] if m[0] == "execution_error"]
    message = error["exception_message"].strip()
    assert line in message and "\n" not in message, message
    assert error["exception_type"].endswith("InputError")
    assert _leftovers(server) - before == set()
