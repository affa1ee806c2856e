"""Node adapters against a small fake of ComfyUI's modules (the real ComfyUI: test_comfyui.py)."""

from __future__ import annotations

import gc
import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import WIDGET_TYPES, image, pan_frames, write_folder

from ccpl_core.models.untrained import random_sctnet
from ccpl_core.weights.files import save_sctnet

ROOT = Path(__file__).resolve().parents[1]


def comfy_image(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1).contiguous()


def node(pack, node_id):
    return pack.NODE_CLASS_MAPPINGS[node_id]()


def test_mappings_and_tooltips(pack):
    assert set(pack.NODE_CLASS_MAPPINGS) == {
        "LoadSCTModel",
        "CCPLStylize",
        "CCPLVideoFrameStylize",
        "CCPLVideoStylize",
        "CCPLFinetune",
        "CCPLTemporalMetrics",
    }
    assert set(pack.NODE_DISPLAY_NAME_MAPPINGS) == set(pack.NODE_CLASS_MAPPINGS)
    for node_id, cls in pack.NODE_CLASS_MAPPINGS.items():
        assert len(cls.OUTPUT_TOOLTIPS) == len(cls.RETURN_TYPES) and all(cls.OUTPUT_TOOLTIPS)
        page = ROOT / "web/docs" / f"{node_id}.md"
        assert page.stat().st_size > 200  # help panel page
        for picture in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text()):
            assert (page.parent / picture).is_file(), f"{page.name}: {picture} is missing"
        spec = cls.INPUT_TYPES()
        assert set(spec.get("hidden", {}).values()) <= {"UNIQUE_ID"}
        for kind, group in spec.items():
            if kind == "hidden":
                continue
            for name, value in group.items():
                assert len(value) == 2 and value[1].get("tooltip"), f"{cls.__name__}.{name}"
        assert callable(getattr(cls(), cls.FUNCTION))
        aliases = cls.SEARCH_ALIASES
        assert aliases and all(isinstance(a, str) and a == a.lower() for a in aliases), node_id


def test_style_transfer_and_deflicker_searches_find_the_nodes(pack):
    """What a user types finds the nodes: by name (every frontend) or by alias (newer ones)."""

    def found(words: str) -> set[str]:
        return {
            node_id
            for node_id, cls in pack.NODE_CLASS_MAPPINGS.items()
            if words in pack.NODE_DISPLAY_NAME_MAPPINGS[node_id].lower()
            or words in cls.SEARCH_ALIASES
        }

    by_name = {
        n for n, name in pack.NODE_DISPLAY_NAME_MAPPINGS.items() if "style transfer" in name.lower()
    }
    assert by_name == set(pack.NODE_CLASS_MAPPINGS) - {"CCPLTemporalMetrics"}
    assert found("style transfer") == set(pack.NODE_CLASS_MAPPINGS)
    assert {"CCPLVideoStylize", "CCPLVideoFrameStylize"} <= found("stylize video")
    assert "CCPLTemporalMetrics" in found("deflicker")
    assert {"CCPLStylize", "CCPLVideoStylize"} <= found("neural style")


