"""ComfyUI inputs built from the option declarations (``ccpl_core.option_specs``).

A node's INPUT_TYPES takes its widgets from here, so a default, range or list of choices is the
one the ``ccpl`` command line has. Saved workflows store widget values by position: the nodes
keep the order, names and types of their inputs; only the text of the tooltips comes from the
declarations.
"""

from __future__ import annotations

from typing import Any

from ..ccpl_core.option_specs import PRECISION, Option

#: ComfyUI's widget type for each kind of option (choices are a list instead).
WIDGET_TYPES = {"float": "FLOAT", "int": "INT", "bool": "BOOLEAN", "text": "STRING"}
#: A stylising node's precision: "model" (the model loader's setting) or a precision.
RUN_PRECISIONS = ("model", *PRECISION.choices)


def tooltip(option: Option) -> str:
    """The declared help as a sentence (a first word such as fp32 keeps its spelling)."""
    text = option.help
    if not any(c.isdigit() for c in text.split(" ", 1)[0]):
        text = text[:1].upper() + text[1:]
    return text + "."


def comfy_input(option: Option, **overrides: Any) -> tuple:
    """``option`` as a ComfyUI input: ``(type, {"default", "min", "max", "step", "tooltip"})``,
    or ``(choices, {"default", "tooltip"})``.

    ``overrides`` replace or add widget keys (``default``, ``tooltip``, ``round``,
    ``control_after_generate``, ...); ``choices`` offers a node's own list (e.g. with a "model"
    entry) instead of the declared one. Weights are a text widget (empty = equal weights).
    """
    choices = overrides.pop("choices", option.choices)
    info: dict[str, Any] = {"default": option.default}
    if choices:
        kind: Any = tuple(choices)
    elif option.kind == "weights":
        kind = "STRING"
        info["default"] = ""
    else:
        kind = WIDGET_TYPES[option.kind]
    if kind in ("FLOAT", "INT"):
        low, high = option.widget_range
        step = option.step or option.multiple
        for key, value in (("min", low), ("max", high), ("step", step)):
            if value is not None:
                info[key] = value
    info["tooltip"] = tooltip(option)
    info.update(overrides)
    return kind, info


def run_precision_input() -> tuple:
    """The precision input of a node that runs a loaded model (default: the loader's)."""
    return comfy_input(
        PRECISION,
        choices=RUN_PRECISIONS,
        default="model",
        tooltip=f"'model' uses the Load Style Transfer Model setting. {tooltip(PRECISION)}",
    )
