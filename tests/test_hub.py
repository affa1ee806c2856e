"""Downloads through the real huggingface_hub client from a local stand-in Hub over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_hub import COMMIT, FakeHub

from ccpl_core.models.untrained import random_sctnet
from ccpl_core.weights.files import save_sctnet, save_state, sha256_file
from ccpl_core.weights.hub import STAGING, publish, staging_dir

REPO = "ccpl-test/tiny"
LOADER = (
    "import sys, json\n"
    "from ccpl_core import load_model, CCPLError\n"
    "try:\n"
    "    net = load_model('tiny', manifest=sys.argv[1], models_dir=sys.argv[2])\n"
    "    print(json.dumps({'ok': True, 'mode': net.mode}))\n"
    "except CCPLError as exc:\n"
    "    print(json.dumps({'ok': False, 'error': str(exc)}))\n"
)


@pytest.fixture()
def hosted(tmp_path):
    """Tiny model files, a manifest pointing at the stand-in Hub, and the running Hub."""
    net = random_sctnet("art", seed=4)
    src = tmp_path / "src"
    enc = save_state(
        {k: v for k, v in net.state_dict().items() if k.startswith("encoder.")},
        src / "tiny_encoder.safetensors",
    )
    body = save_sctnet(net, src / "tiny.safetensors")
    manifest = {
        "schema_version": 1,
        "default": {},
        "models": {
            "tiny-encoder": {
                "kind": "encoder",
                "hub": {"repo_id": REPO, "revision": COMMIT, "hosted": True},
                "files": [
                    {"name": enc.name, "sha256": sha256_file(enc), "size": enc.stat().st_size}
                ],
            },
            "tiny": {
                "kind": "model",
                "mode": "art",
                "requires": ["tiny-encoder"],
                "hub": {"repo_id": REPO, "revision": COMMIT, "hosted": True},
                "files": [
                    {"name": body.name, "sha256": sha256_file(body), "size": body.stat().st_size}
                ],
            },
        },
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    with FakeHub() as hub:
        hub.add(REPO, enc.name, enc.read_bytes())
        hub.add(REPO, body.name, body.read_bytes())
        yield {
            "hub": hub,
            "manifest": path,
            "models": tmp_path / "models",
            "body": body,
            "enc": enc,
            "tmp": tmp_path,
        }


def load(ctx, offline=False, extra_env=None, wait=True):
    env = {
        **os.environ,
        "HF_ENDPOINT": ctx["hub"].url,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HOME": str(ctx["tmp"] / "hf_home"),
        "HF_HUB_ETAG_TIMEOUT": "5",
        "HF_HUB_DOWNLOAD_TIMEOUT": "10",
        **(extra_env or {}),
    }
    env.pop("HF_HUB_OFFLINE", None)
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    cmd = [sys.executable, "-c", LOADER, str(ctx["manifest"]), str(ctx["models"])]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not wait:
        return proc
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    return json.loads(out.strip().splitlines()[-1])


def test_download_then_cache_hit_without_network(hosted):
    first = load(hosted)
    assert first == {"ok": True, "mode": "art"}
    final = hosted["models"] / "tiny.safetensors"
    assert final.read_bytes() == hosted["body"].read_bytes()
    assert (hosted["models"] / "tiny_encoder.safetensors").is_file()
    gets = len(hosted["hub"].requests)
    assert load(hosted) == {"ok": True, "mode": "art"}  # present and verified: no request
    assert len(hosted["hub"].requests) == gets
    assert load(hosted, offline=True)["ok"]


def test_offline_with_missing_file_explains(hosted):
    result = load(hosted, offline=True)
    assert not result["ok"]
    assert "could not download tiny_encoder.safetensors" in result["error"]
    assert f"huggingface.co/{REPO}/resolve/{COMMIT}" in result["error"]
    assert str(hosted["models"]) in result["error"]
    assert hosted["hub"].requests == []  # offline mode never touches the network


def test_missing_on_hub_404(hosted):
    del hosted["hub"].files[(REPO, "tiny.safetensors")]
    result = load(hosted)
    assert not result["ok"] and "could not download tiny.safetensors" in result["error"]
    assert not (hosted["models"] / "tiny.safetensors").exists()


def test_wrong_sha_rejected_and_nothing_left(hosted):
    data = bytearray(hosted["body"].read_bytes())
    data[-1] ^= 0xFF
    hosted["hub"].files[(REPO, "tiny.safetensors")] = bytes(data)
    result = load(hosted)
    assert not result["ok"] and "was deleted" in result["error"]
    assert not (hosted["models"] / "tiny.safetensors").exists()
    staging = staging_dir(hosted["models"])
    assert staging.parent == hosted["models"].parent  # beside the models, not among them
    leftovers = [p for p in staging.rglob("tiny.safetensors*") if not p.name.endswith(".lock")]
    assert leftovers == []  # neither the data nor the client's record of it
    assert not (hosted["models"] / STAGING).exists()


def test_interrupted_download_resumes(hosted):
    """The connection drops part-way (every transfer from byte 0 does); the client resumes with
    a Range request from what it already has instead of starting again."""
    size = hosted["body"].stat().st_size
    assert size > 12 * 2**20  # more than the client's 10 MiB write chunk
    hosted["hub"].drop_after["tiny.safetensors"] = size * 3 // 4
    assert load(hosted)["ok"]
    gets = [
        (r or "")
        for m, p, r in hosted["hub"].requests
        if m == "GET" and p.endswith("/tiny.safetensors")
    ]
    assert gets[0] == "" and any(
        r.startswith("bytes=") and not r.startswith("bytes=0-") for r in gets[1:]
    )
    assert (hosted["models"] / "tiny.safetensors").read_bytes() == hosted["body"].read_bytes()


def test_two_concurrent_downloads(hosted):
    hosted["hub"].slow = 0.01
    procs = [load(hosted, wait=False) for _ in range(2)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert all(r["ok"] for r in results)
    assert (hosted["models"] / "tiny.safetensors").read_bytes() == hosted["body"].read_bytes()
    assert hosted["hub"].gets("tiny.safetensors") == 1  # the second waited and reused it


class _FakeApi:
    """Records calls like huggingface_hub.HfApi would receive them."""

    def __init__(self):
        self.calls = []

    def create_repo(self, **kw):
        self.calls.append(("create_repo", kw))

    def upload_folder(self, **kw):
        self.calls.append(("upload_folder", kw))
        return type("CommitInfo", (), {"oid": "f" * 40})()


def test_publish_writes_pinned_manifest_entry(tmp_path, art_net):
    folder = tmp_path / "pub"
    path = save_sctnet(art_net, folder / "mine.safetensors", include_encoder=True)
    api = _FakeApi()
    entry = publish(folder, "me/my-ccpl", "mine", {"kind": "model", "mode": "art"}, api=api)
    assert entry["mine"]["hub"] == {"repo_id": "me/my-ccpl", "revision": "f" * 40, "hosted": True}
    assert entry["mine"]["files"] == [
        {"name": "mine.safetensors", "sha256": sha256_file(path), "size": path.stat().st_size}
    ]
    assert api.calls[1][1]["allow_patterns"] == ["*.safetensors"]
    from ccpl_core.weights.manifest import parse_manifest

    parse_manifest({"schema_version": 1, "models": entry}, Path("x"))  # a valid entry


def test_weights_download_command(hosted):
    env = {**os.environ, "HF_ENDPOINT": hosted["hub"].url, "HF_HOME": str(hosted["tmp"] / "h")}
    env.pop("HF_HUB_OFFLINE", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ccpl_core",
            "weights",
            "--manifest",
            str(hosted["manifest"]),
            "--models-dir",
            str(hosted["models"]),
            "download",
            "tiny",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert [Path(x).name for x in lines] == ["tiny_encoder.safetensors", "tiny.safetensors"]
    # each transfer is announced (what, how big, from where, into where) before it starts
    said = [line for line in proc.stderr.splitlines() if "downloading" in line]
    url = f"{hosted['hub'].url}/{REPO}/resolve/{COMMIT}"
    assert said[0].startswith("ccpl weights: warning: downloading tiny_encoder.safetensors (")
    assert f"{url}/tiny_encoder.safetensors into {hosted['models']}" in said[0]
    assert f"{url}/tiny.safetensors into {hosted['models']}" in said[1] and len(said) == 2
    assert sorted(p.name for p in hosted["models"].iterdir()) == [
        "tiny.safetensors",
        "tiny_encoder.safetensors",
    ]  # no staging folder among the models
