"""The stylisation API: sizes, options, tiling, precision, memory policy and bad input."""

from __future__ import annotations

import pytest
import torch
from helpers import image

from ccpl_core import InputError, Stylizer
from ccpl_core.color import match_color, rgb_to_ycbcr
from ccpl_core.models import ContentStats
from ccpl_core.pipeline import FeatureMoments, PreparedStyle
from ccpl_core.planner import BYTES_PER_PIXEL


@pytest.fixture(scope="module")
def st(art_net):
    return Stylizer(art_net, device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def st_photo(photo_net):
    return Stylizer(photo_net, device="cpu", precision="fp32")


def _rel(a, b):
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("h,w", [(64, 64), (37, 101), (129, 71), (20, 9)])
def test_output_has_exact_input_size(st, h, w):
    out = st.stylize(torch.rand(2, 3, h, w), image("hubble"))
    assert out.shape == (2, 3, h, w)
    assert out.dtype == torch.float32 and out.min() >= 0 and out.max() <= 1


def test_result_depends_on_style_and_content(st, content, style):
    a = st.stylize(content, style)
    b = st.stylize(content, image("rocket"))
    c = st.stylize(image("chelsea", 256), style)
    assert _rel(a, b) > 0.01 and _rel(a, c) > 0.01


def test_deterministic(st, content, style):
    assert torch.equal(st.stylize(content, style), st.stylize(content, style))


def test_batch_equals_one_by_one(st, style):
    batch = torch.cat([image("astronaut", 96), image("chelsea", 96), image("rocket", 96)])
    together = st.stylize(batch, style)
    alone = torch.cat([st.stylize(batch[i : i + 1], style) for i in range(3)])
    assert torch.allclose(together, alone, atol=1e-5)


def test_prepared_style_reused_and_equal(st, content, style):
    prepared = st.prepare_style(style)
    assert isinstance(prepared, PreparedStyle)
    assert torch.equal(st.stylize(content, prepared), st.stylize(content, style))


def test_model_not_mutated(art_net, content, style):
    before = {k: v.clone() for k, v in art_net.state_dict().items()}
    Stylizer(art_net, precision="bf16").stylize(content, style)
    after = art_net.state_dict()
    assert all(torch.equal(before[k], after[k]) and after[k].dtype == torch.float32 for k in before)


# ----------------------------------------------------------------------------- alpha
def test_alpha_zero_is_content_reconstruction(art_net, st, content, style):
    out = st.stylize(content, style, alpha=0.0)
    with torch.no_grad():
        recon = art_net.decoder(art_net.encoder(content)).clamp(0, 1)
    assert torch.allclose(out, recon, atol=1e-5)


def test_alpha_moves_monotonically(st, content, style):
    full = st.stylize(content, style, alpha=1.0)
    zero = st.stylize(content, style, alpha=0.0)
    d = [_rel(st.stylize(content, style, alpha=a), zero) for a in (0.25, 0.5, 0.75)]
    assert d[0] < d[1] < d[2] < _rel(full, zero) + 1e-6
    assert _rel(st.stylize(content, style, alpha=0.5), full) > 0.005


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_alpha_out_of_range(st, content, style, bad):
    with pytest.raises(InputError, match="alpha"):
        st.stylize(content, style, alpha=bad)


# ------------------------------------------------------------------------ multi-style
def test_style_weights_one_hot_equals_single_style(st, content):
    s1, s2 = image("hubble"), image("rocket")
    only_first = st.stylize(content, [s1, s2], style_weights=[1.0, 0.0])
    assert torch.allclose(only_first, st.stylize(content, s1), atol=1e-5)


def test_style_interpolation_is_between(st, content):
    s1, s2 = image("hubble"), image("rocket")
    a, b = st.stylize(content, s1), st.stylize(content, s2)
    mid = st.stylize(content, [s1, s2], style_weights=[0.5, 0.5])
    assert _rel(mid, a) < _rel(b, a) and _rel(mid, b) < _rel(a, b)
    # weights are normalised: (2, 2) equals (0.5, 0.5)
    assert torch.allclose(mid, st.stylize(content, [s1, s2], style_weights=[2, 2]), atol=1e-6)


def test_style_batch_tensor_means_several_styles(st, content):
    s1, s2 = image("hubble", 120), image("rocket", 120)
    as_batch = st.stylize(content, torch.cat([s1, s2]))
    as_list = st.stylize(content, [s1, s2])
    assert torch.allclose(as_batch, as_list, atol=1e-6)


@pytest.mark.parametrize(
    "weights",
    [
        [1.0],
        [1, -1],
        [0, 0],
        [float("nan"), 1],
        [float("inf"), 1],
        [float("-inf"), 1],
        [1e308, 1e308],  # each finite, the sum is not: the blend would be nan (a black image)
        ["heavy", 1],
    ],
)
def test_bad_style_weights(st, content, weights):
    with pytest.raises(InputError, match="style weights"):
        st.stylize(content, [image("hubble"), image("rocket")], style_weights=weights)


# ---------------------------------------------------------------------- colour
def test_preserve_color_luminance_keeps_content_chroma(st, content, style):
    out = st.stylize(content, style, preserve_color=True)
    plain = st.stylize(content, style, palette=0)  # colours preserved: no palette step
    chroma_out = rgb_to_ycbcr(out)[:, 1:]
    chroma_content = rgb_to_ycbcr(content)[:, 1:]
    # equal up to clamping of out-of-gamut pixels
    assert (chroma_out - chroma_content).abs().mean() < 0.01
    assert (rgb_to_ycbcr(plain)[:, 1:] - chroma_content).abs().mean() > 0.02
    # the luma is the stylised one
    assert torch.allclose(rgb_to_ycbcr(out)[:, :1], rgb_to_ycbcr(plain)[:, :1], atol=0.05)


@pytest.mark.parametrize("name", ["rocket", "hubble", "chelsea"])
def test_match_color_gives_content_colour_statistics(content, name):
    style = image(name)
    exact = match_color(style, content, clamp=False)
    assert torch.allclose(exact.mean((2, 3)), content.mean((2, 3)), atol=1e-4)
    cov = lambda x: torch.cov(x[0].flatten(1))  # noqa: E731
    assert torch.allclose(cov(exact), cov(content), atol=2e-3)  # up to the 1e-5 regulariser
    clamped = match_color(style, content)
    gap = lambda x: float((x.mean((2, 3)) - content.mean((2, 3))).abs().max())  # noqa: E731
    assert gap(clamped) < 0.5 * gap(style) and gap(clamped) < 0.04


def test_preserve_color_match_uses_recoloured_style(st, content, style):
    out = st.stylize(content, style, preserve_color="match")
    direct = st.stylize(content, match_color(style, content), palette=0)
    assert torch.allclose(out, direct, atol=1e-5)
    assert not torch.allclose(out, st.stylize(content, style, palette=0), atol=1e-3)


def test_bad_preserve_color(st, content, style):
    with pytest.raises(InputError, match="preserve_color"):
        st.stylize(content, style, preserve_color="sepia")


# ------------------------------------------------------------------------- masks
def test_mask_keeps_content_outside(st, content, style):
    mask = torch.zeros(1, 256, 256)
    mask[:, :, :128] = 1
    # the network's own colours: the palette step measures inside the mask (test_palette.py)
    out = st.stylize(content, style, mask=mask, feather=0, palette=0)
    full = st.stylize(content, style, palette=0)
    assert torch.allclose(out[..., 128:], content[..., 128:], atol=1e-6)
    assert torch.allclose(out[..., :128], full[..., :128], atol=1e-6)


def test_mask_feather_softens_edge(st, content, style):
    mask = torch.zeros(256, 256)
    mask[:, :128] = 1
    hard = st.stylize(content, style, mask=mask, feather=0)
    soft = st.stylize(content, style, mask=mask, feather=16)
    assert torch.allclose(soft[..., 150:], content[..., 150:], atol=1e-5)
    assert not torch.allclose(soft[..., 120:136], hard[..., 120:136], atol=1e-3)


def test_mask_with_second_style_outside(st, content):
    s1, s2 = image("hubble"), image("rocket")
    mask = torch.zeros(1, 256, 256)
    mask[..., :128] = 1
    out = st.stylize(content, s1, mask=mask, outside=s2, feather=0, palette=0)
    a, b = st.stylize(content, s1, palette=0), st.stylize(content, s2, palette=0)
    # far from the edge each side follows its own style (the decoder blurs only near the edge)
    assert _rel(out[..., :96], a[..., :96]) < 0.02
    assert _rel(out[..., 160:], b[..., 160:]) < 0.02


def test_mask_per_image_batch(st, style):
    batch = torch.cat([image("astronaut", 64), image("chelsea", 64)])
    masks = torch.stack([torch.ones(64, 64), torch.zeros(64, 64)])
    out = st.stylize(batch, style, mask=masks, feather=0)
    assert torch.allclose(out[1], batch[1], atol=1e-6)
    assert not torch.allclose(out[0], batch[0], atol=1e-2)


@pytest.mark.parametrize(
    "mask,match",
    [
        (torch.ones(1, 100, 100), "does not match"),
        (torch.ones(3, 64, 64), "3 masks for 2"),
        (torch.full((64, 64), float("nan")), "NaN"),
        (torch.ones(2, 3, 64, 64), "expected"),
    ],
)
def test_bad_masks(st, style, mask, match):
    batch = torch.rand(2, 3, 64, 64)
    with pytest.raises(InputError, match=match):
        st.stylize(batch, style, mask=mask)


# ---------------------------------------------------------------------- inputs
def test_grayscale_rgba_and_16bit_inputs(st, style):
    gray = torch.rand(1, 1, 48, 40)
    out = st.stylize(gray, style)
    assert out.shape == (1, 3, 48, 40)
    assert torch.allclose(out, st.stylize(gray.expand(-1, 3, -1, -1), style))
    rgba = torch.cat([torch.rand(1, 3, 48, 40), torch.rand(1, 1, 48, 40)], dim=1)
    out = st.stylize(rgba, style)
    assert out.shape == (1, 4, 48, 40)
    assert torch.equal(out[:, 3:], rgba[:, 3:])  # alpha passes through untouched
    rgb16 = (torch.rand(1, 3, 48, 40) * 65535).to(torch.int32)
    out16 = st.stylize(rgb16, style)
    assert torch.allclose(out16, st.stylize(rgb16.float() / 65535, style), atol=1e-6)
    rgb8 = (torch.rand(1, 3, 48, 40) * 255).to(torch.uint8)
    assert torch.allclose(st.stylize(rgb8, style), st.stylize(rgb8.float() / 255, style), atol=1e-6)


@pytest.mark.parametrize(
    "bad,match",
    [
        (torch.rand(0, 3, 32, 32), "empty"),
        (torch.rand(1, 5, 32, 32), "channels"),
        (torch.rand(2, 2, 3, 32, 32), "shape"),
        (torch.full((1, 3, 32, 32), float("nan")), "NaN"),
        ("not a tensor", "Tensor"),
    ],
)
def test_bad_content(st, style, bad, match):
    with pytest.raises(InputError, match=match):
        st.stylize(bad, style)


@pytest.mark.parametrize("side", [1, 8])
def test_content_too_small_is_clear(st, st_photo, style, side):
    """A side <= the stride reached the decoder's reflection padding as a raw RuntimeError."""
    for shape in ((side, 40), (40, side)):
        with pytest.raises(InputError, match=r"art model needs at least 9 pixels a side"):
            st.stylize(torch.rand(1, 3, *shape), style)
        with pytest.raises(InputError, match=r"at least 9 pixels"):
            st.content_statistics(torch.rand(2, 3, *shape))
        with pytest.raises(InputError, match=r"at least 9 pixels"):
            st.accumulate(torch.rand(2, 3, *shape), FeatureMoments())
    with pytest.raises(InputError, match=r"photo model needs at least 5 pixels"):
        st_photo.stylize(torch.rand(1, 3, 4, 40), style)
    assert st.stylize(torch.rand(1, 3, 9, 9), style).shape == (1, 3, 9, 9)  # the smallest
    assert st_photo.stylize(torch.rand(1, 3, 5, 7), style).shape == (1, 3, 5, 7)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int32, torch.bool])