def test_root_init_without_comfyui_registers_nothing():
    spec = importlib.util.spec_from_file_location(
        "ccpl_pack_plain", ROOT / "__init__.py", submodule_search_locations=[str(ROOT)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules.pop("folder_paths", None)
    spec.loader.exec_module(module)
    assert module.NODE_CLASS_MAPPINGS == {}


def test_loader_lists_manifest_and_folder_models(pack, tiny_model):
    names = pack.NODE_CLASS_MAPPINGS["LoadSCTModel"].INPUT_TYPES()["required"]["model_name"][0]
    manifest = json.loads((ROOT / "weights_manifest.json").read_text())
    # the bundled default comes first: ComfyUI preselects it in a freshly added node
    assert names[0] == manifest["default"]["art"]
    assert "tiny_art.safetensors" in names
    # an entry that is neither present nor hosted would only fail when loaded: it is hidden
    assert "ccpl-art" not in names
    for spec in (
        manifest["models"]["ccpl-art"]["files"] + manifest["models"]["vgg-normalised"]["files"]
    ):
        (pack.sct_dir / spec["name"]).write_bytes(b"")
    names = pack.NODE_CLASS_MAPPINGS["LoadSCTModel"].INPUT_TYPES()["required"]["model_name"][0]
    assert "ccpl-art" in names  # present (it is verified when loaded)
    handle, net = tiny_model
    assert handle.mode == "art" and handle.net is not net
    assert torch.equal(
        handle.net.state_dict()["decoder.1.weight"], net.state_dict()["decoder.1.weight"]
    )


def test_example_inputs_are_installed_once_and_never_replaced(pack):
    from ccpl_pack.nodes.example_inputs import INPUTS, install_example_inputs

    folder = Path(pack.folder_paths.get_input_directory())
    # loading the pack copied every input the example workflows name
    names = set()
    for wf in (ROOT / "example_workflows").glob("*.json"):
        for n in json.loads(wf.read_text())["nodes"]:
            values = n.get("widgets_values", [])
            values = values.values() if isinstance(values, dict) else values
            names |= {v for v in values if isinstance(v, str) and v.endswith((".jpg", ".mp4"))}
    assert names and names <= set(INPUTS)
    assert all((folder / n).stat().st_size > 1000 for n in names)
    (folder / "ccpl_style.jpg").write_bytes(b"the user's own file")
    assert install_example_inputs() == []
    assert (folder / "ccpl_style.jpg").read_bytes() == b"the user's own file"


def test_loader_errors(pack, tiny_model):
    loader = node(pack, "LoadSCTModel")
    with pytest.raises(Exception, match=r"neither in weights_manifest.json nor a file"):
        loader.load("nope.safetensors", "auto", "auto", "auto")
    with pytest.raises(Exception, match="art model but mode 'photo'"):
        loader.load("tiny_art.safetensors", "photo", "auto", "auto")
    with pytest.raises(Exception, match=r"missing.*ccpl weights convert"):
        loader.load("ccpl-art", "auto", "auto", "auto")  # offline, not present: manual steps


def test_stylize_matches_core_and_reports_progress(pack, tiny_model):
    handle, net = tiny_model
    content = torch.cat([image("astronaut", 80), image("chelsea", 80)])
    style = image("hubble")
    with torch.inference_mode():
        (out,) = node(pack, "CCPLStylize").stylize(
            handle, comfy_image(content), comfy_image(style), 0.8, "none", 0
        )
    assert out.shape == (2, 80, 80, 3) and out.dtype == torch.float32
    from ccpl_core import Stylizer

    ref = Stylizer(net).stylize(content, style, alpha=0.8)
    assert torch.allclose(out, comfy_image(ref), atol=1e-5)
    assert pack.cu.UPDATES and pack.cu.UPDATES[-1][0] == pack.cu.UPDATES[-1][1]


def test_stylize_options_and_second_style(pack, tiny_model):
    handle, _ = tiny_model
    content = comfy_image(image("astronaut", 64))
    s1, s2 = comfy_image(image("hubble")), comfy_image(image("rocket"))
    st = node(pack, "CCPLStylize")
    with torch.inference_mode():
        (a,) = st.stylize(handle, content, s1, 1.0, "none", 0)
        (b,) = st.stylize(handle, content, s1, 1.0, "none", 0, style_2=s2, style_2_weight=0.0)
        (c,) = st.stylize(handle, content, s1, 1.0, "none", 0, style_2=s2, style_2_weight=1.0)
        mask = torch.zeros(1, 64, 64)
        (d,) = st.stylize(handle, content, s1, 1.0, "luminance", 0, mask=mask, mask_feather=0)
    assert torch.allclose(a, b, atol=1e-5) and not torch.allclose(a, c, atol=1e-3)
    assert torch.allclose(d, content, atol=1e-6)  # mask 0 everywhere keeps the content


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"mask": torch.ones(1, 32, 32)}, "does not match the content"),
        ({"mask": torch.ones(2, 64, 64)}, "2 masks for 3"),
        ({"content": torch.zeros(0, 64, 64, 3)}, "empty"),
        ({"style": torch.rand(1, 20, 20, 3)}, "at least 33x33"),
        ({"outside_style": torch.rand(1, 64, 64, 3)}, "needs a mask"),
    ],
)
def test_stylize_readable_errors(pack, tiny_model, kwargs, match):
    handle, _ = tiny_model
    args = {
        "sct_model": handle,
        "content": torch.rand(3, 64, 64, 3),
        "style": comfy_image(image("hubble")),
        "alpha": 1.0,
        "preserve_color": "none",
        "style_size": 0,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match), torch.inference_mode():
        node(pack, "CCPLStylize").stylize(**args)


def test_stylize_interrupt(pack, tiny_model):
    handle, _ = tiny_model
    pack.mm.INTERRUPT["flag"] = True
    with pytest.raises(pack.mm.InterruptProcessingException), torch.inference_mode():
        node(pack, "CCPLStylize").stylize(
            handle, torch.rand(1, 64, 64, 3), comfy_image(image("hubble")), 1.0, "none", 0
        )


def test_video_chunked_equals_whole_and_style_cached(pack, tiny_model, monkeypatch):
    handle, _ = tiny_model
    frames = comfy_image(torch.cat([image(n, 48) for n in ("astronaut", "chelsea", "rocket")] * 2))
    style = comfy_image(image("hubble"))
    vid = node(pack, "CCPLVideoFrameStylize")
    cache = pack.nodes.video._STYLE_CACHE
    with torch.inference_mode():
        (whole,) = vid.stylize_frames(handle, frames, style, 1.0, "none", 0, "per-frame")
        first = next(iter(cache.values()))
        monkeypatch.setenv("CCPL_MEMORY_BUDGET_MB", str(2 * 48 * 48 * 700 / 2**20))
        (chunked,) = vid.stylize_frames(handle, frames, style, 1.0, "none", 0, "per-frame")
        assert next(iter(cache.values())) is first  # the next window reuses the encoded style
        (clip,) = vid.stylize_frames(handle, frames, style, 1.0, "none", 0, "clip")
    assert torch.allclose(whole, chunked, atol=1e-5)
    assert not torch.allclose(clip, whole, atol=1e-4)  # clip statistics change the result
    assert pack.cu.UPDATES[-1] == (6, 6)  # progress counts frames
    # another model (same style) never gets this model's prepared style, and a model that is
    # gone takes its entry along (an id() can be reused by the next model loaded)
    other = pack.nodes.handle.SCTModelHandle(random_sctnet("art", seed=5), "other")
    with torch.inference_mode():
        vid.stylize_frames(other, frames[:1], style, 1.0, "none", 0, "per-frame")
    assert list(cache.keys()) == [other.net]
    del other
    gc.collect()
    assert len(cache) == 0


