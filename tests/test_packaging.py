"""The package works outside its repository: a built wheel carries the manifest and the models.

The sdist is built from this checkout (its MANIFEST.in must carry the manifest and the bundled
models), a wheel is built from the sdist (as `python -m build` does; this also keeps build/ out of
the checkout) and installed into a fresh venv that sees this venv's dependencies but not the
editable source tree. The installed `ccpl` then stylises an image from another folder, offline,
with no manifest or models folder configured: the default model comes from the wheel itself.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from ccpl_core.errors import ModelError
from ccpl_core.weights.files import sha256_file
from ccpl_core.weights.manifest import DEFAULT_MANIFEST, REPO_ROOT, bundled_root, load_manifest
from ccpl_core.weights.store import locate


def _run(cmd: list, cwd: Path, env: dict | None = None) -> str:
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, (
        f"{cmd} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n"
        f"--- stderr\n{proc.stderr[-4000:]}"
    )
    return proc.stdout


def _bundled_files() -> list[str]:
    man = load_manifest(REPO_ROOT / "weights_manifest.json")
    return sorted(
        {f"{e.bundled}/{spec.name}" for e in man.entries.values() if e.bundled for spec in e.files}
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel built from this checkout installed (no editable source)."""
    pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True)
    if pip.returncode != 0:
        pytest.skip("pip is not available in this venv: cannot build a wheel")
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("setuptools is not installed: no wheel can be built offline (no isolation)")
    tmp = tmp_path_factory.mktemp("packaging")
    dist = tmp / "dist"
    _run(
        [
            sys.executable,
            "-c",
            "import sys; from setuptools import build_meta; build_meta.build_sdist(sys.argv[1])",
            dist,
        ],
        cwd=REPO_ROOT,
    )
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        members = {m.split("/", 1)[1] for m in tar.getnames() if "/" in m}
    for rel in ("setup.py", "MANIFEST.in", "weights_manifest.json", *_bundled_files()):
        assert rel in members, f"the sdist lacks {rel}"

    wheels = tmp / "wheels"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "-w",
            wheels,
            sdist,
        ],
        cwd=tmp,
    )
    (wheel,) = wheels.glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    for rel in ("weights_manifest.json", *_bundled_files()):
        assert f"ccpl_core/bundled/{rel}" in names, f"the wheel lacks ccpl_core/bundled/{rel}"
    assert not any(n.startswith(("models/", "tests/", "nodes/")) for n in names)

    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp)
    python = venv / "bin" / "python"
    site = Path(
        _run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp
        ).strip()
    )
    # This venv's site-packages as a plain path: a folder added by a .pth line is not scanned for
    # .pth files itself, so the editable install's finder (a .pth hook) stays inactive.
    parents = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (site / "_parent_venv.pth").write_text("".join(f"{p}\n" for p in parents))
    _run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--ignore-installed",
            "--disable-pip-version-check",
            "--no-warn-script-location",
            wheel,
        ],
        cwd=tmp,
    )
    return venv


