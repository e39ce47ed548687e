import pytest
import torch
from helpers import TRAIN_ATTRS as ATTRS
from helpers import same_weights, tiny_data
from helpers import train_config as config

from faceattr.errors import FaceattrError
from faceattr.model.model_file import load_model, save_model
from faceattr.train import loop as training
from faceattr.train import setup as train_run
from faceattr.train.augment import draw_mixup
from faceattr.train.checkpoints import CHECKPOINT_FORMAT, Checkpoints
from faceattr.train.loop import fit


def test_same_seed_same_weights(tmp_path):
    train, val = tiny_data(24, 0), tiny_data(8, 1)
    a = fit(config(), ATTRS, train, val, tmp_path / "a")
    b = fit(config(), ATTRS, train, val, tmp_path / "b")
    assert same_weights(a, b)
    assert a.history == b.history and len(a.history) == 3
    assert not (tmp_path / "a" / "last.pt").exists()  # checkpoints are removed once training is done


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"ema_decay": 0.9, "loss": "focal"},
        {"loss": "weighted_bce"},
        {"mixup": 0.4},
        {"head": "attention", "freeze": 2, "ema_decay": 0.9},
        {"head": "mlp", "freeze": 0, "backbone_lr_scale": 0.5, "mixup": 0.4},
    ],
)
def test_resume_after_interruption_gives_identical_weights(tmp_path, options):
    train, val = tiny_data(24, 0), tiny_data(8, 1)
    reference = fit(config(**options), ATTRS, train, val, tmp_path / "ref")

    def interrupt_after_epoch_2(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(config(**options), ATTRS, train, val, tmp_path / "ckpt", on_epoch=interrupt_after_epoch_2)
    assert (tmp_path / "ckpt" / "last.pt").exists()
    epochs_run = []
    resumed = fit(
        config(**options), ATTRS, train, val, tmp_path / "ckpt", on_epoch=lambda r: epochs_run.append(r["epoch"])
    )
    assert epochs_run == [2, 3]  # epoch 1 came from the checkpoint
    assert resumed.history == reference.history
    for k, v in reference.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[k], v), k


def test_checkpoint_of_other_params_is_not_resumed(tmp_path, capsys):
    train, val = tiny_data(24, 0), tiny_data(8, 1)

    def stop_after_2(record):  # epoch 1's checkpoint is written by then
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(config(), ATTRS, train, val, tmp_path, on_epoch=stop_after_2)
    assert (tmp_path / "last.pt").exists()
    seen = []
    fit(config(lr=0.02), ATTRS, train, val, tmp_path, on_epoch=lambda r: seen.append(r["epoch"]))
    assert seen == [1, 2, 3]
    assert "belongs to other params or data" in capsys.readouterr().err


