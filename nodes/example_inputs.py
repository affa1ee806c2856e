"""Put the example workflows' input files into ComfyUI's input folder, so they run as shipped.

The workflows in example_workflows/ load ``ccpl_content.jpg``, ``ccpl_style.jpg`` and
``ccpl_clip.mp4``; a file the user already has under one of these names is never replaced.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import folder_paths

log = logging.getLogger("ccpl")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
#: name in ComfyUI's input folder -> file shipped with the pack
INPUTS = {
    "ccpl_content.jpg": EXAMPLES / "content/astronaut.jpg",
    "ccpl_content2.jpg": EXAMPLES / "content/chelsea.jpg",
    "ccpl_style.jpg": EXAMPLES / "style/starry_night.jpg",
    "ccpl_clip.mp4": EXAMPLES / "video/ccpl_clip.mp4",
}


def install_example_inputs() -> list[str]:
    """Copy the missing example inputs; returns the names copied. Never fails the pack's load."""
    copied = []
    try:
        folder = Path(folder_paths.get_input_directory())
        folder.mkdir(parents=True, exist_ok=True)
        for name, source in INPUTS.items():
            if not (folder / name).exists() and source.is_file():
                shutil.copyfile(source, folder / name)
                copied.append(name)
    except OSError as exc:
        log.warning(
            "ComfyUI-CCPL: could not copy the example inputs into ComfyUI's input folder: %s", exc
        )
    return copied
