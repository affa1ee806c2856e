"""weights_manifest.json: which models exist, where their files come from, how to verify them.

Each entry names its files with sha256 and byte size, its licence and provenance, where it is
hosted on the Hugging Face Hub (repo id + pinned revision, or ``hosted: false``) and, for models
shipped with the package, the bundled folder (relative to the manifest's own folder). Models list
the shared encoder they need in ``requires`` so the 80 MB encoder is stored once.

The default manifest is found by ``bundled_root()``: ``ccpl_core/bundled`` in an installed wheel,
the root of a source checkout (editable install, ComfyUI custom-node folder) otherwise.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath

from .. import environment
from ..errors import ModelError
from ..modes import MODE_NAMES

MANIFEST_NAME = "weights_manifest.json"
# The source checkout this module lies in (meaningful only in a checkout): tests and tools find
# the repository's folders with it. The library finds its manifest with bundled_root().
REPO_ROOT = Path(__file__).resolve().parents[2]


def bundled_root() -> Path:
    """The folder holding the bundled weights_manifest.json and the bundled models folders.

    A wheel (setup.py) carries them as package data in ``ccpl_core/bundled``; a source checkout
    has them at its root. When neither has the manifest, the package folder is returned, so the
    error names where an installed package should have it.
    """
    # the package by its full name: inside ComfyUI it is "<pack folder>.ccpl_core", not top-level
    package = __name__.rsplit(".", 2)[0]
    packaged = Path(str(resources.files(package))) / "bundled"
    if not (packaged / MANIFEST_NAME).is_file() and (REPO_ROOT / MANIFEST_NAME).is_file():
        return REPO_ROOT
    return packaged


DEFAULT_MANIFEST = bundled_root() / MANIFEST_NAME


def is_installed_copy(path: str | os.PathLike) -> bool:
    """Whether ``path`` is the manifest inside an installed package (``ccpl_core/bundled``),
    which the next upgrade replaces: edits belong in a copy named by $CCPL_MANIFEST."""
    package = __name__.rsplit(".", 2)[0]
    packaged = Path(str(resources.files(package))) / "bundled" / MANIFEST_NAME
    return Path(path).resolve() == packaged.resolve()


_SHA = re.compile(r"^[0-9a-f]{64}$")
_REV = re.compile(r"^[0-9a-f]{40}$")
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


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
    bundled: str | None = None  # folder relative to ``root``
    provenance: dict = field(default_factory=dict)
    # the folder of the manifest file that declared the entry (bundled_root() when not set)
    root: Path | None = field(default=None, compare=False)


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
            raise ModelError(f"the manifest has no default {mode} model; name a `model`")
        return name

    def models(self) -> list[Entry]:
        return [e for e in self.entries.values() if e.kind == "model"]


def manifest_path(path: str | os.PathLike | None = None) -> Path:
    """Explicit path, else $CCPL_MANIFEST (which must name a file), else the bundled
    weights_manifest.json."""
    if path:
        return Path(path)
    return environment.file("CCPL_MANIFEST") or DEFAULT_MANIFEST


def load_manifest(path: str | os.PathLike | None = None) -> Manifest:
    p = manifest_path(path)
    return parse_manifest(read_json(p), p)


def read_json(path: Path) -> object:
    """A manifest's JSON, in UTF-8 (with or without a BOM), UTF-16 or UTF-32 as editors save it
    (the encoding is told by the BOM or the zero bytes); anything else is one ModelError."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ModelError(f"weights manifest not found: {path}") from exc
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise ModelError(
            f"{path}: not UTF-8, UTF-16 or UTF-32 text ({exc.reason} at byte {exc.start}); "
            "save it as UTF-8"
        ) from None
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc


