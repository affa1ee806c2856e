"""``ccpl weights``: list, download, verify, convert and publish model weights."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import InputError, ModelError
from ..weights.convert import convert, manifest_entries
from ..weights.files import read_state, sha256_file
from ..weights.hub import download, publish
from ..weights.manifest import load_manifest, manifest_path, parse_manifest
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
    ver = wsub.add_parser("verify", help="check files against the manifest's sha256")
    ver.add_argument("path", nargs="?", default=None, help="a file to check (default: all)")
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
    pub.add_argument("--mode", choices=("art", "photo"), default=None)
    pub.add_argument("--requires", action="append", default=[], help="encoder entry it needs")
    pub.add_argument("--license", default="", help="licence of the weights")
    pub.add_argument(
        "--write", action="store_true", help="also add the entry to the manifest file (--manifest)"
    )
    pub.set_defaults(func=run_publish)
    conv = wsub.add_parser("convert", help="convert the authors' .pth checkpoints to safetensors")
    conv.add_argument("--mode", choices=("art", "photo"), required=True)
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
        p = Path(args.path)
        if not p.is_file():
            raise InputError(f"not found: {p}")
        read_state(p)  # readable safetensors?
        digest = sha256_file(p)
        for entry in man.entries.values():
            for spec in entry.files:
                if spec.sha256 == digest:
                    print(f"OK {p} = {entry.name}/{spec.name}")
                    return 0
        print(f"{p}: readable, sha256 {digest}, not listed in the manifest")
        return 1
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
    base = {"kind": args.kind, "license": args.license}
    if args.mode:
        base["mode"] = args.mode
    if args.requires:
        base["requires"] = args.requires
    entry = publish(args.folder, args.repo_id, args.name, base)
    print(json.dumps(entry, indent=2))
    if args.write:
        path = manifest_path(args.manifest)
        data = json.loads(path.read_text())
        data["models"].update(entry)
        parse_manifest(data, path)
        path.write_text(json.dumps(data, indent=2) + "\n")
        print(f"added {args.name} to {path}")
    return 0
