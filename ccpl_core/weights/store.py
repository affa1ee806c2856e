"""Finding the verified files of a manifest entry: bundled with it, or in the models folder.

A file is used only when its sha256 matches the manifest. Files are looked for beside the manifest
(bundled models: the repository root in a checkout, ``ccpl_core/bundled`` in an installed wheel)
and in the caller's models folder (ComfyUI passes models/sct); nothing touches the network here,
so everything present works offline.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ModelError
from .files import sha256_file
from .manifest import Entry, FileSpec, Manifest, bundled_root

_VERIFIED: dict[tuple[str, int, int], str] = {}


def file_sha256_cached(path: Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime) for the life of the process."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _VERIFIED:
        _VERIFIED[key] = sha256_file(path)
    return _VERIFIED[key]


def verify(path: Path, spec: FileSpec) -> bool:
    if spec.size is not None and path.stat().st_size != spec.size:
        return False
    return spec.sha256 is None or file_sha256_cached(path) == spec.sha256


def bundled_path(entry: Entry, spec: FileSpec) -> Path | None:
    """Where a bundled file lies: in ``bundled``, relative to the folder of its manifest."""
    return _base(entry) / entry.bundled / spec.name if entry.bundled else None


def _base(entry: Entry) -> Path:
    return entry.root if entry.root is not None else bundled_root()


def _restore_hint(entry: Entry, path: Path) -> str:
    """How to get a damaged bundled file back: from git in a checkout, else by reinstalling."""
    base = _base(entry)
    if (base / ".git").exists():
        return (
            "the checkout is damaged (git LFS pointer or partial clone?): restore it with "
            f"`git -C {base} checkout -- {path.relative_to(base).as_posix()}`"
        )
    return (
        "the installation is damaged: restore the file, or reinstall the package that shipped it "
        "(`pip install --force-reinstall comfyui-ccpl`)"
    )


def manual_steps(entry: Entry, spec: FileSpec, models_dir: Path) -> str:
    """How to get a missing file by hand, for the error message."""
    steps = []
    if entry.hosted and entry.repo_id:
        rev = entry.revision or "main"
        steps.append(
            f"download https://huggingface.co/{entry.repo_id}/resolve/{rev}/{spec.name} "
            f"into {models_dir}"
        )
    original = entry.provenance.get("original_files")
    if original:
        names = ", ".join(o.get("name", "?") for o in original)
        url = entry.provenance.get("url", "the authors' release")
        conv = entry.provenance.get("convert", "ccpl weights convert")
        lead = "or get" if steps else "get"
        steps.append(f"{lead} the original {names} from {url} and run `{conv} -o {models_dir}`")
    if not steps:
        steps.append(f"place {spec.name} in {models_dir}")
    return "; ".join(steps)


def locate(
    manifest: Manifest,
    name: str,
    models_dir: str | os.PathLike,
    downloader=None,
) -> list[Path]:
    """Verified paths of entry ``name`` and the encoders it requires (encoders first).

    ``downloader(entry, spec, models_dir) -> Path`` is called for a missing file of a hosted
    entry; without one (or for unhosted entries) missing files raise one error that lists each
    of them with the manual steps to get it.
    """
    folder = Path(models_dir)
    paths: list[Path] = []
    missing: list[str] = []
    for entry in _with_requirements(manifest, name):
        for spec in entry.files:
            found = _one_file(entry, spec, folder, downloader)
            if found is None:
                hosted = "" if entry.hosted else " (not hosted on the Hub yet)"
                missing.append(
                    f"{entry.name}: {spec.name}{hosted}: {manual_steps(entry, spec, folder)}"
                )
            elif found not in paths:
                paths.append(found)
    if missing:
        raise ModelError(f"{name}: {len(missing)} file(s) missing. " + " | ".join(missing))
    return paths


def obtainable(manifest: Manifest, name: str, models_dir: str | os.PathLike) -> bool:
    """Whether every file of ``name`` (and its encoders) is present or can be downloaded.

    A quick check for model lists (presence, not sha256): an entry that fails it would only fail
    when loaded, so lists hide it.
    """
    folder = Path(models_dir)
    for entry in _with_requirements(manifest, name):
        for spec in entry.files:
            bundled = bundled_path(entry, spec)
            present = (bundled is not None and bundled.is_file()) or (folder / spec.name).is_file()
            if not present and not entry.hosted:
                return False
    return True


def _with_requirements(manifest: Manifest, name: str) -> list[Entry]:
    entry = manifest.get(name)
    return [*(manifest.get(r) for r in entry.requires), entry]


def _one_file(entry: Entry, spec: FileSpec, folder: Path, downloader) -> Path | None:
    bundled = bundled_path(entry, spec)
    if bundled is not None and bundled.is_file():
        if verify(bundled, spec):
            return bundled
        raise ModelError(
            f"bundled file {bundled} does not match its sha256 in the manifest; "
            + _restore_hint(entry, bundled)
        )
    local = folder / spec.name
    if local.is_file():
        if verify(local, spec):
            return local
        raise ModelError(
            f"{local} does not match the sha256/size in the manifest for {entry.name}; it is "
            "not used. Delete it (it will be downloaded again) or replace it with the right file."
        )
    if downloader is not None and entry.hosted:
        return downloader(entry, spec, folder)
    return None
