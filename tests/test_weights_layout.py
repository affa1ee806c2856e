"""The authors' checkpoint layout <-> project layout, safetensors files and model loading."""

from __future__ import annotations

import pytest
import torch
from helpers import authors_checkpoints
from safetensors.torch import save_file

from ccpl_core import ModelError, load_model
from ccpl_core.models.untrained import random_sctnet
from ccpl_core.weights import from_authors, load_sctnet, read_state, save_sctnet, to_authors
from ccpl_core.weights.files import save_state, sha256_file


@pytest.mark.parametrize("mode", ["art", "photo"])
def test_round_trip_authors_layout(tmp_path, mode):
    vgg, decoder, sct = authors_checkpoints(mode)
    state = from_authors(mode, vgg=vgg, decoder=decoder, sct=sct)
    path = save_state(state, tmp_path / f"{mode}.safetensors", {"ccpl.mode": mode})
    net = load_sctnet([path])
    assert net.mode == mode
    back = to_authors(net.state_dict())
    for key, value in back["encoder"].items():
        assert torch.equal(value, vgg[key])
    for key, value in back["decoder"].items():
        assert torch.equal(value, decoder[key])
    assert set(back["sct"]) == set(sct)
    for key, value in back["sct"].items():
        assert torch.equal(value, sct[key])
    if mode == "photo":
        # the untrained leftovers of the photo decoder and the deeper VGG are dropped
        assert "1.weight" not in back["decoder"] and "19.weight" not in back["encoder"]
    else:
        assert "32.weight" not in back["encoder"]


def test_conversion_is_deterministic(tmp_path):
    vgg, decoder, sct = authors_checkpoints("art")
    a = save_state(from_authors("art", vgg, decoder, sct), tmp_path / "a.safetensors")
    b = save_state(from_authors("art", vgg, decoder, sct), tmp_path / "b.safetensors")
    assert a.read_bytes() == b.read_bytes() and sha256_file(a) == sha256_file(b)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (lambda v, d, s: {"sct": d}, "not a art sct"),  # a decoder given as the SCT file
        (lambda v, d, s: {"decoder": s}, "not a art decoder"),
        (lambda v, d, s: {"sct": authors_checkpoints("photo")[2]}, "photo"),
        (lambda v, d, s: {"vgg": {k: t for k, t in v.items() if k != "29.weight"}}, "29.weight"),
        (lambda v, d, s: {"decoder": {**d, "1.weight": torch.rand(3, 3)}}, "shape"),
        (lambda v, d, s: {"sct": {**s, "cnet.0.bias": torch.full((256,), float("nan"))}}, "NaN"),
    ],
)
def test_bad_checkpoints_named(kwargs, match):
    vgg, decoder, sct = authors_checkpoints("art")
    with pytest.raises(ModelError, match=match):
        from_authors("art", **kwargs(vgg, decoder, sct))


def test_photo_decoder_under_art_mode_rejected():
    _, _, sct = authors_checkpoints("photo")
    with pytest.raises(ModelError, match="photo"):
        from_authors("art", sct=sct)


def test_split_files_shared_encoder(tmp_path, art_net):
    enc = save_state(
        {k: v for k, v in art_net.state_dict().items() if k.startswith("encoder.")},
        tmp_path / "encoder.safetensors",
    )
    body = save_sctnet(art_net, tmp_path / "body.safetensors")
    net = load_sctnet([enc, body])
    for k, v in art_net.state_dict().items():
        assert torch.equal(net.state_dict()[k], v)
    # load_model finds the encoder beside a decoder+SCT file on its own
    net2 = load_model(body)
    assert torch.equal(
        net2.encoder.state_dict()["29.weight"], art_net.encoder.state_dict()["29.weight"]
    )


def test_missing_encoder_is_explained(tmp_path, art_net):
    body = save_sctnet(art_net, tmp_path / "alone" / "body.safetensors")
    with pytest.raises(ModelError, match="no encoder"):
        load_model(body, models_dir=tmp_path / "empty")


def test_mode_mismatch_on_load(art_model_file):
    with pytest.raises(ModelError, match="art model but mode 'photo'"):
        load_model(art_model_file, mode="photo")


def test_truncated_and_garbage_files(tmp_path, art_model_file):
    data = art_model_file.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="not a readable safetensors"):
        load_model(cut)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(ModelError, match="not a readable safetensors"):
        read_state(junk)


def test_pickles_are_refused(tmp_path):
    pth = tmp_path / "decoder.pth"
    torch.save({"1.weight": torch.zeros(1)}, pth)
    with pytest.raises(ModelError, match=r"only \.safetensors"):
        read_state(pth)


def test_save_is_atomic_and_never_overwrites(tmp_path, art_net):
    path = save_sctnet(art_net, tmp_path / "m.safetensors")
    before = path.read_bytes()
    with pytest.raises(ModelError, match="overwrite"):
        save_sctnet(art_net, path)
    assert path.read_bytes() == before
    # a failing write leaves neither a partial file nor a changed target
    bad = {"x": torch.zeros(2)}
    with pytest.raises(Exception):  # noqa: B017 - any failure of the writer
        save_state({**bad, "y": "not a tensor"}, tmp_path / "n.safetensors")  # type: ignore[dict-item]
    assert not (tmp_path / "n.safetensors").exists()
    assert not list(tmp_path.glob(".*partial"))


def test_conflicting_files_rejected(tmp_path, art_net):
    other = random_sctnet("art", seed=9)
    a = save_sctnet(art_net, tmp_path / "a.safetensors", include_encoder=True)
    b = save_sctnet(other, tmp_path / "b.safetensors", include_encoder=True)
    with pytest.raises(ModelError, match="defined differently"):
        load_sctnet([a, b])


def test_mixed_modes_rejected(tmp_path, art_net, photo_net):
    a = save_sctnet(art_net, tmp_path / "a.safetensors", include_encoder=True)
    b = save_sctnet(photo_net, tmp_path / "b.safetensors")
    with pytest.raises(ModelError):
        load_sctnet([a, b])


def test_metadata_carried_to_model_info(tmp_path, art_net):
    path = save_sctnet(
        art_net, tmp_path / "m.safetensors", {"ccpl.source": "unit test"}, include_encoder=True
    )
    assert load_model(path).info["source"] == "unit test"


def test_plain_safetensors_without_metadata_detects_mode(tmp_path, photo_net):
    path = tmp_path / "raw.safetensors"
    save_file({k: v.contiguous() for k, v in photo_net.state_dict().items()}, str(path))
    assert load_model(path).mode == "photo"
