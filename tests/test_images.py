"""Reading and writing image files of every common kind."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from ccpl_core import InputError, load_image, resize_short_side, save_image


def test_rgb_jpeg(tmp_path):
    arr = (np.random.default_rng(0).random((20, 30, 3)) * 255).astype(np.uint8)
    Image.fromarray(arr).save(tmp_path / "a.png")
    rgb, alpha = load_image(tmp_path / "a.png")
    assert rgb.shape == (1, 3, 20, 30) and alpha is None
    assert torch.allclose(rgb[0].permute(1, 2, 0), torch.from_numpy(arr).float() / 255)


def test_grayscale_becomes_rgb(tmp_path):
    Image.fromarray(np.full((8, 9), 128, np.uint8)).save(tmp_path / "g.png")
    rgb, _ = load_image(tmp_path / "g.png")
    assert rgb.shape == (1, 3, 8, 9) and torch.allclose(rgb, torch.full_like(rgb, 128 / 255))


def test_rgba_alpha_split(tmp_path):
    arr = np.zeros((6, 7, 4), np.uint8)
    arr[..., 0] = 255
    arr[..., 3] = 64
    Image.fromarray(arr).save(tmp_path / "r.png")
    rgb, alpha = load_image(tmp_path / "r.png")
    assert rgb.shape == (1, 3, 6, 7) and alpha.shape == (1, 1, 6, 7)
    assert torch.allclose(alpha, torch.full_like(alpha, 64 / 255))


def test_16bit_gray_and_colour(tmp_path):
    gray = (np.arange(12 * 10).reshape(12, 10) * 500).astype(np.uint16)
    Image.fromarray(gray).save(tmp_path / "g16.png")
    rgb, _ = load_image(tmp_path / "g16.png")
    assert torch.allclose(rgb[0, 0], torch.from_numpy(gray.astype(np.float32)) / 65535, atol=1e-6)
    colour = np.zeros((5, 4, 3), np.uint16)
    colour[..., 0] = 1000  # R, finer than 8 bits can express
    colour[..., 2] = 65535
    cv2.imwrite(str(tmp_path / "c16.png"), colour[..., ::-1])  # OpenCV writes BGR
    rgb, _ = load_image(tmp_path / "c16.png")
    assert torch.allclose(rgb[0, 0], torch.full((5, 4), 1000 / 65535), atol=1e-7)
    assert torch.allclose(rgb[0, 2], torch.ones(5, 4))


def test_palette_image(tmp_path):
    Image.fromarray(np.full((4, 4, 3), 200, np.uint8)).convert("P").save(tmp_path / "p.gif")
    rgb, _ = load_image(tmp_path / "p.gif")
    assert rgb.shape == (1, 3, 4, 4)


def test_unreadable_and_missing(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(InputError, match="cannot read image"):
        load_image(tmp_path / "bad.png")
    with pytest.raises(InputError, match="not found"):
        load_image(tmp_path / "none.png")


def test_save_round_trip_and_no_overwrite(tmp_path):
    x = torch.rand(1, 3, 9, 11)
    p = save_image(x, tmp_path / "o.png")
    back, _ = load_image(p)
    assert (back - x).abs().max() <= 0.5 / 255 + 1e-6
    before = p.read_bytes()
    with pytest.raises(InputError, match="exists"):
        save_image(torch.zeros(1, 3, 9, 11), p)
    assert p.read_bytes() == before
    save_image(torch.zeros(1, 3, 9, 11), p, overwrite=True)
    assert p.read_bytes() != before


def test_save_with_alpha(tmp_path):
    p = save_image(torch.rand(1, 3, 5, 5), tmp_path / "a.png", alpha=torch.full((1, 1, 5, 5), 0.5))
    assert Image.open(p).mode == "RGBA"


def test_save_unknown_format_leaves_nothing(tmp_path):
    with pytest.raises(InputError, match="unknown image format"):
        save_image(torch.rand(1, 3, 5, 5), tmp_path / "a.xyz")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("size,expect", [(0, (300, 200)), (100, (150, 100)), (256, (384, 256))])
def test_resize_short_side(size, expect):
    out = resize_short_side(torch.rand(1, 3, 300, 200), size)
    assert tuple(out.shape[-2:]) == expect and out.min() >= 0 and out.max() <= 1
