"""Write example_workflows/*.json the way a user saves them: built in the real ComfyUI frontend
(nodes added, widgets set, sockets linked through its own API) and serialised by it, so every
node carries the properties the frontend and the Manager read (cnr_id, ver, Node name for S&R)
and its widget values in the frontend's order.

Needs a ComfyUI (scripts/comfyui.sh), Chromium and Playwright; the VideoHelperSuite templates
also need $VHS_DIR (a checkout of ComfyUI-VideoHelperSuite):

    eval "$(bash scripts/comfyui.sh)"; VHS_DIR=/path/to/vhs python tools/save_templates.py
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import comfy_harness  # noqa: E402
import frontend  # noqa: E402

MODEL = ("model", "LoadSCTModel", (40, 40), {})
STYLE = ("style", "LoadImage", (40, 330), {"image": "ccpl_style.jpg"})
#: name -> nodes (key, type, position, widget values by name) and links (from key, output name,
#: to key, input name). Node ids follow the order of the list.
TEMPLATES: dict[str, dict] = {
    "ccpl_image_stylize": {
        "nodes": [
            MODEL,
            ("content", "LoadImage", (40, 700), {"image": "ccpl_content.jpg"}),
            STYLE,
            ("stylize", "CCPLStylize", (420, 40), {}),
            ("save", "SaveImage", (860, 40), {"filename_prefix": "ccpl_stylized"}),
        ],
        "links": [
            ("model", "sct_model", "stylize", "sct_model"),
            ("content", "IMAGE", "stylize", "content"),
            ("style", "IMAGE", "stylize", "style"),
            ("stylize", "IMAGE", "save", "images"),
        ],
    },
    "ccpl_video_core": {
        "nodes": [
            MODEL,
            ("video", "LoadVideo", (40, 700), {"file": "ccpl_clip.mp4"}),
            STYLE,
            ("stylize", "CCPLVideoStylize", (420, 40), {}),
            ("save", "SaveVideo", (860, 40), {"filename_prefix": "video/ccpl_stylized"}),
        ],
        "links": [
            ("model", "sct_model", "stylize", "sct_model"),
            ("video", "VIDEO", "stylize", "video"),
            ("style", "IMAGE", "stylize", "style"),
            ("stylize", "VIDEO", "save", "video"),
        ],
    },
    "ccpl_video_frames_metrics": {
        "nodes": [
            MODEL,
            ("video", "LoadVideo", (40, 700), {"file": "ccpl_clip.mp4"}),
            STYLE,
            ("parts", "GetVideoComponents", (40, 1080), {}),
            ("stylize", "CCPLVideoFrameStylize", (420, 40), {}),
            ("combine", "CreateVideo", (860, 40), {}),
            ("save", "SaveVideo", (1200, 40), {"filename_prefix": "video/ccpl_frames"}),
            ("metrics", "CCPLTemporalMetrics", (860, 400), {}),
            ("show", "PreviewAny", (1200, 400), {}),
        ],
        "links": [
            ("model", "sct_model", "stylize", "sct_model"),
            ("video", "VIDEO", "parts", "video"),
            ("parts", "images", "stylize", "frames"),
            ("style", "IMAGE", "stylize", "style"),
            ("stylize", "IMAGE", "combine", "images"),
            ("parts", "fps", "combine", "fps"),
            ("parts", "audio", "combine", "audio"),
            ("combine", "VIDEO", "save", "video"),
            ("parts", "images", "metrics", "source"),
            ("stylize", "IMAGE", "metrics", "stylized"),
            ("metrics", "report", "show", "source"),
        ],
    },
    "ccpl_finetune": {
        "nodes": [
            MODEL,
            ("video", "LoadVideo", (40, 700), {"file": "ccpl_clip.mp4"}),
            STYLE,
            ("parts", "GetVideoComponents", (40, 1080), {}),
            (
                "finetune",
                "CCPLFinetune",
                (420, 40),
                # a quick demonstration run; a real one wants the default steps on a GPU
                {"steps": 4, "crop_size": 128, "batch_size": 2, "seed.control": "fixed"},
            ),
            ("content", "LoadImage", (420, 700), {"image": "ccpl_content2.jpg"}),
            ("stylize", "CCPLStylize", (860, 40), {}),
            ("save", "SaveImage", (1200, 40), {"filename_prefix": "ccpl_finetuned"}),
            ("curve", "SaveImage", (1200, 500), {"filename_prefix": "ccpl_loss_curve"}),
        ],
        "links": [
            ("model", "sct_model", "finetune", "sct_model"),
            ("style", "IMAGE", "finetune", "style"),
            ("video", "VIDEO", "parts", "video"),
            ("parts", "images", "finetune", "content"),
            ("finetune", "sct_model", "stylize", "sct_model"),
            ("content", "IMAGE", "stylize", "content"),
            ("style", "IMAGE", "stylize", "style"),
            ("stylize", "IMAGE", "save", "images"),
            ("finetune", "loss_curve", "curve", "images"),
        ],
    },
    "ccpl_video_stylize": {
        "needs": "VHS_LoadVideo",
        "nodes": [
            MODEL,
            ("video", "VHS_LoadVideo", (40, 700), {"video": "ccpl_clip.mp4"}),
            STYLE,
            ("info", "VHS_VideoInfo", (40, 1200), {}),
            ("stylize", "CCPLVideoFrameStylize", (420, 40), {}),
            (
                "combine",
                "VHS_VideoCombine",
                (860, 40),
                {"filename_prefix": "ccpl_video", "format": "video/h264-mp4"},
            ),
        ],
        "links": [
            ("model", "sct_model", "stylize", "sct_model"),
            ("video", "IMAGE", "stylize", "frames"),
            ("style", "IMAGE", "stylize", "style"),
            ("stylize", "IMAGE", "combine", "images"),
            ("video", "audio", "combine", "audio"),
            ("video", "video_info", "info", "video_info"),
            ("info", "loaded_fps🟦", "combine", "frame_rate"),
        ],
    },
    "ccpl_video_meta_batch": {
        "needs": "VHS_LoadVideo",
        "nodes": [
            MODEL,
            ("video", "VHS_LoadVideo", (40, 700), {"video": "ccpl_clip.mp4"}),
            STYLE,
            ("info", "VHS_VideoInfo", (40, 1200), {}),
            ("stylize", "CCPLVideoFrameStylize", (420, 40), {}),
            (
                "combine",
                "VHS_VideoCombine",
                (860, 40),
                {"filename_prefix": "ccpl_video_windows", "format": "video/h264-mp4"},
            ),
            ("batches", "VHS_BatchManager", (420, 700), {"frames_per_batch": 8}),
        ],
        "links": [
            ("model", "sct_model", "stylize", "sct_model"),
            ("video", "IMAGE", "stylize", "frames"),
            ("style", "IMAGE", "stylize", "style"),
            ("stylize", "IMAGE", "combine", "images"),
            ("video", "audio", "combine", "audio"),
            ("video", "video_info", "info", "video_info"),
            ("info", "loaded_fps🟦", "combine", "frame_rate"),
            ("batches", "meta_batch", "video", "meta_batch"),
            ("batches", "meta_batch", "stylize", "meta_batch"),
            ("batches", "meta_batch", "combine", "meta_batch"),
        ],
    },
}


def project_id(folder: Path) -> tuple[str, str]:
    """(name, version) of a pack's pyproject.toml [project] table: its Registry id and version."""
    text = (folder / "pyproject.toml").read_text()
    table = text.split("[project]", 1)[1].split("\n[", 1)[0]
    name, version = (
        re.search(rf'^{k}\s*=\s*"([^"]+)"', table, re.M)[1] for k in ("name", "version")
    )
    return name.lower(), version


