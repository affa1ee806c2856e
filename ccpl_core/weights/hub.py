"""Downloading (and publishing) manifest files through the Hugging Face Hub client.

A download goes to a staging folder beside the models folder (on the same file system, but outside
what model lists scan), is checked against the manifest's sha256, and only then moved into place
with an atomic rename, under a file lock: a file that fails verification is deleted and never used,
a second process waiting on the same file finds it finished, and an interrupted transfer resumes
(the Hub client keeps the partial file). The Hub client honours HF_ENDPOINT, HF_TOKEN and
HF_HUB_OFFLINE.

Before a transfer starts, one line says what is fetched from where, and the Hub is asked about
the file with a short timeout (HF_HUB_ETAG_TIMEOUT, default 10 s) and no retries: an endpoint that
accepts connections but never answers fails in seconds with a message, where the client's own
retries would keep it silent for minutes.
"""

from __future__ import annotations

import inspect
import logging
import os
from pathlib import Path

from .. import environment
from ..errors import ModelError
from .files import sha256_file
from .manifest import Entry, FileSpec
from .store import manual_steps, verify

log = logging.getLogger("ccpl")

STAGING = ".ccpl-download"
#: Seconds the Hub may take to answer the first request about a file (HF_HUB_ETAG_TIMEOUT).
DEFAULT_HUB_TIMEOUT = 10.0
#: Seconds to wait for another process that is downloading the same file.
LOCK_TIMEOUT = 600.0


def staging_dir(target_dir: str | os.PathLike) -> Path:
    """The folder downloads into ``target_dir`` are staged in (created if needed).

    A hidden sibling (``.ccpl-download-<name>``) so that leftovers of an interrupted download
    never show up among the models; inside ``target_dir`` (``.ccpl-download``) when the sibling
    would be on another file system (a mount point: the final rename must stay atomic) or cannot
    be created (a read-only parent).
    """
    target = Path(target_dir).resolve()
    target.mkdir(parents=True, exist_ok=True)
    if target.parent != target:
        sibling = target.parent / f"{STAGING}-{target.name}"
        try:
            sibling.mkdir(exist_ok=True)
            if sibling.stat().st_dev == target.stat().st_dev:
                return sibling
        except OSError:
            pass
    inside = target / STAGING
    inside.mkdir(exist_ok=True)
    return inside


def download(
    entry: Entry,
    spec: FileSpec,
    folder: str | os.PathLike,
    lock_timeout: float = LOCK_TIMEOUT,
) -> Path:
    """Fetch ``spec`` of a hosted entry into ``folder``; returns the verified final path."""
    environment.check_hub()
    try:
        from filelock import FileLock, Timeout
        from huggingface_hub import hf_hub_download
    except ImportError as exc:  # pragma: no cover - huggingface_hub is a dependency
        raise ModelError("downloading needs huggingface_hub: pip install huggingface_hub") from exc
    if not entry.hosted or not entry.repo_id or not entry.revision:
        raise ModelError(
            f"{entry.name}: not hosted on the Hub; {manual_steps(entry, spec, Path(folder))}"
        )
    target_dir = Path(folder)
    staging = staging_dir(target_dir)
    final = target_dir / spec.name
    lock = FileLock(str(staging / f"{spec.name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.warning(
            "waiting for another process that is downloading %s into %s (at most %.0f s)",
            spec.name,
            target_dir,
            lock_timeout,
        )
        try:
            lock.acquire(timeout=lock_timeout)
        except Timeout:
            raise ModelError(
                f"{entry.name}: another process has been downloading {spec.name} into "
                f"{target_dir} for over {lock_timeout:.0f} s (lock {lock.lock_file}); let it "
                "finish, or stop it and try again"
            ) from None
    try:
        if final.is_file() and verify(final, spec):
            return final  # finished by another process while we waited
        offline = _offline()
        if not offline:
            size = f" ({_amount(spec.size)})" if spec.size else ""
            where = _where(entry, spec)
            log.warning("downloading %s%s from %s into %s", spec.name, size, where, target_dir)
        try:
            if not offline:
                _ask_hub(entry, spec)
            got = Path(
                hf_hub_download(
                    repo_id=entry.repo_id,
                    filename=spec.name,
                    revision=entry.revision,
                    local_dir=staging,
                    etag_timeout=hub_timeout(),
                )
            )
        except Exception as exc:
            raise ModelError(
                f"{entry.name}: could not download {spec.name} from {entry.repo_id}@"
                f"{entry.revision[:10]} ({_reason(exc)}). "
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
    finally:
        lock.release()
    return final


def hub_timeout() -> float:
    """Seconds the Hub may take to answer a request about a file: HF_HUB_ETAG_TIMEOUT (whole
    seconds, as the Hub client parses it) or 10."""
    return float(environment.whole("HF_HUB_ETAG_TIMEOUT", int(DEFAULT_HUB_TIMEOUT), low=1))


def _where(entry: Entry, spec: FileSpec) -> str:
    """The address a file is fetched from, as the client computes it (HF_ENDPOINT included)."""
    try:
        from huggingface_hub import hf_hub_url

        return hf_hub_url(entry.repo_id, spec.name, revision=entry.revision)
    except Exception:  # only a description: never a reason to fail
        return f"{entry.repo_id}@{entry.revision}"


def _ask_hub(entry: Entry, spec: FileSpec) -> None:
    """Ask the Hub about the file once, with :func:`hub_timeout` and no retries.

    The client's own first request retries a silent endpoint for minutes (with growing
    timeouts); this one fails after one timeout, before the client is involved.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    kwargs: dict[str, object] = {"timeout": hub_timeout()}
    if "retry_on_errors" in inspect.signature(get_hf_file_metadata).parameters:
        kwargs["retry_on_errors"] = False
    get_hf_file_metadata(hf_hub_url(entry.repo_id, spec.name, revision=entry.revision), **kwargs)


def _amount(size: int) -> str:
    """A byte count for people: ``820 bytes``, ``12.3 MB``, ``1.2 GB``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def _offline() -> bool:
    """Whether the Hub client is in offline mode (HF_HUB_OFFLINE): it then only uses the disk."""
    from huggingface_hub import constants

    check = getattr(constants, "is_offline_mode", None)
    return bool(check() if callable(check) else getattr(constants, "HF_HUB_OFFLINE", False))


def _reason(exc: BaseException) -> str:
    """Why a transfer failed, in a few words; a timeout says how long it waited."""
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in chain:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    if any("timeout" in type(e).__name__.lower() for e in chain):
        return (
            f"the Hub did not answer within {hub_timeout():g} s; check the network, a proxy or "
            "HF_ENDPOINT, or raise HF_HUB_ETAG_TIMEOUT"
        )
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else ''}".rstrip(": ")


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
    environment.check_hub()
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
