"""Downloading (and publishing) manifest files through the Hugging Face Hub client.

A download goes to a staging folder inside the models folder, is checked against the manifest's
sha256, and only then moved into place with an atomic rename, under a file lock: a file that fails
verification is deleted and never used, a second process waiting on the same file finds it
finished, and an interrupted transfer resumes (the Hub client keeps the partial file). The Hub
client honours HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ModelError
from .files import sha256_file
from .manifest import Entry, FileSpec
from .store import manual_steps, verify

STAGING = ".ccpl-download"


def download(entry: Entry, spec: FileSpec, folder: str | os.PathLike) -> Path:
    """Fetch ``spec`` of a hosted entry into ``folder``; returns the verified final path."""
    try:
        from filelock import FileLock
        from huggingface_hub import hf_hub_download
    except ImportError as exc:  # pragma: no cover - huggingface_hub is a dependency
        raise ModelError("downloading needs huggingface_hub: pip install huggingface_hub") from exc
    if not entry.hosted or not entry.repo_id or not entry.revision:
        raise ModelError(
            f"{entry.name}: not hosted on the Hub; {manual_steps(entry, spec, Path(folder))}"
        )
    target_dir = Path(folder)
    staging = target_dir / STAGING
    staging.mkdir(parents=True, exist_ok=True)
    final = target_dir / spec.name
    with FileLock(str(staging / f"{spec.name}.lock")):
        if final.is_file() and verify(final, spec):
            return final  # finished by another process while we waited
        try:
            got = Path(
                hf_hub_download(
                    repo_id=entry.repo_id,
                    filename=spec.name,
                    revision=entry.revision,
                    local_dir=staging,
                )
            )
        except Exception as exc:
            raise ModelError(
                f"{entry.name}: could not download {spec.name} from {entry.repo_id}@"
                f"{entry.revision[:10]} ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). "
                f"To install it by hand: {manual_steps(entry, spec, target_dir)}"
            ) from exc
        if not verify(got, spec):
            actual = sha256_file(got)
            got.unlink(missing_ok=True)
            _forget(staging, spec.name)
            raise ModelError(
                f"{entry.name}: downloaded {spec.name} has sha256 {actual}, the manifest expects "
                f"{spec.sha256}; the file was deleted. The Hub file or the manifest is wrong: "
                "check CCPL_MANIFEST / HF_ENDPOINT."
            )
        os.replace(got, final)
    return final


def publish(
    folder: str | os.PathLike,
    repo_id: str,
    name: str,
    manifest_entry: dict,
    api=None,
    commit_message: str = "Add ComfyUI-CCPL weights",
) -> dict:
    """Upload the .safetensors files of ``folder`` to ``repo_id`` and return the manifest entry.

    The entry gets the pinned commit (revision), and the name, sha256 and size of every file, so
    the manifest can point at exactly what was uploaded.
    """
    from huggingface_hub import HfApi

    api = api or HfApi()
    src = Path(folder)
    files = sorted(p for p in src.glob("*.safetensors"))
    if not files:
        raise ModelError(f"publish: no .safetensors files in {src}")
    api.create_repo(repo_id=repo_id, exist_ok=True)
    info = api.upload_folder(
        folder_path=str(src),
        repo_id=repo_id,
        allow_patterns=["*.safetensors"],
        commit_message=commit_message,
    )
    revision = getattr(info, "oid", None) or getattr(info, "commit_id", None)
    if not revision or len(str(revision)) != 40:
        raise ModelError(f"publish: the Hub did not return a commit id ({info!r})")
    entry = dict(manifest_entry)
    entry["hub"] = {"repo_id": repo_id, "revision": str(revision), "hosted": True}
    entry["files"] = [
        {"name": p.name, "sha256": sha256_file(p), "size": p.stat().st_size} for p in files
    ]
    return {name: entry}


def _forget(staging: Path, name: str) -> None:
    """Drop the Hub client's record of a rejected file so it is fetched afresh next time."""
    meta = staging / ".cache" / "huggingface" / "download"
    for leftover in meta.glob(f"{name}.*"):
        if not leftover.name.endswith(".lock"):
            leftover.unlink(missing_ok=True)