def test_video_clip_statistics_equal_core(pack, tiny_model):
    handle, net = tiny_model
    frames = torch.cat([image(n, 48) for n in ("astronaut", "chelsea")])
    from ccpl_core import Stylizer

    st = Stylizer(net)
    stats = st.content_statistics(frames)
    # palette 0: a clip keeps one colour map (from its first frame), images one each
    ref = st.stylize(frames, image("hubble"), content_stats=stats, palette=0.0)
    with torch.inference_mode():
        (out,) = node(pack, "CCPLVideoFrameStylize").stylize_frames(
            handle,
            comfy_image(frames),
            comfy_image(image("hubble")),
            1.0,
            "none",
            0,
            "clip",
            feature_blend=0.0,
            palette=0.0,
        )
    # within a quarter of an 8-bit level: the node may split the clip into other chunks than
    # stylize (free memory), and batched products differ at float level (~1e-4 after decoding);
    # wrong statistics would move the frames by orders of magnitude more
    assert torch.allclose(out, comfy_image(ref), atol=1e-3)


def test_finetune_node_saves_new_model_and_curve(pack, tiny_model):
    handle, _ = tiny_model
    before = {k: v.clone() for k, v in handle.net.state_dict().items()}
    ft = node(pack, "CCPLFinetune")
    with torch.inference_mode():
        res = ft.finetune(
            handle,
            comfy_image(image("hubble", 96)),
            comfy_image(torch.cat([image("astronaut", 96), image("chelsea", 96)])),
            3,
            1e-4,
            1.0,
            10.0,
            5.0,
            64,
            1,
            0,
            "my style",
        )
    new, curve = res["result"]
    assert new is not handle and new.net is not handle.net
    assert all(torch.equal(before[k], v) for k, v in handle.net.state_dict().items())
    saved = list(pack.sct_dir.glob("my_style_*.safetensors"))
    assert len(saved) == 1
    names = pack.NODE_CLASS_MAPPINGS["LoadSCTModel"].INPUT_TYPES()["required"]["model_name"][0]
    assert saved[0].name in names  # listed by the loader at once
    assert curve.shape[0] == 1 and curve.shape[-1] == 3
    # the curve is shown on the node (core shows ui.images, not ui.text)
    shown = res["ui"]["images"]
    temp = Path(pack.folder_paths.get_temp_directory())
    assert len(shown) == 1 and shown[0]["type"] == "temp"
    assert (temp / shown[0]["filename"]).stat().st_size > 1000
    assert saved[0].name in res["ui"]["text"][0]
    # the seed keeps its value between runs, so a second Queue does not retrain
    seed = ft.INPUT_TYPES()["required"]["seed"][1]
    assert seed["control_after_generate"] == "fixed"
    with torch.inference_mode():
        (loaded,) = node(pack, "LoadSCTModel").load(saved[0].name, "auto", "auto", "fp32")
    assert loaded.net.info["steps"] == "3"


def test_finetune_node_interrupt_keeps_last_state(pack, tiny_model):
    handle, _ = tiny_model
    pack.mm.INTERRUPT["after_checks"] = 2
    with pytest.raises(pack.mm.InterruptProcessingException), torch.inference_mode():
        node(pack, "CCPLFinetune").finetune(
            handle,
            comfy_image(image("hubble", 96)),
            comfy_image(image("astronaut", 96)),
            10,
            1e-4,
            1.0,
            10.0,
            5.0,
            64,
            1,
            0,
            "partial",
        )
    saved = list(pack.sct_dir.glob("partial_*.safetensors"))
    assert len(saved) == 1
    from ccpl_core import load_model

    assert load_model(saved[0]).info["steps"] == "2"  # interrupted after step 2 completed


@pytest.mark.parametrize("kw,match", [({"steps": 0}, "steps"), ({"learning_rate": 0.0}, "`lr`")])
def test_finetune_node_bad_input(pack, tiny_model, kw, match):
    handle, _ = tiny_model
    args = dict(
        sct_model=handle,
        style=comfy_image(image("hubble", 96)),
        content=comfy_image(image("astronaut", 96)),
        steps=2,
        learning_rate=1e-4,
        content_weight=1.0,
        style_weight=10.0,
        ccpl_weight=5.0,
        crop_size=64,
        batch_size=1,
        seed=0,
        save_name="",
    )
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        node(pack, "CCPLFinetune").finetune(**args)


