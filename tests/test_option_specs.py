"""Every option declared once: the ``ccpl`` flags and the node widgets built from one declaration.

The CLI parsers and the nodes' INPUT_TYPES are the real ones. A flag made from a declaration
carries it (``action.declared``); a node input is matched to a declaration by its name.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import fields

import pytest
from helpers import refused, run, tiny_manifest

from ccpl_core import option_specs as specs
from ccpl_core.cli import build_parser
from ccpl_core.color import COLOR_METHODS
from ccpl_core.errors import InputError
from ccpl_core.models.whitening import DEFAULT_WCT
from ccpl_core.option_specs import ALL, Option
from ccpl_core.palette import DEFAULT_PALETTE
from ccpl_core.training.finetune import PRESETS
from ccpl_core.training.trainer import TrainConfig
from ccpl_core.video import VideoOptions

#: Node inputs named otherwise than their declaration.
NODE_NAMES = {"content_statistics": "STATISTICS_OPTION"}
#: Node inputs that add their own entries to a declaration's choices or default, on purpose:
#: (node id, input) -> (extra choices first, node default).
NODE_EXTRAS = {
    ("CCPLStylize", "precision"): (("model",), "model"),
    ("CCPLVideoFrameStylize", "precision"): (("model",), "model"),
    ("CCPLVideoStylize", "precision"): (("model",), "model"),
    ("LoadSCTModel", "mode"): (("auto",), "auto"),
}
#: Minimal arguments of each command, so that only the option under test can be refused.
BASE = {
    "stylize": ["stylize", "c.png", "--style", "s.png", "-o", "o.png"],
    "batch": ["batch", "in", "--style", "s.png", "-o", "out"],
    "video": ["video", "clip.mp4", "--style", "s.png", "-o", "o.mp4"],
    "finetune": ["finetune", "--style", "s.png", "--content", "c", "-o", "o.safetensors"],
    "train": ["train", "--content", "c", "--style", "s", "--out", "run"],
    "eval temporal": ["eval", "temporal", "--source", "a", "--stylized", "b"],
}


def _commands(parser: argparse.ArgumentParser, prefix: str = ""):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, f"{prefix} {name}".strip())
    if prefix:
        yield prefix, parser


def declared_flags() -> list[tuple[str, argparse.Action, Option]]:
    """(command, flag, declaration) for every flag that a declaration made."""
    return [
        (command, action, action.declared)
        for command, parser in _commands(build_parser())
        for action in parser._actions
        if hasattr(action, "declared")
    ]


FLAGS = declared_flags()


def node_inputs(module) -> list[tuple[str, str, tuple, Option]]:
    """(node id, input name, input spec, declaration) for every node input with a declaration."""
    by_name = {opt.name: opt for key, opt in ALL.items() if key not in ("SIZE", "FRAME_SIZE")}
    by_name |= {name: ALL[key] for name, key in NODE_NAMES.items()}
    found = []
    for node_id, cls in module.NODE_CLASS_MAPPINGS.items():
        spec = cls.INPUT_TYPES()
        for group in ("required", "optional"):
            for name, value in spec.get(group, {}).items():
                if name in by_name:
                    found.append((node_id, name, value, by_name[name]))
    return found


def _accepts(option: Option, value) -> bool:
    try:
        option.validator()(str(value))
    except argparse.ArgumentTypeError:
        return False
    return True


def _outside(option: Option) -> list[str]:
    """Values just outside the declared range (or not among the choices)."""
    if option.kind == "choice":
        return ["no-such-choice"]
    if option.kind == "weights":
        return ["-1,1", "nan"]
    bad = []
    if option.low is not None:
        if option.kind == "int":
            bad.append(str(int(option.low) - 1))
        else:
            bad.append(str(option.low) if option.low_open else str(option.low - 0.5))
    if option.high is not None:
        bad.append(str(option.high + 1 if option.kind == "int" else option.high + 0.5))
    if option.multiple:
        bad.append(str(int(option.low) + option.multiple // 2))
    bad += ["nan"] if option.kind == "float" else ["1.5"] if option.kind == "int" else []
    return bad


# ---------------------------------------------------------------------- the declarations


def test_every_declaration_is_used_and_consistent():
    used = {id(opt) for _, _, opt in FLAGS}
    for key, option in ALL.items():
        assert key == key.upper() and option.kind in specs.KINDS
        if option.kind in ("float", "int") and option.default is not None:
            assert _accepts(option, option.default), key
        low, high = option.widget_range
        for bound in (low, high):
            assert bound is None or _accepts(option, bound), (key, bound)
        # node-only declarations are checked by test_node_widgets_follow_the_declarations
        if key not in ("PRESERVE_COLOR",):
            assert id(option) in used, f"{key} makes no ccpl flag"


def test_library_owned_values_are_read_not_repeated():
    assert specs.PRESERVE_COLOR.choices == COLOR_METHODS
    assert specs.PALETTE.default == DEFAULT_PALETTE
    assert specs.WCT.default == DEFAULT_WCT
    assert specs.COLOR_METHOD.choices == COLOR_METHODS[1:]
    assert (specs.STEPS.default, specs.LEARNING_RATE.default) == PRESETS["quick"][:2]
    assert (specs.CROP_SIZE.default, specs.BATCH_SIZE.default) == PRESETS["quick"][2:]
    config = TrainConfig()
    for option in (specs.CONTENT_WEIGHT, specs.STYLE_WEIGHT, specs.CCPL_WEIGHT, specs.SEED):
        assert option.default == getattr(config, option.dest)


def test_video_options_defaults_are_the_declarations():
    declared = {
        "alpha": specs.ALPHA,
        "palette": specs.PALETTE,
        "wct": specs.WCT,
        "preserve_color": specs.PRESERVE_COLOR,
        "statistics": specs.STATISTICS_OPTION,
        "flow_blend": specs.FLOW_BLEND,
        "feature_blend": specs.FEATURE_BLEND,
        "detail_blend": specs.DETAIL_BLEND,
        "flow_preset": specs.FLOW_PRESET,
        "batch": specs.BATCH,
        "size": specs.FRAME_SIZE,
        "tile": specs.TILE,
    }
    opts = VideoOptions()
    assert {f.name for f in fields(VideoOptions)} == set(declared)
    for name, option in declared.items():
        assert getattr(opts, name) == option.default, name


def test_bad_declarations_are_refused():
    with pytest.raises(ValueError, match="`x`: expected one of a, b"):
        Option("x", "c", "help", "choice", choices=("a", "b"))
    with pytest.raises(ValueError, match="between 0 and 1"):
        Option("x", 2.0, "help", "float", low=0.0, high=1.0)
    with pytest.raises(ValueError, match="kind"):
        Option("x", 1, "help", "number")


# ------------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize(
    ("command", "action", "option"),
    FLAGS,
    ids=[f"{c}{a.option_strings[-1]}" for c, a, _ in FLAGS],
)
def test_flags_follow_the_declarations(command, action, option):
    assert option.flag in action.option_strings and action.dest == option.dest
    if option.kind == "choice":
        assert tuple(action.choices) == option.choices
    else:
        assert action.choices is None
    expected = option.default
    if command == "finetune" and option in (
        specs.STEPS,
        specs.LEARNING_RATE,
        specs.CROP_SIZE,
        specs.BATCH_SIZE,
    ):
        expected = None  # the --preset's, which by default is the declared default
    elif command == "train":
        expected = getattr(TrainConfig(), option.dest, option.default)  # the recipe's
    elif option.kind == "bool":
        expected = False
    assert action.default == expected, (command, option.name)
    if option.kind in ("float", "int"):
        for value in (option.low, option.high, *option.widget_range):
            if value is not None and not (option.low_open and value == option.low):
                assert action.type(str(value)) == value


@pytest.mark.parametrize(
    ("command", "option", "value"),
    [(c, o, v) for c, _, o in FLAGS for v in _outside(o)],
    ids=lambda x: x.name if isinstance(x, Option) else str(x),
)
def test_values_outside_the_declared_range_are_refused(capsys, command, option, value):
    rc, _, err = run(capsys, *BASE[command], f"{option.flag}={value}")
    refused(rc, err, option.flag, "--help")


def test_style_weights_have_one_parser():
    from ccpl_core.options import style_weights

    assert style_weights(None, 2, "w", "styles") is None
    assert style_weights(" ", 2, "w", "styles") is None
    assert style_weights("1,3", 2, "w", "styles") == [1.0, 3.0]
    assert style_weights([0.5, 0.5], 2, "w", "styles") == [0.5, 0.5]
    with pytest.raises(InputError, match="w: 3 weights for 2 styles"):
        style_weights("1,1,1", 2, "w", "styles")
    with pytest.raises(InputError, match="w: expected finite weights"):
        style_weights("inf,1", 2, "w", "styles")


def test_video_help_lists_the_new_flags(capsys):
    rc, out, _ = run(capsys, "video", "--help")
    assert rc == 0
    for flag in ("--manifest", "--mode", "--tile", "--color-method", "--models-dir"):
        assert flag in out
    listed = out.split("--color-method {", 1)[1].split("}")[0].split(",")
    assert set(listed) == set(COLOR_METHODS[1:])


def test_video_flags_reach_video_options(capsys, monkeypatch, tmp_path):
    """--tile and the colour flags end up in VideoOptions (checked before anything is read)."""
    from ccpl_core.cli import video as video_cli

    seen = {}

    class Stop(InputError):
        pass

    def source(*args, **kwargs):
        raise Stop("stop")

    real = VideoOptions.validate

    def validate(self):
        seen["opts"] = self
        real(self)

    monkeypatch.setattr(video_cli, "FrameSource", source)
    monkeypatch.setattr(VideoOptions, "validate", validate)
    argv = ["video", "clip.mp4", "--style", "s.png", "-o", tmp_path / "o.mp4"]
    rc, _, err = run(capsys, *argv, "--tile", "256", "--preserve-color", "--color-method", "match")
    refused(rc, err, "stop")
    assert (seen["opts"].tile, seen["opts"].preserve_color) == (256, "match")
    rc, _, err = run(capsys, *argv)
    refused(rc, err, "stop")
    assert (seen["opts"].tile, seen["opts"].preserve_color) == (None, "none")


def test_finetune_without_model_uses_the_manifest_default(capsys, monkeypatch, tmp_path, art_net):
    """No --model: the manifest's default art model is loaded, like ``ccpl stylize`` does."""
    from PIL import Image

    from ccpl_core.cli import finetune as finetune_cli

    manifest, models = tiny_manifest(tmp_path, art_net)
    content = tmp_path / "content"
    content.mkdir()
    Image.new("RGB", (64, 64), (90, 120, 30)).save(content / "a.png")
    Image.new("RGB", (64, 64), (200, 10, 30)).save(tmp_path / "style.png")
    loaded = {}

    def no_training(model, *args, **kwargs):
        loaded["name"] = model.info["name"]
        raise InputError("no training in this test")

    monkeypatch.setattr(finetune_cli, "finetune", no_training)
    args = [
        "--style",
        tmp_path / "style.png",
        "--content",
        content,
        "-o",
        tmp_path / "m.safetensors",
    ]
    rc, _, err = run(capsys, "finetune", "--manifest", manifest, "--models-dir", models, *args)
    refused(rc, err, "no training in this test")
    assert loaded["name"] == "tiny"  # the manifest's "default": {"art": "tiny"}
    parsed = build_parser().parse_args(["finetune", *map(str, args)])
    assert parsed.model is None and parsed.mode is None