def test_out_must_be_floating_point(st, style, dtype):
    x = torch.rand(1, 3, 16, 16)
    out = torch.zeros(1, 3, 16, 16, dtype=dtype)
    with pytest.raises(InputError, match="out: expected a floating-point tensor"):
        st.stylize(x, style, out=out)
    assert not out.any()  # refused before anything was written into it


@pytest.mark.parametrize("tile", [1, 8, 31, -64, 100.5, float("nan"), True])
def test_tile_too_small_or_not_whole(st, style, tile):
    """``max(stride, tile)`` used to turn tile 1 into 8-pixel tiles: a run that seems to hang."""
    with pytest.raises(InputError, match=r"^`tile`: expected (0 or )?a whole number"):
        st.stylize(torch.rand(1, 3, 48, 48), style, tile=tile)


def test_style_too_small_is_clear(st, st_photo, content):
    with pytest.raises(InputError, match=r"at least 33x33"):
        st.stylize(content, torch.rand(1, 3, 32, 200))
    st_photo.stylize(content, torch.rand(1, 3, 9, 9))
    with pytest.raises(InputError, match=r"at least 9x9"):
        st_photo.stylize(content, torch.rand(1, 3, 8, 20))


def test_style_of_other_mode_rejected(st, st_photo, content, style):
    with pytest.raises(InputError, match="photo"):
        st.stylize(content, st_photo.prepare_style(style))


