"""Options declared once, on the option sets themselves: default, range, choices, help.

An :class:`Option` is one declaration; :func:`declared` makes it a dataclass field, so an option
set (:class:`ccpl_core.pipeline.ImageOptions`, :class:`ccpl_core.video.VideoOptions`,
:class:`ccpl_core.training.TrainConfig`) carries its declarations and :func:`check_fields`
validates an instance against them. The same declarations make the ``ccpl`` flags
(:mod:`ccpl_core.cli.arguments`) and the node widgets (``nodes/inputs.py``); the surfaces'
table is :mod:`ccpl_core.option_specs`. This module is a leaf: it imports no option set.

Ranges are checked by the validators of :mod:`ccpl_core.options`. ``low``/``high`` are what is
valid; ``widget_low``/``widget_high`` narrow a ComfyUI slider where the valid range is
open-ended or wider than useful (a widget needs bounds), never widen it. A refusal is one
:class:`InputError` line naming the option as errors.py says: `` `alpha`: expected ... ``.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from . import options as valid
from .errors import InputError

T = TypeVar("T")
#: What an option holds: a number, a switch, one of ``choices``, free text, or blend weights.
KINDS = ("float", "int", "bool", "choice", "text", "weights")


@dataclass(frozen=True)
class Option:
    """One option as every surface shows it.

    ``name`` is the Python name, the ComfyUI input name and, as ``--name-with-dashes``, the CLI
    flag, unless ``cli`` gives the CLI's own (older) name. ``help`` is a phrase without the
    default (each surface adds it its own way). ``shown_default`` says in words what a ``None``
    default means; None is valid exactly when it is the default. Integers may be ``multiple`` of
    a step, or ``zero_off``: 0 (off) or >= ``low``. ``step`` is the widget's step.
    """

    name: str
    default: Any
    help: str
    kind: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    step: float | None = None
    multiple: int | None = None
    zero_off: bool = False
    widget_low: float | None = None
    widget_high: float | None = None
    cli: str | None = None
    shown_default: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind {self.kind!r} is not one of {KINDS}")
        if (self.kind == "choice") != bool(self.choices):
            raise ValueError(f"{self.name}: choices go with kind 'choice'")
        if self.multiple and self.high is not None:
            raise ValueError(f"{self.name}: a multiple has no upper bound")
        if self.default is not None:
            self.check(self.default)
        for bound in (self.widget_low, self.widget_high):
            if bound is not None:
                self.check(bound)

    @property
    def dest(self) -> str:
        """The attribute name on the CLI's parsed arguments."""
        return self.cli or self.name

    @property
    def flag(self) -> str:
        """The CLI flag: ``feature_blend`` -> ``--feature-blend``."""
        return "--" + self.dest.replace("_", "-")

    @property
    def widget_range(self) -> tuple[float | None, float | None]:
        """A widget's (min, max): the valid range, narrowed where the declaration says so."""
        low = self.widget_low if self.widget_low is not None else self.low
        high = self.widget_high if self.widget_high is not None else self.high
        return low, high

    def validator(self) -> Callable[[str], Any] | None:
        """The :mod:`ccpl_core.options` validator that parses this option from text (an
        ``argparse`` type); None where argparse checks it itself (choices, switches)."""
        if self.kind == "float":
            return valid.finite_float(self.low, self.high, self.low_open)
        if self.kind == "int":
            if self.multiple:
                return valid.multiple_of(self.multiple, int(self.low or 0))
            if self.zero_off:
                return valid.zero_or_at_least(int(self.low or 0))
            return valid.int_range(self.low, self.high)
        if self.kind == "weights":
            return valid.weights
        if self.kind == "text":
            return str
        return None

    def check(self, value: Any) -> Any:
        """``value`` if it is valid for this option (numbers as float or int), else one
        InputError line naming the option."""
        if value is None and self.default is None:
            return None
        if self.kind == "choice":
            if value not in self.choices:
                raise InputError(
                    f"`{self.name}`: expected one of {', '.join(self.choices)}, got {value!r}"
                )
            return value
        if self.kind == "bool":
            return bool(value)
        if self.kind not in ("float", "int"):
            return value
        if self.kind == "int" and isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            what = "a number" if self.kind == "float" else "a whole number"
            raise InputError(f"`{self.name}`: expected {what}, got {value!r}")
        try:
            return self.validator()(str(value))
        except argparse.ArgumentTypeError as exc:
            raise InputError(f"`{self.name}`: {exc}") from None

    def default_text(self) -> str | None:
        """The default as help texts show it; None when there is nothing to say."""
        if self.kind == "bool" or (self.default is None and self.shown_default is None):
            return None
        return self.shown_default if self.default is None else str(self.default)

    def but(self, **changes: Any) -> Option:
        """This declaration with some of its fields changed (another default, name or help)."""
        return dataclasses.replace(self, **changes)


def declared(option: Option) -> Any:
    """A dataclass field whose default and declaration are ``option``'s."""
    return dataclasses.field(default=option.default, metadata={"option": option})


def options_of(cls_or_instance: Any) -> dict[str, Option]:
    """The declared fields of an option set, by field name."""
    return {
        f.name: f.metadata["option"]
        for f in dataclasses.fields(cls_or_instance)
        if "option" in f.metadata
    }


def from_values(cls: type[T], values: Mapping[str, Any], **given: Any) -> T:
    """An option set made from the declared fields found in ``values`` (a CLI's parsed
    arguments, a node's inputs) and ``given`` (values a surface spells its own way)."""
    names = options_of(cls)
    return cls(**{k: v for k, v in values.items() if k in names and k not in given}, **given)


def check_fields(instance: Any) -> None:
    """Validate every declared field of ``instance`` (numbers normalised to float or int)."""
    for name, option in options_of(instance).items():
        value = option.check(getattr(instance, name))
        object.__setattr__(instance, name, value)
