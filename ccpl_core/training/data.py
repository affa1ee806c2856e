"""Training images: folders of content and style pictures, sampled as random crops.

Every batch is a pure function of (seed, iteration), so a resumed run sees exactly the batches an
uninterrupted run would have seen, and data-loader workers need no shared random state.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import InputError
from ..images import IMAGE_SUFFIXES, image_size, load_frame

#: Images smaller than this on their shorter side are refused (they cannot give useful crops).
MIN_TRAIN_SIDE = 64
#: Images :class:`ImageFiles` keeps decoded (at a 512-pixel shorter side, about 1 MB each).
IMAGE_CACHE = 32


def list_images(source: str | os.PathLike | Sequence[str | os.PathLike], what: str) -> list[Path]:
    """Image files of a folder (recursively) or an explicit list; a clear error when none."""
    if isinstance(source, str | os.PathLike):
        root = Path(source)
        if not root.exists():
            raise InputError(f"{what}: folder not found: {root}")
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    else:
        files = [Path(p) for p in source]
    if not files:
        raise InputError(f"{what}: no images ({', '.join(IMAGE_SUFFIXES)}) found in {source}")
    return files


def load_resized(path: Path, short_side: int) -> torch.Tensor:
    """uint8 [3, h, w] with the shorter side resized to ``short_side``.

    Read on the one image path (:func:`ccpl_core.images.load_frame`): upright as shown (EXIF),
    16-bit files scaled by their bit depth, and a file above the pixel limit refused from its
    header, like every other image the project reads.
    """
    try:
        rgb = load_frame(path)
    except OSError as exc:
        raise InputError(f"cannot read training image {path}: {exc}") from exc
    return resized_for_training(rgb, short_side, f"training image {path}")


def resized_for_training(rgb: np.ndarray, short_side: int, what: str) -> torch.Tensor:
    """uint8 RGB [h, w, 3] -> uint8 [3, h', w'] with the shorter side ``short_side``."""
    h, w = rgb.shape[:2]
    if min(w, h) < MIN_TRAIN_SIDE:
        raise InputError(
            f"{what} is only {w}x{h}; images need a shorter side of at least {MIN_TRAIN_SIDE} "
            "pixels"
        )
    scale = short_side / min(w, h)
    size = (max(short_side, round(w * scale)), max(short_side, round(h * scale)))
    im = Image.fromarray(rgb).resize(size, Image.BICUBIC, reducing_gap=3.0)
    return torch.from_numpy(np.array(im, copy=True)).permute(2, 0, 1).contiguous()


class ImageFiles(Sequence[torch.Tensor]):
    """Training images read from their files when a crop needs them (uint8 [3, h, w], shorter
    side ``short_side``), the last ``cache`` of them kept decoded.

    Memory stays bounded whatever the number of files: a finetune on 300 video frames held all
    of them decoded (2 GB) before its first step. :meth:`check` reads every header up front, so
    an unreadable or too small file is refused before any training.
    """

    def __init__(self, files: Iterable[Path], short_side: int, cache: int = IMAGE_CACHE) -> None:
        self.files = list(files)
        self.short_side = short_side
        self.cache = max(1, cache)
        self._decoded: OrderedDict[int, torch.Tensor] = OrderedDict()

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index = range(len(self))[index]
        image = self._decoded.pop(index, None)
        if image is None:
            image = load_resized(self.files[index], self.short_side)
        self._decoded[index] = image
        while len(self._decoded) > self.cache:
            self._decoded.popitem(last=False)
        return image

    def at_least(self, side: int) -> ImageFiles:
        """These files read with a shorter side of at least ``side``."""
        if self.short_side >= side:
            return self
        return ImageFiles(self.files, side, self.cache)

    def check(self, what: str) -> None:
        """Refuse, from the headers alone, a file that cannot be read or is too small."""
        for path in self.files:
            try:
                w, h = image_size(path)
            except OSError as exc:
                raise InputError(f"cannot read training image {path}: {exc}") from exc
            if min(w, h) < MIN_TRAIN_SIDE:
                raise InputError(
                    f"{what}: {path} is only {w}x{h}; images need a shorter side of at least "
                    f"{MIN_TRAIN_SIDE} pixels"
                )


def tensors_to_uint8(images: torch.Tensor) -> list[torch.Tensor]:
    """Float [B, 3, H, W] in [0, 1] (e.g. a ComfyUI IMAGE batch) -> list of uint8 [3, H, W]."""
    return [(img.clamp(0, 1) * 255).round().to(torch.uint8) for img in images]


def families_of(files: Sequence[Path], root: str | os.PathLike) -> list[str]:
    """The first folder below ``root`` of each file ("" for files directly in it).

    A family is the unit of balance when sampling: one game's hundreds of images then weigh as
    much as a folder of a few dozen paintings.
    """
    parts = [p.relative_to(root).parts for p in files]
    return [rel[0] if len(rel) > 1 else "" for rel in parts]


class CropSampler:
    """Random ``crop`` x ``crop`` patches (with horizontal flips) from images held in memory.

    With ``families``, a family is drawn uniformly first, then an image within it.
    """

    def __init__(
        self,
        images: Sequence[torch.Tensor],
        crop: int,
        what: str,
        families: Sequence[str] | None = None,
    ) -> None:
        if not images:
            raise InputError(f"{what}: no images")
        if isinstance(images, ImageFiles):  # read when sampled, at a size that fits the crop
            images = images.at_least(crop)
        else:
            small = [tuple(im.shape[-2:]) for im in images if min(im.shape[-2:]) < crop]
            if small:
                raise InputError(
                    f"{what}: {len(small)} image(s) are smaller than the crop size {crop} "
                    f"(e.g. {small[0][1]}x{small[0][0]}); use a smaller crop or larger images"
                )
            images = list(images)
        self.images: Sequence[torch.Tensor] = images
        self.crop = crop
        self.groups: list[list[int]] | None = None
        if families is not None:
            members: dict[str, list[int]] = {}
            for i, fam in enumerate(families):
                members.setdefault(fam, []).append(i)
            self.groups = [members[k] for k in sorted(members)] if len(members) > 1 else None

    @classmethod
    def from_files(
        cls,
        files: Sequence[Path],
        resize: int,
        crop: int,
        what: str,
        families: Sequence[str] | None = None,
    ) -> CropSampler:
        if resize < crop:
            raise InputError(f"resize ({resize}) must be at least the crop size ({crop})")
        return cls([load_resized(f, resize) for f in files], crop, what, families)

    def _pick(self, batch: int, gen: torch.Generator) -> list[int]:
        if self.groups is None:
            return torch.randint(len(self.images), (batch,), generator=gen).tolist()
        fams = torch.randint(len(self.groups), (batch,), generator=gen).tolist()
        within = torch.rand(batch, generator=gen).tolist()
        return [
            self.groups[f][min(int(u * len(self.groups[f])), len(self.groups[f]) - 1)]
            for f, u in zip(fams, within, strict=True)
        ]

    def sample(self, batch: int, gen: torch.Generator) -> torch.Tensor:
        out = torch.empty(batch, 3, self.crop, self.crop, dtype=torch.uint8)
        for i, k in enumerate(self._pick(batch, gen)):
            im = self.images[k]
            h, w = im.shape[-2:]
            y = int(torch.randint(h - self.crop + 1, (1,), generator=gen))
            x = int(torch.randint(w - self.crop + 1, (1,), generator=gen))
            patch = im[:, y : y + self.crop, x : x + self.crop]
            if bool(torch.rand((), generator=gen) < 0.5):
                patch = patch.flip(-1)
            out[i] = patch
        return out


def augment_colours(batch: torch.Tensor, gen: torch.Generator, probability: float) -> torch.Tensor:
    """Random palette changes of uint8 images [B, 3, H, W], each with ``probability``.

    Hue rotation (about the grey axis), saturation scaling and a channel permutation: the network
    sees far more palettes than the style folder holds, so it learns to carry any palette instead
    of memorising a few.
    """
    if probability <= 0:
        return batch
    out = batch.clone()
    axis = torch.full((3,), 3**-0.5)
    cross = torch.tensor([[0.0, -1, 1], [1, 0, -1], [-1, 1, 0]]) * 3**-0.5
    for i in range(batch.shape[0]):
        u = torch.rand(4, generator=gen).tolist()
        if u[0] >= probability:
            continue
        angle = (u[1] * 2 - 1) * math.pi
        rot = (
            math.cos(angle) * torch.eye(3)
            + math.sin(angle) * cross
            + (1 - math.cos(angle)) * torch.outer(axis, axis)
        )
        x = batch[i].float() / 255
        x = torch.einsum("ij,jhw->ihw", rot, x)
        grey = x.mean(0, keepdim=True)
        x = grey + (0.5 + u[2]) * (x - grey)
        if u[3] < 0.5:
            x = x[torch.randperm(3, generator=gen)]
        out[i] = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    return out


def batch_generator(seed: int, iteration: int, rank: int = 0) -> torch.Generator:
    """The random stream of one iteration (and one distributed rank)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + iteration) * 1_009 + rank)


class PairBatches(torch.utils.data.Dataset):
    """Item ``i`` is the (content, style) uint8 batch of iteration ``i``; usable with workers."""

    def __init__(
        self,
        content: CropSampler,
        style: CropSampler,
        batch: int,
        seed: int,
        rank: int = 0,
        style_color_aug: float = 0.0,
    ) -> None:
        self.content, self.style, self.batch, self.seed, self.rank = (
            content,
            style,
            batch,
            seed,
            rank,
        )
        self.style_color_aug = style_color_aug

    def __len__(self) -> int:  # iterations are addressed explicitly by a sampler
        return 2**31 - 1

    def __getitem__(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        gen = batch_generator(self.seed, iteration, self.rank)
        content = self.content.sample(self.batch, gen)
        style = augment_colours(self.style.sample(self.batch, gen), gen, self.style_color_aug)
        return content, style