@pytest.mark.parametrize(
    "option", [{"flow_blend": 0.8}, {"feature_blend": 0.9}, {"detail_blend": 0.8}]
)
def test_video_temporal_blend_reduces_warping_error(pack, tiny_model, option):
    from ccpl_core.video.metrics import warping_error

    handle, _ = tiny_model
    raw = pan_frames(6)
    frames = torch.from_numpy(np.stack(raw)).float() / 255
    style = comfy_image(image("hubble"))
    vid = node(pack, "CCPLVideoFrameStylize")
    with torch.inference_mode():
        off = {"flow_blend": 0.0, "feature_blend": 0.0}
        (plain,) = vid.stylize_frames(handle, frames, style, 1.0, "none", 0, "clip", **off)
        (blend,) = vid.stylize_frames(
            handle, frames, style, 1.0, "none", 0, "clip", **{**off, **option}
        )
    as_u8 = lambda t: [(f.numpy() * 255).round().astype(np.uint8) for f in t]  # noqa: E731
    assert warping_error(raw, as_u8(blend)) < 0.8 * warping_error(raw, as_u8(plain))


def test_video_feature_blend_equals_core_streaming(pack, tiny_model, monkeypatch, tmp_path):
    """The node (whole clip, chunked by the memory budget) matches the core's streaming engine."""
    from PIL import Image

    from ccpl_core import Stylizer
    from ccpl_core.video import FrameSink, FrameSource, VideoOptions, stylize_video

    handle, net = tiny_model
    raw = pan_frames(5)
    monkeypatch.setenv("CCPL_MEMORY_BUDGET_MB", str(2 * 96 * 128 * 700 / 2**20))
    with torch.inference_mode():
        (out,) = node(pack, "CCPLVideoFrameStylize").stylize_frames(
            handle,
            torch.from_numpy(np.stack(raw)).float() / 255,
            comfy_image(image("hubble")),
            1.0,
            "none",
            0,
            "per-frame",
            feature_blend=0.9,
        )
    st = Stylizer(net)
    src = FrameSource(write_folder(raw, tmp_path / "in"))
    opts = VideoOptions(statistics="per-frame", feature_blend=0.9, batch=3)
    sink = FrameSink(tmp_path / "out", src.info)
    stylize_video(st, src, sink, st.prepare_style(image("hubble")), opts)
    ref = np.stack([np.asarray(Image.open(p)) for p in sorted((tmp_path / "out").glob("*.png"))])
    got = (out.numpy() * 255).round().astype(np.uint8)
    assert got.shape == ref.shape and np.abs(got.astype(int) - ref.astype(int)).max() <= 1


def test_example_workflows_match_node_widgets(pack):
    """Saved workflows map widget values by position: every example must fit the node inputs."""
    import json

    for path in sorted((Path(__file__).resolve().parents[1] / "example_workflows").glob("*.json")):
        for n in json.loads(path.read_text())["nodes"]:
            cls = pack.NODE_CLASS_MAPPINGS.get(n["type"])
            if cls is None:
                continue
            spec = cls.INPUT_TYPES()
            widgets = [
                name
                for group in ("required", "optional")
                for name, (kind, _) in spec.get(group, {}).items()
                if isinstance(kind, (list, tuple)) or kind in WIDGET_TYPES
            ]
            values = [v for v in n["widgets_values"] if v not in ("fixed", "randomize")]
            assert len(values) == len(widgets), f"{path.name}: {n['type']} {values} vs {widgets}"


class _BatchManager:
    """The part of VideoHelperSuite's BatchManager the node relies on (the real one is exercised
    by tests/test_comfyui.py): ``inputs`` is replaced by a new dict whenever the manager resets."""

    def __init__(self) -> None:
        self.inputs: dict = {}

    def reset(self) -> None:
        self.inputs = {}


def test_video_meta_batch_windows_continue_the_clip(pack, tiny_model):
    handle, _ = tiny_model
    frames = torch.from_numpy(np.stack(pan_frames(8))).float() / 255
    style = comfy_image(image("hubble"))
    args = (handle, None, style, 1.0, "none", 0, "per-frame")
    vid = node(pack, "CCPLVideoFrameStylize")

    def run(clip, **kw):
        with torch.inference_mode():
            return vid.stylize_frames(*args[:1], clip, *args[2:], feature_blend=0.9, **kw)[0]

    whole = run(frames)
    manager = _BatchManager()
    windows = [run(frames[i : i + 3], meta_batch=manager, unique_id="7") for i in (0, 3, 6)]
    # windows of one run continue the blending: identical to the whole clip in one call
    assert torch.allclose(torch.cat(windows), whole, atol=1e-5)
    # without the manager each window starts afresh: its first frame differs
    alone = run(frames[3:6])
    assert (alone[0] - whole[3]).abs().max() > 1e-3
    assert torch.allclose(alone[1:], run(frames[3:6])[1:], atol=1e-6)
    # a new run (the manager reset) starts afresh, even with the same node and settings
    manager.reset()
    again = run(frames[3:6], meta_batch=manager, unique_id="7")
    assert torch.allclose(again, alone, atol=1e-6)
    # another node of the same run keeps its own state
    other = run(frames[0:3], meta_batch=manager, unique_id="8")
    assert torch.allclose(other, whole[0:3], atol=1e-5)
    # changed settings between windows start afresh rather than mixing two configurations
    changed = vid.stylize_frames(
        handle,
        frames[6:8],
        style,
        0.5,
        "none",
        0,
        "per-frame",
        feature_blend=0.9,
        meta_batch=manager,
        unique_id="8",
    )[0]
    fresh = vid.stylize_frames(
        handle, frames[6:8], style, 0.5, "none", 0, "per-frame", feature_blend=0.9
    )[0]
    assert torch.allclose(changed, fresh, atol=1e-6)
    with pytest.raises(ValueError, match="meta_batch: expected VideoHelperSuite"):
        run(frames[0:2], meta_batch=object(), unique_id="9")