# ---------------------------------------------------------------------- tiling
@pytest.mark.parametrize("h,w,tile", [(256, 256, 64), (203, 157, 48), (120, 333, 100)])
def test_tiled_equals_untiled_art(st, style, h, w, tile):
    x = torch.nn.functional.interpolate(image("astronaut"), size=(h, w), mode="bilinear")
    untiled = st.stylize(x, style, tile=0)
    tiled = st.stylize(x, style, tile=tile)
    assert (untiled - tiled).abs().max() < 1e-4


@pytest.mark.parametrize("h,w,tile", [(256, 256, 64), (151, 97, 36)])
def test_tiled_equals_untiled_photo(st_photo, style, h, w, tile):
    x = torch.nn.functional.interpolate(image("astronaut"), size=(h, w), mode="bilinear")
    assert (
        st_photo.stylize(x, style, tile=0) - st_photo.stylize(x, style, tile=tile)
    ).abs().max() < 1e-4


def test_tiling_with_all_options(st, style):
    x = image("astronaut")
    mask = torch.zeros(1, 256, 256)
    mask[:, 40:200, 30:180] = 1
    kw = dict(alpha=0.7, preserve_color=True, mask=mask, outside=image("rocket"), feather=6)
    assert (
        st.stylize(x, style, tile=0, **kw) - st.stylize(x, style, tile=64, **kw)
    ).abs().max() < 1e-4