def pack_versions(info: dict) -> dict[str, tuple[str, str]]:
    """Node type -> (Registry id, version), from where /object_info says each node comes from."""
    comfy = (Path(comfy_harness.comfyui_dir()) / "comfyui_version.py").read_text()
    packs = {"": ("comfy-core", comfy.split('"')[-2])}
    packs[comfy_harness.PACK_FOLDER] = project_id(ROOT)
    if os.environ.get("VHS_DIR"):
        packs["ComfyUI-VideoHelperSuite"] = project_id(Path(os.environ["VHS_DIR"]))
    out = {}
    for node_type, entry in info.items():
        module = entry.get("python_module", "")
        folder = module.split(".")[1] if module.startswith("custom_nodes.") else ""
        if folder in packs:
            out[node_type] = packs[folder]
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("names", nargs="*", help="templates to write (default: all)")
    p.add_argument("--out", type=Path, default=ROOT / "example_workflows")
    args = p.parse_args()
    names = args.names or list(TEMPLATES)
    with tempfile.TemporaryDirectory() as base:
        server = comfy_harness.start(Path(base))
        try:
            packs = pack_versions(server.info)
            with frontend.open_app(server.url) as page:
                for name in names:
                    spec = TEMPLATES[name]
                    if spec.get("needs") and spec["needs"] not in server.info:
                        print(f"skipped {name}: {spec['needs']} is not installed (set VHS_DIR)")
                        continue
                    workflow = frontend.build(page, spec, packs)
                    path = args.out / f"{name}.json"
                    path.write_text(json.dumps(workflow, indent=2, ensure_ascii=False) + "\n")
                    print(f"wrote {path.relative_to(ROOT)} ({len(workflow['nodes'])} nodes)")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
