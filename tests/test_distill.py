"""Distillation: the teachers' soft targets, their checks, and how they enter training."""

import pytest
import torch
from helpers import TRAIN_ATTRS as ATTRS
from helpers import same_weights, tiny_data
from helpers import train_config as config

from faceattr.data.decoding import normalize
from faceattr.data.pixels import TensorImages
from faceattr.errors import FaceattrError
from faceattr.model.model_file import ModelSpec, build_model, save_model
from faceattr.train.distill import mix_targets, resolve_teacher, soft_targets
from faceattr.train.loop import fit

CPU = torch.device("cpu")


def teacher(path, seed: int, attributes=ATTRS, size=(32, 32)):
    """An untrained model file (enough where only its attributes, size or bytes matter)."""
    torch.manual_seed(seed)
    model = build_model("mobilenet_v2", len(attributes), 0.25).eval()
    spec = ModelSpec("mobilenet_v2", 0.25, list(attributes), size)
    save_model(path, model, spec)
    return model, spec


def trained_teacher(path, seed: int):
    """A briefly trained model file, whose outputs depend on the image (an untrained one's barely do)."""
    result = fit(config(epochs=2, seed=seed), ATTRS, tiny_data(24, 0), tiny_data(8, 1), path.parent / f"ckpt{seed}")
    save_model(path, result.model, result.spec)
    return result.model.eval(), result.spec


def test_soft_targets_are_the_teachers_mean_flip_averaged_probability(tmp_path):
    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    expected = torch.zeros(5, len(ATTRS))
    for seed in (1, 2):
        model, spec = trained_teacher(tmp_path / f"t{seed}.pt", seed)
        x = normalize(images, spec.mean, spec.std)
        with torch.no_grad():
            expected += torch.sigmoid((model(x) + model(x.flip(-1))) / 2) / 2
    got = soft_targets([str(tmp_path / "t1.pt"), str(tmp_path / "t2.pt")], TensorImages(images), ATTRS, (32, 32), CPU)
    assert got.shape == (5, len(ATTRS))
    assert torch.allclose(got, expected, atol=1e-5)
    one = soft_targets([str(tmp_path / "t1.pt")], TensorImages(images), ATTRS, (32, 32), CPU)
    assert (got - one).abs().max() > 0.01


def test_mix_targets_by_hand():
    labels = torch.tensor([[1.0, 0.0]])
    soft = torch.tensor([[0.6, 0.2]])
    assert torch.allclose(mix_targets(labels, soft, 0.25), torch.tensor([[0.9, 0.05]]))
    assert torch.allclose(mix_targets(labels, 0.5, 0.1), torch.tensor([[0.95, 0.05]]))  # label smoothing
    assert torch.equal(mix_targets(labels, soft, 0.0), labels)


def test_teachers_that_do_not_fit_are_clear_errors(tmp_path):
    images = TensorImages(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
    teacher(tmp_path / "other_attrs.pt", 0, attributes=["A", "B", "X"])
    teacher(tmp_path / "other_size.pt", 0, size=(48, 32))
    with pytest.raises(FaceattrError, match=r"other_attrs.pt predicts A, B, X; the training data has A, B, C"):
        soft_targets([str(tmp_path / "other_attrs.pt")], images, ATTRS, (32, 32), CPU)
    with pytest.raises(FaceattrError, match=r"other_size.pt takes 48×32 images but train.image_size is 32×32"):
        soft_targets([str(tmp_path / "other_size.pt")], images, ATTRS, (32, 32), CPU)
    train, val = tiny_data(24, 0), tiny_data(8, 1)
    with pytest.raises(FaceattrError, match=r"train.teachers: nowhere.pt not found"):
        fit(config(teachers=("nowhere.pt",)), ATTRS, train, val, tmp_path / "c")
    teacher(tmp_path / "t.pt", 0)
    with pytest.raises(FaceattrError, match=r"train.distill_weight = 2 is not allowed; expected a number ≥ 0 and ≤ 1"):
        fit(config(teachers=(str(tmp_path / "t.pt"),), distill_weight=2), ATTRS, train, val, tmp_path / "c")


def test_relative_teachers_resolve_against_the_repository_root(tmp_path, monkeypatch):
    """`dvc exp run --temp` works in a copy without untracked files; DVC_ROOT names the real repository."""
    (tmp_path / "models").mkdir()
    teacher(tmp_path / "models" / "t.pt", 0)
    monkeypatch.chdir(tmp_path / "models")
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    assert resolve_teacher("models/t.pt") == tmp_path / "models" / "t.pt"
    assert resolve_teacher("t.pt").resolve() == (tmp_path / "models" / "t.pt").resolve()  # the cwd first


def test_distillation_changes_training_deterministically_and_resumes_exactly(tmp_path):
    train, val = tiny_data(24, 0), tiny_data(8, 1)
    plain = fit(config(), ATTRS, train, val, tmp_path / "plain")
    save_model(tmp_path / "t.pt", plain.model, plain.spec)
    distil = config(teachers=(str(tmp_path / "t.pt"),), distill_weight=0.7)
    a = fit(distil, ATTRS, train, val, tmp_path / "a")
    assert not same_weights(a, plain)
    assert same_weights(
        fit(config(teachers=distil.train.teachers, distill_weight=0.0), ATTRS, train, val, tmp_path / "w0"), plain
    )

    def stop_after_2(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(distil, ATTRS, train, val, tmp_path / "b", on_epoch=stop_after_2)
    resumed = fit(distil, ATTRS, train, val, tmp_path / "b")
    assert same_weights(resumed, a) and resumed.history == a.history


def test_a_checkpoint_is_not_resumed_with_other_teacher_weights(tmp_path, capsys):
    """The same teacher path with new weights is another run: its checkpoint must not be resumed."""
    train, val = tiny_data(24, 0), tiny_data(8, 1)
    teacher(tmp_path / "t.pt", 0)
    distil = config(teachers=(str(tmp_path / "t.pt"),))

    def stop_after_2(record):  # epoch 1's checkpoint is written by then
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(distil, ATTRS, train, val, tmp_path / "c", on_epoch=stop_after_2)
    assert (tmp_path / "c" / "last.pt").exists()
    teacher(tmp_path / "t.pt", 1)
    seen = []
    fit(distil, ATTRS, train, val, tmp_path / "c", on_epoch=lambda r: seen.append(r["epoch"]))
    assert seen == [1, 2, 3]
    assert "belongs to other params or data" in capsys.readouterr().err
