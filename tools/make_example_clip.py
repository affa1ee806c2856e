"""Make examples/video/ccpl_clip.mp4: a short camera pan across a public-domain photo.

The example workflows load it (ComfyUI's input folder gets a copy when the pack loads), so the
video examples run as shipped.

    python tools/make_example_clip.py
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "examples/content/astronaut.jpg"
TARGET = ROOT / "examples/video/ccpl_clip.mp4"
WIDTH, HEIGHT, FRAMES, FPS = 256, 192, 24, 12


def main() -> None:
    photo = np.asarray(Image.open(SOURCE).convert("RGB").resize((384, 384), Image.LANCZOS))
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(TARGET), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"crf": "20", "preset": "veryslow"}
        for k in range(FRAMES):
            y, x = 40 + 2 * k, 20 + 4 * k
            frame = np.ascontiguousarray(photo[y : y + HEIGHT, x : x + WIDTH])
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode(None))
    print(f"{TARGET} ({TARGET.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