def test_video_running_statistics_carry_on_across_windows(pack, tiny_model):
    from ccpl_core import Stylizer
    from ccpl_core.video import VideoOptions
    from ccpl_core.video.engine import ClipStylizer

    handle, _ = tiny_model
    frames = torch.from_numpy(np.stack(pan_frames(6))).float() / 255
    style = comfy_image(image("hubble"))
    vid = node(pack, "CCPLVideoFrameStylize")
    manager = _BatchManager()

    def run(clip, **kw):
        with torch.inference_mode():
            out = vid.stylize_frames(handle, clip, style, 1.0, "none", 0, "running", **kw)
        return out[0]

    windows = [run(frames[i : i + 3], meta_batch=manager, unique_id="5") for i in (0, 3)]
    # the core's clip stylizer fed the same windows: the statistics of all frames so far
    st = Stylizer(handle.net)
    prepared = st.prepare_style(style.permute(0, 3, 1, 2))
    clip = ClipStylizer(prepared, VideoOptions(statistics="running"))
    x = frames.permute(0, 3, 1, 2)
    expected = torch.cat([clip(st, x[:3]), clip(st, x[3:])]).permute(0, 2, 3, 1)
    assert torch.allclose(torch.cat(windows), expected, atol=1e-4)
    # the second window alone sees only its own frames: a different normalisation
    alone = run(frames[3:6])
    assert (alone - windows[1]).abs().max() > 1e-3


# ------------------------------------------------------------------ memory and devices in ComfyUI
GIB = 2**30
#: A 4K frame (3840 x 2160) as ComfyUI's old request sized it: whole float32 frames, 700 B/pixel.
FRAME_4K = 3840 * 2160 * 700


class _Stop(Exception):
    """Ends a node run once the model would move (the request is what the test is about)."""


@pytest.fixture()
def gpu_like(pack, monkeypatch):
    """ComfyUI reports an accelerator ("meta": nothing is computed there). The Stylizer is spied:
    its construction is where the model's copies move to the device, so it records that moment
    (and what it was given) in the call log, then builds itself on the CPU to run the test."""
    pack.mm.STATE["device"] = torch.device("meta")
    made: list = []
    real = pack.nodes.stylize.Stylizer

    class Spy(real):
        stop = False

        def __init__(self, model, device="auto", precision="fp32", memory_budget_bytes=None):
            pack.mm.CALLS.append(("model moves", device))
            made.append({"device": device, "precision": precision, "budget": memory_budget_bytes})
            if Spy.stop:
                raise _Stop()
            super().__init__(model, "cpu", precision, memory_budget_bytes)

    monkeypatch.setattr(pack.nodes.stylize, "Stylizer", Spy)
    return Spy, made


def _events(pack, names=("free_memory", "model moves", "train", "soft_empty_cache")):
    return [c[0] for c in pack.mm.CALLS if c[0] in names]


def _request(pack) -> int:
    (freed,) = [c for c in pack.mm.CALLS if c[0] == "free_memory"]
    assert freed[2] == pack.mm.STATE["device"]
    return freed[1]


def test_memory_is_asked_before_the_model_moves_and_given_back(pack, tiny_model, gpu_like):
    from ccpl_core.planner import model_bytes

    handle, _ = tiny_model
    content, style = comfy_image(image("astronaut", 64)), comfy_image(image("hubble"))
    frames = comfy_image(torch.cat([image("astronaut", 48), image("chelsea", 48)]))
    with torch.inference_mode():
        node(pack, "CCPLStylize").stylize(handle, content, style, 1.0, "none", 0)
        assert _events(pack) == ["free_memory", "model moves", "soft_empty_cache"]
        weights = model_bytes(handle.net, torch.float32)
        assert _request(pack) >= weights + pack.mm.STATE["reserved"]
        pack.mm.CALLS.clear()
        node(pack, "CCPLVideoFrameStylize").stylize_frames(
            handle, frames, style, 1.0, "none", 0, "per-frame"
        )
        assert _events(pack) == ["free_memory", "model moves", "soft_empty_cache"]
        # an error still gives the memory back
        pack.mm.CALLS.clear()
        pack.mm.INTERRUPT["flag"] = True
        with pytest.raises(pack.mm.InterruptProcessingException):
            node(pack, "CCPLStylize").stylize(handle, content, style, 1.0, "none", 0)
        assert _events(pack) == ["free_memory", "model moves", "soft_empty_cache"]
    assert gpu_like[1][0]["device"] == torch.device("meta")  # ComfyUI's device, as given
    # the handle's model never left the CPU (each run works on its own device copies)
    assert {t.device.type for t in handle.net.state_dict().values()} == {"cpu"}


