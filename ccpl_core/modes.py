"""The two SCT networks, art and photo, each described once.

Every module that depends on the mode (encoder depth, SCT widths, decoder start, tiling margins,
style taps, CCPL layers, minimum sizes) reads it from here. Adding a mode is one entry in
:data:`MODES` (and its weights).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Index of the ReLU whose output is each VGG tap, and its channels.
TAP_INDEX = {"relu1_1": 3, "relu2_1": 10, "relu3_1": 17, "relu4_1": 30}
TAP_CHANNELS = {"relu1_1": 64, "relu2_1": 128, "relu3_1": 256, "relu4_1": 512}
#: Down-sampling factor of each tap.
TAP_STRIDE = {"relu1_1": 1, "relu2_1": 2, "relu3_1": 4, "relu4_1": 8}


@dataclass(frozen=True)
class Mode:
    """What distinguishes one SCT network from another."""

    name: str
    #: The deepest encoder tap: SCT fuses its features and the decoder starts from them.
    tap: str
    #: Taps whose mean/std the style loss matches (shallowest first).
    style_taps: tuple[str, ...]
    #: Taps the CCPL loss is applied to (the paper's choice).
    ccpl_taps: tuple[str, ...]
    #: Channels of SCT's compression (cnet: 1x1 convolutions; snet: 3x3 then a last 1x1).
    sct_widths: tuple[int, ...]
    #: First child of the authors' full decoder that this mode uses.
    decoder_start: int
    #: Pixels of context around an encoder tile (>= the encoder's receptive-field radius).
    encoder_margin: int
    #: Feature positions of context around a decoder tile (>= its receptive-field radius).
    decoder_margin: int
    #: Redraw each result along the content's own edges (:mod:`ccpl_core.edges`): what makes
    #: a photo model's picture a photograph rather than a painting of one.
    content_edges: bool = False

    @property
    def encoder_depth(self) -> int:
        """Children of the authors' ``vgg_normalised`` Sequential that this mode keeps."""
        return TAP_INDEX[self.tap] + 1

    @property
    def channels(self) -> int:
        """Channels of the fused feature map."""
        return TAP_CHANNELS[self.tap]

    @property
    def stride(self) -> int:
        """Down-sampling factor between the image and the fused feature map."""
        return TAP_STRIDE[self.tap]

    @property
    def min_style_feature(self) -> int:
        """Smallest side of a style feature map that snet's unpadded 3x3 convolutions accept."""
        return 1 + 2 * (len(self.sct_widths) - 2)

    @property
    def min_style_size(self) -> int:
        """Smallest style side in pixels (it gives :attr:`min_style_feature` features)."""
        return (self.min_style_feature - 1) * self.stride + 1

    @property
    def min_content_size(self) -> int:
        """Smallest content side in pixels (the decoder's reflection padding needs 2 rows)."""
        return self.stride + 1


ART = Mode(
    name="art",
    tap="relu4_1",
    style_taps=("relu1_1", "relu2_1", "relu3_1", "relu4_1"),
    ccpl_taps=("relu2_1", "relu3_1", "relu4_1"),
    sct_widths=(512, 256, 128, 32),
    decoder_start=0,
    encoder_margin=64,
    decoder_margin=6,
)
PHOTO = Mode(
    name="photo",
    tap="relu3_1",
    style_taps=("relu1_1", "relu2_1", "relu3_1"),
    ccpl_taps=("relu1_1", "relu2_1", "relu3_1"),
    sct_widths=(256, 128, 32),
    decoder_start=10,
    encoder_margin=32,
    decoder_margin=8,
    content_edges=True,
)
MODES: dict[str, Mode] = {m.name: m for m in (ART, PHOTO)}
#: Mode names, in the order users see them.
MODE_NAMES: tuple[str, ...] = tuple(MODES)


def get_mode(name: str) -> Mode:
    """The description of mode ``name``; ValueError naming the known modes otherwise."""
    try:
        return MODES[name]
    except (KeyError, TypeError):
        raise ValueError(f"mode must be one of {', '.join(MODE_NAMES)}, got {name!r}") from None
