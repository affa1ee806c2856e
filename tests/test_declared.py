"""The option sets validate themselves against their declarations: every declared range is
refused by the library API, with one line naming the option (errors.py's `name`)."""

from __future__ import annotations

import pytest

from ccpl_core.declared import Option, options_of
from ccpl_core.errors import InputError
from ccpl_core.pipeline import ImageOptions, Stylizer
from ccpl_core.training import TrainConfig
from ccpl_core.training.finetune import finetune
from ccpl_core.video import VideoOptions

OPTION_SETS = (ImageOptions, VideoOptions, TrainConfig)


def bad_values(option: Option) -> list:
    """Values just outside what ``option`` declares valid."""
    bad: list = []
    if option.kind == "choice":
        return ["no such choice"]
    if option.kind not in ("float", "int"):
        return []
    if option.low is not None:
        if option.zero_off:
            bad.append(int(option.low) - 1)
        elif option.low_open:
            bad.append(option.low)
        else:
            bad.append(option.low - 1)
    if option.high is not None:
        bad.append(option.high + 1)
    if option.multiple:
        bad.append(int(option.low) + option.multiple // 2)
    bad += [float("nan"), "1"] if option.kind == "float" else [1.5, "1"]
    return bad


CASES = [
    (cls, field, option, value)
    for cls in OPTION_SETS
    for field, option in options_of(cls).items()
    for value in bad_values(option)
]


@pytest.mark.parametrize(
    ("cls", "field", "option", "value"),
    CASES,
    ids=[f"{c.__name__}.{f}={v!r}" for c, f, _, v in CASES],
)
def test_every_declared_range_is_refused_by_the_option_set(cls, field, option, value):
    with pytest.raises(InputError) as refused:
        cls(**{field: value})
    message = str(refused.value)
    assert message.startswith(f"`{option.name}`: ") and "\n" not in message


def test_every_option_set_accepts_its_defaults():
    for cls in OPTION_SETS:
        made = cls()
        for field, option in options_of(cls).items():
            assert getattr(made, field) == option.default


def test_video_options_refuse_a_negative_alpha():
    with pytest.raises(InputError, match=r"^`alpha`: .*between 0 and 1"):
        VideoOptions(alpha=-0.5)


def test_a_changed_video_option_is_refused_by_validate():
    options = VideoOptions()
    options.feature_blend = 2.0
    with pytest.raises(InputError, match=r"^`feature_blend`"):
        options.validate()


@pytest.mark.parametrize(
    ("given", "name"),
    [
        ({"alpha": 2}, "alpha"),
        ({"palette": -0.1}, "palette"),
        ({"wct": 1.5}, "wct"),
        ({"tile": 16}, "tile"),
        ({"feather": -1}, "mask_feather"),
        ({"preserve_color": "sepia"}, "preserve_color"),
    ],
)
def test_stylize_refuses_what_the_declarations_refuse(art_net, content, style, given, name):
    st = Stylizer(art_net, device="cpu")
    with pytest.raises(InputError, match=f"^`?{name}`?: "):
        st.stylize(content, style, **given)


def test_finetune_refuses_declared_ranges_before_training(art_net, content, style):
    for given, name in (({"steps": 0}, "steps"), ({"lr": -1.0}, "lr"), ({"crop": 60}, "crop")):
        with pytest.raises(InputError, match=f"^`{name}`: "):
            finetune(art_net, style, content, device="cpu", **given)


def test_rules_between_fields_stay():
    with pytest.raises(InputError, match="`wct` is for the joint stage"):
        TrainConfig(stage="sct", wct=0.5)
    with pytest.raises(InputError, match="`resize` 64 is smaller than `crop` 256"):
        TrainConfig(resize=64)