@pytest.mark.parametrize("node_id", ["CCPLStylize", "CCPLVideoFrameStylize"])
def test_request_is_the_model_plus_one_step_not_whole_frames(pack, tiny_model, gpu_like, node_id):
    """A 4K batch beside a loaded diffusion model (1 GiB free) asks for the model and one tile,
    not for four whole float32 frames (~23 GB, which would evict the diffusion model)."""
    from ccpl_core.planner import model_bytes

    spy, made = gpu_like
    spy.stop = True
    handle, _ = tiny_model
    pack.mm.STATE["free"] = 1 * GIB
    frames = torch.zeros(1, 1, 1, 3).expand(4, 2160, 3840, 3)  # a view: no 400 MB allocated
    style = comfy_image(image("hubble"))
    with pytest.raises(_Stop), torch.inference_mode():
        if node_id == "CCPLStylize":
            node(pack, node_id).stylize(handle, frames, style, 1.0, "none", 0)
        else:
            node(pack, node_id).stylize_frames(handle, frames, style, 1.0, "none", 0, "per-frame")
    asked = _request(pack)
    weights = model_bytes(handle.net, torch.float32)
    assert weights + pack.mm.STATE["reserved"] < asked < 4 * FRAME_4K / 5
    # the core plans its tiles to the budget the request was sized from: ComfyUI's own minimum
    # inference memory here (the free memory minus the reserve is less)
    floor = pack.mm.minimum_inference_memory() - pack.mm.STATE["reserved"]
    assert made[0]["budget"] == int(floor)
    # one tile within the budget, plus one frame's whole-image buffers (input, features, output)
    assert asked < weights + made[0]["budget"] + 3840 * 2160 * 200 + pack.mm.STATE["reserved"]


def test_budget_uses_free_memory_and_honours_reserved_memory(
    pack, tiny_model, gpu_like, monkeypatch
):
    from ccpl_pack.nodes import comfy_bridge as cb

    from ccpl_core.planner import model_bytes

    spy, made = gpu_like
    spy.stop = True
    handle, _ = tiny_model
    meta, weights = torch.device("meta"), 10**8
    pack.mm.STATE["free"] = 10 * GIB
    default = cb.memory_budget_for(meta, weights)
    assert default == int(0.8 * (10 * GIB - 400 * 2**20 - weights))
    pack.mm.STATE["reserved"] = 4 * GIB  # --reserve-vram 4
    assert cb.memory_budget_for(meta, weights) == int(0.8 * (6 * GIB - weights))
    pack.mm.STATE["free"] = 1 * GIB  # less than the reserve: ComfyUI's minimum, freed for us
    assert cb.memory_budget_for(meta, weights) == int(0.8 * GIB)
    assert cb.memory_budget_for(torch.device("cpu"), weights) <= 1.5 * GIB  # the core's policy
    # the request to ComfyUI keeps the reserve free on top of what the run uses
    pack.mm.STATE["free"] = 10 * GIB
    with pytest.raises(_Stop), torch.inference_mode():
        node(pack, "CCPLStylize").stylize(
            handle, comfy_image(image("astronaut", 64)), comfy_image(image("hubble")), 1, "none", 0
        )
    assert _request(pack) > 4 * GIB
    assert made[-1]["budget"] == int(0.8 * (6 * GIB - model_bytes(handle.net, torch.float32)))
    # an explicit CCPL_MEMORY_BUDGET_MB still wins
    monkeypatch.setenv("CCPL_MEMORY_BUDGET_MB", "100")
    assert cb.memory_budget_for(meta, weights) == 100 * 2**20


def test_auto_precision_follows_comfyui_flags(pack, tiny_model, gpu_like):
    from dataclasses import replace

    from ccpl_pack.nodes import comfy_bridge as cb

    spy, made = gpu_like
    spy.stop = True
    meta, cpu, args = torch.device("meta"), torch.device("cpu"), pack.cli_args
    assert cb.run_precision(meta, "auto") == "bf16"  # bf16 first where ComfyUI allows it
    assert cb.run_precision(meta, "fp16") == "fp16"  # an explicit choice is kept
    assert cb.run_precision(cpu, "auto") == "auto"  # the core's CPU policy
    pack.mm.STATE["bf16"] = False
    assert cb.run_precision(meta, "auto") == "fp16"
    pack.mm.STATE["fp16"] = False
    assert cb.run_precision(meta, "auto") == "fp32"
    pack.mm.STATE["bf16"] = pack.mm.STATE["fp16"] = True
    args.force_fp16 = True
    assert cb.run_precision(meta, "auto") == "fp16"
    args.force_fp16, args.force_fp32 = False, True
    assert cb.run_precision(meta, "auto") == "fp32"
    assert cb.run_precision(cpu, "auto") == "fp32"
    assert cb.run_precision(meta, "bf16") == "bf16"
    # the nodes resolve the loader's "auto" this way before the model moves
    handle = replace(tiny_model[0], precision="auto")
    with pytest.raises(_Stop), torch.inference_mode():
        node(pack, "CCPLStylize").stylize(
            handle, comfy_image(image("astronaut", 64)), comfy_image(image("hubble")), 1, "none", 0
        )
    assert made[-1]["precision"] == "fp32"
    args.force_fp32 = False
    with pytest.raises(_Stop), torch.inference_mode():
        node(pack, "CCPLVideoFrameStylize").stylize_frames(
            handle,
            comfy_image(image("astronaut", 64)),
            comfy_image(image("hubble")),
            1,
            "none",
            0,
            "per-frame",
        )
    assert made[-1]["precision"] == "bf16"
    # each request was sized at its run dtype: bf16 weights and activations are smaller
    fp32, bf16 = [c[1] for c in pack.mm.CALLS if c[0] == "free_memory"]
    assert bf16 < fp32


