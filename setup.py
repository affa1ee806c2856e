"""Build step only: the package's metadata lives in pyproject.toml.

The repository keeps ``weights_manifest.json`` and the bundled ``models/`` at its root (the root
is also the ComfyUI custom-node folder). A wheel carries them as package data instead: build_py
copies the manifest and every file it declares as bundled into ``ccpl_core/bundled/``, where
``ccpl_core.weights.manifest.bundled_root()`` finds them at run time. MANIFEST.in puts the same
files into the sdist, so a wheel built from the sdist has them too.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path, PurePosixPath

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
MANIFEST = "weights_manifest.json"
TARGET = PurePosixPath("ccpl_core", "bundled")


def bundled_files() -> list[str]:
    """The manifest and the files it declares as bundled, relative to the source root."""
    manifest = HERE / MANIFEST
    if not manifest.is_file():
        raise SystemExit(f"setup.py: {manifest} is missing; a wheel without it cannot find models")
    files = [MANIFEST]
    for name, entry in json.loads(manifest.read_text(encoding="utf-8"))["models"].items():
        folder = entry.get("bundled")
        for spec in entry.get("files", []) if folder else []:
            rel = str(PurePosixPath(folder, spec["name"]))
            path = HERE / rel
            if not path.is_file():
                raise SystemExit(f"setup.py: {name}: bundled file {rel} is missing")
            # a git LFS pointer or a damaged file must not be shipped
            size_ok = spec.get("size") in (None, path.stat().st_size)
            if not size_ok or _sha256(path) != spec["sha256"]:
                raise SystemExit(f"setup.py: {name}: {rel} does not match its manifest sha256")
            if rel not in files:
                files.append(rel)
    return files


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class BuildPyWithBundled(build_py):
    """build_py that also copies the manifest and bundled models into ccpl_core/bundled/."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return  # an editable install reads them from the checkout itself
        for rel in bundled_files():
            dest = Path(self.build_lib, TARGET, rel)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(HERE / rel, dest)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if self.editable_mode:
            return outputs
        return [*outputs, *(str(Path(self.build_lib, TARGET, rel)) for rel in bundled_files())]


setup(cmdclass={"build_py": BuildPyWithBundled})
