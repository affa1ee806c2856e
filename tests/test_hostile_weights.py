"""Bad weights, manifests and Hubs: one clear line each, and nothing half-written.

Every case is made here: tiny model files under tmp_path, a manifest written by the test, and
for the Hub either the local stand-in (tests/fake_hub.py, real HTTP through the real client) or a
loopback endpoint that accepts connections and never answers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fake_hub import COMMIT
from helpers import refused, run

from ccpl_core import ModelError, load_model
from ccpl_core.weights.files import save_sctnet, save_state, sha256_file
from ccpl_core.weights.hub import STAGING, download, staging_dir
from ccpl_core.weights.manifest import load_manifest, parse_manifest

REPO = "ccpl-test/tiny"


@pytest.fixture()
def split_model(tmp_path, art_net):
    """A converted model folder: the shared encoder and the decoder+SCT file beside it."""
    folder = tmp_path / "converted"
    enc = {k: v for k, v in art_net.state_dict().items() if k.startswith("encoder.")}
    encoder = save_state(enc, folder / "vgg_test_encoder.safetensors")
    body = save_sctnet(art_net, folder / "tiny_art.safetensors")
    return folder, encoder, body


def manifest_for(tmp_path: Path, files: dict[str, Path], hosted: bool = False) -> Path:
    """A manifest with one encoder entry and one model entry for ``files`` (name -> path)."""
    hub = {"repo_id": REPO, "revision": COMMIT, "hosted": True} if hosted else {}

    def spec(p: Path) -> dict:
        return {"name": p.name, "sha256": sha256_file(p), "size": p.stat().st_size}

    data = {
        "schema_version": 1,
        "default": {"art": "tiny"},
        "models": {
            "enc": {"kind": "encoder", "hub": hub, "files": [spec(files["encoder"])]},
            "tiny": {
                "kind": "model",
                "mode": "art",
                "requires": ["enc"],
                "license": "test",
                "hub": hub,
                "files": [spec(files["body"])],
            },
        },
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(data))
    return path


# ------------------------------------------------------- a Hub that accepts and never answers


@contextlib.contextmanager
def silent_endpoint(lifetime: float = 30.0):
    """``http://127.0.0.1:PORT`` that accepts connections and never sends a byte.

    Loopback only; it stops by itself after ``lifetime`` seconds (or when the test ends).
    """
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()
    deadline = time.monotonic() + lifetime

    def serve() -> None:
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            held.append(conn)  # read nothing, answer nothing
        for conn in held:
            conn.close()
        server.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", held
    finally:
        stop.set()
        thread.join(5)


def test_silent_hub_fails_fast_with_one_line(tmp_path):
    """The client alone retries a silent endpoint for about 400 s without a word."""
    manifest = tmp_path / "manifest.json"
    entry = {
        "kind": "model",
        "mode": "art",
        "hub": {"repo_id": REPO, "revision": COMMIT, "hosted": True},
        "files": [{"name": "silent.safetensors", "sha256": "0" * 64, "size": 12_300_000}],
    }
    manifest.write_text(json.dumps({"schema_version": 1, "models": {"silent": entry}}))
    models = tmp_path / "models"
    with silent_endpoint() as (url, held):
        env = {
            **os.environ,
            "HF_ENDPOINT": url,
            "HF_HOME": str(tmp_path / "hf_home"),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_ETAG_TIMEOUT": "3",
        }
        env.pop("HF_HUB_OFFLINE", None)
        argv = ["weights", "--manifest", manifest, "--models-dir", models, "download", "silent"]
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "ccpl_core", *map(str, argv)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        elapsed = time.monotonic() - start
        assert held, "the endpoint was never contacted"
    assert elapsed < 15, elapsed
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2, proc.stderr
    said, line = lines
    # what is downloaded from where is said before anything is waited for
    assert said.startswith("ccpl weights: warning: downloading silent.safetensors (12.3 MB)")
    assert f"{url}/{REPO}/resolve/{COMMIT}/silent.safetensors" in said and str(models) in said
    refused(
        proc.returncode,
        proc.stderr,
        "silent.safetensors",
        "did not answer within 3 s",
        warnings=True,
    )
    assert "HF_ENDPOINT" in line and "install it by hand" in line
    assert not models.exists() or not any(models.iterdir())


def test_busy_download_lock_gives_up_with_a_message(tmp_path, split_model, caplog):
    """Another process holding the file's lock makes us wait a bounded time, saying so."""
    from filelock import FileLock

    _, encoder, body = split_model
    man = load_manifest(manifest_for(tmp_path, {"encoder": encoder, "body": body}, hosted=True))
    entry = man.get("tiny")
    spec = entry.files[0]
    models = tmp_path / "models"
    other = FileLock(str(staging_dir(models) / f"{spec.name}.lock"))
    with other.acquire(timeout=1), caplog.at_level(logging.WARNING, logger="ccpl"):
        start = time.monotonic()
        with pytest.raises(ModelError) as info:
            download(entry, spec, models, lock_timeout=0.5)
        assert time.monotonic() - start < 5
    text = str(info.value)
    assert "another process has been downloading" in text and spec.name in text
    assert "\n" not in text and ".lock" in text
    assert any("waiting for another process" in r.getMessage() for r in caplog.records)
    assert not (models / spec.name).exists()