def _pan(n: int) -> torch.Tensor:
    """A camera pan over a real photo as a ComfyUI IMAGE batch (no video libraries needed)."""
    from helpers import DATA
    from PIL import Image

    photo = np.asarray(Image.open(DATA / "astronaut.jpg").convert("RGB"))
    frames = [photo[20:116, 10 + 3 * k : 138 + 3 * k] for k in range(n)]
    return torch.from_numpy(np.stack(frames)).float() / 255


def _tensors_and_modules(obj, seen=None) -> tuple[list[torch.Tensor], list[object]]:
    """Every tensor and every module (or Stylizer) reachable from ``obj`` through attributes,
    dataclass fields, tuples, lists and dicts."""
    from ccpl_core.pipeline import Stylizer

    seen = set() if seen is None else seen
    tensors, modules = [], []
    if id(obj) in seen or isinstance(obj, str | bytes | int | float | np.ndarray | type(None)):
        return tensors, modules
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        return [obj], modules
    if isinstance(obj, torch.nn.Module | Stylizer):
        return tensors, [obj]
    if isinstance(obj, dict):
        children = list(obj.values())
    elif isinstance(obj, tuple | list):
        children = list(obj)
    else:
        children = list(getattr(obj, "__dict__", {}).values())
    for child in children:
        t, m = _tensors_and_modules(child, seen)
        tensors += t
        modules += m
    return tensors, modules


def test_window_states_are_parked_on_the_cpu_without_a_model(pack, tiny_model):
    handle, _ = tiny_model
    frames = _pan(4)
    style = comfy_image(image("hubble"))
    vid = node(pack, "CCPLVideoFrameStylize")
    manager = _BatchManager()
    with torch.inference_mode():
        for i in (0, 2):
            vid.stylize_frames(
                handle,
                frames[i : i + 2],
                style,
                1.0,
                "none",
                0,
                "per-frame",
                feature_blend=0.9,
                detail_blend=0.2,
                meta_batch=manager,
                unique_id="3",
            )
    video = pack.nodes.video
    state = video._WINDOWS["3"]
    tensors, modules = _tensors_and_modules(state)
    assert modules == []  # no model copy (it would hold device memory ComfyUI cannot unload)
    assert tensors and {t.device.type for t in tensors} == {"cpu"}
    cached, _ = _tensors_and_modules(dict(video._STYLE_CACHE))
    assert cached and {t.device.type for t in cached} == {"cpu"}
    # parking reaches every tensor the state holds (shown by parking it on another device)
    state[2].to(torch.device("meta"))
    moved, _ = _tensors_and_modules(state)
    assert {t.device.type for t in moved} == {"meta"}


def test_finetune_asks_for_memory_first_and_gives_it_back(pack, tiny_model, monkeypatch):
    from ccpl_pack.ccpl_core.training.finetune import training_bytes

    handle, _ = tiny_model
    pack.mm.STATE["device"] = torch.device("meta")
    real = pack.nodes.finetune.finetune
    seen = {}

    def spy(*args, device, precision, **kw):
        pack.mm.CALLS.append(("train", device))
        seen["precision"] = precision
        return real(*args, device="cpu", precision=precision, **kw)

    monkeypatch.setattr(pack.nodes.finetune, "finetune", spy)
    with torch.inference_mode():
        node(pack, "CCPLFinetune").finetune(
            handle,
            comfy_image(image("hubble", 96)),
            comfy_image(image("astronaut", 96)),
            1,
            1e-4,
            1.0,
            10.0,
            5.0,
            64,
            2,
            0,
            "",
        )
    assert _events(pack) == ["free_memory", "train", "soft_empty_cache"]
    assert _request(pack) == training_bytes(handle.net, 2, 64) + pack.mm.STATE["reserved"]
    assert training_bytes(handle.net, 2, 64) > 4 * sum(p.numel() for p in handle.net.parameters())
    assert seen["precision"] == "fp32"  # the handle's explicit choice