def test_auto_tiling_under_small_budget(art_net, style):
    x = image("astronaut")
    small = Stylizer(art_net, memory_budget_bytes=40 * 256 * 256)  # far below one untiled image
    steps = []
    out = small.stylize(x, style, progress=lambda d, t: steps.append((d, t)))
    assert steps[-1][0] == steps[-1][1] > 2  # several tiles were processed and reported
    ref = Stylizer(art_net).stylize(x, style, tile=0)
    assert (out - ref).abs().max() < 1e-4


def test_big_batch_is_chunked_under_budget(art_net, style):
    batch = torch.rand(5, 3, 64, 64)
    st = Stylizer(art_net, memory_budget_bytes=2 * 64 * 64 * BYTES_PER_PIXEL[4])
    chunk_sizes = []
    original = st.encode

    def spy(rgb, *a, **k):
        chunk_sizes.append(rgb.shape[0])
        return original(rgb, *a, **k)

    prepared = st.prepare_style(style)
    st.encode = spy
    out = st.stylize(batch, prepared)
    assert chunk_sizes == [2, 2, 1]
    # within a quarter of an 8-bit level: the palette step's quantile maps move by ~1e-4 with
    # float-level differences between chunkings
    assert torch.allclose(out, Stylizer(art_net).stylize(batch, style), atol=1e-3)


def test_out_of_memory_retries_with_smaller_tiles(art_net, style):
    st = Stylizer(art_net)
    x = image("astronaut")
    prepared = st.prepare_style(style)
    real_forward = st.encoder.forward
    seen = []

    def flaky(inp):
        seen.append(inp.shape[-1])
        if inp.shape[-1] > 200:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return real_forward(inp)

    st.encoder.forward = flaky
    out = st.stylize(x, prepared, tile=0)
    assert seen[0] == 256 and max(seen[1:]) <= 200  # retried with tiles
    assert (out - Stylizer(art_net).stylize(x, style, tile=0)).abs().max() < 1e-4


def test_out_of_memory_everywhere_gives_clear_error(art_net, style):
    st = Stylizer(art_net)

    def always(inp):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 GB")

    st.encoder.forward = always
    with pytest.raises(MemoryError, match="ran out of memory"):
        st.stylize(image("astronaut"), image("hubble"), tile=0)