# --------------------------------------------------------------------------- staging folder


def test_staging_is_beside_the_models_folder(tmp_path):
    models = tmp_path / "sct"
    staging = staging_dir(models)
    assert staging == (tmp_path / f"{STAGING}-sct").resolve()
    assert staging.is_dir() and models.is_dir() and list(models.iterdir()) == []


def test_staging_falls_back_inside_when_no_sibling_can_be_made(tmp_path, monkeypatch):
    """A read-only parent (or a models folder that is a mount point) keeps the old place."""
    original = Path.mkdir

    def refuse_siblings(self, *args, **kwargs):
        if self.name.startswith(STAGING + "-"):
            raise PermissionError(13, "Permission denied", str(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse_siblings)
    staging = staging_dir(tmp_path / "sct")
    assert staging == (tmp_path / "sct" / STAGING).resolve() and staging.is_dir()


# ------------------------------------------------------------------ damaged neighbour files


def test_damaged_neighbours_do_not_block_the_encoder_search(split_model, caplog, art_net):
    folder, _, body = split_model
    (folder / "._tiny_art.safetensors").write_bytes(b"\x00\x05\x16\x07Mac OS X        ")
    (folder / "aaa_cut.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    # a valid header over truncated data: found as an encoder, unreadable when fingerprinted
    whole = save_state(
        {k: v for k, v in art_net.state_dict().items() if k.startswith("encoder.")},
        folder / "zzz_half.safetensors",
        {"ccpl.format": "1"},
    )
    whole.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with caplog.at_level(logging.WARNING, logger="ccpl"):
        net = load_model(body)
    assert net.mode == "art"
    warned = " | ".join(r.getMessage() for r in caplog.records)
    assert "._tiny_art.safetensors" in warned and "macOS" in warned
    assert "aaa_cut.safetensors" in warned and "zzz_half.safetensors" in warned
    assert all("\n" not in r.getMessage() for r in caplog.records)


def test_macos_metadata_files_are_not_part_of_a_model_folder(split_model):
    folder, _, _ = split_model
    (folder / "._tiny_art.safetensors").write_bytes(b"\x00\x05\x16\x07Mac OS X        ")
    assert load_model(folder).mode == "art"


def test_damaged_model_itself_is_still_refused(split_model, capsys, tmp_path):
    _, _, body = split_model
    body.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    rc, _, err = run(
        capsys, "stylize", tmp_path / "none.png", "--style", tmp_path / "none.png", "--model", body
    )
    assert rc == 2 and "Traceback" not in err


# ----------------------------------------------------------------------- manifest fields


def _valid(tmp_path, split_model) -> tuple[Path, dict]:
    _, encoder, body = split_model
    path = manifest_for(tmp_path, {"encoder": encoder, "body": body})
    return path, json.loads(path.read_text())


BAD_FIELDS = [
    (lambda d: d["models"]["tiny"].update(bundled=1), "models.tiny.bundled"),
    (lambda d: d["models"]["tiny"].update(bundled="../../etc"), "models.tiny.bundled"),
    (lambda d: d["models"]["tiny"].update(bundled="/etc"), "models.tiny.bundled"),
    (lambda d: d["models"]["tiny"].update(bundled="models\\..\\..\\x"), "models.tiny.bundled"),
    (lambda d: d["models"]["tiny"].update(requires={"enc": 1}), "models.tiny.requires"),
    (lambda d: d["models"]["tiny"].update(requires=[["enc"]]), "models.tiny.requires"),
    (lambda d: d["models"]["tiny"].update(hub="comfyui-ccpl/x"), "models.tiny.hub"),
    (lambda d: d["models"]["tiny"].update(hub={"revision": 12345}), "models.tiny.hub.revision"),
    (lambda d: d["models"]["tiny"].update(hub={"hosted": "false"}), "models.tiny.hub.hosted"),
    (lambda d: d["models"]["tiny"].update(hub={"repo_id": ["a"]}), "models.tiny.hub.repo_id"),
    (lambda d: d["models"]["tiny"].update(license=3), "models.tiny.license"),
    (lambda d: d["models"]["tiny"].update(provenance="x"), "models.tiny.provenance"),
    (
        lambda d: d["models"]["tiny"].update(provenance={"original_files": ["a.pth"]}),
        "models.tiny.provenance.original_files",
    ),
    (lambda d: d["models"]["tiny"]["files"][0].update(name="..\\x.safetensors"), "files[0].name"),
    (lambda d: d["models"]["tiny"]["files"][0].update(name="a\x00.safetensors"), "files[0].name"),
    (lambda d: d["models"]["tiny"]["files"][0].update(name="a/b.safetensors"), "files[0].name"),
    (lambda d: d["models"]["tiny"]["files"][0].update(name=".safetensors"), "files[0].name"),
    (lambda d: d["models"]["tiny"]["files"][0].update(size=True), "files[0].size"),
    (lambda d: d["models"]["tiny"]["files"][0].update(size="12"), "files[0].size"),
    (lambda d: d["models"]["tiny"]["files"][0].update(sha256=7), "files[0].sha256"),
    (lambda d: d["models"]["tiny"]["files"].append(d["models"]["tiny"]["files"][0]), "twice"),
    (lambda d: d["models"].update(tiny=["model"]), "models.tiny"),
    (lambda d: d.update(default={"art": ["tiny"]}), "default.art"),
    (lambda d: d.update(schema_version=True), "schema_version"),
]


@pytest.mark.parametrize(("mutate", "field"), BAD_FIELDS)
def test_manifest_field_types_and_names(tmp_path, split_model, capsys, mutate, field):
    path, data = _valid(tmp_path, split_model)
    mutate(data)
    with pytest.raises(ModelError) as info:
        parse_manifest(data, path)
    text = str(info.value)
    assert text.startswith(f"manifest {path}: ") and field in text and "\n" not in text, text
    path.write_text(json.dumps(data))
    rc, out, err = run(capsys, "weights", "--manifest", path, "list")
    line = refused(rc, err, str(path), field, warnings=True)
    assert out == "" and line.startswith("ccpl weights: error: manifest ")


def test_valid_manifest_still_parses(tmp_path, split_model):
    path, data = _valid(tmp_path, split_model)
    data["models"]["tiny"]["bundled"] = "models"
    data["models"]["tiny"]["provenance"] = {"url": "x", "original_files": [{"name": "a.pth"}]}
    assert parse_manifest(data, path).get("tiny").bundled == "models"


# ------------------------------------------------------------------------ verify a folder


def test_verify_a_converted_folder(tmp_path, split_model, capsys):
    folder, encoder, body = split_model
    manifest = manifest_for(tmp_path, {"encoder": encoder, "body": body})
    rc, out, err = run(capsys, "weights", "--manifest", manifest, "verify", folder)
    assert rc == 0 and err == "", err
    lines = out.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("OK ") for line in lines), out
    assert "sha256 matches the manifest (tiny/tiny_art.safetensors)" in out


def test_verify_says_what_an_unlisted_file_was_checked_for(tmp_path, split_model, capsys):
    folder, encoder, body = split_model
    other = tmp_path / "other"
    other.mkdir()
    manifest = manifest_for(tmp_path, {"encoder": encoder, "body": body})
    data = json.loads(manifest.read_text())
    del data["models"]["tiny"]
    data["default"] = {}
    manifest.write_text(json.dumps(data))
    rc, out, err = run(capsys, "weights", "--manifest", manifest, "verify", folder)
    assert rc == 1 and err == "", err
    by_name = {Path(line.split()[1].rstrip(":")).name: line for line in out.splitlines()}
    assert by_name["vgg_test_encoder.safetensors"].startswith("OK ")
    unlisted = by_name["tiny_art.safetensors"]
    assert unlisted.startswith("UNLISTED") and "only its structure was checked" in unlisted
    assert "an art model's sct, decoder" in unlisted


def test_verify_reports_damaged_and_mismatched_files(tmp_path, split_model, capsys):
    folder, encoder, body = split_model
    manifest = manifest_for(tmp_path, {"encoder": encoder, "body": body})
    data = body.read_bytes()
    body.write_bytes(data[:-8] + b"x" * 8)  # same name, other bytes
    (folder / "._tiny_art.safetensors").write_bytes(b"\x00\x05\x16\x07Mac OS X        ")
    rc, out, err = run(capsys, "weights", "--manifest", manifest, "verify", folder)
    line = refused(rc, err, "2 of 3 file(s) are damaged or do not match", warnings=True)
    assert line.startswith("ccpl weights: error: ")
    by_name = {Path(x.split()[1].rstrip(":")).name: x for x in out.splitlines()}
    assert by_name["tiny_art.safetensors"].startswith("BAD") and "not the manifest's" in out
    assert by_name["._tiny_art.safetensors"].startswith("BAD") and "macOS" in out
    assert by_name["vgg_test_encoder.safetensors"].startswith("OK ")


def test_verify_refuses_missing_paths_before_reading(tmp_path, split_model, capsys):
    folder, encoder, body = split_model
    manifest = manifest_for(tmp_path, {"encoder": encoder, "body": body})
    rc, out, err = run(
        capsys, "weights", "--manifest", manifest, "verify", folder, tmp_path / "nope"
    )
    refused(rc, err, "not found", "nope", warnings=True)
    assert out == ""
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, out, err = run(capsys, "weights", "--manifest", manifest, "verify", empty)
    refused(rc, err, "no .safetensors files", "empty", warnings=True)