def _env(venv: Path, models: Path) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "CCPL_MANIFEST", "VIRTUAL_ENV")
    }
    env.update(
        CCPL_MODELS_DIR=str(models),
        HF_HUB_OFFLINE="1",
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


@pytest.mark.slow  # builds a wheel and runs the real default model (~15 s on 2 CPU cores)
def test_installed_wheel_stylizes_outside_the_repository(installed, tmp_path):
    work = tmp_path / "elsewhere"
    models = tmp_path / "empty_models"
    work.mkdir()
    models.mkdir()
    env = _env(installed, models)
    where = _run(
        [
            installed / "bin" / "python",
            "-c",
            "import ccpl_core; from ccpl_core.weights.manifest import manifest_path; "
            "print(ccpl_core.__file__); print(manifest_path())",
        ],
        work,
        env,
    ).split("\n")
    package, manifest = Path(where[0]).resolve(), Path(where[1])
    assert package.is_relative_to(installed.resolve()), package
    assert not package.is_relative_to(REPO_ROOT), package
    assert manifest == package.parent / "bundled" / "weights_manifest.json", manifest

    content, style = REPO_ROOT / "tests/data/chelsea.jpg", REPO_ROOT / "tests/data/hubble.jpg"
    ccpl = installed / "bin" / "ccpl"
    args = ["--style", style, "--style-size", 128, "--size", 128, "-o", "out.png"]
    _run([ccpl, "stylize", content, *args], work, env)
    w, h = Image.open(content).size
    expected = (round(w * 128 / min(w, h)), round(h * 128 / min(w, h)))
    with Image.open(work / "out.png") as out:
        assert out.size == expected

    default = load_manifest(REPO_ROOT / "weights_manifest.json").default_model("art")
    listing = _run([ccpl, "weights", "list"], work, env)
    line = next(ln for ln in listing.splitlines() if ln.split()[0] == default)
    assert "present" in line and "(default)" in line, listing
    assert list(models.iterdir()) == []  # nothing was downloaded or written there

    # the installed manifest is the package's, replaced by an upgrade: publish --write refuses
    # it (before any upload) and names the way out
    before = manifest.read_bytes()
    refused = subprocess.run(
        [ccpl, "weights", "publish", models, "--repo-id", "me/x", "--name", "x", "--mode", "art",
         "--write"], cwd=work, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert refused.returncode == 2 and "CCPL_MANIFEST" in refused.stderr, refused.stderr
    assert refused.stderr.strip().count("\n") == 0 and manifest.read_bytes() == before


def test_checkout_finds_its_manifest_at_the_root():
    # editable install / ComfyUI custom-node folder: no ccpl_core/bundled, the root's manifest
    assert bundled_root() == REPO_ROOT and DEFAULT_MANIFEST == REPO_ROOT / "weights_manifest.json"


def test_bundled_folders_are_relative_to_their_own_manifest(tmp_path):
    """A user's manifest with its bundled files beside it (not in the repository) works."""
    folder = tmp_path / "mine" / "weights"
    folder.mkdir(parents=True)
    enc = folder / "enc.safetensors"
    enc.write_bytes(b"not really a model, only hashed here")
    entry = {
        "kind": "encoder",
        "bundled": "weights",
        "files": [{"name": enc.name, "sha256": sha256_file(enc), "size": enc.stat().st_size}],
    }
    path = tmp_path / "mine" / "manifest.json"
    path.write_text(json.dumps({"schema_version": 1, "models": {"enc": entry}}))
    empty = tmp_path / "empty"
    empty.mkdir()
    man = load_manifest(path)
    assert locate(man, "enc", empty) == [enc]
    enc.write_bytes(b"damaged")
    with pytest.raises(ModelError, match="reinstall the package") as info:
        locate(man, "enc", empty)
    assert "git" not in str(info.value)  # not a checkout: no git advice


def test_comfy_registry_metadata():
    """pyproject.toml carries what the Comfy Registry reads, and the icon it points to exists."""
    tomllib = pytest.importorskip("tomllib")
    from PIL import Image

    meta = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    project, comfy = meta["project"], meta["tool"]["comfy"]
    assert project["name"] and project["version"] and project["description"]
    assert project["license"] == "Apache-2.0"
    assert "Apache License" in (REPO_ROOT / "LICENSE").read_text()[:200]
    repo = project["urls"]["Repository"]
    assert repo.startswith("https://github.com/")
    for key in ("PublisherId", "DisplayName", "Icon", "requires-comfyui"):
        assert comfy[key], key
    raw = repo.replace("https://github.com/", "https://raw.githubusercontent.com/") + "/main/"
    assert comfy["Icon"].startswith(raw)
    with Image.open(REPO_ROOT / comfy["Icon"][len(raw) :]) as icon:
        assert icon.width == icon.height <= 400


IMPORTED_AS_A_COMFYUI_PACK = r"""
import importlib, importlib.abc, importlib.util, sys
from pathlib import Path

class NotInstalled(importlib.abc.MetaPathFinder):
    # ComfyUI's venv has no top-level ccpl_core: only the pack folder, imported by path
    def find_spec(self, name, path=None, target=None):
        if name == "ccpl_core" or name.startswith("ccpl_core."):
            raise ImportError(f"No module named {name!r}")

sys.meta_path.insert(0, NotInstalled())
root = Path(sys.argv[1])
spec = importlib.util.spec_from_file_location(
    "ComfyUI-CCPL", root / "__init__.py", submodule_search_locations=[str(root)]
)
pack = importlib.util.module_from_spec(spec)
sys.modules["ComfyUI-CCPL"] = pack
spec.loader.exec_module(pack)
manifest = importlib.import_module("ComfyUI-CCPL.ccpl_core.weights.manifest")
loading = importlib.import_module("ComfyUI-CCPL.ccpl_core.loading")
net = loading.load_model()
print(manifest.DEFAULT_MANIFEST, net.mode)
"""


def test_the_pack_imported_by_path_finds_its_manifest_and_default_model():
    """As ComfyUI imports it: the pack folder by file path, ccpl_core a sub-package of it."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORTED_AS_A_COMFYUI_PACK, str(REPO_ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == [str(REPO_ROOT / "weights_manifest.json"), "art"]
