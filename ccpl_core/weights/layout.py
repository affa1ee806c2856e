"""State-dict layouts: the authors' three checkpoints <-> this project's single prefixed layout.

The authors ship ``vgg_normalised.pth`` (the full 53-child VGG), ``decoder_iter_*.pth.tar`` (the
full decoder, also for photo where only children 10+ are used) and ``sct_iter_*.pth.tar``. This
project prefixes their keys with ``encoder.``, ``decoder.`` and ``sct.`` and keeps only what the
network of a mode uses. Expected keys and shapes come from the modules themselves.
"""

from __future__ import annotations

import torch

from ..errors import ModelError
from ..models import SCTNet
from ..modes import MODE_NAMES

PARTS = ("encoder", "sct", "decoder")


def expected_shapes(mode: str, part: str) -> dict[str, tuple[int, ...]]:
    """Key -> shape of one part (without prefix) of the network of ``mode``."""
    module = getattr(SCTNet(mode), part)
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def detect_mode(state: dict[str, torch.Tensor], part: str) -> str | None:
    """'art' or 'photo' from the shapes of a part's (unprefixed) state dict; None if unclear."""
    if part == "sct":
        w = state.get("cnet.0.weight")
        if w is not None:
            return {512: "art", 256: "photo"}.get(int(w.shape[1]))
    if part == "decoder":
        return "art" if "1.weight" in state else ("photo" if "11.weight" in state else None)
    return None


def check_part(
    state: dict[str, torch.Tensor], mode: str, part: str, source: str, allow_extra: bool = False
) -> dict[str, torch.Tensor]:
    """Keep the keys ``part`` needs in ``mode``; raise a :class:`ModelError` naming any problem."""
    expected = expected_shapes(mode, part)
    missing = sorted(set(expected) - set(state), key=_natural)
    if missing:
        guess = detect_mode(state, part)
        hint = ""
        if guess and guess != mode:
            hint = f" It looks like a {guess} checkpoint: use mode {guess!r}."
        elif not (set(state) & set(expected)):
            hint = f" Is it really a {part} checkpoint? Its keys: {', '.join(sorted(state)[:6])}"
        raise ModelError(f"{source}: not a {mode} {part}: missing {', '.join(missing[:6])}.{hint}")
    out = {}
    for key, shape in expected.items():
        t = state[key]
        if not isinstance(t, torch.Tensor):
            raise ModelError(f"{source}: {key} is a {type(t).__name__}, expected a tensor")
        if tuple(t.shape) != shape:
            guess = detect_mode(state, part)
            hint = f" It looks like a {guess} checkpoint." if guess and guess != mode else ""
            raise ModelError(
                f"{source}: {part} key {key} has shape {tuple(t.shape)}, expected {shape} for "
                f"mode {mode!r}.{hint}"
            )
        if not torch.isfinite(t).all():
            raise ModelError(f"{source}: {part} key {key} contains NaN or infinite values")
        out[key] = t.float().contiguous()
    if not allow_extra:
        extra = set(state) - set(expected)
        if extra:
            raise ModelError(
                f"{source}: unexpected {part} keys for mode {mode!r}: "
                f"{', '.join(sorted(extra)[:6])}"
            )
    return out


def describe_contents(state: dict[str, torch.Tensor], metadata: dict[str, str], source: str) -> str:
    """What a project-layout file holds, after checking every key and shape (for ``verify``).

    Raises a :class:`ModelError` naming the first problem when the tensors are not parts of an
    art or photo network (a damaged, foreign or half-converted file).
    """
    parts = to_authors(state)
    present = [p for p in PARTS if parts[p]]
    if not present:
        raise ModelError(f"{source}: holds no tensors")
    declared = metadata.get("ccpl.mode")
    modes = [declared] if declared in MODE_NAMES else list(MODE_NAMES)
    first: ModelError | None = None
    for mode in modes:
        try:
            for part in present:
                check_part(parts[part], mode, part, source, allow_extra=part == "encoder")
        except ModelError as exc:
            first = first or exc
            continue
        if present == ["encoder"]:
            users = "art and photo models" if mode == "art" else "photo models"
            return f"an encoder's keys and shapes (for {users})"
        return f"the keys and shapes of {'an' if mode == 'art' else 'a'} {mode} model's " + (
            ", ".join(present)
        )
    assert first is not None
    raise first


def from_authors(
    mode: str,
    vgg: dict[str, torch.Tensor] | None = None,
    decoder: dict[str, torch.Tensor] | None = None,
    sct: dict[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Project-layout state dict from any of the authors' state dicts.

    The full VGG is cut to this mode's depth; the photo decoder drops its untrained children 0-9.
    """
    out: dict[str, torch.Tensor] = {}
    if vgg is not None:
        out |= _prefix("encoder", check_part(vgg, mode, "encoder", "vgg", allow_extra=True))
    if decoder is not None:
        allow = mode == "photo"  # the photo checkpoint stores the full decoder
        out |= _prefix(
            "decoder", check_part(decoder, mode, "decoder", "decoder", allow_extra=allow)
        )
    if sct is not None:
        out |= _prefix("sct", check_part(sct, mode, "sct", "sct"))
    return out


def to_authors(state: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """Split a project-layout state dict back into the authors' per-part key layout."""
    parts: dict[str, dict[str, torch.Tensor]] = {p: {} for p in PARTS}
    for key, value in state.items():
        part, _, rest = key.partition(".")
        if part not in parts:
            raise ModelError(f"unexpected key {key!r}: keys start with encoder., sct. or decoder.")
        parts[part][rest] = value
    return parts


def _prefix(part: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{part}.{k}": v for k, v in state.items()}


def _natural(key: str) -> tuple:
    head, _, tail = key.partition(".")
    return (int(head) if head.isdigit() else 0, head, tail)
