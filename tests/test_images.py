"""Reading and writing image files of every common kind."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from helpers import png_header
from PIL import Image, ImageOps

from ccpl_core import InputError, load_image, resize_short_side, save_image
from ccpl_core.images import (
    DEFAULT_MAX_PIXELS,
    MAX_PIXELS_ENV,
    _upright,
    check_output_size,
    check_writable,
    image_size,
    load_frame,
    max_pixels,
    planned_size,
)


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


@pytest.mark.parametrize("suffix", ["jpg", "png", "webp", "tif"])
def test_exif_orientation_is_applied(tmp_path, suffix):
    arr = (np.random.default_rng(1).random((5, 7, 3)) * 255).astype(np.uint8)
    for orientation in range(1, 9):
        im = Image.fromarray(arr)
        exif = im.getexif()
        exif[0x0112] = orientation
        path = tmp_path / f"o{orientation}.{suffix}"
        im.save(path, exif=exif, **({"quality": 100} if suffix == "jpg" else {}))
        with Image.open(path) as reference:
            upright = np.asarray(ImageOps.exif_transpose(reference).convert("RGB"))
        frame = load_frame(path)
        assert frame.shape == upright.shape and (frame == upright).all(), orientation
        rgb, _ = load_image(path)
        assert rgb.shape[-2:] == upright.shape[:2]
        w, h = image_size(path)
        assert sorted((w, h)) == sorted(upright.shape[:2])


@pytest.mark.parametrize("orientation", range(1, 9))
def test_upright_matches_pillow(orientation):
    """The array turn used for 16-bit colour (read by OpenCV) equals Pillow's transposition."""
    arr = (np.random.default_rng(2).random((5, 7, 3)) * 255).astype(np.uint8)
    im = Image.fromarray(arr)
    im.getexif()[0x0112] = orientation
    expected = np.asarray(ImageOps.exif_transpose(im))
    got = _upright(arr, orientation)
    assert got.shape == expected.shape and (got == expected).all()


def test_16bit_scale_comes_from_the_bit_depth_not_the_values(tmp_path):
    Image.fromarray(np.full((4, 5), 200, np.uint16)).save(tmp_path / "g16.png")
    cv2.imwrite(str(tmp_path / "c16.png"), np.full((4, 5, 3), 200, np.uint16))
    cv2.imwrite(str(tmp_path / "c16.tif"), np.full((4, 5, 3), 200, np.uint16))
    for name in ("g16.png", "c16.png", "c16.tif"):
        rgb, _ = load_image(tmp_path / name)
        assert torch.allclose(rgb, torch.full_like(rgb, 200 / 65535)), name
        assert load_frame(tmp_path / name).max() == 1, name  # 200 / 257 rounds to 1, not 200


def test_frames_are_read_like_images(tmp_path):
    colour = (np.random.default_rng(3).random((6, 8, 3)) * 65535).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "c16.png"), colour[..., ::-1])
    frame = load_frame(tmp_path / "c16.png")
    rgb, _ = load_image(tmp_path / "c16.png")
    expected = (rgb[0].permute(1, 2, 0) * 255).round().byte().numpy()
    assert frame.dtype == np.uint8 and frame.shape == (6, 8, 3) and (frame == expected).all()
    Image.fromarray(np.full((3, 4, 4), 9, np.uint8)).save(tmp_path / "rgba.png")
    Image.fromarray(np.full((3, 4), 7, np.uint8)).save(tmp_path / "gray.png")
    assert load_frame(tmp_path / "rgba.png").shape == (3, 4, 3)
    assert (load_frame(tmp_path / "gray.png") == 7).all()


def test_an_8bit_png_is_decoded_once(tmp_path, monkeypatch):
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "a.png")
    monkeypatch.setattr(cv2, "imdecode", lambda *a: pytest.fail("decoded twice"))
    monkeypatch.setattr(cv2, "imread", lambda *a: pytest.fail("decoded twice"))
    assert load_image(tmp_path / "a.png")[0].shape == (1, 3, 4, 4)


def test_pixel_limit_reads_only_the_header(tmp_path, monkeypatch):
    path = tmp_path / "huge.png"
    path.write_bytes(png_header(50000, 50000))
    for read in (load_image, load_frame, image_size):
        with pytest.raises(InputError, match=r"huge.png is 50000x50000 .*limit.*`max_pixels`"):
            read(path)
    path = tmp_path / "wide.png"
    path.write_bytes(png_header(3000, 2000))
    with pytest.raises(InputError, match="3000x2000"):
        load_image(path, limit=1000 * 1000)
    monkeypatch.setenv(MAX_PIXELS_ENV, "1000x1000")
    assert max_pixels() == 10**6
    with pytest.raises(InputError, match="3000x2000"):
        image_size(path)
    monkeypatch.setenv(MAX_PIXELS_ENV, "lots")
    with pytest.raises(InputError, match=MAX_PIXELS_ENV):
        max_pixels()
    monkeypatch.delenv(MAX_PIXELS_ENV)
    assert max_pixels() == DEFAULT_MAX_PIXELS == 16384 * 16384


def test_damaged_files_name_the_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.png: the file is empty"):
        load_image(tmp_path / "empty.png")
    noise = (np.random.default_rng(4).random((64, 64, 3)) * 255).astype(np.uint8)
    Image.fromarray(noise).save(tmp_path / "ok.jpg")
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cannot decode image .*cut\.jpg.*truncated"):
        load_image(tmp_path / "cut.jpg")


@pytest.mark.parametrize("h,w,size", [(300, 200, 0), (300, 200, 100), (7, 4000, 128), (33, 17, 5)])
def test_planned_size_matches_resize(h, w, size):
    out = resize_short_side(torch.rand(1, 1, h, w), size)
    assert planned_size(h, w, size) == tuple(out.shape[-2:])


def test_check_output_size_knows_format_limits(tmp_path):
    check_output_size("out", tmp_path / "a.png", 20000, 100)
    with pytest.raises(InputError, match="WEBP stores at most 16383"):
        check_output_size("out", tmp_path / "a.webp", 20000, 100)
    with pytest.raises(InputError, match="limit"):
        check_output_size("out", tmp_path / "a.png", 20000, 20000)


def test_check_writable_creates_nothing(tmp_path):
    check_writable([tmp_path / "new" / "deeper" / "a.png"])
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        check_writable([tmp_path / "file" / "a.png"])
    with pytest.raises(InputError, match="shorten it"):
        check_writable([tmp_path / ("x" * 300 + ".png")])
    check_writable([tmp_path / ("x" * 250 + ".png")])  # fits: temporary names are short
