"""Regenerate web/docs/gallery.jpg (art) and web/docs/gallery_photo.jpg from the default models.

    python tools/make_gallery.py --paintings ../shared/data/paintings [--clip bikes.mp4]

Art: rows are the content photos of examples/content, columns the styles (Starry Night plus the
given public-domain paintings, all held out of training). Photo: each content photo takes the
colours and light of each other one (photo-realistic model).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from ccpl_core import Stylizer, load_image, load_model, resize_short_side, save_image
from ccpl_core.cli import run_reporting

ROOT = Path(__file__).resolve().parents[1]
PAINTINGS = (
    "Katsushika_Hokusai_The_Great_Wave_off_Kanagawa_1823_1829.png",
    "Wassily_Kandinsky_Composition_VIII_1923.png",
    "Vincent_Van_Gogh_Village_Street_in_Auvers_1890.png",
    "Pierre_Auguste_Renoir_Bal_du_moulin_de_la_Galette_1876.png",
)
CELL = 256


def fit(x: torch.Tensor, size: int = CELL) -> torch.Tensor:
    """Centre-crop to a square and resize to size x size."""
    h, w = x.shape[-2:]
    s = min(h, w)
    x = x[..., (h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True).clamp(0, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--paintings", default=None, help="folder of the public-domain paintings")
    ap.add_argument("--clip", default=None, help="a video whose frames make a last row")
    ap.add_argument("--model", default=None)
    ap.add_argument("-o", "--output", default=str(ROOT / "web" / "docs" / "gallery.jpg"))
    args = ap.parse_args()
    st = Stylizer(load_model(args.model), precision="fp32")
    styles = [ROOT / "examples/style/starry_night.jpg"]
    if args.paintings:
        styles += [Path(args.paintings) / p for p in PAINTINGS]
    style_imgs = [resize_short_side(load_image(p)[0], 512) for p in styles]
    contents = sorted((ROOT / "examples/content").glob("*.jpg"))
    blank = torch.ones(1, 3, CELL, CELL)
    rows = [torch.cat([blank] + [fit(s) for s in style_imgs], dim=-1)]
    for c in contents:
        content = resize_short_side(load_image(c)[0], 512)
        outs = [fit(st.stylize(content, s)) for s in style_imgs]
        rows.append(torch.cat([fit(content), *outs], dim=-1))
    if args.clip:
        from ccpl_core.video import FrameSource

        frames = [f for i, f in enumerate(FrameSource(args.clip)) if i in (0, 20, 40, 60)]
        x = torch.stack([torch.from_numpy(f).permute(2, 0, 1) for f in frames]).float() / 255
        x = resize_short_side(x, 256)
        stats = st.content_statistics(x)
        out = st.stylize(x, style_imgs[0], content_stats=stats)
        row = torch.cat([fit(o[None]) for o in out], dim=-1)
        pad = torch.ones(1, 3, CELL, rows[0].shape[-1] - row.shape[-1])
        rows.append(torch.cat([row, pad], dim=-1)[..., : rows[0].shape[-1]])
    grid = torch.cat(rows, dim=-2)
    print(save_image(grid, args.output, overwrite=True))
    write_thumbnails(st, style_imgs[0], rows)
    print(photo_gallery(contents, Path(args.output).with_name("gallery_photo.jpg")))


def photo_gallery(contents: list[Path], output: Path) -> Path:
    """Content rows x photo-style columns (the other contents), by the default photo model."""
    st = Stylizer(load_model(None, mode="photo"), precision="fp32")
    photos = [resize_short_side(load_image(c)[0], 512) for c in contents]
    blank = torch.ones(1, 3, CELL, CELL)
    rows = [torch.cat([blank] + [fit(p) for p in photos], dim=-1)]
    for i, content in enumerate(photos):
        cells = [fit(content)]
        cells += [blank if j == i else fit(st.stylize(content, s)) for j, s in enumerate(photos)]
        rows.append(torch.cat(cells, dim=-1))
    return save_image(torch.cat(rows, dim=-2), output, overwrite=True)


def write_thumbnails(st: Stylizer, style: torch.Tensor, rows: list[torch.Tensor]) -> None:
    """Thumbnails of the example workflows (ComfyUI's template browser shows them)."""
    folder = ROOT / "example_workflows"
    astronaut = resize_short_side(load_image(ROOT / "examples/content/astronaut.jpg")[0], 512)
    image_thumb = fit(st.stylize(astronaut, style), 384)
    save_image(image_thumb, folder / "ccpl_image_stylize.jpg", overwrite=True)
    # video: four frames of a pan over the photo, stylised with clip statistics
    frames = torch.cat([fit(astronaut[..., :, 24 * k : 24 * k + 400], 192) for k in range(4)])
    out = st.stylize(frames, style, content_stats=st.content_statistics(frames))
    strip = torch.cat([torch.cat([out[0], out[1]], -1), torch.cat([out[2], out[3]], -1)], -2)
    save_image(strip[None], folder / "ccpl_video_stylize.jpg", overwrite=True)
    # long clips in windows: the same frames as one strip (windows continue each other)
    save_image(torch.cat(list(out), -1)[None], folder / "ccpl_video_meta_batch.jpg", overwrite=True)
    # finetune: style | result side by side
    save_image(
        torch.cat([fit(style, 192), fit(image_thumb, 192)], -1),
        folder / "ccpl_finetune.jpg",
        overwrite=True,
    )


if __name__ == "__main__":
    raise SystemExit(run_reporting(main))