def test_other_errors_are_not_swallowed(art_net, style):
    st = Stylizer(art_net)
    st.encoder.forward = lambda inp: (_ for _ in ()).throw(RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        st.stylize(image("astronaut"), style)


def test_progress_can_interrupt(st, content, style):
    class Stop(Exception):
        pass

    def cb(done, total):
        raise Stop

    with pytest.raises(Stop):
        st.stylize(content, style, tile=64, progress=cb)


# ------------------------------------------------------------------- precision
def test_fast_precision_close_to_exact(art_net, content, style):
    exact = Stylizer(art_net, precision="fp32").stylize(content, style)
    fast = Stylizer(art_net, precision="bf16").stylize(content, style)
    assert _rel(fast, exact) < 0.05
    assert not torch.equal(fast, exact)


@pytest.mark.parametrize("value", ["-1", "0", "inf", "nan", "1e400", "lots"])
def test_bad_memory_budget_in_the_environment(art_net, monkeypatch, style, value):
    monkeypatch.setenv("CCPL_MEMORY_BUDGET_MB", value)
    st = Stylizer(art_net)
    with pytest.raises(InputError, match=r"CCPL_MEMORY_BUDGET_MB=.* finite number of MiB above 0"):
        st.stylize(torch.rand(1, 3, 16, 16), style)
    with pytest.raises(InputError, match="memory budget"):
        Stylizer(art_net, memory_budget_bytes=-5).budget()


def test_memory_budget_in_the_environment(art_net, monkeypatch):
    monkeypatch.setenv("CCPL_MEMORY_BUDGET_MB", "1.5")
    assert Stylizer(art_net).budget() == int(1.5 * 2**20)


def test_precision_and_device_errors(art_net):
    with pytest.raises(InputError, match="precision"):
        Stylizer(art_net, precision="int8")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA"):
            Stylizer(art_net, device="cuda")


def test_content_stats_override(st, content, style):
    with torch.no_grad():
        stats = ContentStats.of(st.encoder(content), covariance=True)
    same = st.stylize(content, style, content_stats=stats)
    assert torch.allclose(same, st.stylize(content, style), atol=1e-6)
    shifted = ContentStats(stats.mean + 1.0, stats.std, stats.covariance)
    assert not torch.allclose(st.stylize(content, style, content_stats=shifted), same, atol=1e-3)


# ----------------------------------------------------------------- video helpers


def test_output_info_needs_no_frame_sized_tensor():
    """The output size of a 16K clip comes from its numbers: no 40 GB probe tensor."""
    from torch.overrides import TorchFunctionMode

    from ccpl_core.images import planned_size, resize_short_side
    from ccpl_core.video import engine
    from ccpl_core.video.io import VideoInfo

    class NoTorch(TorchFunctionMode):
        """Fails on any torch function (tensor factories included) called while it is active."""

        def __torch_function__(self, func, types, args=(), kwargs=None):
            raise AssertionError(f"output_info called {func} (a probe tensor?)")

    with NoTorch():
        big = engine.output_info(VideoInfo(10, 25.0, 100_000, 100_000, False), 512)
    assert (big.width, big.height) == (512, 512)
    for h, w, size in [(720, 1280, 512), (37, 101, 20), (1080, 1920, 1080), (5, 3, 0)]:
        info = engine.output_info(VideoInfo(3, 30.0, w, h, True), size)
        shape = resize_short_side(torch.zeros(1, 1, h, w), size).shape[-2:]
        assert (info.height, info.width) == tuple(shape) == planned_size(h, w, size)
        assert (info.frames, info.fps, info.has_audio) == (3, 30.0, True)


def test_warping_error_refuses_clearly():
    import numpy as np

    from ccpl_core.video.metrics import warping_error

    rng = np.random.default_rng(0)
    clip = [(rng.random((24, 32, 3)) * 255).astype(np.uint8) for _ in range(3)]
    small = [f[:16, :20] for f in clip]
    with pytest.raises(
        InputError, match=r"frame 0: the source is 32x24 but the stylised frame is 20x16"
    ):
        warping_error(clip, small)
    with pytest.raises(InputError, match=r"3 frame\(s\) are too few for interval 10.*at least 11"):
        warping_error(clip, clip, interval=10)
    with pytest.raises(InputError, match="interval must be a whole number >= 1"):
        warping_error(clip, clip, interval=0)
    still = [clip[0]] * 3
    assert warping_error(still, still) < 1e-3


def test_warping_error_without_trackable_pixels(monkeypatch):
    import numpy as np

    from ccpl_core.video import flow, metrics

    monkeypatch.setattr(flow, "occlusion_mask", lambda *a: np.zeros((16, 16)))
    still = [np.zeros((16, 16, 3), np.uint8)] * 2
    with pytest.raises(InputError, match="no pixel could be followed between frames 1 apart"):
        metrics.warping_error(still, still)
