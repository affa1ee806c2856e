"""Write the example workflows (ComfyUI UI format) from compact descriptions.

    python tools/make_example_workflows.py

The JSON files land in example_workflows/, where ComfyUI's template browser finds them; the
integration test (tests/test_comfyui.py) converts each to the API format and runs it.
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "example_workflows"

# node type -> (socket inputs [(name, type)], outputs [(name, type)])
SOCKETS = {
    "LoadImage": ([], [("IMAGE", "IMAGE"), ("MASK", "MASK")]),
    "SaveImage": ([("images", "IMAGE")], []),
    "ImageBatch": ([("image1", "IMAGE"), ("image2", "IMAGE")], [("IMAGE", "IMAGE")]),
    "LoadSCTModel": ([], [("sct_model", "SCT_MODEL")]),
    "CCPLStylize": (
        [
            ("sct_model", "SCT_MODEL"),
            ("content", "IMAGE"),
            ("style", "IMAGE"),
            ("style_2", "IMAGE"),
            ("mask", "MASK"),
            ("outside_style", "IMAGE"),
        ],
        [("IMAGE", "IMAGE")],
    ),
    "CCPLVideoFrameStylize": (
        [
            ("sct_model", "SCT_MODEL"),
            ("frames", "IMAGE"),
            ("style", "IMAGE"),
            ("meta_batch", "VHS_BatchManager"),
        ],
        [("IMAGE", "IMAGE")],
    ),
    "VHS_BatchManager": ([], [("meta_batch", "VHS_BatchManager")]),
    "CCPLFinetune": (
        [("sct_model", "SCT_MODEL"), ("style", "IMAGE"), ("content", "IMAGE")],
        [("sct_model", "SCT_MODEL"), ("loss_curve", "IMAGE")],
    ),
    "VHS_LoadVideo": (
        [("meta_batch", "VHS_BatchManager"), ("vae", "VAE")],
        [
            ("IMAGE", "IMAGE"),
            ("frame_count", "INT"),
            ("audio", "AUDIO"),
            ("video_info", "VHS_VIDEOINFO"),
        ],
    ),
    "VHS_VideoCombine": (
        [
            ("images", "IMAGE"),
            ("audio", "AUDIO"),
            ("meta_batch", "VHS_BatchManager"),
            ("vae", "VAE"),
        ],
        [("Filenames", "VHS_FILENAMES")],
    ),
}


def build(spec: list[dict], title: str) -> dict:
    """spec: nodes with id, type, pos, widgets and links {input: (from_id, from_slot)}."""
    by_id = {n["id"]: n for n in spec}
    links = []
    for node in spec:
        for inp, (src, slot) in node.get("links", {}).items():
            kind = SOCKETS[by_id[src]["type"]][1][slot][1]
            links.append([len(links) + 1, src, slot, node["id"], inp, kind])
    nodes = []
    for order, node in enumerate(spec):
        ins, outs = SOCKETS[node["type"]]
        inputs = []
        for name, kind in ins:
            link = next((lk[0] for lk in links if lk[3] == node["id"] and lk[4] == name), None)
            inputs.append({"name": name, "type": kind, "link": link})
        outputs = []
        for slot, (name, kind) in enumerate(outs):
            ids = [lk[0] for lk in links if lk[1] == node["id"] and lk[2] == slot]
            outputs.append({"name": name, "type": kind, "links": ids, "slot_index": slot})
        nodes.append(
            {
                "id": node["id"],
                "type": node["type"],
                "pos": node["pos"],
                "size": node.get("size", [320, 200]),
                "flags": {},
                "order": order,
                "mode": 0,
                "inputs": inputs,
                "outputs": outputs,
                "properties": {"Node name for S&R": node["type"]},
                "widgets_values": node["widgets"],
            }
        )
    for link in links:  # the UI format stores the target slot index, not the name
        target = next(n for n in nodes if n["id"] == link[3])
        link[4] = [i["name"] for i in target["inputs"]].index(link[4])
    return {
        "last_node_id": max(by_id),
        "last_link_id": len(links),
        "nodes": nodes,
        "links": links,
        "groups": [],
        "config": {},
        "extra": {"ds": {"scale": 1, "offset": [0, 0]}, "info": {"title": title}},
        "version": 0.4,
    }


IMAGE = [
    {
        "id": 1,
        "type": "LoadSCTModel",
        "pos": [40, 40],
        "widgets": ["ccpl-open-art", "auto", "auto", "auto"],
    },
    {"id": 2, "type": "LoadImage", "pos": [40, 260], "widgets": ["ccpl_content.jpg", "image"]},
    {"id": 3, "type": "LoadImage", "pos": [40, 620], "widgets": ["ccpl_style.jpg", "image"]},
    {
        "id": 4,
        "type": "CCPLStylize",
        "pos": [420, 200],
        "widgets": [1.0, "none", 512, 0.5, 8, "model", "blend", "", 0.5, 0.4],
        "links": {"sct_model": (1, 0), "content": (2, 0), "style": (3, 0)},
    },
    {
        "id": 5,
        "type": "SaveImage",
        "pos": [800, 200],
        "widgets": ["ccpl_stylized"],
        "links": {"images": (4, 0)},
    },
]

VIDEO = [
    {
        "id": 1,
        "type": "LoadSCTModel",
        "pos": [40, 40],
        "widgets": ["ccpl-open-art", "auto", "auto", "auto"],
    },
    {
        "id": 2,
        "type": "VHS_LoadVideo",
        "pos": [40, 260],
        "size": [320, 400],
        "widgets": {
            "video": "ccpl_clip.mp4",
            "force_rate": 0,
            "custom_width": 0,
            "custom_height": 0,
            "frame_load_cap": 0,
            "skip_first_frames": 0,
            "select_every_nth": 1,
            "format": "None",
            "videopreview": {"hidden": False, "paused": False, "params": {}},
        },
    },
    {"id": 3, "type": "LoadImage", "pos": [40, 700], "widgets": ["ccpl_style.jpg", "image"]},
    {
        "id": 4,
        "type": "CCPLVideoFrameStylize",
        "pos": [420, 200],
        "widgets": [1.0, "none", 512, "per-frame", "model", 0.0, 0.95, 0.0, 0.5, 0.4],
        "links": {"sct_model": (1, 0), "frames": (2, 0), "style": (3, 0)},
    },
    {
        "id": 5,
        "type": "VHS_VideoCombine",
        "pos": [800, 200],
        "size": [320, 500],
        "widgets": {
            "frame_rate": 8,
            "loop_count": 0,
            "filename_prefix": "ccpl_video",
            "format": "video/h264-mp4",
            "pix_fmt": "yuv420p",
            "crf": 19,
            "save_metadata": True,
            "trim_to_audio": False,
            "pingpong": False,
            "save_output": True,
            "videopreview": {"hidden": False, "paused": False, "params": {}},
        },
        "links": {"images": (4, 0)},
    },
]


def _meta_batch_video() -> list[dict]:
    """The video workflow for long clips: VHS meta-batch windows of 4 frames (a demo size; use
    e.g. 64 for real clips) that continue each other's temporal blending."""
    spec = json.loads(json.dumps(VIDEO))
    by_id = {n["id"]: n for n in spec}
    spec.append(
        {"id": 6, "type": "VHS_BatchManager", "pos": [40, 1100], "size": [320, 80], "widgets": [4]}
    )
    by_id[2]["links"] = {"meta_batch": (6, 0)}
    by_id[4]["links"]["meta_batch"] = (6, 0)
    by_id[5]["links"]["meta_batch"] = (6, 0)
    by_id[5]["widgets"]["filename_prefix"] = "ccpl_video_windows"
    return spec