def parse_manifest(data: object, path: Path) -> Manifest:
    """Validate the manifest's structure; every problem names the entry and the field.

    A manifest may come from anywhere ($CCPL_MANIFEST, a pull request, a hand edit): every field
    is checked for its type, file names must be bare names (they are joined to folders), and a
    bundled folder must stay inside the manifest's folder (bundled files are found there).
    """

    def fail(where: str, msg: str) -> ModelError:
        return ModelError(f"manifest {path}: {where}: {msg}")

    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise fail("top level", "expected an object with a 'models' object")
    version = data.get("schema_version")
    if type(version) is not int or version != 1:
        raise fail("schema_version", f"expected 1, got {version!r}")
    entries: dict[str, Entry] = {}
    for name, raw in data["models"].items():
        where = f"models.{name}"
        if not isinstance(raw, dict):
            raise fail(where, f"expected an object, got {_kind(raw)}")
        kind = raw.get("kind")
        if kind not in ("model", "encoder"):
            raise fail(where + ".kind", f"expected 'model' or 'encoder', got {kind!r}")
        mode = raw.get("mode")
        if kind == "model" and mode not in MODE_NAMES:
            raise fail(where + ".mode", f"expected one of {', '.join(MODE_NAMES)}, got {mode!r}")
        if kind == "encoder" and mode is not None and mode not in MODE_NAMES:
            raise fail(where + ".mode", f"expected 'art', 'photo' or nothing, got {mode!r}")
        hub = raw.get("hub", {})
        if not isinstance(hub, dict):
            raise fail(where + ".hub", f"expected an object, got {_kind(hub)}")
        hosted = hub.get("hosted", False)
        if not isinstance(hosted, bool):
            raise fail(where + ".hub.hosted", f"expected true or false, got {hosted!r}")
        repo_id, revision = hub.get("repo_id"), hub.get("revision")
        if repo_id is not None and (not isinstance(repo_id, str) or not _REPO.match(repo_id)):
            raise fail(where + ".hub.repo_id", f"expected 'owner/name', got {repo_id!r}")
        if revision is not None and not isinstance(revision, str):
            raise fail(where + ".hub.revision", f"expected a commit id, got {revision!r}")
        if hosted and (repo_id is None or not _REV.match(revision or "")):
            raise fail(where + ".hub", "hosted entries need repo_id and a pinned 40-hex revision")
        bundled = raw.get("bundled")
        if bundled is not None:
            problem = _bundled_problem(bundled)
            if problem:
                raise fail(where + ".bundled", problem)
        files_raw = raw.get("files")
        if not isinstance(files_raw, list) or not files_raw:
            raise fail(where + ".files", "expected a non-empty list")
        files = []
        for i, f in enumerate(files_raw):
            fw = f"{where}.files[{i}]"
            if not isinstance(f, dict) or not isinstance(f.get("name"), str):
                raise fail(fw, "expected an object with a 'name'")
            problem = _name_problem(f["name"])
            if problem:
                raise fail(fw + ".name", f"{problem}, got {f['name']!r}")
            sha, size = f.get("sha256"), f.get("size")
            if (hosted or bundled) and (not isinstance(sha, str) or not _SHA.match(sha)):
                raise fail(fw + ".sha256", "hosted and bundled files need a 64-hex sha256")
            if sha is not None and (not isinstance(sha, str) or not _SHA.match(sha)):
                raise fail(fw + ".sha256", f"not a sha256: {sha!r}")
            if size is not None and (type(size) is not int or size <= 0):
                raise fail(fw + ".size", f"expected a positive byte count, got {size!r}")
            files.append(FileSpec(f["name"], sha, size))
        names = [spec.name for spec in files]
        if len(set(names)) != len(names):
            raise fail(where + ".files", f"a file is listed twice: {names}")
        requires = raw.get("requires", [])
        if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
            raise fail(where + ".requires", f"expected a list of entry names, got {requires!r}")
        for key in ("license", "description"):
            if not isinstance(raw.get(key, ""), str):
                raise fail(f"{where}.{key}", f"expected text, got {_kind(raw[key])}")
        provenance = raw.get("provenance", {})
        problem = _provenance_problem(provenance)
        if problem:
            raise fail(where + ".provenance" + problem[0], problem[1])
        entries[name] = Entry(
            name=name,
            kind=kind,
            files=tuple(files),
            mode=mode,
            requires=tuple(requires),
            license=raw.get("license", ""),
            description=raw.get("description", ""),
            repo_id=repo_id,
            revision=revision,
            hosted=hosted,
            bundled=bundled,
            provenance=dict(provenance),
            root=Path(path).absolute().parent,
        )
    for name, entry in entries.items():
        for req in entry.requires:
            if req not in entries or entries[req].kind != "encoder":
                raise fail(f"models.{name}.requires", f"{req!r} is not an encoder entry")
    default = data.get("default", {})
    if not isinstance(default, dict):
        raise fail("default", "expected an object mapping mode -> model name")
    for mode, name in default.items():
        if name is not None and (
            not isinstance(name, str) or name not in entries or entries[name].mode != mode
        ):
            raise fail(f"default.{mode}", f"{name!r} is not a {mode} model of this manifest")
    return Manifest(path=path, entries=entries, default={k: v for k, v in default.items() if v})


def _kind(value: object) -> str:
    """A JSON value's type as the manifest's author wrote it."""
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")


def _name_problem(name: str) -> str | None:
    """Why a file name cannot be used (it is joined to the models folder), or None."""
    if not name.endswith(".safetensors") or name == ".safetensors":
        return "must be a .safetensors file name"
    if any(c in name for c in "/\\") or any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "must be a bare file name (no folders, backslashes or control characters)"
    if name.startswith("."):
        return "must not be a hidden file name"
    if len(name.encode("utf-8", "surrogatepass")) > 200:
        return "is too long for a file name (200 bytes at most)"
    return None


def _bundled_problem(bundled: object) -> str | None:
    """Why a bundled folder cannot be used (it must stay inside the manifest's folder), or None."""
    if not isinstance(bundled, str) or not bundled.strip():
        return f"expected a folder relative to the manifest's folder, got {bundled!r}"
    if "\\" in bundled or any(ord(c) < 32 or ord(c) == 127 for c in bundled):
        return f"use '/' between folders and no control characters, got {bundled!r}"
    parts = PurePosixPath(bundled).parts
    if bundled.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
        return f"must be a folder inside the manifest's folder, got {bundled!r}"
    return None


def _provenance_problem(provenance: object) -> tuple[str, str] | None:
    """(field, problem) for provenance fields that messages read, or None."""
    if not isinstance(provenance, dict):
        return "", f"expected an object, got {_kind(provenance)}"
    for key in ("url", "convert"):
        if key in provenance and not isinstance(provenance[key], str):
            return f".{key}", f"expected text, got {_kind(provenance[key])}"
    original = provenance.get("original_files", [])
    if not isinstance(original, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name", ""), str) for o in original
    ):
        return ".original_files", "expected a list of objects with a 'name'"
    return None