# ------------------------------------------------------------------------------ the nodes


def test_node_widgets_follow_the_declarations(pack):
    inputs = node_inputs(pack)
    assert {opt.name for _, _, _, opt in inputs} >= {
        "alpha",
        "preserve_color",
        "style_size",
        "style_weights",
        "precision",
        "device",
        "mode",
        "statistics",
        "feature_blend",
        "detail_blend",
        "flow_blend",
        "steps",
        "learning_rate",
        "crop_size",
        "batch_size",
        "content_weight",
        "style_weight",
        "ccpl_weight",
        "seed",
    }
    for node_id, name, (kind, info), option in inputs:
        where = f"{node_id}.{name}"
        extra, default = NODE_EXTRAS.get((node_id, name), ((), option.default))
        if option.kind == "weights":
            assert (kind, info["default"]) == ("STRING", ""), where
            continue
        assert info["default"] == default, where
        if isinstance(kind, (tuple, list)):
            choices = tuple(kind)[len(extra) :]
            assert tuple(kind)[: len(extra)] == extra, where
            if option.kind == "choice":  # a node may offer fewer, never others
                assert set(choices) <= set(option.choices), where
                assert option.default is None or option.default in choices, where
            continue
        assert kind == {"float": "FLOAT", "int": "INT"}[option.kind], where
        assert (info.get("min"), info.get("max")) == option.widget_range, where
        for bound in option.widget_range:
            assert _accepts(option, bound), where  # the CLI takes every value a widget offers


def test_cli_and_nodes_agree(pack):
    """Where both surfaces have an option: one default, one list of choices, one valid range."""
    cli = {}
    for command, action, option in FLAGS:
        cli.setdefault(id(option), []).append((command, action))
    shared = 0
    for node_id, name, (kind, info), option in node_inputs(pack):
        if id(option) not in cli:
            continue
        shared += 1
        extra, default = NODE_EXTRAS.get((node_id, name), ((), option.default))
        for command, action in cli[id(option)]:
            if action.default is not None and command in ("stylize", "video", "eval temporal"):
                assert action.default == default or extra, (command, node_id, name)
            if action.choices is not None and isinstance(kind, (tuple, list)):
                assert set(kind) - set(extra) <= set(action.choices), (command, node_id, name)
            if isinstance(kind, str) and kind in ("FLOAT", "INT"):
                for bound in (info["min"], info["max"]):
                    value = action.type(str(bound))
                    assert math.isclose(value, bound), (command, node_id, name, bound)
    assert shared >= 15