def test_model_list_ignores_download_staging_leftovers(pack, tiny_model):
    from ccpl_core.weights.hub import STAGING

    (pack.sct_dir / STAGING).mkdir()
    save_sctnet(tiny_model[1], pack.sct_dir / STAGING / "half_done.safetensors")
    (pack.sct_dir / "mine").mkdir()
    save_sctnet(tiny_model[1], pack.sct_dir / "mine" / "sub.safetensors")
    names = pack.NODE_CLASS_MAPPINGS["LoadSCTModel"].INPUT_TYPES()["required"]["model_name"][0]
    assert "tiny_art.safetensors" in names and str(Path("mine", "sub.safetensors")) in names
    assert not [n for n in names if "half_done" in n]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_real_gpu_memory_is_asked_first_and_nothing_stays(pack, tiny_model):
    """On a GPU: nothing of ours is on the device when ComfyUI is asked, the windows continue the
    clip from CPU-parked state, and after the runs nothing of ours is left on the device."""
    handle, _ = tiny_model
    gpu = torch.device("cuda", torch.cuda.current_device())  # ComfyUI gives an indexed device
    pack.mm.STATE["device"] = gpu
    pack.mm.STATE["free"] = torch.cuda.mem_get_info(gpu)[0]
    # cuBLAS keeps a workspace (32 MiB on Hopper) from its first use on: make it part of the base
    torch.ones(2, 8, 8, device=gpu).bmm(torch.ones(2, 8, 8, device=gpu))
    base = torch.cuda.memory_allocated(gpu)
    frames = _pan(6)
    style = comfy_image(image("hubble"))
    vid = node(pack, "CCPLVideoFrameStylize")
    opts = {"feature_blend": 0.9, "detail_blend": 0.2}
    with torch.inference_mode():
        (whole,) = vid.stylize_frames(handle, frames, style, 1.0, "none", 0, "per-frame", **opts)
        manager = _BatchManager()
        windows = [
            vid.stylize_frames(
                handle,
                frames[i : i + 2],
                style,
                1.0,
                "none",
                0,
                "per-frame",
                meta_batch=manager,
                unique_id="5",
                **opts,
            )[0]
            for i in (0, 2, 4)
        ]
        (img,) = node(pack, "CCPLStylize").stylize(
            handle, comfy_image(image("astronaut", 96)), style, 1.0, "none", 0
        )
    # the same frames as the whole clip (cuDNN picks other algorithms for other batch sizes)
    assert (torch.cat(windows) - whole).abs().max() < 2e-3
    freed = [c for c in pack.mm.CALLS if c[0] == "free_memory"]
    assert len(freed) == 5 and all(c[2] == gpu and c[3] == base for c in freed)
    assert torch.cuda.memory_allocated(gpu) == base
    tensors, modules = _tensors_and_modules(pack.nodes.video._WINDOWS["5"])
    assert not modules and {t.device.type for t in tensors} == {"cpu"}
    assert {t.device.type for t in handle.net.state_dict().values()} == {"cpu"}
    from ccpl_core import Stylizer

    ref = Stylizer(handle.net).stylize(image("astronaut", 96), image("hubble"))
    assert img.device.type == "cpu" and (img - comfy_image(ref)).abs().max() < 2e-3


def test_temporal_metrics_node(pack, tiny_model):
    handle, _ = tiny_model
    node_ = node(pack, "CCPLTemporalMetrics")
    src = comfy_image(torch.cat([image("astronaut", 64)] * 4))  # a still clip
    steady = src.clone()
    rng = torch.Generator().manual_seed(0)
    flicker = (src + 0.2 * torch.rand(src.shape, generator=rng)).clamp(0, 1)
    style = comfy_image(image("hubble", 64))
    res = node_.measure(src, steady, 1, "medium")
    we_steady, dist, report = res["result"]
    assert we_steady < 1e-3 and dist == -1.0 and json.loads(report)["warping_error"] == we_steady
    we_flicker, dist, _ = node_.measure(src, flicker, 1, "medium", handle, style)["result"]
    assert we_flicker > 0.05 and dist > 0
    with pytest.raises(Exception, match="stylized has 3 frames but source has 4"):
        node_.measure(src, flicker[:3], 1, "medium")
    with pytest.raises(Exception, match="too few for interval"):
        node_.measure(src, flicker, 10, "medium")


def test_style_batch_one_result_per_style_and_weights(pack, tiny_model):
    handle, _ = tiny_model
    st = node(pack, "CCPLStylize")
    content = comfy_image(torch.cat([image("astronaut", 64), image("chelsea", 64)]))
    styles = comfy_image(torch.cat([image("hubble", 64), image("rocket", 64)]))
    with torch.inference_mode():
        (per_style,) = st.stylize(
            handle, content, styles, 1.0, "none", 0, style_batch="one per style"
        )
        (first,) = st.stylize(handle, content, styles[:1], 1.0, "none", 0)
        (second,) = st.stylize(handle, content, styles[1:], 1.0, "none", 0)
        (equal,) = st.stylize(handle, content, styles, 1.0, "none", 0)
        (weighted,) = st.stylize(handle, content, styles, 1.0, "none", 0, style_weights="1,0")
    assert per_style.shape[0] == 4  # the contents for the first style, then for the second
    assert torch.allclose(per_style[:2], first, atol=1e-5)
    assert torch.allclose(per_style[2:], second, atol=1e-5)
    assert torch.allclose(weighted, first, atol=1e-5)  # all the weight on the first image
    assert not torch.allclose(equal, first, atol=1e-3)
    with pytest.raises(Exception, match="style_weights: 3 weights for 2"):
        st.stylize(handle, content, styles, 1.0, "none", 0, style_weights="1,1,1")
    with pytest.raises(Exception, match="style_weights: expected finite"):
        st.stylize(handle, content, styles, 1.0, "none", 0, style_weights="inf,1")