FINETUNE = [
    {
        "id": 1,
        "type": "LoadSCTModel",
        "pos": [40, 40],
        "widgets": ["ccpl-open-art", "auto", "auto", "auto"],
    },
    {"id": 2, "type": "LoadImage", "pos": [40, 260], "widgets": ["ccpl_style.jpg", "image"]},
    {"id": 3, "type": "LoadImage", "pos": [40, 620], "widgets": ["ccpl_content.jpg", "image"]},
    {"id": 4, "type": "LoadImage", "pos": [40, 980], "widgets": ["ccpl_content2.jpg", "image"]},
    {
        "id": 5,
        "type": "ImageBatch",
        "pos": [420, 700],
        "widgets": [],
        "links": {"image1": (3, 0), "image2": (4, 0)},
    },
    {
        "id": 6,
        "type": "CCPLFinetune",
        "pos": [420, 200],
        "size": [320, 420],
        "widgets": [4, 0.0001, 1.0, 10.0, 5.0, 128, 2, 0, "fixed", "ccpl_finetuned"],
        "links": {"sct_model": (1, 0), "style": (2, 0), "content": (5, 0)},
    },
    {
        "id": 7,
        "type": "CCPLStylize",
        "pos": [800, 200],
        "widgets": [1.0, "none", 512, 0.5, 8, "model", "blend", "", 0.5, 0.4],
        "links": {"sct_model": (6, 0), "content": (3, 0), "style": (2, 0)},
    },
    {
        "id": 8,
        "type": "SaveImage",
        "pos": [1180, 200],
        "widgets": ["ccpl_finetuned"],
        "links": {"images": (7, 0)},
    },
    {
        "id": 9,
        "type": "SaveImage",
        "pos": [1180, 600],
        "widgets": ["ccpl_loss_curve"],
        "links": {"images": (6, 1)},
    },
]


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, spec, title in (
        ("ccpl_image_stylize", IMAGE, "CCPL: stylise an image"),
        ("ccpl_video_stylize", VIDEO, "CCPL: stylise a video (VHS)"),
        ("ccpl_video_meta_batch", _meta_batch_video(), "CCPL: stylise a long video in windows"),
        ("ccpl_finetune", FINETUNE, "CCPL: finetune on your style"),
    ):
        (OUT / f"{name}.json").write_text(json.dumps(build(spec, title), indent=2) + "\n")
        print(OUT / f"{name}.json")


if __name__ == "__main__":
    main()
