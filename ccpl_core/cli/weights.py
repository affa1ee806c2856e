"""``ccpl weights``: list, download, verify, convert and publish model weights."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import InputError, ModelError
from ..fsutil import atomic_write
from ..modes import MODE_NAMES
from ..weights.convert import convert, manifest_entries
from ..weights.files import read_state, sha256_file
from ..weights.hub import download, publish
from ..weights.layout import describe_contents
from ..weights.manifest import (
    Manifest,
    is_installed_copy,
    load_manifest,
    manifest_path,
    parse_manifest,
    read_json,
)
from ..weights.resolve import default_models_dir
from ..weights.store import bundled_path, locate, verify


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights", help="list, download, verify, convert and publish weights")
    p.add_argument(
        "--manifest",
        default=None,
        help="manifest file (default: $CCPL_MANIFEST or the project's weights_manifest.json)",
    )
    p.add_argument("--models-dir", default=None, help="models folder (default: $CCPL_MODELS_DIR)")
    wsub = p.add_subparsers(dest="weights_command", required=True, metavar="ACTION")
    ls = wsub.add_parser("list", help="models in the manifest and whether their files are here")
    ls.set_defaults(func=run_list)
    ver = wsub.add_parser(
        "verify",
        help="check files against the manifest's sha256",
        description="Check model files. Without PATH: every manifest file found here. With "
        "PATHs (files or folders of .safetensors files): each file, against the manifest's "
        "sha256 when it is listed there, else only that it reads and holds a model's keys and "
        "shapes. Exit status: 0 all verified, 1 some could only be checked for their structure, "
        "2 some are damaged or do not match.",
    )
    ver.add_argument(
        "path", nargs="*", default=[], help="files or folders to check (default: manifest files)"
    )
    ver.set_defaults(func=run_verify)
    dl = wsub.add_parser("download", help="download (and verify) a model and its encoder")
    dl.add_argument("name", help="model name from the manifest")
    dl.set_defaults(func=run_download)
    pub = wsub.add_parser(
        "publish", help="upload a model folder to a Hub repo and print its pinned manifest entry"
    )
    pub.add_argument("folder", help="folder of .safetensors files (e.g. from convert)")
    pub.add_argument("--repo-id", required=True, help="Hub repo, e.g. my-org/ccpl-weights")
    pub.add_argument("--name", required=True, help="manifest entry name")
    pub.add_argument("--kind", choices=("model", "encoder"), default="model")
    pub.add_argument("--mode", choices=MODE_NAMES, default=None)
    pub.add_argument("--requires", action="append", default=[], help="encoder entry it needs")
    pub.add_argument("--license", default="", help="licence of the weights")
    pub.add_argument(
        "--write", action="store_true", help="also add the entry to the manifest file (--manifest)"
    )
    pub.set_defaults(func=run_publish)
    conv = wsub.add_parser("convert", help="convert the authors' .pth checkpoints to safetensors")
    conv.add_argument("--mode", choices=MODE_NAMES, required=True)
    conv.add_argument("--vgg", help="vgg_normalised.pth")
    conv.add_argument("--decoder", help="decoder_iter_*.pth.tar")
    conv.add_argument("--sct", help="sct_iter_*.pth.tar")
    conv.add_argument("--name", help="output model file name (default ccpl_<mode>)")
    conv.add_argument("-o", "--output", required=True, help="output folder")
    conv.add_argument("--overwrite", action="store_true")
    conv.set_defaults(func=run_convert)


def _folder(args: argparse.Namespace) -> Path:
    return Path(args.models_dir) if args.models_dir else default_models_dir()


def run_list(args: argparse.Namespace) -> int:
    man = load_manifest(args.manifest)
    folder = _folder(args)
    for entry in man.entries.values():
        states = []
        for spec in entry.files:
            here = bundled_path(entry, spec)
            if not (here and here.is_file()):
                here = folder / spec.name
            states.append(
                "present" if here.is_file() else ("downloadable" if entry.hosted else "not hosted")
            )
        default = " (default)" if entry.name in man.default.values() else ""
        mode = entry.mode or "encoder"
        print(
            f"{entry.name:28s} {mode:8s} {', '.join(sorted(set(states))):14s} "
            f"{entry.license}{default}"
        )
    return 0


def run_verify(args: argparse.Namespace) -> int:
    man = load_manifest(args.manifest)
    folder = _folder(args)
    if args.path:
        return _verify_paths(man, [Path(p) for p in args.path])
    bad = 0
    for entry in man.entries.values():
        for spec in entry.files:
            for cand in (bundled_path(entry, spec), folder / spec.name):
                if cand and cand.is_file():
                    ok = verify(cand, spec)
                    bad += not ok
                    print(f"{'OK ' if ok else 'BAD'} {cand}")
    if bad:
        raise ModelError(f"{bad} file(s) do not match the manifest")
    return 0


def _verify_paths(man: Manifest, paths: list[Path]) -> int:
    """Check files and folders given by the user, one line each saying what was checked.

    A file listed in the manifest is checked against its sha256; any other file can only be
    checked for being a readable safetensors file holding a model's keys and shapes, and the
    line says so. Everything is refused before any file is read when a path does not exist.
    """
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(p.glob("*.safetensors"))
            if not found:
                raise InputError(f"no .safetensors files in folder {p}")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"not found: {p}; give model files or folders of them")
    by_digest = {s.sha256: (e, s) for e in man.entries.values() for s in e.files if s.sha256}
    by_name = {s.name: (e, s) for e in man.entries.values() for s in e.files}
    bad = unlisted = 0
    for f in dict.fromkeys(files):
        status, text = _verify_one(f, by_digest, by_name)
        print(f"{status:8s} {f}: {text}")
        bad += status == "BAD"
        unlisted += status == "UNLISTED"
    if bad:
        raise ModelError(
            f"{bad} of {len(files)} file(s) are damaged or do not match the manifest; "
            "download or convert them again"
        )
    return 1 if unlisted else 0


def _verify_one(
    path: Path, by_digest: dict[str, tuple], by_name: dict[str, tuple]
) -> tuple[str, str]:
    """(OK | BAD | UNLISTED, what was found) for one file."""
    digest = sha256_file(path)
    if digest in by_digest:
        entry, spec = by_digest[digest]
        return "OK", f"sha256 matches the manifest ({entry.name}/{spec.name})"
    if path.name in by_name:
        entry, spec = by_name[path.name]
        return "BAD", (
            f"named like {entry.name}'s file but its sha256 {digest[:16]}... is not the "
            f"manifest's {str(spec.sha256)[:16]}..."
        )
    try:
        tensors, meta = read_state(path)
        what = describe_contents(tensors, meta, path.name)
    except ModelError as exc:
        hint = " (macOS Finder metadata: safe to delete)" if path.name.startswith("._") else ""
        return "BAD", f"{exc}{hint}"
    return "UNLISTED", (
        f"not in the manifest (sha256 {digest[:16]}...), so only its structure was checked: "
        f"a readable safetensors file with {what}"
    )


def run_convert(args: argparse.Namespace) -> int:
    written = convert(
        args.mode,
        args.output,
        vgg=args.vgg,
        decoder=args.decoder,
        sct=args.sct,
        name=args.name,
        overwrite=args.overwrite,
    )
    entries = manifest_entries(written, args.mode)
    print(json.dumps({"files": written, "manifest_entries": entries}, indent=2))
    return 0


def run_download(args: argparse.Namespace) -> int:
    man = load_manifest(args.manifest)
    for path in locate(man, args.name, _folder(args), downloader=download):
        print(path)
    return 0


def run_publish(args: argparse.Namespace) -> int:
    if args.kind == "model" and not args.mode:
        raise InputError("publish: --mode art|photo is needed for a model")
    if args.write and is_installed_copy(manifest_path(args.manifest)):  # before any upload
        raise InputError(
            f"publish --write: {manifest_path(args.manifest)} is the installed package's manifest, "
            "which an upgrade replaces; copy it, pass --manifest COPY and set CCPL_MANIFEST=COPY"
        )
    base = {"kind": args.kind, "license": args.license}
    if args.mode:
        base["mode"] = args.mode
    if args.requires:
        base["requires"] = args.requires
    entry = publish(args.folder, args.repo_id, args.name, base)
    print(json.dumps(entry, indent=2))
    if args.write:
        path = manifest_path(args.manifest)
        data = read_json(path)
        data["models"].update(entry)
        parse_manifest(data, path)
        text = (json.dumps(data, indent=2) + "\n").encode()
        # never a half-written manifest; it is this command's to update
        atomic_write(path, lambda fh: fh.write(text), overwrite=True)
        print(f"added {args.name} to {path}")
    return 0
