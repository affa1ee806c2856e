"""weights_manifest.json: which models exist, where their files come from, how to verify them.

Each entry names its files with sha256 and byte size, its licence and provenance, where it is
hosted on the Hugging Face Hub (repo id + pinned revision, or ``hosted: false``) and, for models
shipped inside this repository, the bundled path. Models list the shared encoder they need in
``requires`` so the 80 MB encoder is stored once.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ModelError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MANIFEST = REPO_ROOT / "weights_manifest.json"
_SHA = re.compile(r"^[0-9a-f]{64}$")
_REV = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class FileSpec:
    name: str
    sha256: str | None
    size: int | None


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str  # "model" or "encoder"
    files: tuple[FileSpec, ...]
    mode: str | None = None
    requires: tuple[str, ...] = ()
    license: str = ""
    description: str = ""
    repo_id: str | None = None
    revision: str | None = None
    hosted: bool = False
    bundled: str | None = None  # folder relative to the repository root
    provenance: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    path: Path
    entries: dict[str, Entry]
    default: dict[str, str]

    def get(self, name: str) -> Entry:
        if name not in self.entries:
            models = ", ".join(sorted(n for n, e in self.entries.items() if e.kind == "model"))
            raise ModelError(f"unknown model {name!r} (manifest {self.path}); known: {models}")
        return self.entries[name]

    def default_model(self, mode: str = "art") -> str:
        name = self.default.get(mode)
        if not name:
            raise ModelError(f"the manifest has no default {mode} model; choose one with --model")
        return name

    def models(self) -> list[Entry]:
        return [e for e in self.entries.values() if e.kind == "model"]


def manifest_path(path: str | os.PathLike | None = None) -> Path:
    """Explicit path, else $CCPL_MANIFEST, else the repository's weights_manifest.json."""
    return Path(path or os.environ.get("CCPL_MANIFEST") or DEFAULT_MANIFEST)


def load_manifest(path: str | os.PathLike | None = None) -> Manifest:
    p = manifest_path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError as exc:
        raise ModelError(f"weights manifest not found: {p}") from exc
    except json.JSONDecodeError as exc:
        raise ModelError(f"{p}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    return parse_manifest(data, p)


def parse_manifest(data: object, path: Path) -> Manifest:
    """Validate the manifest's structure; every problem names the entry and the field."""

    def fail(where: str, msg: str) -> ModelError:
        return ModelError(f"{path}: {where}: {msg}")

    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise fail("top level", "expected an object with a 'models' object")
    if data.get("schema_version") != 1:
        raise fail("schema_version", f"expected 1, got {data.get('schema_version')!r}")
    entries: dict[str, Entry] = {}
    for name, raw in data["models"].items():
        where = f"models.{name}"
        if not isinstance(raw, dict):
            raise fail(where, "expected an object")
        kind = raw.get("kind")
        if kind not in ("model", "encoder"):
            raise fail(where + ".kind", f"expected 'model' or 'encoder', got {kind!r}")
        mode = raw.get("mode")
        if kind == "model" and mode not in ("art", "photo"):
            raise fail(where + ".mode", f"expected 'art' or 'photo', got {mode!r}")
        files_raw = raw.get("files")
        if not isinstance(files_raw, list) or not files_raw:
            raise fail(where + ".files", "expected a non-empty list")
        files = []
        for i, f in enumerate(files_raw):
            fw = f"{where}.files[{i}]"
            if not isinstance(f, dict) or not isinstance(f.get("name"), str):
                raise fail(fw, "expected an object with a 'name'")
            if not f["name"].endswith(".safetensors") or "/" in f["name"]:
                raise fail(
                    fw + ".name", f"must be a bare .safetensors file name, got {f['name']!r}"
                )
            sha, size = f.get("sha256"), f.get("size")
            hosted_or_bundled = raw.get("hub", {}).get("hosted") or raw.get("bundled")
            if hosted_or_bundled and (not isinstance(sha, str) or not _SHA.match(sha)):
                raise fail(fw + ".sha256", "hosted and bundled files need a 64-hex sha256")
            if sha is not None and (not isinstance(sha, str) or not _SHA.match(sha)):
                raise fail(fw + ".sha256", f"not a sha256: {sha!r}")
            if size is not None and (not isinstance(size, int) or size <= 0):
                raise fail(fw + ".size", f"expected a positive byte count, got {size!r}")
            files.append(FileSpec(f["name"], sha, size))
        hub = raw.get("hub", {})
        if not isinstance(hub, dict):
            raise fail(where + ".hub", "expected an object")
        hosted = bool(hub.get("hosted", False))
        revision = hub.get("revision")
        if hosted and (not isinstance(hub.get("repo_id"), str) or not _REV.match(revision or "")):
            raise fail(where + ".hub", "hosted entries need repo_id and a pinned 40-hex revision")
        requires = raw.get("requires", [])
        if not isinstance(requires, list):
            raise fail(where + ".requires", "expected a list of entry names")
        entries[name] = Entry(
            name=name,
            kind=kind,
            files=tuple(files),
            mode=mode,
            requires=tuple(requires),
            license=str(raw.get("license", "")),
            description=str(raw.get("description", "")),
            repo_id=hub.get("repo_id"),
            revision=revision,
            hosted=hosted,
            bundled=raw.get("bundled"),
            provenance=dict(raw.get("provenance", {})),
        )
    for name, entry in entries.items():
        for req in entry.requires:
            if req not in entries or entries[req].kind != "encoder":
                raise fail(f"models.{name}.requires", f"{req!r} is not an encoder entry")
    default = data.get("default", {})
    if not isinstance(default, dict):
        raise fail("default", "expected an object mapping mode -> model name")
    for mode, name in default.items():
        if name is not None and (name not in entries or entries[name].mode != mode):
            raise fail(f"default.{mode}", f"{name!r} is not a {mode} model of this manifest")
    return Manifest(path=path, entries=entries, default={k: v for k, v in default.items() if v})