def test_corrupt_checkpoint_falls_back_to_previous(tmp_path, capsys):
    train, val = tiny_data(24, 0), tiny_data(8, 1)
    calls = []

    def stop_at_3(record):
        calls.append(record["epoch"])
        if record["epoch"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(config(epochs=4), ATTRS, train, val, tmp_path, on_epoch=stop_at_3)
    last = Checkpoints(tmp_path).last
    last.write_bytes(last.read_bytes()[:-100])  # truncated: checksum no longer matches
    seen = []
    with pytest.warns(UserWarning, match="corrupt"):
        fit(config(epochs=4), ATTRS, train, val, tmp_path, on_epoch=lambda r: seen.append(r["epoch"]))
    assert seen == [2, 3, 4]  # resumed from prev.pt (after epoch 1)
    assert f"resuming from {tmp_path / 'prev.pt'} after epoch 1" in capsys.readouterr().err  # names the file used


class _RunsCode:
    """A pickle that runs code when loaded (what a crafted checkpoint would hold)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_crafted_checkpoint_is_ignored_without_running_it(tmp_path):
    import hashlib
    import io

    train, val = tiny_data(24, 0), tiny_data(8, 1)
    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "payload": _RunsCode(marker)}, buffer)
    payload = buffer.getvalue()
    folder = tmp_path / "ckpt"
    folder.mkdir()
    Checkpoints(folder).last.write_bytes(hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
    seen = []
    with pytest.warns(UserWarning, match="does not load as plain tensors"):
        fit(config(), ATTRS, train, val, folder, on_epoch=lambda r: seen.append(r["epoch"]))
    assert not marker.exists()
    assert seen == [1, 2, 3]  # a fresh start


def test_divergence_is_a_clear_error_and_writes_no_model(tmp_path):
    train, val = tiny_data(24, 0), tiny_data(8, 1)
    train.labels[0, 0] = float("nan")
    with pytest.raises(FaceattrError, match="training diverged"):
        fit(config(), ATTRS, train, val, tmp_path)


def test_model_file_roundtrip_and_bytes_are_stable(tmp_path):
    train, val = tiny_data(24, 0), tiny_data(8, 1)
    result = fit(config(epochs=1), ATTRS, train, val, tmp_path / "c")
    sha1 = save_model(tmp_path / "m1.pt", result.model, result.spec)
    sha2 = save_model(tmp_path / "m2.pt", result.model, result.spec)
    assert sha1 == sha2 and (tmp_path / "m1.pt").read_bytes() == (tmp_path / "m2.pt").read_bytes()
    model, spec = load_model(tmp_path / "m1.pt")
    assert spec.attributes == ATTRS and spec.image_size == (32, 32) and spec.alpha == 0.25
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), result.model(x))


def test_batchnorm_recalibration_measures_the_statistics_of_the_current_weights():
    """The EMA model is scored after its BatchNorm statistics are measured afresh (averaged statistics
    need not match averaged weights): corrupted statistics come back as the exact cumulative average."""
    import copy

    from torch import nn

    from faceattr.data.decoding import normalize
    from faceattr.data.pixels import TensorImages
    from faceattr.model.model_file import ModelSpec, build_model
    from faceattr.train.loop import recalibrate_batchnorm

    torch.manual_seed(0)
    model = build_model("mobilenet_v2", len(ATTRS), 0.25).eval()
    spec = ModelSpec("mobilenet_v2", 0.25, ATTRS, (32, 32))
    images = TensorImages(
        torch.randint(0, 256, (40, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    )
    reference = copy.deepcopy(model).train()
    norms = lambda m: [b for b in m.modules() if isinstance(b, nn.BatchNorm2d)]  # noqa: E731
    for b in norms(reference):
        b.reset_running_stats()
        b.momentum = None
    with torch.no_grad():
        for start in range(0, 40, 16):
            reference(normalize(images.tensor[start : start + 16], spec.mean, spec.std))
    for b in norms(model):
        b.running_mean.fill_(5.0)
        b.running_var.fill_(1e-6)
    recalibrate_batchnorm(model, images, spec, torch.device("cpu"), False, torch.contiguous_format, batch_size=16)
    assert not model.training  # left in the mode it was in
    for ours, theirs in zip(norms(model), norms(reference)):
        assert torch.allclose(ours.running_mean, theirs.running_mean, atol=1e-5)
        assert torch.allclose(ours.running_var, theirs.running_var, rtol=1e-4, atol=1e-6)
        assert ours.momentum == 0.1  # restored
    x = normalize(images.tensor[:8], spec.mean, spec.std)
    with torch.no_grad():
        assert torch.allclose(model(x), reference.eval()(x), atol=1e-4)


def test_mixup_input_is_lambda_x_plus_its_partner_and_the_targets_mix_the_same_way(tmp_path, monkeypatch):
    """Every training step's model input is λ·x + (1 - λ)·x[π], x the augmented batch, λ and π (the order
    that sorts the keys) those draw_mixup gave for the step, and the loss's target is λ·y + (1 - λ)·y[π] for
    the labels y of the very images in the batch (found by their pixels): pixels and labels are paired and
    weighted alike, with a fresh λ each step, all drawn from the training generator."""
    train, val = tiny_data(24, 0), tiny_data(6, 1)
    steps: list[dict] = []
    real_draw, real_augment = training.draw_mixup, training.augment_batch
    real_build, real_loss = train_run.build_model, train_run.make_loss

    def augment(images, *args, **kwargs):  # the first thing of each step: a new record
        x = real_augment(images, *args, **kwargs)
        steps.append({"images": images.clone(), "x": x.clone()})
        return x

    def draw(n, generator, beta_param):
        lam, keys = real_draw(n, generator, beta_param)
        steps[-1].update(lam=lam, keys=keys.clone())
        return lam, keys

    def record_input(module, inputs) -> None:  # returns None: the input goes on unchanged
        if module.training:
            steps[-1]["input"] = inputs[0].detach().clone()

    def build(*args, **kwargs):
        model = real_build(*args, **kwargs)
        model.register_forward_pre_hook(record_input)
        return model

    class Recording(torch.nn.Module):
        def __init__(self, *args):
            super().__init__()
            self.criterion = real_loss(*args)

        def forward(self, logits, target):
            if logits.requires_grad:  # a training step (validation is scored without gradients)
                steps[-1]["target"] = target.clone()
            return self.criterion(logits, target)

    for module, name, fake in (
        (training, "augment_batch", augment),  # the training loop's
        (training, "draw_mixup", draw),
        (train_run, "build_model", build),  # the run's set-up (faceattr.train.setup)
        (train_run, "make_loss", Recording),
    ):
        monkeypatch.setattr(module, name, fake)
    fit(config(epochs=2, mixup=0.4), ATTRS, train, val, tmp_path)

    assert len(steps) == 6 and all({"lam", "keys", "input", "target"} <= set(s) for s in steps)  # 3 steps an epoch
    assert len({s["lam"] for s in steps}) == 6 and all(0 < s["lam"] < 1 for s in steps)  # drawn afresh each step
    flat = train.images.flatten(1)
    for s in steps:
        lam, x, pair = s["lam"], s["x"].float(), s["keys"].argsort()
        assert sorted(pair.tolist()) == list(range(8)) and (pair != torch.arange(8)).any()
        matches = (s["images"].flatten(1)[:, None] == flat[None]).all(-1)  # batch image → training image
        assert (matches.sum(1) == 1).all()
        y = train.labels[matches.int().argmax(1)]
        assert torch.allclose(s["input"].float(), lam * x + (1 - lam) * x[pair], atol=1e-5)
        assert torch.allclose(s["target"], lam * y + (1 - lam) * y[pair], atol=1e-6)
        assert not torch.allclose(s["input"].float(), x, atol=1e-3)  # really mixed
    # the same generator state gives the same draw (what makes mixup runs resumable), another one not
    again = draw_mixup(8, torch.Generator().manual_seed(3), 0.4)
    assert draw_mixup(8, torch.Generator().manual_seed(3), 0.4)[0] == again[0]
    assert torch.equal(draw_mixup(8, torch.Generator().manual_seed(3), 0.4)[1], again[1])
    assert draw_mixup(8, torch.Generator().manual_seed(4), 0.4)[0] != again[0]


def test_mixup_blends_each_target_with_its_partner(tmp_path, monkeypatch):
    """With λ = 1/4 and keys that pair each image with its mirror position in the batch, every target row is
    1/4 of its own labels and 3/4 of its partner's, so the labels can be recovered from the targets."""
    train, val = tiny_data(24, 0), tiny_data(6, 1)
    targets, make_loss = [], train_run.make_loss

    class Recording(torch.nn.Module):
        def __init__(self, *args):
            super().__init__()
            self.criterion = make_loss(*args)

        def forward(self, logits, target):
            targets.append(target.clone())
            return self.criterion(logits, target)

    monkeypatch.setattr(train_run, "make_loss", Recording)
    monkeypatch.setattr(training, "draw_mixup", lambda n, g, beta_param: (0.25, torch.arange(n, 0, -1).float()))
    fit(config(epochs=1, mixup=0.3), ATTRS, train, val, tmp_path)
    batches = [t for t in targets if t.shape[0] == 8]  # the training steps (validation scores its 6 at once)
    assert len(batches) == 3
    for t in batches:
        labels = (3 * t.flip(0) - t) / 2  # t_i = y_i / 4 + 3 y_j / 4 and t_j = y_j / 4 + 3 y_i / 4
        assert torch.allclose(labels, labels.round(), atol=1e-6) and set(labels.round().unique().tolist()) <= {0.0, 1.0}
        rows = {tuple(r) for r in train.labels.tolist()}
        assert all(tuple(r) in rows for r in labels.round().tolist())
        assert ((t > 0) & (t < 1)).any()  # some pairs disagree, so targets are really blended


def test_mixup_changes_training_and_zero_is_off(tmp_path):
    """(Determinism with mixup on is the resume test's {"mixup": 0.4} case: resumed == uninterrupted.)"""
    train, val = tiny_data(24, 0), tiny_data(8, 1)
    plain = fit(config(epochs=2), ATTRS, train, val, tmp_path / "plain")
    assert not same_weights(fit(config(epochs=2, mixup=0.2), ATTRS, train, val, tmp_path / "a"), plain)
    assert same_weights(fit(config(epochs=2, mixup=0.0), ATTRS, train, val, tmp_path / "off"), plain)
